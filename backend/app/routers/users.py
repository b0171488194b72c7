"""``/api/v1/users``: profiles for everyone, management for admins. Thin: parse, call, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from app.routers.deps import (
    AdminUser,
    AuditContextDep,
    CurrentPrincipal,
    CurrentUser,
    SettingsDep,
    UsersDep,
)
from app.routers.render import render_user, render_user_page
from app.routers.responses import problem_responses
from app.schemas.base import InputText
from app.schemas.user import (
    AdminUserUpdate,
    BanRequest,
    ProfileUpdate,
    RoleUpdate,
    SessionList,
    SessionRead,
    UserPage,
    UserRead,
)
from app.services.users.query import (
    FilterOperator,
    SearchField,
    SearchOperator,
    SortDirection,
    SortField,
    UserListQuery,
)
from app.services.users.service import require_self_or_admin

router = APIRouter(
    prefix="/users",
    tags=["users"],
    responses=problem_responses(401, 403, 422, 429, 503),
)


async def list_query(
    search: Annotated[
        InputText | None, Query(max_length=256, description="Case-insensitive")
    ] = None,
    search_value: Annotated[
        InputText | None,
        Query(alias="searchValue", max_length=256, description="Alias of `search`"),
    ] = None,
    search_field: Annotated[SearchField, Query(alias="searchField")] = "email",
    search_operator: Annotated[SearchOperator, Query(alias="searchOperator")] = "contains",
    role: Annotated[InputText | None, Query(max_length=128, description="Holds this role")] = None,
    banned: bool | None = None,
    sort_by: Annotated[SortField, Query(alias="sortBy")] = "createdAt",
    sort_direction: Annotated[SortDirection, Query(alias="sortDirection")] = "asc",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    filter_field: Annotated[InputText | None, Query(alias="filterField", max_length=64)] = None,
    filter_value: Annotated[InputText | None, Query(alias="filterValue", max_length=256)] = None,
    filter_operator: Annotated[FilterOperator, Query(alias="filterOperator")] = "eq",
) -> UserListQuery:
    return UserListQuery(
        search=search if search is not None else search_value,
        search_field=search_field,
        search_operator=search_operator,
        role=role,
        banned=banned,
        sort_by=sort_by,
        sort_direction=sort_direction,
        limit=limit,
        offset=offset,
        filter_field=filter_field,
        filter_value=filter_value,
        filter_operator=filter_operator,
    )


@router.get("", summary="List users (admin)", response_model=UserPage)
async def list_users(
    _admin: AdminUser, users: UsersDep, query: Annotated[UserListQuery, Depends(list_query)]
) -> Response:
    found, total = await users.list_users(query)
    return Response(
        render_user_page(found, total=total, limit=query.limit, offset=query.offset),
        media_type="application/json",
    )


@router.get("/me", summary="My profile", response_model=UserRead)
async def read_me(user: CurrentUser) -> Response:
    return Response(render_user(user), media_type="application/json")


@router.patch("/me", summary="Update my name or image", response_model=UserRead)
async def update_me(body: ProfileUpdate, user: CurrentUser, users: UsersDep) -> UserRead:
    updated = await users.update_profile(
        user.id, body.model_dump(exclude_unset=True, by_alias=False)
    )
    return UserRead.model_validate(updated)


# Path parameters keep Better-Auth's camelCase names in the URL template (and the contract).
UserIdPath = Annotated[
    InputText, Path(min_length=1, max_length=255, examples=["7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs"])
]
SessionIdPath = Annotated[InputText, Path(min_length=1, max_length=255)]


@router.get(
    "/{userId}",
    summary="One user (admin, or the user themself)",
    response_model=UserRead,
    responses=problem_responses(404),
)
async def read_user(
    userId: UserIdPath, actor: CurrentUser, users: UsersDep, settings: SettingsDep
) -> UserRead:
    require_self_or_admin(actor, userId, settings.admin_roles)
    return UserRead.model_validate(await users.get_user(userId))


@router.patch(
    "/{userId}",
    summary="Update a user (admin)",
    response_model=UserRead,
    responses=problem_responses(404),
)
async def update_user(
    userId: UserIdPath,
    body: AdminUserUpdate,
    _admin: AdminUser,
    users: UsersDep,
    audit: AuditContextDep,
) -> UserRead:
    updated = await users.update_user(
        audit, userId, body.model_dump(exclude_unset=True, by_alias=False)
    )
    return UserRead.model_validate(updated)


@router.put(
    "/{userId}/role",
    summary="Set a user's role(s) (admin)",
    response_model=UserRead,
    responses=problem_responses(404, 409),
)
async def set_role(
    userId: UserIdPath, body: RoleUpdate, _admin: AdminUser, users: UsersDep, audit: AuditContextDep
) -> UserRead:
    return UserRead.model_validate(await users.set_role(audit, userId, body.role))


@router.post(
    "/{userId}/ban",
    summary="Ban a user and revoke all their sessions (admin)",
    response_model=UserRead,
    responses=problem_responses(404, 409),
)
async def ban_user(
    userId: UserIdPath, body: BanRequest, _admin: AdminUser, users: UsersDep, audit: AuditContextDep
) -> UserRead:
    banned = await users.ban(audit, userId, reason=body.ban_reason, expires_in=body.ban_expires_in)
    return UserRead.model_validate(banned)


@router.post(
    "/{userId}/unban",
    summary="Lift a user's ban (admin)",
    response_model=UserRead,
    responses=problem_responses(404),
)
async def unban_user(
    userId: UserIdPath, _admin: AdminUser, users: UsersDep, audit: AuditContextDep
) -> UserRead:
    return UserRead.model_validate(await users.unban(audit, userId))


@router.get(
    "/{userId}/sessions",
    summary="A user's sessions (admin, or the user themself)",
    response_model=SessionList,
    responses=problem_responses(404),
)
async def list_sessions(
    userId: UserIdPath, principal: CurrentPrincipal, users: UsersDep, settings: SettingsDep
) -> SessionList:
    require_self_or_admin(principal.user, userId, settings.admin_roles)
    sessions = await users.list_sessions(userId)
    return SessionList(
        sessions=[
            SessionRead.model_validate(session).model_copy(
                update={"current": session.id == principal.session_id}
            )
            for session in sessions
        ]
    )


@router.delete(
    "/{userId}/sessions/{sessionId}",
    summary="Revoke one session (admin, or the user themself)",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404),
)
async def revoke_session(
    userId: UserIdPath,
    sessionId: SessionIdPath,
    actor: CurrentUser,
    users: UsersDep,
    audit: AuditContextDep,
    settings: SettingsDep,
) -> None:
    require_self_or_admin(actor, userId, settings.admin_roles)
    await users.revoke_session(audit, userId, sessionId)


@router.delete(
    "/{userId}/sessions",
    summary="Revoke all of a user's sessions (admin, or the user themself)",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404),
)
async def revoke_sessions(
    userId: UserIdPath,
    actor: CurrentUser,
    users: UsersDep,
    audit: AuditContextDep,
    settings: SettingsDep,
) -> None:
    require_self_or_admin(actor, userId, settings.admin_roles)
    await users.revoke_sessions(audit, userId)


@router.delete(
    "/{userId}",
    summary="Remove a user with their sessions and accounts (admin)",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404, 409),
)
async def remove_user(
    userId: UserIdPath, _admin: AdminUser, users: UsersDep, audit: AuditContextDep
) -> None:
    await users.remove_user(audit, userId)
