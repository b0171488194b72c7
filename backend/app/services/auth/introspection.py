"""Token introspection (RFC 7662 in spirit): active or not, never why beyond a code."""

from __future__ import annotations

from dataclasses import dataclass

from app.services.auth.identity import IdentityService, TokenType
from app.utils.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Introspection:
    """What introspection tells another service: only ``active`` and ``code`` when refused."""

    active: bool
    code: str | None = None
    sub: str | None = None
    token_type: TokenType | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    roles: list[str] | None = None
    session_id: str | None = None


async def introspect(identity: IdentityService, token: str) -> Introspection:
    try:
        principal = await identity.authenticate(token.strip())
    except (Unauthorized, Forbidden) as refused:
        return Introspection(active=False, code=refused.code)
    # ServiceUnavailable (key source or database down) propagates as 503: the token may well
    # be valid, so "inactive" would be a lie that logs users out.
    claims = principal.claims or {}
    aud, iss = claims.get("aud"), claims.get("iss")
    return Introspection(
        active=True,
        sub=principal.user.id,
        token_type=principal.token_type,
        exp=int(principal.expires_at.timestamp()),
        iat=int(principal.issued_at.timestamp()) if principal.issued_at else None,
        iss=iss if isinstance(iss, str) else None,
        aud=aud if isinstance(aud, str | list) else None,
        roles=principal.roles,
        session_id=principal.session_id,
    )
