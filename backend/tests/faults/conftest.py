"""Fixtures for the fault tests: committed rows (real concurrency needs the real session
factory, so nothing here runs inside the per-test transaction), apps built around them, and an
admin connection to PostgreSQL that can kill the app's backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util import await_

from app.config import Settings
from app.models import AuditEvent, User
from app.state import AppState
from tests.conftest import build_test_app, make_settings
from tests.support.factories import create_session, create_user
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, generate_key, jwks

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float,
    interval: float = 0.05,
) -> T:
    """Call ``probe`` until ``done(result)`` or the deadline; returns the last result."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if done(result) or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(interval)


def asyncpg_dsn(database_url: str) -> str:
    """``postgresql://...`` for asyncpg from a SQLAlchemy URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@pytest.fixture
def postgres(dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("PostgreSQL-only: needs pg_terminate_backend / row locks")


@pytest.fixture
async def pg_admin(settings: Settings, postgres: None) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, outside every pool, on the test database."""
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        yield connection
    finally:
        await connection.close()


@dataclass
class Seeded:
    """Committed rows made by one test; ``cleanup`` removes them and their audit trail."""

    engine: AsyncEngine
    user_ids: list[str] = field(default_factory=list)

    async def user(self, *, role: str = "user", sessions: int = 0) -> tuple[User, list[str]]:
        async with AsyncSession(self.engine, expire_on_commit=False) as db:
            user = await create_user(db, role=role)
            tokens = [(await create_session(db, user)).token for _ in range(sessions)]
            await db.commit()
        self.user_ids.append(user.id)
        return user, tokens

    async def cleanup(self) -> None:
        if not self.user_ids:
            return
        async with AsyncSession(self.engine) as db:
            await db.execute(delete(AuditEvent).where(AuditEvent.target_id.in_(self.user_ids)))
            await db.execute(delete(AuditEvent).where(AuditEvent.actor_id.in_(self.user_ids)))
            await db.execute(delete(User).where(User.id.in_(self.user_ids)))  # sessions cascade
            await db.commit()


@pytest.fixture
async def seeded(engine: AsyncEngine) -> AsyncIterator[Seeded]:
    rows = Seeded(engine)
    try:
        yield rows
    finally:
        await rows.cleanup()


AppBuilder = Callable[..., tuple[FastAPI, AppState]]


@pytest.fixture
async def real_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AppBuilder]:
    """Apps on the real session factory (one session per request, committed work), on the test
    engine unless ``app_engine`` is given (a test that breaks connections passes its own)."""
    states: list[AppState] = []

    def build(
        *, app_engine: AsyncEngine | None = None, **overrides: object
    ) -> tuple[FastAPI, AppState]:
        database_url = str(overrides.pop("database_url", settings.database_url))
        app_settings = make_settings(database_url, **overrides)
        app, state = build_test_app(app_settings, app_engine or engine)
        states.append(state)
        return app, state

    yield build
    for state in states:
        await state.key_cache.aclose()
        await state.http_client.aclose()


@asynccontextmanager
async def asgi_client(
    app: FastAPI, base_url: str = "http://test"
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


@pytest.fixture(scope="module")
def key_a() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture(scope="module")
def key_b() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture
def jwks_server(key_a: TestKey) -> Iterator[JwksServer]:
    """A fresh server per test, so that its hit counter is this test's."""
    with JwksServer(jwks(key_a)) as server:
        yield server


@dataclass
class KillSwitch:
    """Armed on an engine: the first time ``matches`` holds, this connection's backend is killed
    (from the admin connection, waiting until it is gone) just before the driver acts."""

    admin: asyncpg.Connection
    matches: Callable[[str], bool]
    killed: list[int] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def fire(self, connection: Connection, what: str) -> None:
        if self.killed:
            return
        self.seen.append(what)
        if not self.matches(what):
            return
        driver = connection.connection.driver_connection
        assert isinstance(driver, asyncpg.Connection)
        pid = driver.get_server_pid()
        # Runs inside SQLAlchemy's greenlet: await_ hands the coroutine to the event loop.
        assert await_(self.admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid))
        self.killed.append(pid)


@contextmanager
def kill_backend_on(
    engine: AsyncEngine, admin: asyncpg.Connection, matches: Callable[[str], bool]
) -> Iterator[KillSwitch]:
    """``matches`` sees each SQL statement, and ``"COMMIT"`` / ``"ROLLBACK"`` before the
    transaction ends."""
    switch = KillSwitch(admin, matches)

    def before_execute(connection: Connection, *args: object) -> None:
        switch.fire(connection, str(args[1]))

    def before_commit(connection: Connection) -> None:
        switch.fire(connection, "COMMIT")

    def before_rollback(connection: Connection) -> None:
        switch.fire(connection, "ROLLBACK")

    hooks = [
        ("before_cursor_execute", before_execute),
        ("commit", before_commit),
        ("rollback", before_rollback),
    ]
    for name, hook in hooks:
        event.listen(engine.sync_engine, name, hook)
    try:
        yield switch
    finally:
        for name, hook in hooks:
            event.remove(engine.sync_engine, name, hook)
