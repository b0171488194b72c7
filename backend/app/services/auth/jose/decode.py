"""Signature and claims verification through python-jose; failures become ``Unauthorized``."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any, Final

from jose import jwt as jose_jwt
from jose.exceptions import (
    ExpiredSignatureError,
    JOSEError,
    JWSError,
    JWTClaimsError,
    JWTError,
)

from app.services.auth.jose.algorithms import ASYMMETRIC_ALGORITHMS
from app.services.auth.jose.jwk import VerificationKey, algorithm_matches_key
from app.utils.errors import Unauthorized

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
    *,
    algorithm: str | None = None,
) -> dict[str, Any]:
    """Verify signature, ``iss``, ``aud`` (string or list) and ``sub`` type; return the claims.

    python-jose gets exactly one pre-built key object, the one for the token's algorithm
    (``algorithm``: the header's, read here when not given), and the allow-list narrowed to the
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
    if key.by_algorithm:  # one python-jose key per algorithm: the header's picks it
        if algorithm is None:
            algorithm = _header_algorithm(token)
        if algorithm not in algorithms:
            raise Unauthorized("token algorithm does not match the key", code="TOKEN_INVALID")
        jose_key, algorithms = key.jose_key_for(algorithm), [algorithm]
    else:
        jose_key = key.jose_key
    try:
        claims: dict[str, Any] = jose_jwt.decode(
            token,
            jose_key,
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


def _header_algorithm(token: str) -> str | None:
    try:
        alg = jose_jwt.get_unverified_header(token).get("alg")
    except (JOSEError, ValueError, TypeError, AttributeError, RecursionError):
        raise Unauthorized("malformed token", code="TOKEN_INVALID") from None
    return alg if isinstance(alg, str) else None


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
