"""The test database: a throwaway PostgreSQL database per run, or a temporary SQLite file.

``TEST_DATABASE_URL`` picks the server; otherwise the local PostgreSQL is used when it answers.
``TEST_DB=sqlite`` forces SQLite (``.ci/run`` runs the suite on both).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

BACKEND_DIR = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@dataclass
class ProvisionedDatabase:
    """Where the run's database lives and how to remove it."""

    url: str
    dialect: str
    cleanup: Callable[[], None]


async def _postgres_answers(url: URL) -> bool:
    try:
        connection = await asyncio.wait_for(
            asyncpg.connect(
                host=url.host,
                port=url.port or 5432,
                user=url.username,
                password=url.password,
                database=url.database,
            ),
            timeout=3,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


async def _admin_execute(url: URL, sql: str) -> None:
    connection = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def create_postgres_database(admin_url: str, prefix: str = "bab_test") -> ProvisionedDatabase:
    """CREATE DATABASE with a random name; the cleanup drops it (forcing out stragglers)."""
    admin = make_url(admin_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    asyncio.run(_admin_execute(admin, f'CREATE DATABASE "{name}"'))

    def cleanup() -> None:
        asyncio.run(_admin_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    url = admin.set(drivername="postgresql+asyncpg", database=name)
    return ProvisionedDatabase(url.render_as_string(hide_password=False), "postgresql", cleanup)


def create_sqlite_database() -> ProvisionedDatabase:
    folder = tempfile.mkdtemp(prefix="bab-test-")
    path = Path(folder) / "test.db"

    def cleanup() -> None:
        for item in Path(folder).iterdir():
            item.unlink()
        Path(folder).rmdir()

    return ProvisionedDatabase(f"sqlite:///{path}", "sqlite", cleanup)


def provision_test_database() -> ProvisionedDatabase:
    if os.environ.get("TEST_DB", "").lower() == "sqlite":
        return create_sqlite_database()
    configured = os.environ.get("TEST_DATABASE_URL")
    admin_url = configured or DEFAULT_POSTGRES_URL
    admin = make_url(admin_url.replace("postgres://", "postgresql://", 1))
    if admin.get_backend_name() == "sqlite":
        return create_sqlite_database()
    admin = admin.set(drivername="postgresql+asyncpg")
    if asyncio.run(_postgres_answers(admin)):
        return create_postgres_database(admin.render_as_string(hide_password=False))
    if configured:
        raise RuntimeError(f"TEST_DATABASE_URL is set but PostgreSQL does not answer: {admin!r}")
    print("\n[tests] no PostgreSQL answers at 127.0.0.1:5432: running on a temporary SQLite file")  # noqa: T201
    return create_sqlite_database()


def alembic_config() -> Config:
    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(BACKEND_DIR / "alembic"))
    config.attributes["configure_logging"] = False
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Run the real Alembic migrations over a connection of the given engine."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
