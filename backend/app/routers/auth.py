"""``/api/v1/auth``: who the caller is, and token introspection for other services."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from app.routers.deps import (
    CurrentPrincipal,
    IdentityDep,
    rate_limit_ip,
    rate_limit_user,
)
from app.routers.render import render_user
from app.routers.responses import problem_responses
from app.schemas.auth import IntrospectionRequest, IntrospectionResponse, SessionInfo
from app.schemas.user import UserRead
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
    return SessionInfo(
        user_id=principal.user.id,
        roles=principal.roles,
        token_type=principal.token_type,
        issued_at=principal.issued_at,
        expires_at=principal.expires_at,
        session_id=principal.session_id,
    )


@router.post(
    "/verify",
    summary="Introspect a token",
    description=(
        "For other services: is this JWT or session token one this API would accept right now "
        "(signature, claims, user exists and is not banned)? Answers `active: false` with a "
        "reason code otherwise; 503 when the answer depends on an unreachable key source."
    ),
    response_model=IntrospectionResponse,
    response_model_exclude_none=True,
    responses=problem_responses(422, 503),
)
async def verify(body: IntrospectionRequest, identity: IdentityDep) -> IntrospectionResponse:
    answer = await introspect(identity, body.token)
    return IntrospectionResponse.model_validate(answer, from_attributes=True)
