"""Schema snapshots for comparing what our migrations create with Better-Auth's own DDL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.vectors import VECTORS_DIR

BETTER_AUTH_TABLES = ("user", "session", "account", "verification", "jwks")


def better_auth_ddl(dialect: str) -> list[str]:
    """The statements Better-Auth 1.7.25 runs on an empty database of that dialect."""
    name = "schema-sqlite.sql" if dialect == "sqlite" else "schema-postgres.sql"
    source = (VECTORS_DIR / name).read_text()
    without_comments = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith("--")
    )
    return [stmt.strip() for stmt in without_comments.split(";") if stmt.strip()]


async def apply_statements(connection: AsyncConnection, statements: list[str]) -> None:
    for statement in statements:
        await connection.exec_driver_sql(statement)


async def snapshot(connection: AsyncConnection) -> dict[str, Any]:
    if connection.dialect.name == "sqlite":
        return await _sqlite_snapshot(connection)
    return await _postgres_snapshot(connection)


async def _postgres_snapshot(connection: AsyncConnection) -> dict[str, Any]:
    tables = list(BETTER_AUTH_TABLES)
    columns = await connection.execute(
        text(
            "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, "
            "column_default FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = ANY(:tables) ORDER BY table_name, ordinal_position"
        ),
        {"tables": tables},
    )
    constraints = await connection.execute(
        text(
            "SELECT c.conrelid::regclass::text AS tbl, c.conname, c.contype, "
            "pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c "
            "WHERE c.connamespace = 'public'::regnamespace "
            "AND c.conrelid::regclass::text = ANY(:quoted) ORDER BY tbl, c.conname"
        ),
        {"quoted": [f'"{t}"' if t == "user" else t for t in tables]},
    )
    indexes = await connection.execute(
        text(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = ANY(:tables) ORDER BY tablename, indexname"
        ),
        {"tables": tables},
    )
    return {
        "columns": [tuple(row) for row in columns],
        "constraints": [tuple(row) for row in constraints],
        "indexes": [tuple(row) for row in indexes],
    }


async def _sqlite_snapshot(connection: AsyncConnection) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for table in BETTER_AUTH_TABLES:
        info = await connection.exec_driver_sql(f'PRAGMA table_info("{table}")')
        fks = await connection.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")')
        index_rows = (await connection.exec_driver_sql(f'PRAGMA index_list("{table}")')).all()
        indexes = []
        for row in index_rows:
            cols = await connection.exec_driver_sql(f'PRAGMA index_info("{row[1]}")')
            indexes.append((row[1], row[2], row[3], tuple(c[2] for c in cols)))
        result[table] = {
            # SQLite type names are case-insensitive ("date" and "DATE" are one type).
            "columns": [(r[0], r[1], str(r[2]).upper(), *r[3:]) for r in info],
            "foreign_keys": [tuple(row[2:]) for row in fks],
            "indexes": sorted(indexes),
        }
    return result
