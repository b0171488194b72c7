"""Where Better-Auth keeps sessions, as the composition root (``app.state``) wires it:
its secondary storage (Redis) when ``SECONDARY_STORAGE_URL`` is set, else the ``session`` table."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.services.auth.secondary import SecondarySessions, SessionStorage, StorageMode
from app.services.users.sessions import DatabaseUserSessions, StoredUserSessions, UserSessions


def build_secondary_sessions(settings: Settings) -> SecondarySessions | None:
    """The storage client (connected lazily, on the first command) and its short-lived cache."""
    if not settings.secondary_storage_url:
        return None
    timeout = settings.secondary_storage_timeout_seconds
    client = Redis.from_url(
        settings.secondary_storage_url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )
    return SecondarySessions(
        SessionStorage(client, settings.secondary_storage_prefix),
        StorageMode(
            store_in_database=settings.store_session_in_database,
            preserve_in_database=settings.preserve_session_in_database,
        ),
        ttl=settings.secondary_storage_cache_seconds,
        max_entries=settings.identity_cache_size,
    )


def user_sessions(secondary: SecondarySessions | None, db: AsyncSession) -> UserSessions:
    return DatabaseUserSessions(db) if secondary is None else StoredUserSessions(db, secondary)


def session_storage_of(secondary: SecondarySessions | None) -> SessionStorage | None:
    return None if secondary is None else secondary.storage


async def close_secondary_sessions(secondary: SecondarySessions | None) -> None:
    if secondary is not None:
        await secondary.storage.aclose()
