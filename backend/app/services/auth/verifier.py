"""Verification of Better-Auth JWTs (``/api/auth/token``); session tokens: ``session_tokens``.

Every failure is ``Unauthorized`` with a stable ``code`` (``TOKEN_INVALID``, ``TOKEN_EXPIRED``,
``TOKEN_ISSUER``, ``TOKEN_AUDIENCE``, ``KEY_NOT_FOUND``, ``SESSION_INVALID``) and a short detail
that never contains the credential; only an unreachable key source gives
``ServiceUnavailable(KEY_SOURCE_UNAVAILABLE)``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from app.services.auth.jose import (
    ASYMMETRIC_ALGORITHMS,
    VerificationKey,
    algorithm_matches_key,
    decode_verified,
    read_header,
)
from app.utils.errors import Unauthorized

if TYPE_CHECKING:
    from app.config import Settings

MAX_KID_LENGTH: Final = 256
MAX_SUBJECT_LENGTH: Final = 255
# NumericDate values must be instants a datetime can hold, from the epoch to the last second of
# the year 9999: anything else is nonsense from a real issuer, and converting it later (datetime,
# float() of a huge int) would crash the request instead of refusing the token.
_MIN_NUMERIC_DATE: Final = 0
_MAX_NUMERIC_DATE: Final = 253_402_300_799  # 9999-12-31T23:59:59Z
# Better-Auth ids are printable. A control character (NUL above all: PostgreSQL text cannot hold
# it and the driver raises instead of finding no row) means a broken or hostile token.
_CONTROL_CHARACTER: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class KeyProvider(Protocol):
    """What the verifier needs from a key cache (``JwksCache`` implements it)."""

    async def get_key(self, kid: str | None) -> VerificationKey: ...


@dataclass(frozen=True)
class VerifiedToken:
    """A JWT whose signature, issuer, audience, subject and time claims were checked.

    Times are NumericDate values (seconds since the epoch, as in the token).
    """

    subject: str
    claims: dict[str, Any]
    issued_at: float
    expires_at: float
    not_before: float | None
    kid: str | None
    alg: str
    # The key object that verified it: a cached verification stands only while the key cache
    # still holds this very key (``JwksCache.trusts``).
    key: VerificationKey | None = field(default=None, repr=False, compare=False)


def with_rfc9864_alias(algorithms: Iterable[str]) -> list[str]:
    """Allowing EdDSA allows its RFC 9864 name Ed25519 too (bound to OKP/Ed25519 keys only)."""
    allowed = list(algorithms)
    if "EdDSA" in allowed and "Ed25519" not in allowed:
        allowed.append("Ed25519")
    return allowed


def _allowed_algorithms(algorithms: Iterable[str]) -> frozenset[str]:
    allowed = frozenset(algorithms)
    refused = allowed - ASYMMETRIC_ALGORITHMS
    if refused:
        # Never HS* (the public key would become an HMAC secret) nor "none".
        raise ValueError(f"algorithms not allowed for verification: {sorted(refused)}")
    if not allowed:
        raise ValueError("at least one algorithm must be allowed")
    return allowed


def _invalid(detail: str) -> Unauthorized:
    return Unauthorized(detail, code="TOKEN_INVALID")


class TokenVerifier:
    """Verifies Better-Auth JWTs against keys from a :class:`KeyProvider`.

    ``clock`` returns the current Unix time; tests freeze it (e.g. at a vector's ``valid_at``)
    instead of turning expiry checks off.
    """

    def __init__(
        self,
        key_cache: KeyProvider,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str],
        leeway_seconds: float = 5,
        max_token_bytes: int = 8192,
        max_lifetime_seconds: float = 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("issuer and audience are required")
        self._keys = key_cache
        self._issuer = issuer
        self._audience = audience
        self._algorithms = _allowed_algorithms(algorithms)
        self._leeway = leeway_seconds
        self._max_token_bytes = max_token_bytes
        self._max_lifetime = max_lifetime_seconds
        self._clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        key_cache: KeyProvider,
        *,
        clock: Callable[[], float] = time.time,
    ) -> TokenVerifier:
        return cls(
            key_cache,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=with_rfc9864_alias(settings.jwt_algorithms),
            leeway_seconds=settings.jwt_leeway_seconds,
            max_token_bytes=settings.jwt_max_token_bytes,
            max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
            clock=clock,
        )

    def cached(self, token: str) -> VerifiedToken | None:
        """Nothing is remembered here (``CachedTokenVerifier`` does)."""
        return None

    async def verify(self, token: str, header: Mapping[str, Any] | None = None) -> VerifiedToken:
        """Size cap, structure, header (alg allow-list, no ``crit``), key by kid, alg fixed by
        the key, signature + iss/aud/sub (python-jose), then exp/nbf/iat on our clock.

        ``header`` is the token's header when the caller already parsed it (the identity service
        does, to tell a JWT from a session token); it is then not parsed again."""
        if header is None:
            header = read_header(token, max_bytes=self._max_token_bytes)
        elif len(token) > self._max_token_bytes:
            raise _invalid("token too large")
        alg = self._check_header(header)
        kid = _check_kid(header.get("kid"))
        key = await self._keys.get_key(kid)
        if not algorithm_matches_key(alg, key):
            raise _invalid("token algorithm does not match the key")
        claims = decode_verified(
            token, key, self._algorithms, self._issuer, self._audience, algorithm=alg
        )
        expires_at, not_before, issued_at = self._check_times(claims)
        return VerifiedToken(
            subject=_check_subject(claims.get("sub")),
            claims=claims,
            issued_at=issued_at,
            expires_at=expires_at,
            not_before=not_before,
            kid=key.kid,
            alg=alg,
            key=key,
        )

    def _check_header(self, header: Mapping[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise _invalid("token algorithm missing")
        if alg.lower() == "none" or alg.upper().startswith("HS") or alg not in self._algorithms:
            raise _invalid("token algorithm not allowed")
        if "crit" in header:
            # RFC 7515 §4.1.11: we understand no extension, so a critical one must be refused.
            raise _invalid("unsupported critical header")
        # jku, x5u, jwk, x5c are deliberately never read: keys come only from our key source.
        return alg

    def _check_times(self, claims: Mapping[str, Any]) -> tuple[float, float | None, float]:
        now = self._clock()
        if "exp" not in claims:
            raise _invalid("token has no expiry")
        expires_at = _numeric_date(claims["exp"], "exp")
        if now - self._leeway >= expires_at:
            raise Unauthorized("token expired", code="TOKEN_EXPIRED")
        not_before = None
        if "nbf" in claims:
            not_before = _numeric_date(claims["nbf"], "nbf")
            if not_before > now + self._leeway:
                raise _invalid("token not yet valid")
        # Better-Auth always sets iat; a token without it is not one of its tokens.
        if "iat" not in claims:
            raise _invalid("token has no issue time")
        issued_at = _numeric_date(claims["iat"], "iat")
        if issued_at > now + self._leeway:
            raise _invalid("token issued in the future")
        # A stolen token is good until exp, and so is its token-cache entry: cap that window
        # (JWT_MAX_LIFETIME_SECONDS) whatever the issuer was configured to mint.
        if expires_at - issued_at > self._max_lifetime:
            raise _invalid("token lifetime exceeds the allowed maximum")
        return expires_at, not_before, issued_at


def _check_kid(kid: object) -> str | None:
    if kid is None:
        return None
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise _invalid("invalid key id")
    return kid


def _numeric_date(value: object, name: str) -> float:
    """RFC 7519 NumericDate: a JSON number. Not a bool, not a string, finite, sane."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"invalid {name} claim")
    if isinstance(value, int):
        if not _MIN_NUMERIC_DATE <= value <= _MAX_NUMERIC_DATE:
            raise _invalid(f"invalid {name} claim")
        return float(value)
    if not math.isfinite(value) or not _MIN_NUMERIC_DATE <= value <= _MAX_NUMERIC_DATE:
        raise _invalid(f"invalid {name} claim")
    return value


def _check_subject(sub: object) -> str:
    if (
        not isinstance(sub, str)
        or not sub
        or len(sub) > MAX_SUBJECT_LENGTH
        or _CONTROL_CHARACTER.search(sub)
    ):
        raise _invalid("invalid subject")
    return sub
