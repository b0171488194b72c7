"""Raw JWK members to ``cryptography`` public keys, strictly: shared by the key classes and
the JWK builder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.services.auth.jose.algorithms import _RSA_MAX_BITS, _RSA_MIN_BITS, InvalidJwkError
from app.services.auth.jose.encoding import b64url_decode


def ed25519_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise InvalidJwkError(f"unsupported OKP curve {short_repr(jwk.get('crv'))}")
    raw = member_bytes(jwk, "x")
    if len(raw) != 32:
        raise InvalidJwkError("Ed25519 'x' must be 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as error:
        raise InvalidJwkError("invalid Ed25519 public key") from error


def rsa_from_jwk(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey:
    if jwk.get("kty") != "RSA":
        raise InvalidJwkError("not an RSA key")
    n = int.from_bytes(member_bytes(jwk, "n"), "big")
    e = int.from_bytes(member_bytes(jwk, "e"), "big")
    if not _RSA_MIN_BITS <= n.bit_length() <= _RSA_MAX_BITS:
        raise InvalidJwkError(f"RSA modulus must be {_RSA_MIN_BITS}..{_RSA_MAX_BITS} bits")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as error:
        raise InvalidJwkError("invalid RSA public key") from error


def member_bytes(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidJwkError(f"'{name}' is missing or not a string")
    try:
        return b64url_decode(value)
    except ValueError:
        raise InvalidJwkError(f"'{name}' is not base64url") from None


def int_to_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def short_repr(value: object) -> str:
    """A bounded rendering of a JWK value for error messages and logs."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
