"""No half-written admin action: a ban is the user update, the deletion of every session and
the audit row, all or nothing.

The connection is killed for real (``pg_terminate_backend`` from a separate admin connection)
at each point of the ban's transaction: before the session delete, before the user update,
before the audit insert, and before COMMIT, when every write has been sent. The statement then
runs on a dead connection. The API answers 503 (not 500), and the database shows no trace of
the ban: the user is not banned, the sessions are there, no audit row exists. The same ban then
succeeds on the recovered pool. PostgreSQL only (killing a backend is a server notion).
"""

from __future__ import annotations

import logging
import secrets

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.database import create_engine
from app.models import AuditEvent, AuthSession, User
from tests.conftest import make_settings
from tests.faults.conftest import AppBuilder, Seeded, asgi_client, kill_backend_on
from tests.faults.test_database import NO_CACHES, assert_database_unavailable, with_query

KILL_POINTS = {
    "before the session delete": "DELETE FROM session",
    "before the user update": 'UPDATE "user"',
    "before the audit insert": "INSERT INTO audit_event",
    "before COMMIT": "COMMIT",
}
WRITES = ("DELETE FROM session", 'UPDATE "user"', "INSERT INTO audit_event")


async def ban_state(engine: AsyncEngine, user_id: str) -> tuple[bool, int, int]:
    """(banned, sessions, audit rows) as committed in the database."""
    async with AsyncSession(engine) as db:
        banned = await db.scalar(select(User.banned).where(User.id == user_id))
        sessions = await db.scalar(
            select(func.count()).select_from(AuthSession).where(AuthSession.user_id == user_id)
        )
        audits = await db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.target_id == user_id)
        )
    return bool(banned), int(sessions or 0), int(audits or 0)


@pytest.mark.postgres_only
@pytest.mark.parametrize("point", list(KILL_POINTS))
async def test_ban_is_all_or_nothing(
    point: str,
    settings: Settings,
    engine: AsyncEngine,
    real_app: AppBuilder,
    seeded: Seeded,
    pg_admin: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = with_query(settings.database_url, application_name=f"atomic-{secrets.token_hex(4)}")
    app_engine = create_engine(make_settings(url))
    app, _ = real_app(app_engine=app_engine, database_url=url, **NO_CACHES)
    _admin, admin_tokens = await seeded.user(role="admin", sessions=1)
    target, _ = await seeded.user(sessions=2)
    auth = {"Authorization": f"Bearer {admin_tokens[0]}"}
    marker = KILL_POINTS[point]
    try:
        async with asgi_client(app) as client:
            with (
                caplog.at_level(logging.ERROR),
                kill_backend_on(app_engine, pg_admin, lambda sql: sql.startswith(marker)) as kill,
            ):
                response = await client.post(
                    f"/api/v1/users/{target.id}/ban", json={"banReason": "spam"}, headers=auth
                )
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert not errors, errors  # a handled outage, not an "unhandled exception"
            assert kill.killed, f"never reached {marker!r}: {kill.seen}"
            assert_database_unavailable(response)
            if marker == "COMMIT":
                # Every write of the ban had reached the server when the connection died.
                for write in WRITES:
                    assert any(sql.startswith(write) for sql in kill.seen), (write, kill.seen)

            assert await ban_state(engine, target.id) == (False, 2, 0)

            # The pool recovers by itself and the same ban goes through, whole.
            retried = await client.post(
                f"/api/v1/users/{target.id}/ban", json={"banReason": "spam"}, headers=auth
            )
            assert retried.status_code == 200, retried.text
            assert await ban_state(engine, target.id) == (True, 0, 1)
    finally:
        await app_engine.dispose()
