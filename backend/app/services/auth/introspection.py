"""Token introspection (RFC 7662 in spirit): active or not, never why beyond a code."""

from __future__ import annotations

from dataclasses import dataclass

from app.services.auth.identity import IdentityService, Principal
from app.utils.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Introspection:
    """The caller behind an active token; for an inactive one, only the code it was refused with
    (never why beyond that)."""

    principal: Principal | None = None
    code: str | None = None
    # A refusal of the credential itself (a 401 on a request): a failed authentication, counted
    # against the caller's address like any other. A ban (403) is a valid credential.
    failed: bool = False


async def introspect(identity: IdentityService, token: str) -> Introspection:
    try:
        principal = await identity.authenticate(token.strip())
    except (Unauthorized, Forbidden) as refused:
        return Introspection(code=refused.code, failed=isinstance(refused, Unauthorized))
    # ServiceUnavailable (key source or database down) propagates as 503: the token may well
    # be valid, so "inactive" would be a lie that logs users out.
    return Introspection(principal)
