"""``/api/v1/users``: profiles for everyone, management as Better-Auth's admin plugin allows it.

Every management route requires exactly the permission Better-Auth's admin endpoint requires
(``app.services.access.requirements``); a refusal is 403 with Better-Auth's code. A user may
always read their own record. Thin: parse, check, call. A user's sessions and password are in
``user_sessions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Response, status
from fastapi.types import DecoratedCallable

from app.routers.deps import (
    AccessControlDep,
    AuditContextDep,
    CredentialsDep,
    CurrentPrincipal,
    CurrentUser,
    UsersDep,
    ensure_caller,
    require_self_or,
)
from app.routers.render import render_user, render_user_page
from app.routers.responses import no_content, problem_responses
from app.routers.user_params import (
    UserAccountsDep,
    UserIdPath,
    holding,
    list_query,
    users_router,
)
from app.schemas.access import PermissionCheck, PermissionResult, UserCreate
from app.schemas.user import (
    AdminUserUpdate,
    BanRequest,
    ProfileUpdate,
    RoleUpdate,
    UserDetail,
    UserPage,
    UserRead,
)
from app.services.access import requirements as need
from app.services.access.guard import permits
from app.services.auth.snapshots import UserSnapshot
from app.services.users.query import UserListQuery
from app.utils.errors import BadRequest

router = users_router()


def _user_route(
    method: str, path: str, summary: str, *statuses: int
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A ``/{userId}`` route that answers the user's record (and may fail with ``statuses``)."""
    return router.api_route(
        path,
        methods=[method],
        summary=summary,
        response_model=UserRead,
        responses=problem_responses(*statuses),
    )


CanList = Annotated[UserSnapshot, holding(need.LIST_USERS)]
CanCreate = Annotated[UserSnapshot, holding(need.CREATE_USER)]
CanUpdate = Annotated[UserSnapshot, holding(need.UPDATE_USER)]
CanSetRole = Annotated[UserSnapshot, holding(need.SET_ROLE)]
CanBan = Annotated[UserSnapshot, holding(need.BAN_USER)]
CanDelete = Annotated[UserSnapshot, holding(need.DELETE_USER)]
BAN_FIELDS = frozenset({"banned", "ban_reason", "ban_expires"})


# Declared first: routes are matched in order, and /me is the hottest of them.
@router.get("/me", summary="My profile", response_model=UserRead)
async def read_me(user: CurrentUser) -> Response:
    return Response(render_user(user), media_type="application/json")


@router.patch("/me", summary="Update my name or image", response_model=UserRead)
async def update_me(body: ProfileUpdate, user: CurrentUser, users: UsersDep) -> UserRead:
    updated = await users.update_profile(
        user.id, body.model_dump(exclude_unset=True, by_alias=False)
    )
    return UserRead.model_validate(updated)


@router.get("", summary="List users (user:list)", response_model=UserPage)
async def list_users(
    _actor: CanList, users: UsersDep, query: Annotated[UserListQuery, Depends(list_query)]
) -> Response:
    found, total = await users.list_users(query)
    return Response(
        render_user_page(found, total=total, limit=query.limit, offset=query.offset),
        media_type="application/json",
    )


@router.post(
    "",
    summary="Create a user (user:create)",
    description="Better-Auth's create-user: a `role` (or `data.role`) also needs `user:set-role`, "
    "ban fields in `data` need `user:ban`. With a `password`, the credential account is stored "
    "with a hash Better-Auth's sign-in accepts; the password is never returned or logged.",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(400, 409),
)
async def create_user(
    body: UserCreate,
    _actor: CanCreate,
    caller: CurrentPrincipal,
    access: AccessControlDep,
    credentials: CredentialsDep,
    audit: AuditContextDep,
) -> UserRead:
    fields = body.fields()
    data_role = fields.pop("role", None)
    role = body.role if body.role is not None else data_role
    if role is not None:
        ensure_caller(access, caller, need.SET_ROLE)
    if BAN_FIELDS & set(fields):
        ensure_caller(access, caller, need.BAN_USER)
    user = await credentials.create_user(
        audit, email=body.email, name=body.name, password=body.password, role=role, fields=fields
    )
    return UserRead.model_validate(user)


@router.post(
    "/has-permission",
    summary="Does the caller hold these permissions?",
    description="Better-Auth's `/admin/has-permission` for the signed-in caller: every action "
    "on every resource, granted by any one of their roles (`ADMIN_USER_IDS` always pass); with "
    "an API key that has `permissions`, granted by the key too.",
    response_model=PermissionResult,
)
async def has_permission(
    body: PermissionCheck, principal: CurrentPrincipal, access: AccessControlDep
) -> PermissionResult:
    actor = principal.user
    granted = permits(access, actor.id, actor.role, body.permissions, principal.api_key_scope)
    return PermissionResult(success=granted)


@router.get(
    "/{userId}",
    summary="One user, with their linked accounts (user:get, or the user themself)",
    description="The user and the accounts they sign in with (`providerId` `credential` for "
    "email and password, else the OAuth provider's id), oldest first. Never the accounts' "
    "tokens, secrets or password hash. The user list leaves accounts out.",
    response_model=UserDetail,
    responses=problem_responses(404),
)
async def read_user(
    userId: UserIdPath, caller: CurrentPrincipal, access: AccessControlDep, users: UserAccountsDep
) -> UserDetail:
    require_self_or(access, caller, userId, need.GET_USER)
    found = await users.get_user_with_accounts(userId)
    return UserDetail.of(found.user, found.accounts)


@_user_route(
    "PATCH",
    "/{userId}",
    "Update a user (user:update, and per field as Better-Auth's update-user)",
    400,
    404,
    409,
)
async def update_user(
    userId: UserIdPath,
    body: AdminUserUpdate,
    _actor: CanUpdate,
    caller: CurrentPrincipal,
    access: AccessControlDep,
    users: UsersDep,
    audit: AuditContextDep,
) -> UserRead:
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    for requirement in need.update_requirements(set(changes)):
        ensure_caller(access, caller, requirement)
    if not changes:
        raise BadRequest("No data to update", code="NO_DATA_TO_UPDATE")
    updated = await users.update_user(audit, userId, changes)
    return UserRead.model_validate(updated)


@_user_route("PUT", "/{userId}/role", "Set a user's role(s) (user:set-role)", 404, 409)
async def set_role(
    userId: UserIdPath,
    body: RoleUpdate,
    _actor: CanSetRole,
    users: UsersDep,
    audit: AuditContextDep,
) -> UserRead:
    return UserRead.model_validate(await users.set_role(audit, userId, body.role))


@_user_route(
    "POST", "/{userId}/ban", "Ban a user and revoke all their sessions (user:ban)", 404, 409
)
async def ban_user(
    userId: UserIdPath, body: BanRequest, _actor: CanBan, users: UsersDep, audit: AuditContextDep
) -> UserRead:
    banned = await users.ban(audit, userId, reason=body.ban_reason, expires_in=body.ban_expires_in)
    return UserRead.model_validate(banned)


@_user_route("POST", "/{userId}/unban", "Lift a user's ban (user:ban)", 404)
async def unban_user(
    userId: UserIdPath, _actor: CanBan, users: UsersDep, audit: AuditContextDep
) -> UserRead:
    return UserRead.model_validate(await users.unban(audit, userId))


@router.delete(
    "/{userId}",
    summary="Remove a user with their sessions and accounts (user:delete)",
    **no_content(404, 409),
)
async def remove_user(
    userId: UserIdPath, _actor: CanDelete, users: UsersDep, audit: AuditContextDep
) -> None:
    await users.remove_user(audit, userId)
