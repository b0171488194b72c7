"""Async Alembic environment.

The URL comes from the app's Settings. Tests (and the app's tooling) may hand in an open
connection through ``config.attributes["connection"]`` instead.
"""

from __future__ import annotations

import asyncio
import logging.config
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import get_settings
from app.database import create_engine
from app.models import Base
from app.models.types import IntBoolean, UtcDateTime

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def compare_type(
    _context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """Our dialect-aware types reflect as their storage types; compare those instead."""
    dialect = _context.dialect
    if isinstance(metadata_type, UtcDateTime | IntBoolean):
        expected = metadata_type.load_dialect_impl(dialect).compile(dialect=dialect)
        return str(inspected_type.compile(dialect=dialect)).upper() != str(expected).upper()
    return None


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # Tables that exist in the database but not in our models belong to someone else
    # (another app sharing the database): never propose dropping them.
    if type_ == "table" and reflected and compare_to is None:
        return False
    # Indexes that only exist on some dialects (PostgreSQL trigram indexes).
    dialects = getattr(obj, "info", {}).get("dialects") if not reflected else None
    return not (dialects and context.get_context().dialect.name not in dialects)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=compare_type,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine: AsyncEngine = create_engine(get_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=get_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
        return
    asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
