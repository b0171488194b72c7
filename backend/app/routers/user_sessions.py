"""``/api/v1/users/{userId}/sessions`` and ``/password``: a user's sign-in state.

Users may list and revoke their own sessions; others need Better-Auth's ``session:list`` /
``session:revoke``, and setting a password needs ``user:set-password``. Same prefix, tags and
error responses as ``users``; ``main`` includes this router right after it, and the password
route stays after the session routes, so the contract keeps its order.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from app.routers.deps import (
    AccessControlDep,
    AuditContextDep,
    CredentialsDep,
    CurrentPrincipal,
    UsersDep,
    require_self_or,
)
from app.routers.responses import no_content, problem_responses
from app.routers.user_params import UserIdPath, holding, users_router
from app.schemas.access import PasswordSet
from app.schemas.base import InputText
from app.schemas.user import SessionList, SessionRead
from app.services.access import requirements as need
from app.services.auth.snapshots import UserSnapshot

router = users_router()

CanSetPassword = Annotated[UserSnapshot, holding(need.SET_PASSWORD)]
SessionIdPath = Annotated[InputText, Path(min_length=1, max_length=255)]


@router.get(
    "/{userId}/sessions",
    summary="A user's sessions (session:list, or the user themself)",
    description="A user's own list hides the sessions an admin opened as them (impersonation), "
    "as Better-Auth's `/list-sessions` does; the list an admin reads shows them.",
    response_model=SessionList,
    responses=problem_responses(404),
)
async def list_sessions(
    userId: UserIdPath, principal: CurrentPrincipal, access: AccessControlDep, users: UsersDep
) -> SessionList:
    own = principal.user.id == userId
    require_self_or(access, principal, userId, need.LIST_SESSIONS)
    sessions = await users.list_sessions(userId, hide_impersonation=own)
    return SessionList(
        sessions=[
            SessionRead.model_validate(session).model_copy(
                update={"current": session.id == principal.session_id}
            )
            for session in sessions
        ]
    )


async def _may_revoke(
    userId: UserIdPath, caller: CurrentPrincipal, access: AccessControlDep
) -> None:
    require_self_or(access, caller, userId, need.REVOKE_SESSIONS)


# Both revoke routes: the user themself or session:revoke; 204; 404 for an unknown user/session.
_REVOKE = {**no_content(404), "dependencies": [Depends(_may_revoke)]}


@router.delete(
    "/{userId}/sessions/{sessionId}",
    summary="Revoke one session (session:revoke, or the user themself)",
    **_REVOKE,
)
async def revoke_session(
    userId: UserIdPath,
    sessionId: SessionIdPath,
    users: UsersDep,
    audit: AuditContextDep,
) -> None:
    await users.revoke_session(audit, userId, sessionId)


@router.delete(
    "/{userId}/sessions",
    summary="Revoke all of a user's sessions (session:revoke, or the user themself)",
    **_REVOKE,
)
async def revoke_sessions(userId: UserIdPath, users: UsersDep, audit: AuditContextDep) -> None:
    await users.revoke_sessions(audit, userId)


@router.put(
    "/{userId}/password",
    summary="Set a user's password (user:set-password)",
    description="Better-Auth's set-user-password: 8 to 128 characters; updates the credential "
    "account or creates it. Sessions are kept. The password is never returned or logged.",
    **no_content(400, 404),
)
async def set_password(
    userId: UserIdPath,
    body: PasswordSet,
    _actor: CanSetPassword,
    credentials: CredentialsDep,
    audit: AuditContextDep,
) -> None:
    await credentials.set_password(audit, userId, body.new_password)
