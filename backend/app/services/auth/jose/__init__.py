"""python-jose behind a narrow, typed interface: the only package that imports python-jose.

It
- teaches python-jose 3.5 the algorithms Better-Auth can mint that it lacks: ``EdDSA`` (and
  its RFC 9864 name ``Ed25519``) and the RSA-PSS family ``PS256/384/512`` (``key_classes``);
- turns a JWK into a pre-built, public-only :class:`VerificationKey` whose algorithm is fixed
  by the key, never by a token (``jwk``);
- runs python-jose with one key object and an explicit algorithm allow-list, and maps every
  exception it can raise onto :class:`~app.utils.errors.Unauthorized` with a stable code
  (``decode``).
"""

from app.services.auth.jose.algorithms import (
    ASYMMETRIC_ALGORITHMS,
    EC_ALGORITHMS,
    EDDSA_ALGORITHMS,
    RSA_PKCS1_ALGORITHMS,
    RSA_PSS_ALGORITHMS,
    InvalidJwkError,
)
from app.services.auth.jose.decode import audience_matches, decode_verified
from app.services.auth.jose.encoding import (
    DEFAULT_MAX_TOKEN_BYTES,
    b64url_decode,
    b64url_encode,
    read_header,
    split_token,
)
from app.services.auth.jose.jwk import VerificationKey, algorithm_matches_key, build_public_key
from app.services.auth.jose.key_classes import Ed25519Key, RsaPssKey, register_algorithms

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_MAX_TOKEN_BYTES",
    "EC_ALGORITHMS",
    "EDDSA_ALGORITHMS",
    "RSA_PKCS1_ALGORITHMS",
    "RSA_PSS_ALGORITHMS",
    "Ed25519Key",
    "InvalidJwkError",
    "RsaPssKey",
    "VerificationKey",
    "algorithm_matches_key",
    "audience_matches",
    "b64url_decode",
    "b64url_encode",
    "build_public_key",
    "decode_verified",
    "read_header",
    "register_algorithms",
    "split_token",
]
