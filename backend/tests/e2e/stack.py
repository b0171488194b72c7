"""The pieces of an end-to-end run: a throwaway PostgreSQL database, the auth server and the
API on it, and the HTTP clients to talk to both. Everything is a context manager that cleans
up after itself (processes stopped before their database is dropped)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.processes import (
    AUTH_SERVER_DIR,
    ApiServer,
    AuthServer,
    auth_server_migrate,
    started,
)
from tests.e2e.better_auth import BetterAuthClient, bearer
from tests.support.database import DEFAULT_POSTGRES_URL, create_postgres_database, migrate

# "alembic": the real migrations, run in this process (as for the unit tests; the schema
# parity tests run the `alembic upgrade head` command itself); "better-auth": the auth server's
# `npm run migrate`; "none": an empty database.
Migration = Literal["alembic", "better-auth", "none"]


def admin_database_url() -> str:
    """The server to create databases on: ``TEST_DATABASE_URL`` or the local PostgreSQL."""
    configured = os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL
    url = make_url(configured.replace("postgres://", "postgresql://", 1))
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def prerequisites_problem(admin_url: str) -> str | None:
    """Why the end-to-end tests cannot run here, or ``None``."""
    if not (AUTH_SERVER_DIR / "node_modules").is_dir():
        return (
            f"{AUTH_SERVER_DIR / 'node_modules'} is missing: run `npm ci` in auth-server/ "
            "(or `make test-e2e`, which does)"
        )
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm are not on PATH (the auth server needs Node 20+)"
    if make_url(admin_url).get_backend_name() != "postgresql":
        return "the end-to-end tests need PostgreSQL (TEST_DATABASE_URL is not a PostgreSQL URL)"
    if not asyncio.run(_postgres_answers(admin_url)):
        return f"PostgreSQL does not answer at {make_url(admin_url)!r}"
    return None


async def _postgres_answers(url: str) -> bool:
    try:
        connection = await asyncio.wait_for(asyncpg.connect(_dsn(url)), timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


async def _migrate_in_process(url: str) -> None:
    engine = create_async_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def _dsn(url: str) -> str:
    """asyncpg's form of a SQLAlchemy URL (no ``+driver``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class Database:
    """A throwaway PostgreSQL database. ``url`` is the backend's (``postgresql+asyncpg://``),
    ``dsn`` the plain ``postgresql://`` form the auth server and asyncpg take."""

    url: str

    @property
    def dsn(self) -> str:
        return _dsn(self.url)

    @property
    def name(self) -> str:
        return str(make_url(self.url).database)

    def execute(self, statement: str, *args: object) -> str:
        """Run one SQL statement; returns the status (e.g. ``UPDATE 1``)."""
        return asyncio.run(self._run("execute", statement, *args))

    def fetch(self, query: str, *args: object) -> list[dict[str, Any]]:
        records = asyncio.run(self._run("fetch", query, *args))
        return [dict(record) for record in records]

    async def _run(self, method: str, statement: str, *args: object) -> Any:
        connection = await asyncpg.connect(self.dsn)
        try:
            return await getattr(connection, method)(statement, *args)
        finally:
            await connection.close()


@dataclass
class Stack:
    """A database with the auth server and the API running on it."""

    database: Database
    auth: AuthServer
    api: ApiServer
    better_auth: BetterAuthClient
    http: httpx.Client  # the API

    def api_get(
        self, path: str, *, token: str | None = None, cookie: str | None = None
    ) -> httpx.Response:
        """GET on the API with a bearer token or a raw ``Cookie`` header (no cookie jar)."""
        return self.api_request("GET", path, token=token, cookie=cookie)

    def api_request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        cookie: str | None = None,
        json_body: object = None,
        params: dict[str, str | int] | None = None,
    ) -> httpx.Response:
        headers = bearer(token) if token else {}
        if cookie is not None:
            headers["Cookie"] = cookie
        self.http.cookies.clear()
        if json_body is None:
            return self.http.request(method, path, headers=headers, params=params)
        return self.http.request(method, path, headers=headers, params=params, json=json_body)


@dataclass
class Environment:
    """Session-wide: where logs go, which PostgreSQL server to use, the shared secret."""

    log_dir: Path
    admin_url: str
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @contextmanager
    def database(self, migration: Migration = "alembic") -> Iterator[Database]:
        provisioned = create_postgres_database(self.admin_url, prefix="bab_e2e")
        try:
            database = Database(provisioned.url)
            if migration == "alembic":
                asyncio.run(_migrate_in_process(database.url))
            elif migration == "better-auth":
                auth_server_migrate(database.dsn, self.secret)
            yield database
        finally:
            provisioned.cleanup()

    @contextmanager
    def auth_server(
        self, database: Database, *, mint_key: bool = True, **env: str
    ) -> Iterator[AuthServer]:
        server = AuthServer(
            log_dir=self.log_dir, env=dict(env), database_url=database.dsn, secret=self.secret
        )
        with started(server):
            # Better-Auth mints its first signing key lazily, on the first /jwks or /token call,
            # without a lock: an API warming its key cache while a test asks for its first token
            # can make it mint two keys, and the API then waits (up to a second) for its next
            # fetch to learn the one used for signing. Mint the key before the API starts, as a
            # deployment whose auth server has served a request already has, unless the test is
            # about that start (test_fresh_deployment.py).
            if mint_key:
                BetterAuthClient(server.url).jwks()
            yield server

    @contextmanager
    def api_server(
        self, database: Database, auth: AuthServer, *, workers: int = 1, **env: str
    ) -> Iterator[ApiServer]:
        settings = {
            "BETTER_AUTH_URL": auth.url,
            "BETTER_AUTH_SECRET": self.secret,
            "RATE_LIMIT_ENABLED": "false",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        }
        server = ApiServer(
            log_dir=self.log_dir,
            env={**settings, **env},
            database_url=database.url,
            extra_args=("--workers", str(workers)) if workers > 1 else (),
        )
        with started(server):
            yield server

    @contextmanager
    def stack(
        self,
        *,
        migration: Migration = "alembic",
        auth_env: dict[str, str] | None = None,
        api_env: dict[str, str] | None = None,
    ) -> Iterator[Stack]:
        """Database, then the auth server (the API warms its keys from it), then the API."""
        with ExitStack() as resources:
            database = resources.enter_context(self.database(migration))
            auth = resources.enter_context(self.auth_server(database, **(auth_env or {})))
            api = resources.enter_context(self.api_server(database, auth, **(api_env or {})))
            http = resources.enter_context(
                httpx.Client(base_url=api.url, timeout=10.0, trust_env=False)
            )
            yield Stack(database, auth, api, BetterAuthClient(auth.url), http)
