"""User management with Better-Auth admin-plugin semantics.

Every rule lives here; the router only parses and calls. Each write use-case ends with its own
commit, and the audit event is added in the same transaction, so an admin action and its audit
record are all or nothing.

Admin-set changes (demote, ban, remove) lock the admin rows first (``SELECT ... FOR UPDATE``,
in id order, on PostgreSQL). Two admins demoting each other at the same moment are therefore
serialised: the second sees the first's change, finds it is no longer an admin itself, and is
refused — the set of admins can never become empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.session import AuthSession
from app.models.user import User
from app.services.audit.service import AuditContext, AuditService
from app.services.auth.identity import is_ban_active
from app.services.auth.identity_cache import IdentityCache
from app.services.auth.snapshots import UserSnapshot
from app.services.users.query import UserListQuery, count_statement, has_role, page_statement
from app.services.users.roles import has_any_role, join_roles, parse_roles
from app.utils.errors import Conflict, Forbidden, NotFound, invalid_field
from app.utils.timefmt import format_iso_utc

DEFAULT_BAN_REASON = "No reason"


def _jsonable(value: Any) -> Any:
    return format_iso_utc(value) if isinstance(value, datetime) else value


def _snapshot(user: User, fields: Iterable[str]) -> dict[str, Any]:
    names = {
        "name": "name",
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
        cache: IdentityCache | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = session
        # Evicted after each commit so this process sees its own writes on the next request;
        # other processes learn of them through the database's NOTIFY feed.
        self._cache = cache
        self._admin_roles = tuple(admin_roles)
        self._known_roles = frozenset(known_roles)
        self._now = now
        self._audit = AuditService(session)

    # --- reads ---

    async def list_users(self, query: UserListQuery) -> tuple[list[UserSnapshot], int]:
        users = [UserSnapshot.of(user) for user in await self._db.scalars(page_statement(query))]
        total = await self._db.scalar(count_statement(query))
        # Hand the connection back now, not after the answer has been rendered and sent.
        await self._db.commit()
        return users, int(total or 0)

    async def get_user(self, user_id: str, *, for_update: bool = False) -> User:
        statement = select(User).where(User.id == user_id)
        if for_update:
            # Re-read under the lock even if this user is already loaded in the session.
            statement = statement.with_for_update().execution_options(populate_existing=True)
        user = (await self._db.scalars(statement)).one_or_none()
        if user is None:
            raise NotFound("no such user", code="USER_NOT_FOUND")
        return user

    async def list_sessions(self, user_id: str) -> list[AuthSession]:
        await self.get_user(user_id)
        statement = (
            select(AuthSession)
            .where(AuthSession.user_id == user_id)
            .order_by(AuthSession.created_at.desc(), AuthSession.id)
        )
        return list((await self._db.scalars(statement)).all())

    # --- writes a user may make about themself ---

    async def update_profile(self, user_id: str, changes: dict[str, Any]) -> User:
        user = await self.get_user(user_id, for_update=True)
        for field, value in changes.items():
            setattr(user, field, value)
        await self._commit(users=[user.id])
        return user

    # --- admin writes ---

    async def update_user(
        self, context: AuditContext, user_id: str, changes: dict[str, Any]
    ) -> User:
        user = await self.get_user(user_id, for_update=True)
        changed = {field for field, value in changes.items() if getattr(user, field) != value}
        before = _snapshot(user, changed)
        for field in changed:
            setattr(user, field, changes[field])
        if changed:
            self._audit.record(
                context,
                "user.update",
                user.id,
                {"before": before, "after": _snapshot(user, changed)},
            )
        await self._commit(users=[user.id])
        return user

    async def set_role(
        self, context: AuditContext, user_id: str, requested: str | list[str]
    ) -> User:
        roles = self._validate_roles(requested)
        stored = join_roles(roles)
        keeps_admin = any(role in self._admin_roles for role in roles)
        if keeps_admin:
            user = await self.get_user(user_id, for_update=True)
        else:
            user = await self._lock_target(context, user_id, "demoted", "CANNOT_DEMOTE_SELF")
        before = _snapshot(user, ["role"])
        user.role = stored
        self._audit.record(
            context, "user.role.set", user.id, {"before": before, "after": {"role": stored}}
        )
        await self._commit(users=[user.id])
        return user

    async def ban(
        self,
        context: AuditContext,
        user_id: str,
        *,
        reason: str | None,
        expires_in: int | None,
    ) -> User:
        user = await self._lock_target(context, user_id, "banned", "CANNOT_BAN_SELF")
        fields = ("banned", "ban_reason", "ban_expires")
        before = _snapshot(user, fields)
        user.banned = True
        user.ban_reason = reason or DEFAULT_BAN_REASON
        user.ban_expires = self._now() + timedelta(seconds=expires_in) if expires_in else None
        # Better-Auth's banUser revokes every session; so do we, in the same transaction.
        revoked = await self._delete_sessions(AuthSession.user_id == user.id)
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
        await self._commit(users=[user.id])
        return user

    async def revoke_session(self, context: AuditContext, user_id: str, session_id: str) -> None:
        await self.get_user(user_id)
        revoked = await self._delete_sessions(
            and_(AuthSession.id == session_id, AuthSession.user_id == user_id)
        )
        if revoked == 0:
            # Also for a session of another user: its existence is not revealed.
            raise NotFound("no such session", code="SESSION_NOT_FOUND")
        if context.actor_id != user_id:
            self._audit.record(context, "session.revoke", user_id, {"sessionId": session_id})
        await self._commit(sessions=[session_id])

    async def revoke_sessions(self, context: AuditContext, user_id: str) -> int:
        await self.get_user(user_id)
        revoked = await self._delete_sessions(AuthSession.user_id == user_id)
        if context.actor_id != user_id:
            self._audit.record(context, "session.revoke_all", user_id, {"sessionsRevoked": revoked})
        await self._commit(sessions_of=user_id)
        return revoked

    async def remove_user(self, context: AuditContext, user_id: str) -> None:
        user = await self._lock_target(context, user_id, "removed", "CANNOT_REMOVE_SELF")
        detail = {"before": {"email": user.email, "name": user.name, "role": user.role}}
        # Sessions and accounts go with the user (ON DELETE CASCADE); audit rows stay.
        await self._db.execute(delete(User).where(User.id == user.id))
        self._audit.record(context, "user.remove", user.id, detail)
        await self._commit(users=[user.id], sessions_of=user.id)

    async def _commit(
        self,
        *,
        users: Iterable[str] = (),
        sessions: Iterable[str] = (),
        sessions_of: str | None = None,
    ) -> None:
        await self._db.commit()
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

    async def _lock_target(
        self, context: AuditContext, target_id: str, verb: str, self_code: str
    ) -> User:
        """Lock and return the target of an action that takes admin power away from it: never
        the last admin (409), never oneself (403).

        The common case, a target who is not an admin, cannot empty the admin set: the target
        row is read once, locked, and nothing else is locked, so admin writes about ordinary
        users do not queue behind one another. Lock order is always "admin rows (by id), then
        the target" or "the target alone", never the reverse, so two such actions cannot
        deadlock: a target found to be an admin is given back (its lock was taken inside a
        savepoint, and rolling that back releases it) before the admin rows are locked.
        """
        if target_id != context.actor_id:
            savepoint = await self._db.begin_nested()
            try:
                target = await self.get_user(target_id, for_update=True)
            except NotFound:
                await savepoint.rollback()
                raise
            if not self._counts_as_admin(target):
                await savepoint.commit()
                return target
            await savepoint.rollback()
        admins = await self._lock_admins(context)
        if admins == {target_id}:
            raise Conflict(f"the last admin cannot be {verb}", code="LAST_ADMIN")
        if target_id == context.actor_id:
            raise Forbidden(f"an admin cannot be {verb} by themself", code=self_code)
        return await self.get_user(target_id, for_update=True)

    def _counts_as_admin(self, user: User) -> bool:
        return has_any_role(user.role, self._admin_roles) and not is_ban_active(user, self._now())

    async def _lock_admins(self, context: AuditContext) -> set[str]:
        """Lock and return the active admins; the actor must still be one of them."""
        now = self._now()
        active = or_(
            User.banned.is_(None),
            User.banned.is_(false()),
            and_(User.ban_expires.is_not(None), User.ban_expires <= now),
        )
        statement = (
            select(User.id)
            .where(or_(*(has_role(role) for role in self._admin_roles)), active)
            .order_by(User.id)
            .with_for_update()
        )
        admins = set((await self._db.scalars(statement)).all())
        if context.actor_id not in admins:
            # The actor was demoted or banned after authenticating (e.g. by a concurrent request).
            raise Forbidden("requires an admin role", code="INSUFFICIENT_ROLE")
        return admins

    async def _delete_sessions(self, condition: Any) -> int:
        result = await self._db.execute(delete(AuthSession).where(condition))
        return int(getattr(result, "rowcount", 0) or 0)


def require_self_or_admin(
    actor: User | UserSnapshot, user_id: str, admin_roles: Iterable[str]
) -> None:
    """Users may see and manage their own record and sessions; admins anyone's."""
    if actor.id != user_id and not has_any_role(actor.role, admin_roles):
        raise Forbidden("only an admin or the user themself may do this", code="INSUFFICIENT_ROLE")
