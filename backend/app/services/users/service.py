"""User management with Better-Auth admin-plugin semantics.

Every rule lives here; the router only parses, checks permissions and calls. Each write
use-case ends with its own commit, and the audit event is added in the same transaction, so an
admin action and its audit record are all or nothing. Actions that take admin power away go
through the last-admin guard (``guard.py``); self-bans and self-removals are refused before it,
with Better-Auth's codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import run_read
from app.models.user import User
from app.services.access import AccessControl, parse_access_control
from app.services.access.requirements import (
    BAN_USER,
    DELETE_USER,
    SET_ROLE,
    UPDATE_USER,
    USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL,
    YOU_CANNOT_BAN_YOURSELF,
    YOU_CANNOT_REMOVE_YOURSELF,
)
from app.services.audit.service import AuditContext, AuditService
from app.services.auth.identity_cache import IdentityCache
from app.services.auth.snapshots import UserSnapshot
from app.services.users.guard import AdminGuard, load_user
from app.services.users.query import UserListQuery, read_page
from app.services.users.roles import join_roles, parse_roles
from app.services.users.sessions import DatabaseUserSessions, SessionView, UserSessions
from app.utils.errors import Conflict, Forbidden, NotFound, invalid_field
from app.utils.timefmt import format_iso_utc

DEFAULT_BAN_REASON = "No reason"


def _jsonable(value: Any) -> Any:
    return format_iso_utc(value) if isinstance(value, datetime) else value


def _snapshot(user: User, fields: Iterable[str]) -> dict[str, Any]:
    names = {
        "name": "name",
        "email": "email",
        "image": "image",
        "email_verified": "emailVerified",
        "role": "role",
        "banned": "banned",
        "ban_reason": "banReason",
        "ban_expires": "banExpires",
    }
    return {names[field]: _jsonable(getattr(user, field)) for field in fields}


class UserService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        admin_roles: Iterable[str],
        known_roles: Iterable[str],
        access: AccessControl | None = None,
        cache: IdentityCache | None = None,
        sessions: UserSessions | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = session
        # Where Better-Auth keeps sessions: the table, or its secondary storage.
        self._sessions = sessions or DatabaseUserSessions(session)
        # Evicted after each commit so this process sees its own writes on the next request;
        # other processes learn of them through the database's NOTIFY feed.
        self._cache = cache
        self._admin_roles = tuple(admin_roles)
        access = access or parse_access_control(None)
        # Every role of the access control may be assigned; KNOWN_ROLES (deprecated) adds names.
        self._known_roles = frozenset(known_roles) | access.role_names | set(self._admin_roles)
        self._now = now
        self._audit = AuditService(session)
        self._guard = AdminGuard(session, admin_roles=self._admin_roles, access=access, now=now)

    # --- reads ---

    async def list_users(self, query: UserListQuery) -> tuple[list[UserSnapshot], int]:
        """One round trip in the common case (``query.read_page``; ``run_read``: no BEGIN and
        COMMIT around a single read on PostgreSQL)."""

        async def read(db: AsyncSession) -> tuple[list[UserSnapshot], int]:
            return await read_page(await db.connection(), query)

        page = await run_read(self._db, read)
        # Hand the connection back now, not after the answer has been rendered and sent.
        await self._db.commit()
        return page

    async def get_user(self, user_id: str, *, for_update: bool = False) -> User:
        return await load_user(self._db, user_id, for_update=for_update)

    async def list_sessions(
        self, user_id: str, *, hide_impersonation: bool = False
    ) -> Sequence[SessionView]:
        """``hide_impersonation``: a user's own list, where Better-Auth's ``/list-sessions``
        drops the sessions an admin opened as them."""
        await self.get_user(user_id)
        return await self._sessions.list(user_id, hide_impersonation=hide_impersonation)

    # --- writes a user may make about themself ---

    async def update_profile(self, user_id: str, changes: dict[str, Any]) -> User:
        user = await self.get_user(user_id, for_update=True)
        for field, value in changes.items():
            setattr(user, field, value)
        await self._commit(refresh=user, users=[user.id])
        return user

    # --- admin writes ---

    async def update_user(
        self, context: AuditContext, user_id: str, changes: dict[str, Any]
    ) -> User:
        """Better-Auth's admin update-user (permissions per field are checked by the caller)."""
        changes = dict(changes)
        banning = changes.get("banned") is True
        if banning and user_id == context.actor_id:
            raise self._cannot_ban_yourself()
        demoting = False
        if "role" in changes:
            roles = self._validate_roles(changes["role"])
            changes["role"] = join_roles(roles)
            demoting = not any(role in self._admin_roles for role in roles)
            if demoting and user_id == context.actor_id:
                raise Forbidden("an admin cannot be demoted by themself", code="CANNOT_DEMOTE_SELF")
        if "email" in changes:
            changes["email"] = changes["email"].lower()
            taken = await self._db.scalar(
                select(User.id).where(User.email == changes["email"], User.id != user_id)
            )
            if taken is not None:
                code, message = USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL
                raise Conflict(message, code=code)
        if (banning or demoting) and user_id != context.actor_id:
            user = await self._guard.lock_target(context, user_id, "changed", UPDATE_USER)
        else:
            user = await self.get_user(user_id, for_update=True)
        changed = {field for field, value in changes.items() if getattr(user, field) != value}
        before = _snapshot(user, changed)
        for field in changed:
            setattr(user, field, changes[field])
        detail: dict[str, Any] = {"before": before, "after": _snapshot(user, changed)}
        if banning:
            # As Better-Auth's update-user: banned=true revokes every session.
            detail["sessionsRevoked"] = await self._sessions.revoke_all(user.id)
        if changed:
            self._audit.record(context, "user.update", user.id, detail)
        await self._commit(refresh=user, users=[user.id], sessions_of=user.id if banning else None)
        return user

    async def set_role(
        self, context: AuditContext, user_id: str, requested: str | list[str]
    ) -> User:
        roles = self._validate_roles(requested)
        stored = join_roles(roles)
        keeps_admin = any(role in self._admin_roles for role in roles)
        if keeps_admin:
            user = await self.get_user(user_id, for_update=True)
        elif user_id == context.actor_id:
            # Our own rule (Better-Auth lets an admin demote themself): checked before the
            # last-admin guard, like the self checks of ban and remove.
            raise Forbidden("an admin cannot be demoted by themself", code="CANNOT_DEMOTE_SELF")
        else:
            user = await self._guard.lock_target(context, user_id, "demoted", SET_ROLE)
        before = _snapshot(user, ["role"])
        user.role = stored
        self._audit.record(
            context, "user.role.set", user.id, {"before": before, "after": {"role": stored}}
        )
        await self._commit(refresh=user, users=[user.id])
        return user

    async def ban(
        self,
        context: AuditContext,
        user_id: str,
        *,
        reason: str | None,
        expires_in: int | None,
    ) -> User:
        # Better-Auth's order: the user must exist (404), then must not be the caller.
        if user_id == context.actor_id:
            await self.get_user(user_id)
            raise self._cannot_ban_yourself()
        user = await self._guard.lock_target(context, user_id, "banned", BAN_USER)
        fields = ("banned", "ban_reason", "ban_expires")
        before = _snapshot(user, fields)
        user.banned = True
        user.ban_reason = reason or DEFAULT_BAN_REASON
        user.ban_expires = self._now() + timedelta(seconds=expires_in) if expires_in else None
        # Better-Auth's banUser revokes every session; so do we, in the same transaction.
        revoked = await self._sessions.revoke_all(user.id)
        self._audit.record(
            context,
            "user.ban",
            user.id,
            {"before": before, "after": _snapshot(user, fields), "sessionsRevoked": revoked},
        )
        await self._commit(users=[user.id], sessions_of=user.id)
        return user

    async def unban(self, context: AuditContext, user_id: str) -> User:
        user = await self.get_user(user_id, for_update=True)
        fields = ("banned", "ban_reason", "ban_expires")
        before = _snapshot(user, fields)
        user.banned = False
        user.ban_reason = None
        user.ban_expires = None
        self._audit.record(
            context, "user.unban", user.id, {"before": before, "after": _snapshot(user, fields)}
        )
        await self._commit(refresh=user, users=[user.id])
        return user

    async def revoke_session(self, context: AuditContext, user_id: str, session_id: str) -> None:
        await self.get_user(user_id)
        if not await self._sessions.revoke(user_id, session_id):
            # Also for a session of another user: its existence is not revealed.
            raise NotFound("no such session", code="SESSION_NOT_FOUND")
        if context.actor_id != user_id:
            self._audit.record(context, "session.revoke", user_id, {"sessionId": session_id})
        await self._commit(sessions=[session_id])

    async def revoke_sessions(self, context: AuditContext, user_id: str) -> int:
        await self.get_user(user_id)
        revoked = await self._sessions.revoke_all(user_id)
        if context.actor_id != user_id:
            self._audit.record(context, "session.revoke_all", user_id, {"sessionsRevoked": revoked})
        await self._commit(sessions_of=user_id)
        return revoked

    async def remove_user(self, context: AuditContext, user_id: str) -> None:
        # Better-Auth's order: refused for the caller themself before looking the user up.
        if user_id == context.actor_id:
            code, message = YOU_CANNOT_REMOVE_YOURSELF
            raise Forbidden(message, code=code)
        user = await self._guard.lock_target(context, user_id, "removed", DELETE_USER)
        detail = {"before": {"email": user.email, "name": user.name, "role": user.role}}
        # Sessions and accounts go with the user (ON DELETE CASCADE); audit rows stay.
        await self._sessions.user_removed(user.id)
        await self._db.execute(delete(User).where(User.id == user.id))
        self._audit.record(context, "user.remove", user.id, detail)
        await self._commit(users=[user.id], sessions_of=user.id)

    async def _commit(
        self,
        *,
        refresh: User | None = None,
        users: Iterable[str] = (),
        sessions: Iterable[str] = (),
        sessions_of: str | None = None,
    ) -> None:
        await self._db.commit()
        if refresh is not None:
            # Better-Auth's updateUser refreshes the copy kept with each stored session.
            await self._sessions.user_changed(refresh)
        if self._cache is None:
            return
        for user_id in users:
            self._cache.evict_user(user_id)
        for session_id in sessions:
            self._cache.evict_session(session_id)
        if sessions_of is not None:
            self._cache.evict_sessions_of(sessions_of)

    # --- rules ---

    def _validate_roles(self, requested: str | list[str]) -> list[str]:
        roles = parse_roles(requested) if isinstance(requested, str) else list(requested)
        unknown = sorted({role for role in roles if role not in self._known_roles})
        if not roles or any(not role or "," in role or role != role.strip() for role in roles):
            unknown = unknown or ["(empty or malformed)"]
        if unknown:
            message = f"unknown role(s): {', '.join(unknown)}"
            raise invalid_field(["body", "role"], message, code="UNKNOWN_ROLE")
        return roles

    @staticmethod
    def _cannot_ban_yourself() -> Forbidden:
        code, message = YOU_CANNOT_BAN_YOURSELF
        return Forbidden(message, code=code)
