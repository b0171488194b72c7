"""python-jose behind a narrow, typed interface.

This is the only module that imports python-jose. It

- teaches python-jose 3.5 the algorithms Better-Auth can mint that it lacks: ``EdDSA`` (and
  its RFC 9864 name ``Ed25519``) and the RSA-PSS family ``PS256/384/512``;
- turns a JWK into a pre-built, public-only :class:`VerificationKey` whose algorithm is fixed
  by the key, never by a token;
- runs python-jose with one key object and an explicit algorithm allow-list, and maps every
  exception it can raise onto :class:`~app.utils.errors.Unauthorized` with a stable code.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jose import jwk as jose_jwk
from jose import jwt as jose_jwt
from jose.backends.base import Key
from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey
from jose.constants import ALGORITHMS
from jose.exceptions import (
    ExpiredSignatureError,
    JOSEError,
    JWKError,
    JWSError,
    JWTClaimsError,
    JWTError,
)

from app.utils.errors import Unauthorized

# --- algorithm families --------------------------------------------------------------------

EDDSA_ALGORITHMS: Final = frozenset({"EdDSA", "Ed25519"})
RSA_PKCS1_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512"})
RSA_PSS_ALGORITHMS: Final = frozenset({"PS256", "PS384", "PS512"})
EC_ALGORITHMS: Final = frozenset({"ES256", "ES384", "ES512"})
#: Every algorithm this module can verify. Symmetric (HS*) and ``none`` are deliberately absent:
#: a verifier that only holds public keys must never accept them.
ASYMMETRIC_ALGORITHMS: Final = (
    EDDSA_ALGORITHMS | RSA_PKCS1_ALGORITHMS | RSA_PSS_ALGORITHMS | EC_ALGORITHMS
)

_HASHES: Final[Mapping[str, type[hashes.HashAlgorithm]]] = MappingProxyType(
    {
        "RS256": hashes.SHA256,
        "RS384": hashes.SHA384,
        "RS512": hashes.SHA512,
        "PS256": hashes.SHA256,
        "PS384": hashes.SHA384,
        "PS512": hashes.SHA512,
    }
)


@dataclass(frozen=True)
class _Curve:
    alg: str
    curve: type[ec.EllipticCurve]
    size: int  # bytes per coordinate (RFC 7518 §6.2.1.2)


_EC_CURVES: Final[Mapping[str, _Curve]] = MappingProxyType(
    {
        "P-256": _Curve("ES256", ec.SECP256R1, 32),
        "P-384": _Curve("ES384", ec.SECP384R1, 48),
        "P-521": _Curve("ES512", ec.SECP521R1, 66),
    }
)

# RFC 7518 §3.3: RSA keys of 2048 bits or more MUST be used. The upper bound keeps a hostile or
# broken JWKS from making every verification arbitrarily expensive.
_RSA_MIN_BITS: Final = 2048
_RSA_MAX_BITS: Final = 16384

# Members that only a private or symmetric JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4).
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

#: Hard ceiling for :func:`read_header` when the caller gives none (matches the largest
#: ``JWT_MAX_TOKEN_BYTES`` the settings allow).
DEFAULT_MAX_TOKEN_BYTES: Final = 65536

_B64URL_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]+")


class InvalidJwkError(ValueError):
    """A JWK that cannot (or must not) be used to verify tokens."""


# --- base64url -----------------------------------------------------------------------------


def b64url_decode(segment: str) -> bytes:
    """Strict, canonical base64url (no padding) decoding.

    Python's decoder silently drops characters outside the alphabet and ignores non-zero
    trailing bits, so several strings decode to the same bytes. We accept only the one
    canonical spelling: a token then has exactly one valid form (no malleable signatures).
    """
    if not _B64URL_SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as error:
        raise ValueError("not base64url") from error
    if b64url_encode(data) != segment:
        raise ValueError("not canonical base64url")
    return data


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- python-jose key classes ---------------------------------------------------------------


class _VerifyOnlyKey(Key):
    """What the key classes below share: public material only, so nothing can be signed."""

    def sign(self, msg: bytes) -> bytes:
        raise JWKError("this is a public key: it can only verify")

    def public_key(self) -> Self:
        return self


class Ed25519Key(_VerifyOnlyKey):
    """Public Ed25519 key usable by python-jose for ``EdDSA`` / ``Ed25519`` (RFC 8037, 9864).

    Built from an OKP/Ed25519 JWK or an ``Ed25519PublicKey``; any other key type is refused,
    so the algorithm names can never be bound to RSA or EC material.
    """

    def __init__(self, key: object, algorithm: str) -> None:
        if algorithm not in EDDSA_ALGORITHMS:
            raise JWKError(f"{algorithm!r} is not an EdDSA algorithm")
        self._algorithm = algorithm
        if isinstance(key, Ed25519PublicKey):
            self._key = key
        elif isinstance(key, Mapping):
            try:
                self._key = _ed25519_from_jwk(key)
            except InvalidJwkError as error:
                raise JWKError(str(error)) from None
        else:
            raise JWKError("EdDSA needs an OKP/Ed25519 public key")

    def verify(self, msg: bytes, sig: bytes) -> bool:
        # A bad signature is an answer, not an error: never raise for it.
        try:
            self._key.verify(bytes(sig), bytes(msg))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def to_pem(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def to_dict(self) -> dict[str, Any]:
        raw = self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"alg": self._algorithm, "kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


class RsaPssKey(_VerifyOnlyKey):
    """Public RSA key for ``PS256/384/512`` (RFC 7518 §3.5), which python-jose 3.5 lacks.

    The salt length is the digest size, as RFC 7518 requires and as ``jose``/WebCrypto (used
    by Better-Auth) produce.
    """

    def __init__(self, key: object, algorithm: str) -> None:
        if algorithm not in RSA_PSS_ALGORITHMS:
            raise JWKError(f"{algorithm!r} is not an RSA-PSS algorithm")
        self._algorithm = algorithm
        self._hash = _HASHES[algorithm]
        if isinstance(key, rsa.RSAPublicKey):
            self._key = key
        elif isinstance(key, Mapping):
            try:
                self._key = _rsa_from_jwk(key)
            except InvalidJwkError as error:
                raise JWKError(str(error)) from None
        else:
            raise JWKError("RSA-PSS needs an RSA public key")

    def verify(self, msg: bytes, sig: bytes) -> bool:
        digest = self._hash()
        pss = padding.PSS(mgf=padding.MGF1(self._hash()), salt_length=digest.digest_size)
        try:
            self._key.verify(bytes(sig), bytes(msg), pss, digest)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def to_pem(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def to_dict(self) -> dict[str, Any]:
        numbers = self._key.public_numbers()
        return {
            "alg": self._algorithm,
            "kty": "RSA",
            "n": b64url_encode(_int_to_bytes(numbers.n)),
            "e": b64url_encode(_int_to_bytes(numbers.e)),
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


# --- JWK -> VerificationKey ----------------------------------------------------------------


@dataclass(frozen=True)
class VerificationKey:
    """A public key ready to verify, with the one algorithm it may be used with.

    ``alg`` comes from the JWK (its ``alg`` member, or derived from ``kty``/``crv``), never from
    a token header: that is what defeats algorithm-confusion attacks.
    """

    kid: str | None
    alg: str
    kty: str
    crv: str | None
    jose_key: Key = field(repr=False, compare=False)


def algorithm_matches_key(algorithm: str, key: VerificationKey) -> bool:
    """Whether a token's ``alg`` may be verified with ``key``.

    ``EdDSA`` and ``Ed25519`` name the same thing for an OKP/Ed25519 key (RFC 9864), nothing else
    is interchangeable.
    """
    if algorithm == key.alg:
        return True
    return key.kty == "OKP" and algorithm in EDDSA_ALGORITHMS and key.alg in EDDSA_ALGORITHMS


def build_public_key(jwk: Mapping[str, Any]) -> VerificationKey:
    """Validate a public JWK and pre-build its python-jose key object.

    Rejected (``InvalidJwkError``): non-objects, symmetric ``oct`` keys, any private member (``d``,
    ...), ``use`` other than ``sig``, ``key_ops`` without ``verify``, unknown ``kty``/``crv``,
    an ``alg`` that does not fit the key, malformed or weak material (RSA < 2048 bits).

    Algorithm when the JWK has no ``alg``: OKP/Ed25519 -> ``EdDSA``; EC P-256/P-384/P-521 ->
    ``ES256/ES384/ES512`` (the curve fixes it). An RSA key could serve RS* or PS*; Better-Auth
    always publishes ``alg``, so an RSA JWK without one is bound to ``RS256`` only (the JOSE
    default) rather than to a family chosen by whoever signs the token.
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
    raise InvalidJwkError(f"unsupported key type {_short(kty)}")


