"""``/api/v1/auth``: who the caller is, and token introspection for other services."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from app.routers.credentials import verified_before
from app.routers.deps import (
    AccessControlDep,
    AppStateDep,
    CurrentPrincipal,
    IdentityDep,
    client_ip,
    rate_limit_ip,
    rate_limit_user,
)
from app.routers.render import render_user
from app.routers.responses import problem_responses
from app.schemas.access import EffectivePermissions
from app.schemas.auth import IntrospectionRequest, IntrospectionResponse, SessionInfo
from app.schemas.user import UserRead
from app.services.access.scope import narrow
from app.services.auth.identity import Principal
from app.services.auth.introspection import introspect

router = APIRouter(
    prefix="/auth",
    tags=["auth"],
    dependencies=[Depends(rate_limit_ip)],
    responses=problem_responses(429),
)


@router.get(
    "/me",
    summary="The current user",
    description="The signed-in user, read fresh from the database (role and ban state included).",
    response_model=UserRead,
    dependencies=[Depends(rate_limit_user)],
    responses=problem_responses(401, 403, 503),
)
async def me(principal: CurrentPrincipal) -> Response:
    return Response(render_user(principal.user), media_type="application/json")


@router.get(
    "/session",
    summary="How the caller is authenticated",
    response_model=SessionInfo,
    dependencies=[Depends(rate_limit_user)],
    responses=problem_responses(401, 403, 503),
)
async def session_info(principal: CurrentPrincipal) -> SessionInfo:
    return SessionInfo.model_validate(principal, from_attributes=True)


@router.get(
    "/permissions",
    summary="What the caller may do",
    description="Every action the caller's roles grant, per resource of the access control "
    "(`[]` when none), for a frontend to render its menus; with an API key that has "
    "`permissions`, only those the key grants too. Each action passes "
    "`POST /users/has-permission` on its own; a request combining actions granted by two "
    "different roles does not (Better-Auth: any *one* role must grant all of a request).",
    response_model=EffectivePermissions,
    dependencies=[Depends(rate_limit_user)],
    responses=problem_responses(401, 403, 503),
)
async def permissions(
    principal: CurrentPrincipal, access: AccessControlDep
) -> EffectivePermissions:
    user = principal.user
    granted = narrow(access.permissions_of(user.id, user.role), principal.api_key_scope)
    return EffectivePermissions(permissions=granted, roles=principal.roles)


@router.post(
    "/verify",
    summary="Introspect a token",
    description=(
        "For other services: is this JWT or session token one this API would accept right now "
        "(signature, claims, user exists and is not banned)? Answers `active: false` with a "
        "reason code otherwise; 503 when the answer depends on an unreachable key source. "
        "An inactive token counts as a failed authentication of the calling address, as on any "
        "other route: past `RATE_LIMIT_AUTH_FAILURES_PER_IP`, 429 `AUTH_FAILURES_RATE_LIMITED` "
        "(a token this API has already verified is still answered)."
    ),
    response_model=IntrospectionResponse,
    response_model_exclude_none=True,
    responses=problem_responses(422, 503),
)
async def verify(
    request: Request, body: IntrospectionRequest, identity: IdentityDep, state: AppStateDep
) -> IntrospectionResponse:
    address = client_ip(request)
    token = body.token.strip()
    state.auth_failures.check(address, vouched=lambda: verified_before(state, token))
    answer = await introspect(identity, token)
    if answer.principal is None:
        if answer.failed:
            await state.auth_failures.record_failure(address)
        return IntrospectionResponse(active=False, code=answer.code)
    return _active(answer.principal)


def _active(principal: Principal) -> IntrospectionResponse:
    """RFC 7662's view of the caller: times as Unix seconds, ``iss``/``aud`` as the JWT has them."""
    claims = principal.claims or {}
    aud, iss = claims.get("aud"), claims.get("iss")
    return IntrospectionResponse.model_validate(
        {
            "active": True,
            "sub": principal.user_id,
            "token_type": principal.token_type,
            "exp": int(principal.expires_at.timestamp()),
            "iat": int(principal.issued_at.timestamp()) if principal.issued_at else None,
            "iss": iss if isinstance(iss, str) else None,
            "aud": aud if isinstance(aud, str | list) else None,
            "roles": principal.roles,
            "session_id": principal.session_id,
        }
    )
