"""JWK -> :class:`VerificationKey`: public-only, with the algorithm fixed by the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose.backends.base import Key
from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey

from app.services.auth.jose.algorithms import (
    _EC_CURVES,
    _PRIVATE_MEMBERS,
    EDDSA_ALGORITHMS,
    RSA_PKCS1_ALGORITHMS,
    RSA_PSS_ALGORITHMS,
    InvalidJwkError,
)
from app.services.auth.jose.key_classes import Ed25519Key, RsaPssKey
from app.services.auth.jose.public_keys import (
    ed25519_from_jwk,
    member_bytes,
    rsa_from_jwk,
    short_repr,
)


@dataclass(frozen=True)
class VerificationKey:
    """A public key ready to verify, with the algorithms it may be used with.

    ``alg`` comes from the JWK (its ``alg`` member, or derived from ``kty``/``crv``), never from
    a token header: that is what defeats algorithm-confusion attacks. Only an RSA JWK without
    ``alg`` verifies more than one family (``by_algorithm``: RS* and PS*, see
    :func:`build_public_key`); ``alg`` is then ``RS256``, its JOSE default.
    """

    kid: str | None
    alg: str
    kty: str
    crv: str | None
    jose_key: Key = field(repr=False, compare=False)
    #: Algorithm -> python-jose key, for a key that may verify several; empty: ``alg`` only.
    by_algorithm: Mapping[str, Key] = field(default_factory=dict, repr=False, compare=False)

    def jose_key_for(self, algorithm: str) -> Key:
        """The python-jose key that verifies ``algorithm`` (which must match the key)."""
        return self.by_algorithm.get(algorithm, self.jose_key)


def algorithm_matches_key(algorithm: str, key: VerificationKey) -> bool:
    """Whether a token's ``alg`` may be verified with ``key``.

    ``EdDSA`` and ``Ed25519`` name the same thing for an OKP/Ed25519 key (RFC 9864); an RSA key
    published without ``alg`` verifies RS* and PS*; nothing else is interchangeable. The
    configured allow-list (``JWT_ALGORITHMS``) still applies on top.
    """
    if algorithm == key.alg or algorithm in key.by_algorithm:
        return True
    return key.kty == "OKP" and algorithm in EDDSA_ALGORITHMS and key.alg in EDDSA_ALGORITHMS


def build_public_key(jwk: Mapping[str, Any]) -> VerificationKey:
    """Validate a public JWK and pre-build its python-jose key object.

    Rejected (``InvalidJwkError``): non-objects, symmetric ``oct`` keys, any private member (``d``,
    ...), ``use`` other than ``sig``, ``key_ops`` without ``verify``, unknown ``kty``/``crv``,
    an ``alg`` that does not fit the key, malformed or weak material (RSA < 2048 bits).

    Algorithm when the JWK has no ``alg``, inferred from the key: OKP/Ed25519 -> ``EdDSA``
    (or ``Ed25519``); EC P-256/P-384/P-521 -> ``ES256/ES384/ES512`` (the curve fixes it); RSA ->
    any of ``RS256/384/512`` and ``PS256/384/512``. The RSA material alone cannot tell PKCS#1
    v1.5 from PSS: Better-Auth's own verifier then uses its configured ``keyPairConfig.alg``
    (1.6.34 and 1.7.29 ``plugins/jwt/verify``: ``key.alg ?? keyPairConfig.alg``), and 1.6 never
    stores ``alg`` in its ``jwks`` table. Our configured counterpart is the allow-list
    (``JWT_ALGORITHMS``), which the verifier applies on top; an RSA key still never verifies an
    EC, EdDSA, HMAC or ``none`` token.
    """
    if not isinstance(jwk, Mapping):
        raise InvalidJwkError("a JWK must be a JSON object")
    kty = jwk.get("kty")
    if kty == "oct":
        raise InvalidJwkError("symmetric (oct) keys are not accepted")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise InvalidJwkError("private key material is not accepted")
    _check_usage(jwk)
    kid = _optional_str(jwk, "kid")
    alg = _optional_str(jwk, "alg")
    if kty == "OKP":
        return _build_okp(jwk, kid, alg)
    if kty == "EC":
        return _build_ec(jwk, kid, alg)
    if kty == "RSA":
        return _build_rsa(jwk, kid, alg)
    raise InvalidJwkError(f"unsupported key type {short_repr(kty)}")


def _check_usage(jwk: Mapping[str, Any]) -> None:
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise InvalidJwkError(f"key use {short_repr(use)} is not 'sig'")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise InvalidJwkError("key_ops does not allow 'verify'")


def _optional_str(jwk: Mapping[str, Any], name: str) -> str | None:
    value = jwk.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidJwkError(f"'{name}' must be a non-empty string")
    return value


def _build_okp(jwk: Mapping[str, Any], kid: str | None, alg: str | None) -> VerificationKey:
    if alg is not None and alg not in EDDSA_ALGORITHMS:
        raise InvalidJwkError(f"alg {short_repr(alg)} does not fit an OKP key")
    fixed = alg or "EdDSA"
    public = ed25519_from_jwk(jwk)
    return VerificationKey(kid, fixed, "OKP", "Ed25519", Ed25519Key(public, fixed))


def _build_ec(jwk: Mapping[str, Any], kid: str | None, alg: str | None) -> VerificationKey:
    crv = jwk.get("crv")
    curve = _EC_CURVES.get(crv) if isinstance(crv, str) else None
    if curve is None:
        raise InvalidJwkError(f"unsupported EC curve {short_repr(crv)}")
    if alg is not None and alg != curve.alg:
        raise InvalidJwkError(f"alg {short_repr(alg)} does not fit curve {crv}")
    x, y = member_bytes(jwk, "x"), member_bytes(jwk, "y")
    if len(x) != curve.size or len(y) != curve.size:
        raise InvalidJwkError(f"EC coordinates must be {curve.size} bytes for {crv}")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve.curve()
    )
    try:
        public = numbers.public_key()  # checks that the point is on the curve
    except ValueError as error:
        raise InvalidJwkError("invalid EC public key") from error
    assert isinstance(crv, str)
    return VerificationKey(kid, curve.alg, "EC", crv, CryptographyECKey(public, curve.alg))


def _build_rsa(jwk: Mapping[str, Any], kid: str | None, alg: str | None) -> VerificationKey:
    if alg is not None and alg not in RSA_PKCS1_ALGORITHMS | RSA_PSS_ALGORITHMS:
        raise InvalidJwkError(f"alg {short_repr(alg)} does not fit an RSA key")
    public = rsa_from_jwk(jwk)
    if alg is not None:
        return VerificationKey(kid, alg, "RSA", None, _rsa_jose_key(public, alg))
    by_algorithm = MappingProxyType(
        {
            algorithm: _rsa_jose_key(public, algorithm)
            for algorithm in sorted(RSA_PKCS1_ALGORITHMS | RSA_PSS_ALGORITHMS)
        }
    )
    return VerificationKey(kid, "RS256", "RSA", None, by_algorithm["RS256"], by_algorithm)


def _rsa_jose_key(public: rsa.RSAPublicKey, algorithm: str) -> Key:
    if algorithm in RSA_PSS_ALGORITHMS:
        return RsaPssKey(public, algorithm)
    return CryptographyRSAKey(public, algorithm)
