"""A user's sessions as admins see and end them, wherever Better-Auth keeps them.

``DatabaseUserSessions``: the ``session`` table (Better-Auth without secondary storage).
``StoredUserSessions``: Better-Auth's secondary storage (Redis), written exactly as Better-Auth's
admin endpoints write it (``revoke-user-session`` = ``deleteSession``, ``revoke-user-sessions``,
``ban-user`` = ``deleteUserSessions``, ``remove-user`` = ``deleteUser``), so that Better-Auth
refuses a session the API revoked; plus the ``session`` rows in its two database modes:
``storeSessionInDatabase`` (rows deleted, as Better-Auth deletes them) and
``preserveSessionInDatabase`` (rows kept for audit, their ``expiresAt`` set to now).

Neither commits: database changes are part of the caller's transaction. Storage writes happen at
once (before the commit): a failure there (503) then leaves the database, audit row included,
untouched; a commit failing afterwards leaves sessions revoked, the safe way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.session import AuthSession
from app.models.user import User
from app.services.auth.secondary import SecondarySessions
from app.services.auth.secondary.records import js_iso


class SessionView(Protocol):
    """What the admin list shows of a session (an ``AuthSession`` row or a stored record)."""

    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def impersonated_by(self) -> str | None: ...


class UserSessions(Protocol):
    async def list(self, user_id: str, *, hide_impersonation: bool) -> Sequence[SessionView]: ...

    async def revoke(self, user_id: str, session_id: str) -> bool:
        """End one session of the user; ``False`` when the user has no such session."""
        ...

    async def revoke_all(self, user_id: str) -> int:
        """End every session of the user; how many there were."""
        ...

    async def user_removed(self, user_id: str) -> None:
        """The user row is being deleted (its rows go by cascade)."""
        ...

    async def user_changed(self, user: User) -> None:
        """The user row changed (committed): refresh what copies of it the store keeps."""
        ...


def _newest_first(sessions: Sequence[SessionView]) -> list[SessionView]:
    return sorted(sessions, key=lambda s: (-s.created_at.timestamp(), s.id))


class DatabaseUserSessions:
    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def list(self, user_id: str, *, hide_impersonation: bool) -> Sequence[SessionView]:
        statement = (
            select(AuthSession)
            .where(AuthSession.user_id == user_id)
            .order_by(AuthSession.created_at.desc(), AuthSession.id)
        )
        if hide_impersonation:
            statement = statement.where(AuthSession.impersonated_by.is_(None))
        return list((await self._db.scalars(statement)).all())

    async def _delete(self, condition: Any) -> int:
        result = await self._db.execute(delete(AuthSession).where(condition))
        return int(getattr(result, "rowcount", 0) or 0)

    async def revoke(self, user_id: str, session_id: str) -> bool:
        condition = and_(AuthSession.id == session_id, AuthSession.user_id == user_id)
        return await self._delete(condition) > 0

    async def revoke_all(self, user_id: str) -> int:
        return await self._delete(AuthSession.user_id == user_id)

    async def user_removed(self, user_id: str) -> None:
        return None

    async def user_changed(self, user: User) -> None:
        return None


class StoredUserSessions:
    def __init__(self, db: AsyncSession, sessions: SecondarySessions) -> None:
        self._db = db
        self._sessions = sessions
        self._storage = sessions.storage
        self._mode = sessions.mode
        self._rows = DatabaseUserSessions(db)

    async def list(self, user_id: str, *, hide_impersonation: bool) -> Sequence[SessionView]:
        if self._mode.database_fallback:
            # Better-Auth's listSessions in this mode: the table's live rows.
            rows = await self._rows.list(user_id, hide_impersonation=hide_impersonation)
            now = datetime.now(UTC)
            return [row for row in rows if isinstance(row, AuthSession) and row.expires_at > now]
        stored = await self._storage.sessions_of(user_id)
        if hide_impersonation:
            stored = [session for session in stored if session.impersonated_by is None]
        return _newest_first(stored)

    async def _end_rows(self, condition: Any) -> int:
        """Better-Auth's database side: rows deleted, or ended when preserved for audit."""
        if not self._mode.store_in_database:
            return 0
        if not self._mode.preserve_in_database:
            return await self._rows._delete(condition)
        now = datetime.now(UTC)
        result = await self._db.execute(
            update(AuthSession)
            .where(condition, AuthSession.expires_at > now)
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _token_of(self, user_id: str, session_id: str) -> str | None:
        stored = await self._storage.find_by_id(user_id, session_id)
        if stored is not None:
            return stored.token
        if not self._mode.database_fallback:
            return None
        return await self._db.scalar(
            select(AuthSession.token).where(
                AuthSession.id == session_id, AuthSession.user_id == user_id
            )
        )

    async def revoke(self, user_id: str, session_id: str) -> bool:
        token = await self._token_of(user_id, session_id)
        if token is None:
            return False
        await self._storage.delete_session(token)
        await self._end_rows(AuthSession.token == token)
        self._sessions.forget_user(user_id)
        return True

    async def revoke_all(self, user_id: str) -> int:
        revoked = len(await self.list(user_id, hide_impersonation=False))
        await self._end_rows(AuthSession.user_id == user_id)
        await self._storage.revoke_user_sessions(user_id)
        self._sessions.forget_user(user_id)
        return revoked

    async def user_removed(self, user_id: str) -> None:
        await self._storage.revoke_user_sessions(user_id)
        self._sessions.forget_user(user_id)

    async def user_changed(self, user: User) -> None:
        """``refreshUserSessions``: Better-Auth reads role and ban state from this copy."""
        await self._storage.refresh_user(user.id, stored_user_fields(user))
        self._sessions.forget_user(user.id)


def stored_user_fields(user: User) -> dict[str, Any]:
    """The ``user`` table's columns as Better-Auth's adapter returns them, JSON-encoded."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "emailVerified": bool(user.email_verified),
        "image": user.image,
        "createdAt": js_iso(user.created_at),
        "updatedAt": js_iso(user.updated_at),
        "role": user.role,
        "banned": user.banned,
        "banReason": user.ban_reason,
        "banExpires": js_iso(user.ban_expires) if user.ban_expires else None,
    }
