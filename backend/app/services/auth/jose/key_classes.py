"""python-jose key classes for what python-jose 3.5 lacks: EdDSA (Ed25519) and RSA-PSS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Self, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jose import jwk as jose_jwk
from jose.backends.base import Key
from jose.constants import ALGORITHMS
from jose.exceptions import (
    JWKError,
)

from app.services.auth.jose.algorithms import (
    _HASHES,
    EDDSA_ALGORITHMS,
    RSA_PSS_ALGORITHMS,
    InvalidJwkError,
)
from app.services.auth.jose.encoding import b64url_encode
from app.services.auth.jose.public_keys import ed25519_from_jwk, int_to_bytes, rsa_from_jwk

PublicKey = TypeVar("PublicKey", Ed25519PublicKey, rsa.RSAPublicKey)


def _checked_algorithm(algorithm: str, allowed: AbstractSet[str], family: str) -> str:
    if algorithm not in allowed:
        raise JWKError(f"{algorithm!r} is not an {family} algorithm")
    return algorithm


def _from_jwk(
    key: object, parse: Callable[[Mapping[str, Any]], PublicKey], refusal: str
) -> PublicKey:
    """A key given as a JWK, parsed; any other kind of key is refused with ``refusal``."""
    if not isinstance(key, Mapping):
        raise JWKError(refusal)
    try:
        return parse(key)
    except InvalidJwkError as error:
        raise JWKError(str(error)) from None


def _verifies(check: Callable[[], None]) -> bool:
    # A bad signature is an answer, not an error: never raise for it.
    try:
        check()
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class _VerifyOnlyKey(Key):
    """What the key classes below share: public material only, so nothing can be signed."""

    _algorithm: str
    _key: Ed25519PublicKey | rsa.RSAPublicKey

    def sign(self, msg: bytes) -> bytes:
        raise JWKError("this is a public key: it can only verify")

    def public_key(self) -> Self:
        return self

    def to_pem(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class Ed25519Key(_VerifyOnlyKey):
    """Public Ed25519 key usable by python-jose for ``EdDSA`` / ``Ed25519`` (RFC 8037, 9864).

    Built from an OKP/Ed25519 JWK or an ``Ed25519PublicKey``; any other key type is refused,
    so the algorithm names can never be bound to RSA or EC material.
    """

    _key: Ed25519PublicKey

    def __init__(self, key: object, algorithm: str) -> None:
        self._algorithm = _checked_algorithm(algorithm, EDDSA_ALGORITHMS, "EdDSA")
        self._key = (
            key
            if isinstance(key, Ed25519PublicKey)
            else _from_jwk(key, ed25519_from_jwk, "EdDSA needs an OKP/Ed25519 public key")
        )

    def verify(self, msg: bytes, sig: bytes) -> bool:
        return _verifies(lambda: self._key.verify(bytes(sig), bytes(msg)))

    def to_dict(self) -> dict[str, Any]:
        raw = self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"alg": self._algorithm, "kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


class RsaPssKey(_VerifyOnlyKey):
    """Public RSA key for ``PS256/384/512`` (RFC 7518 §3.5), which python-jose 3.5 lacks.

    The salt length is the digest size, as RFC 7518 requires and as ``jose``/WebCrypto (used
    by Better-Auth) produce.
    """

    _key: rsa.RSAPublicKey

    def __init__(self, key: object, algorithm: str) -> None:
        self._algorithm = _checked_algorithm(algorithm, RSA_PSS_ALGORITHMS, "RSA-PSS")
        self._hash = _HASHES[algorithm]
        self._key = (
            key
            if isinstance(key, rsa.RSAPublicKey)
            else _from_jwk(key, rsa_from_jwk, "RSA-PSS needs an RSA public key")
        )

    def verify(self, msg: bytes, sig: bytes) -> bool:
        digest = self._hash()
        pss = padding.PSS(mgf=padding.MGF1(self._hash()), salt_length=digest.digest_size)
        return _verifies(lambda: self._key.verify(bytes(sig), bytes(msg), pss, digest))

    def to_dict(self) -> dict[str, Any]:
        numbers = self._key.public_numbers()
        return {
            "alg": self._algorithm,
            "kty": "RSA",
            "n": b64url_encode(int_to_bytes(numbers.n)),
            "e": b64url_encode(int_to_bytes(numbers.e)),
        }


def register_algorithms() -> None:
    """Make python-jose's pipeline know EdDSA/Ed25519 and PS256/384/512. Idempotent.

    ``jose.jwk.register_key`` maps the name to our key class (used by ``jwk.construct``) and adds
    it to ``ALGORITHMS.SUPPORTED`` (checked by ``jws.sign``); ``ALGORITHMS.ALL`` is kept
    consistent by hand. ``jws.verify`` itself only checks the caller's allow-list.
    """
    classes: dict[str, type[Key]] = {
        **dict.fromkeys(EDDSA_ALGORITHMS, Ed25519Key),
        **dict.fromkeys(RSA_PSS_ALGORITHMS, RsaPssKey),
    }
    for algorithm, key_class in classes.items():
        if jose_jwk.get_key(algorithm) is not key_class:
            jose_jwk.register_key(algorithm, key_class)
        ALGORITHMS.SUPPORTED.add(algorithm)
        ALGORITHMS.ALL.add(algorithm)


register_algorithms()
