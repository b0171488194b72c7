"""The database going away under a running app: backends killed with ``pg_terminate_backend``
(idle, mid-statement, and repeatedly under concurrent traffic), and the server unreachable
(a closed port, and a relay that is cut and restored).

Every answer is 200 or 503 ``DATABASE_UNAVAILABLE`` with ``Retry-After`` (never a 500), and the
pool recovers by itself: the next requests succeed without restarting anything.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.database import create_engine
from app.models import AuditEvent
from devstack.processes import free_port
from tests.conftest import make_settings
from tests.faults.conftest import (
    AppBuilder,
    Seeded,
    asgi_client,
    eventually,
    kill_backend_on,
)
from tests.faults.tcp_proxy import TcpProxy

# Every request reads the database: no identity or token cache in front of it. JSON logs: the
# console renderer formats an exception with rich and all its locals, which blocks the event
# loop for seconds (see test_connection_lost_after_the_answer).
NO_CACHES: dict[str, object] = {
    "identity_cache_enabled": False,
    "token_cache_enabled": False,
    "rate_limit_enabled": False,
    "log_format": "json",
}
RECOVERY_SECONDS = 5.0


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "DATABASE_UNAVAILABLE"
    assert int(response.headers["retry-after"]) >= 1


def with_query(database_url: str, **query: str) -> str:
    url = make_url(database_url)
    return url.update_query_dict(query).render_as_string(hide_password=False)


@dataclass
class Target:
    """An app on its own engine, whose connections carry a unique ``application_name``."""

    app: FastAPI
    engine: AsyncEngine
    name: str
    admin_token: str
    user_id: str

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


@pytest.fixture
async def target(
    settings: Settings, real_app: AppBuilder, seeded: Seeded, postgres: None
) -> AsyncIterator[Target]:
    name = f"faults-{secrets.token_hex(4)}"
    url = with_query(settings.database_url, application_name=name)
    engine = create_engine(make_settings(url))
    app, _state = real_app(app_engine=engine, database_url=url, **NO_CACHES)
    _admin, tokens = await seeded.user(role="admin", sessions=1)
    user, _ = await seeded.user()
    try:
        yield Target(app, engine, name, tokens[0], user.id)
    finally:
        await engine.dispose()


async def terminate(pg_admin: asyncpg.Connection, application_name: str) -> int:
    """Kill every backend of that app on the test database; how many there were."""
    killed = await pg_admin.fetch(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND application_name = $1",
        application_name,
    )
    return len(killed)


async def backends_waiting_on_a_lock(pg_admin: asyncpg.Connection, application_name: str) -> int:
    count = await pg_admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = $1 AND wait_event_type = 'Lock'",
        application_name,
    )
    return int(count)


async def recovered(client: httpx.AsyncClient, target: Target) -> httpx.Response:
    async def probe() -> httpx.Response:
        return await client.get("/api/v1/users", params={"limit": 1}, headers=target.auth())

    return await eventually(probe, lambda r: r.status_code != 503, within=RECOVERY_SECONDS)


async def test_idle_connections_killed_between_requests(
    target: Target, pg_admin: asyncpg.Connection
) -> None:
    async with asgi_client(target.app) as client:
        assert (await client.get("/api/v1/users", headers=target.auth())).status_code == 200
        assert await terminate(pg_admin, target.name) >= 1
        # The pool's pre-ping notices the dead connections: no error reaches anyone.
        for _ in range(3):
            response = await client.get("/api/v1/users", headers=target.auth())
            assert response.status_code == 200, response.text


async def test_connection_killed_mid_statement(
    target: Target, pg_admin: asyncpg.Connection, engine: AsyncEngine, settings: Settings
) -> None:
    """The request is parked on a row lock (``SELECT ... FOR UPDATE``) when its backend is
    killed: 503, nothing written, and the next request goes through."""
    from tests.faults.conftest import asyncpg_dsn

    locker = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        async with asgi_client(target.app) as client:
            tx = locker.transaction()
            await tx.start()
            await locker.execute('SELECT 1 FROM "user" WHERE id = $1 FOR UPDATE', target.user_id)
            request = asyncio.ensure_future(
                client.put(
                    f"/api/v1/users/{target.user_id}/role",
                    json={"role": "admin"},
                    headers={**target.auth(), "X-Request-ID": "killed-mid-flight"},
                )
            )

            async def waiting() -> int:
                return await backends_waiting_on_a_lock(pg_admin, target.name)

            assert await eventually(waiting, bool, within=5.0) == 1
            assert await terminate(pg_admin, target.name) >= 1
            response = await asyncio.wait_for(request, timeout=10)
            await tx.rollback()
            assert_database_unavailable(response)

            assert (await recovered(client, target)).status_code == 200
            again = await client.put(
                f"/api/v1/users/{target.user_id}/role", json={"role": "user"}, headers=target.auth()
            )
            assert again.status_code == 200, again.text
    finally:
        await locker.close()
    async with AsyncSession(engine) as db:
        written = await db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.request_id == "killed-mid-flight")
        )
    assert written == 0


async def test_connection_lost_after_the_answer(
    target: Target, pg_admin: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """The request's work is done and answered; its connection dies before the session is
    closed. Nothing is left to roll back, so nothing should be reported as an error."""
    listed = False
    path = f"/api/v1/users/{target.user_id}/sessions"

    def after_the_list(what: str) -> bool:
        # The ROLLBACK that closes the route's session, after its last query (the sessions,
        # newest first; the authentication's own lookup has no ORDER BY).
        nonlocal listed
        listed = listed or 'ORDER BY session."createdAt" DESC' in what
        return listed and what == "ROLLBACK"

    async with asgi_client(target.app) as client:
        with (
            caplog.at_level(logging.ERROR),
            kill_backend_on(target.engine, pg_admin, after_the_list) as kill,
        ):
            response = await client.get(path, headers=target.auth())
        assert response.status_code == 200, response.text
        assert kill.killed
        assert (await client.get(path, headers=target.auth())).status_code == 200
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


async def test_backends_killed_repeatedly_under_traffic(
    target: Target, pg_admin: asyncpg.Connection
) -> None:
    statuses: list[int] = []
    deadline = time.monotonic() + 1.5

    async def traffic(client: httpx.AsyncClient, index: int) -> None:
        while time.monotonic() < deadline:
            if index % 3 == 0:
                response = await client.put(
                    f"/api/v1/users/{target.user_id}/role",
                    json={"role": "user"},
                    headers=target.auth(),
                )
            else:
                response = await client.get("/api/v1/users", headers=target.auth())
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert_database_unavailable(response)

    async def killer() -> int:
        kills = 0
        while time.monotonic() < deadline:
            kills += await terminate(pg_admin, target.name)
            await asyncio.sleep(0.1)
        return kills

    async with asgi_client(target.app) as client:
        results = await asyncio.gather(killer(), *(traffic(client, i) for i in range(9)))
        assert results[0] > 0
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
        assert statuses.count(200) > 0
        assert (await recovered(client, target)).status_code == 200
        for _ in range(5):
            assert (await client.get("/api/v1/users", headers=target.auth())).status_code == 200
    # No connection killed mid-checkout or mid-query kept its slot in the FIFO gate (app.pool).
    pool = target.engine.pool
    assert (pool.gate.in_use, pool.gate.waiting, pool.checkedout()) == (0, 0, 0)  # type: ignore[attr-defined]


async def test_closed_port(real_app: AppBuilder) -> None:
    """Nothing listens where DATABASE_URL points: 503s, fast, and readiness says why. (Runs on
    the SQLite suite too: the URL is a PostgreSQL one whatever the test database is.)"""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    engine = create_engine(make_settings(url))
    app, _ = real_app(app_engine=engine, database_url=url, **NO_CACHES)
    try:
        async with asgi_client(app) as client:
            started = time.monotonic()
            for path in ("/api/v1/users/me", "/api/v1/auth/me", "/api/v1/users"):
                response = await client.get(path, headers={"Authorization": "Bearer abc"})
                assert_database_unavailable(response)
            ready = await client.get("/health/ready")
            assert time.monotonic() - started < 5.0
        assert ready.status_code == 503
        assert ready.json()["code"] == "NOT_READY"
        assert ready.json()["checks"]["database"]["status"] == "unavailable"
    finally:
        await engine.dispose()


async def test_database_host_cut_off_and_restored(
    settings: Settings, real_app: AppBuilder, seeded: Seeded, postgres: None
) -> None:
    """Through a relay: up (200), cut (every connection reset, then connection refused: 503),
    restored on the same port (200 again, same app, same pool)."""
    real = make_url(settings.database_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.up()
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = create_engine(make_settings(url))
    app, _ = real_app(app_engine=engine, database_url=url, **NO_CACHES)
    _admin, tokens = await seeded.user(role="admin", sessions=1)
    auth = {"Authorization": f"Bearer {tokens[0]}"}
    try:
        async with asgi_client(app) as client:
            assert (await client.get("/api/v1/users", headers=auth)).status_code == 200
            await proxy.down()
            for _ in range(3):
                assert_database_unavailable(await client.get("/api/v1/users", headers=auth))
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"]["status"] == "unavailable"

            await proxy.up()

            async def probe() -> httpx.Response:
                return await client.get("/api/v1/users", headers=auth)

            response = await eventually(
                probe, lambda r: r.status_code != 503, within=RECOVERY_SECONDS
            )
            assert response.status_code == 200, response.text
            assert (await client.get("/health/ready")).status_code == 200
    finally:
        await engine.dispose()
        await proxy.down()
