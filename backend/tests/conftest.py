"""Shared fixtures: one real database for the run, migrated once with the real migrations;
per-test isolation by an outer transaction that is rolled back (see style.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.database import create_engine
from app.main import create_app
from app.routers.deps import get_db_session_provider
from app.state import AppState, build_app_state
from tests.support.database import ProvisionedDatabase, migrate, provision_test_database

TEST_SECRET = "test-secret-test-secret-test-secret-0123"
TEST_AUTH_URL = "http://127.0.0.1:39999"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sqlite-pass",
        action="store_true",
        help="CI's second pass, on SQLite: only the tests that reach the test database and are "
        "not marked postgres_only (the PostgreSQL pass ran all of them)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The database is chosen only in test_database (TEST_DB, TEST_DATABASE_URL): a test whose
    # fixtures never reach it runs identically on either dialect, so a second pass repeats it.
    if not config.getoption("--sqlite-pass"):
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        uses_database = "test_database" in getattr(item, "fixturenames", ())
        postgres_only = item.get_closest_marker("postgres_only") is not None
        (keep if uses_database and not postgres_only else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def test_database() -> Iterator[ProvisionedDatabase]:
    database = provision_test_database()
    try:
        yield database
    finally:
        database.cleanup()


@pytest.fixture(scope="session")
def dialect(test_database: ProvisionedDatabase) -> str:
    return test_database.dialect


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "environment": "test",
        "log_format": "console",
        "log_level": "WARNING",
        "better_auth_url": TEST_AUTH_URL,
        "better_auth_secret": TEST_SECRET,
        # Generous: the tests' JWKS servers are local and answer at once, but a loaded machine
        # (CI, parallel runs) once stretched a fetch past 0.5 s and a valid token got a 503.
        # The tests of a slow or hanging key source set their own timeout.
        "jwks_fetch_timeout_seconds": 2.0,
        "jwks_refetch_cooldown_seconds": 0.2,
        # Most tests change rows inside a rolled-back transaction, which never commits and so
        # never notifies: the identity cache is exercised by tests/test_identity_cache.py with
        # committed rows and the real invalidation feed.
        "identity_cache_enabled": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(test_database: ProvisionedDatabase) -> Settings:
    return make_settings(test_database.url)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside an outer transaction; services' commits become savepoint releases."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


def build_test_app(settings: Settings, engine: AsyncEngine) -> tuple[FastAPI, AppState]:
    """The real app around the test engine (ASGITransport does not run the lifespan)."""
    app = create_app(settings)
    state = build_app_state(settings, engine)
    app.state.services = state
    return app, state


AppFactory = Callable[..., Awaitable[FastAPI]]


@pytest.fixture
async def app_factory(
    settings: Settings, engine: AsyncEngine, db_session: AsyncSession
) -> AsyncIterator[AppFactory]:
    """Apps with setting overrides, all on the test's transaction-bound session."""
    states: list[AppState] = []

    async def factory(**overrides: object) -> FastAPI:
        # Rebuilt (not copied) so that derived values such as JWKS_URL follow the overrides.
        app_settings = make_settings(settings.database_url, **overrides) if overrides else settings
        application, state = build_test_app(app_settings, engine)
        states.append(state)

        async def _provider() -> AsyncIterator[Callable[[], AsyncSession]]:
            yield lambda: db_session

        @asynccontextmanager
        async def _shared_session() -> AsyncIterator[AsyncSession]:
            yield db_session

        application.dependency_overrides[get_db_session_provider] = _provider
        state.side_sessions_override = _shared_session
        return application

    yield factory
    for state in states:
        await state.key_cache.aclose()
        await state.http_client.aclose()
        if state.secondary_sessions is not None:
            await state.secondary_sessions.storage.aclose()


@pytest.fixture
async def app(app_factory: AppFactory) -> FastAPI:
    return await app_factory()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