def _check_usage(jwk: Mapping[str, Any]) -> None:
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise InvalidJwkError(f"key use {_short(use)} is not 'sig'")
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
        raise InvalidJwkError(f"alg {_short(alg)} does not fit an OKP key")
    fixed = alg or "EdDSA"
    public = _ed25519_from_jwk(jwk)
    return VerificationKey(kid, fixed, "OKP", "Ed25519", Ed25519Key(public, fixed))


def _ed25519_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise InvalidJwkError(f"unsupported OKP curve {_short(jwk.get('crv'))}")
    raw = _member_bytes(jwk, "x")
    if len(raw) != 32:
        raise InvalidJwkError("Ed25519 'x' must be 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as error:
        raise InvalidJwkError("invalid Ed25519 public key") from error


def _build_ec(jwk: Mapping[str, Any], kid: str | None, alg: str | None) -> VerificationKey:
    crv = jwk.get("crv")
    curve = _EC_CURVES.get(crv) if isinstance(crv, str) else None
    if curve is None:
        raise InvalidJwkError(f"unsupported EC curve {_short(crv)}")
    if alg is not None and alg != curve.alg:
        raise InvalidJwkError(f"alg {_short(alg)} does not fit curve {crv}")
    x, y = _member_bytes(jwk, "x"), _member_bytes(jwk, "y")
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
        raise InvalidJwkError(f"alg {_short(alg)} does not fit an RSA key")
    fixed = alg or "RS256"
    public = _rsa_from_jwk(jwk)
    jose_key: Key = (
        RsaPssKey(public, fixed)
        if fixed in RSA_PSS_ALGORITHMS
        else CryptographyRSAKey(public, fixed)
    )
    return VerificationKey(kid, fixed, "RSA", None, jose_key)


def _rsa_from_jwk(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey:
    if jwk.get("kty") != "RSA":
        raise InvalidJwkError("not an RSA key")
    n = int.from_bytes(_member_bytes(jwk, "n"), "big")
    e = int.from_bytes(_member_bytes(jwk, "e"), "big")
    if not _RSA_MIN_BITS <= n.bit_length() <= _RSA_MAX_BITS:
        raise InvalidJwkError(f"RSA modulus must be {_RSA_MIN_BITS}..{_RSA_MAX_BITS} bits")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as error:
        raise InvalidJwkError("invalid RSA public key") from error


def _member_bytes(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidJwkError(f"'{name}' is missing or not a string")
    try:
        return b64url_decode(value)
    except ValueError:
        raise InvalidJwkError(f"'{name}' is not base64url") from None


def _int_to_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _short(value: object) -> str:
    """A bounded rendering of a JWK value for error messages and logs."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- tokens ----------------------------------------------------------------------------------


def split_token(token: str, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> tuple[str, str, str]:
    """The three segments of a compact JWS, or ``Unauthorized(TOKEN_INVALID)``.

    The size cap comes first so that nothing is parsed for an oversized input. Exactly three
    non-empty canonical base64url segments are accepted: a JWE (five segments) is refused, and
    so is an unsecured JWS (empty signature).
    """
    if len(token) > max_bytes:
        raise Unauthorized("token too large", code="TOKEN_INVALID")
    if not token.isascii():  # cannot be base64url; and once ASCII, characters are bytes
        raise Unauthorized("malformed token", code="TOKEN_INVALID")
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("malformed token", code="TOKEN_INVALID")
    for part in parts:
        try:
            b64url_decode(part)
        except ValueError:
            raise Unauthorized("malformed token", code="TOKEN_INVALID") from None
    return parts[0], parts[1], parts[2]


def read_header(token: str, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> dict[str, Any]:
    """The JOSE header of ``token``, unverified. Raises ``Unauthorized(TOKEN_INVALID)``."""
    split_token(token, max_bytes=max_bytes)
    try:
        # python-jose turns every decoding problem (bad JSON, deep nesting, not an object)
        # into JWTError.
        header = jose_jwt.get_unverified_header(token)
    except JOSEError:
        raise Unauthorized("malformed token header", code="TOKEN_INVALID") from None
    if not isinstance(header, dict):
        raise Unauthorized("malformed token header", code="TOKEN_INVALID")
    return header


# Time claims (exp, nbf, iat) are checked by TokenVerifier, not here: python-jose reads the wall
# clock itself (datetime.now), so a test could not pin "now" to a vector's valid_at without
# switching expiry off, and its int() coercion accepts numeric strings and booleans. Switching
# jose's time checks off is therefore not a weaker check: the verifier requires exp and checks
# all three against its injectable clock. Everything else stays on, and iss/aud/sub are required.
_JOSE_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "verify_signature": True,
        "verify_aud": True,
        "verify_iss": True,
        "verify_sub": True,
        "verify_jti": True,
        "verify_at_hash": True,
        "require_aud": True,
        "require_iss": True,
        "require_sub": True,
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "require_exp": False,  # True would switch verify_exp back on inside python-jose
        "require_nbf": False,
        "require_iat": False,
        "leeway": 0,
    }
)


def decode_verified(
    token: str,
    key: VerificationKey,
    allowed_algorithms: Collection[str],
    issuer: str,
    audience: str,
) -> dict[str, Any]:
    """Verify signature, ``iss``, ``aud`` (string or list) and ``sub`` type; return the claims.

    python-jose gets exactly one pre-built key object and the allow-list narrowed to the
    algorithms that key accepts, so a header cannot pick another algorithm (``HS256`` with the
    public key as secret, ``none``, ...). Time claims are NOT checked here (see above).
    """
    algorithms = [
        alg
        for alg in allowed_algorithms
        if alg in ASYMMETRIC_ALGORITHMS and algorithm_matches_key(alg, key)
    ]
    if not algorithms:
        raise Unauthorized("token algorithm does not match the key", code="TOKEN_INVALID")
    try:
        claims: dict[str, Any] = jose_jwt.decode(
            token,
            key.jose_key,
            algorithms=algorithms,
            options=_JOSE_OPTIONS,
            issuer=issuer,
            audience=audience,
        )
    except (JWTClaimsError, ExpiredSignatureError):
        raise _claims_failure(token, issuer, audience) from None
    except JWTError as error:
        if isinstance(error.__context__, JWSError):
            # python-jose wraps every signature/format problem of the JWS layer this way.
            raise Unauthorized("invalid token signature", code="TOKEN_INVALID") from None
        # Raised after the signature was verified: a required claim missing, or a payload that
        # is not a JSON object.
        raise _claims_failure(token, issuer, audience) from None
    except (JOSEError, ValueError, TypeError, KeyError, IndexError, RecursionError):
        # Belt and braces: nothing python-jose raises may escape as a 500.
        raise Unauthorized("malformed token", code="TOKEN_INVALID") from None
    _require_unicode_text(claims)
    return claims


def _require_unicode_text(claims: Mapping[str, Any]) -> None:
    """A claims set is UTF-8 JSON (RFC 7519 §7.2, RFC 8259 §8.1), but Python's parser accepts
    escaped lone surrogates (``"\\ud800"``) that no UTF-8 text can hold. Such a value, even one
    signed by the issuer, would crash the first thing that encodes it (database driver, JSON
    response) instead of being refused here."""
    try:
        json.dumps(claims, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError, RecursionError):
        raise Unauthorized("token claims are not valid Unicode", code="TOKEN_INVALID") from None


def _claims_failure(token: str, issuer: str, audience: str) -> Unauthorized:
    """Name the claim python-jose refused. Only called once the signature has been verified."""
    try:
        claims = jose_jwt.get_unverified_claims(token)
    except JOSEError:
        return Unauthorized("malformed token claims", code="TOKEN_INVALID")
    if claims.get("iss") != issuer:
        return Unauthorized("token issuer mismatch", code="TOKEN_ISSUER")
    if not audience_matches(claims.get("aud"), audience):
        return Unauthorized("token audience mismatch", code="TOKEN_AUDIENCE")
    if not isinstance(claims.get("sub"), str):
        return Unauthorized("token subject is invalid", code="TOKEN_INVALID")
    return Unauthorized("invalid token claims", code="TOKEN_INVALID")


def audience_matches(claim: object, audience: str) -> bool:
    """RFC 7519 §4.1.3: ``aud`` is a string or a list of strings that must contain ours."""
    if isinstance(claim, str):
        return claim == audience
    if isinstance(claim, list) and all(isinstance(item, str) for item in claim):
        return audience in claim
    return False
