"""Test keys and tokens, made with ``cryptography`` alone.

Signing does not go through python-jose (the library under test) so that a bug in how we drive
it cannot be mirrored by the tokens the tests feed it, and so that any header, including
hostile ones, can be produced.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PrivateKey = Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_CURVES: dict[str, tuple[ec.EllipticCurve, str, int]] = {
    "ES256": (ec.SECP256R1(), "P-256", 32),
    "ES384": (ec.SECP384R1(), "P-384", 48),
    "ES512": (ec.SECP521R1(), "P-521", 66),
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_b64url(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def new_kid() -> str:
    """32 random alphanumerics, like Better-Auth's ids."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(32))


@dataclass(frozen=True)
class TestKey:
    """A private key with the algorithm it signs with and its kid."""

    __test__ = False  # not a pytest test class

    alg: str
    kid: str
    private_key: PrivateKey

    def sign(self, data: bytes) -> bytes:
        key = self.private_key
        if isinstance(key, Ed25519PrivateKey):
            return key.sign(data)
        digest = _HASHES[self.alg[2:]]()
        if isinstance(key, rsa.RSAPrivateKey):
            if self.alg.startswith("PS"):
                pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                return key.sign(data, pss, digest)
            return key.sign(data, padding.PKCS1v15(), digest)
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def public_jwk(
        self, *, with_alg: bool = True, with_kid: bool = True, alg: str | None = None
    ) -> dict[str, Any]:
        jwk = _public_members(self.private_key)
        if with_alg:
            jwk["alg"] = alg or self.alg
        if with_kid:
            jwk["kid"] = self.kid
        return jwk

    def private_jwk(self) -> dict[str, Any]:
        """The public JWK plus the private member ``d``: must be refused by a verifier."""
        jwk = self.public_jwk()
        key = self.private_key
        if isinstance(key, Ed25519PrivateKey):
            raw = key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            jwk["d"] = b64url(raw)
        elif isinstance(key, rsa.RSAPrivateKey):
            jwk["d"] = b64url(_int_bytes(key.private_numbers().d))
        else:
            jwk["d"] = b64url(_int_bytes(key.private_numbers().private_value))
        return jwk

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _int_bytes(value: int, size: int | None = None) -> bytes:
    return value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big")


def _public_members(key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "n": b64url(_int_bytes(numbers.n)),
            "e": b64url(_int_bytes(numbers.e)),
        }
    point = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
    return {
        "kty": "EC",
        "crv": crv,
        "x": b64url(_int_bytes(point.x, size)),
        "y": b64url(_int_bytes(point.y, size)),
    }


def generate_key(alg: str, kid: str | None = None, *, rsa_bits: int = 2048) -> TestKey:
    """A fresh key for ``alg``: EdDSA/Ed25519, RS*/PS* (RSA), ES256/ES384/ES512 (P-256/384/521)."""
    private: PrivateKey
    if alg in {"EdDSA", "Ed25519"}:
        private = Ed25519PrivateKey.generate()
    elif alg[:2] in {"RS", "PS"}:
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    elif alg in _CURVES:
        private = ec.generate_private_key(_CURVES[alg][0])
    else:
        raise ValueError(f"no test key for {alg}")
    return TestKey(alg, kid or new_kid(), private)


def encode_token(header: dict[str, Any], claims: dict[str, Any] | bytes, signature: bytes) -> str:
    payload = b64url(claims) if isinstance(claims, bytes) else json_b64url(claims)
    return f"{json_b64url(header)}.{payload}.{b64url(signature)}"


def sign_token(
    key: TestKey,
    claims: dict[str, Any] | bytes,
    *,
    alg: str | None = None,
    headers: dict[str, Any] | None = None,
    include_kid: bool = True,
) -> str:
    """A compact JWS signed with ``key``'s own algorithm.

    ``alg`` only changes what the header *claims* (for mismatch attacks); ``headers`` are merged
    last and may override anything.
    """
    header: dict[str, Any] = {"alg": alg or key.alg}
    if include_kid:
        header["kid"] = key.kid
    header.update(headers or {})
    payload = b64url(claims) if isinstance(claims, bytes) else json_b64url(claims)
    signing_input = f"{json_b64url(header)}.{payload}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"


def sign_hmac(secret: bytes, claims: dict[str, Any], headers: dict[str, Any]) -> str:
    """An HS256 token: the algorithm-confusion attack uses a public key as ``secret``."""
    header = {"alg": "HS256", **headers}
    signing_input = f"{json_b64url(header)}.{json_b64url(claims)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def jwks(*keys: TestKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}


def better_auth_claims(
    origin: str,
    *,
    iat: int,
    user_id: str | None = None,
    audience: str | list[str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Claims shaped like Better-Auth's jwt plugin: the user row, then sub/exp/iss/aud."""
    uid = user_id or new_kid()
    claims: dict[str, Any] = {
        "iat": iat,
        "id": uid,
        "name": "Test User",
        "email": f"{uid.lower()}@example.com",
        "emailVerified": False,
        "image": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        "role": "user",
        "banned": False,
        "banReason": None,
        "banExpires": None,
        "sub": uid,
        "exp": iat + 900,
        "iss": origin,
        "aud": origin if audience is None else audience,
    }
    claims.update(overrides)
    return claims
