"""Graceful shutdown of a real uvicorn process: SIGTERM while a request is in flight.

The request is slow for real, not through a test-only endpoint: a separate connection holds the
target user's row lock, so ``PUT /api/v1/users/{id}/role`` waits on its ``SELECT ... FOR
UPDATE``. SIGTERM arrives while it waits; the server stops accepting connections, the lock is
released, and the request still completes with 200 and its write and audit row committed; then
the process exits 0 within a deadline.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time

import asyncpg
import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.models import AuditEvent, User
from devstack.processes import running_api
from tests.faults.conftest import Seeded, asyncpg_dsn, eventually
from tests.faults.test_database import backends_waiting_on_a_lock, with_query

EXIT_DEADLINE_SECONDS = 10.0


async def refuses_connections(url: str) -> bool:
    """No new request is served: the connection is refused, or (a connection the kernel had
    queued on the listening socket as uvicorn closed it) dropped without an answer."""
    async with httpx.AsyncClient(base_url=url, timeout=1.0, trust_env=False) as probe:
        try:
            await probe.get("/health/live")
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            return True
        return False


async def test_sigterm_lets_the_in_flight_request_finish(
    settings: Settings, engine: AsyncEngine, seeded: Seeded, pg_admin: asyncpg.Connection
) -> None:
    _admin, tokens = await seeded.user(role="admin", sessions=1)
    target, _ = await seeded.user()
    name = f"shutdown-{secrets.token_hex(4)}"
    url = with_query(settings.database_url, application_name=name)
    locker = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        with running_api(url, LOG_LEVEL="INFO") as api:
            async with httpx.AsyncClient(base_url=api.url, timeout=30.0, trust_env=False) as client:
                lock = locker.transaction()
                await lock.start()
                await locker.execute('SELECT 1 FROM "user" WHERE id = $1 FOR UPDATE', target.id)
                in_flight = asyncio.ensure_future(
                    client.put(
                        f"/api/v1/users/{target.id}/role",
                        json={"role": "admin"},
                        headers={
                            "Authorization": f"Bearer {tokens[0]}",
                            "X-Request-ID": f"drained-{name}",
                        },
                    )
                )

                async def waiting() -> int:
                    return await backends_waiting_on_a_lock(pg_admin, name)

                assert await eventually(waiting, bool, within=10.0) == 1

                api.send_signal(signal.SIGTERM)
                # Draining: no new connections, the in-flight request still waits on the lock.
                assert await eventually(
                    lambda: refuses_connections(api.url), bool, within=5.0, interval=0.05
                )
                assert not in_flight.done()
                assert api.returncode is None

                await lock.rollback()  # the row is free: the request goes on
                response = await asyncio.wait_for(in_flight, timeout=10.0)
                assert response.status_code == 200, response.text
                assert response.json()["role"] == "admin"

            started = time.monotonic()
            code = await asyncio.to_thread(api.wait, EXIT_DEADLINE_SECONDS)
            assert code in {0, -signal.SIGTERM}, api.output()
            assert time.monotonic() - started < EXIT_DEADLINE_SECONDS
            output = api.output()
        for line in ("Application shutdown complete", "Finished server process"):
            assert line in output, output
        assert "Traceback" not in output, output
        assert '"level":"error"' not in output.replace(" ", ""), output
    finally:
        await locker.close()

    async with AsyncSession(engine) as db:
        assert await db.scalar(select(User.role).where(User.id == target.id)) == "admin"
        audit = await db.scalar(
            select(AuditEvent.action).where(AuditEvent.request_id == f"drained-{name}")
        )
    assert audit == "user.role.set"


@pytest.fixture(autouse=True)
def _needs_postgres(postgres: None) -> None:
    """Row locks and ``pg_stat_activity``: PostgreSQL only."""
