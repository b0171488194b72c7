"""Token introspection (RFC 7662 in spirit): active or not, never why beyond a code."""

from __future__ import annotations

from app.schemas.auth import IntrospectionResponse
from app.services.identity import IdentityService
from app.utils.errors import Forbidden, Unauthorized


async def introspect(identity: IdentityService, token: str) -> IntrospectionResponse:
    try:
        principal = await identity.authenticate(token.strip())
    except (Unauthorized, Forbidden) as refused:
        return IntrospectionResponse(active=False, code=refused.code)
    # ServiceUnavailable (key source or database down) propagates as 503: the token may well
    # be valid, so "inactive" would be a lie that logs users out.
    claims = principal.claims or {}
    aud, iss = claims.get("aud"), claims.get("iss")
    return IntrospectionResponse(
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
