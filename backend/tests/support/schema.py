"""Schema snapshots for comparing what our migrations create with Better-Auth's own DDL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.vectors import VECTORS_DIR

# Core + jwt + admin (revision 0001); organization with teams + api-key (revision 0004);
# the organization plugin's dynamic access control (revision 0009).
BETTER_AUTH_TABLES = (
    "user",
    "session",
    "account",
    "verification",
    "jwks",
    "organization",
    "team",
    "teamMember",
    "member",
    "invitation",
    "apikey",
    "organizationRole",
)
# Indexes our own revisions add to Better-Auth's tables (0002). Better-Auth ignores them; the
# parity snapshots leave them out so that "our schema == Better-Auth's" can compare at head.
OWN_INDEXES = frozenset(
    {"user_createdAt_id_idx", "user_name_id_idx", "user_email_trgm_idx", "user_name_trgm_idx"}
)


# Where our schema deliberately differs from Better-Auth 1.7's DDL, named: (table, column) -> the
# server default we add. Revision 0008: Better-Auth 1.6 never writes team.memberCount (1.7 writes
# 0), so the column defaults to 0 (docs/reference/better-auth-versions.md).
DELIBERATE_DIFFERENCES: dict[tuple[str, str], str] = {("team", "memberCount"): "0"}


def with_deliberate_differences(shape: dict[str, Any]) -> dict[str, Any]:
    """A snapshot of Better-Auth's own schema as our migrations leave it: with
    ``DELIBERATE_DIFFERENCES`` applied, and nothing else changed."""
    if "columns" in shape:  # PostgreSQL: (table, position, name, type, nullable, default)
        columns = [
            (*row[:5], DELIBERATE_DIFFERENCES.get((row[0], row[2]), row[5]))
            for row in shape["columns"]
        ]
        return {**shape, "columns": columns}
    changed = {}
    # SQLite: PRAGMA table_info (cid, name, type, notnull, dflt_value, pk)
    for table, info in shape.items():
        columns = [
            (*row[:4], DELIBERATE_DIFFERENCES.get((table, row[1]), row[4]), *row[5:])
            for row in info["columns"]
        ]
        changed[table] = {**info, "columns": columns}
    return changed


def better_auth_ddl(dialect: str) -> list[str]:
    """The statements the pinned Better-Auth runs on an empty database of that dialect
    (``tests/fixtures/better-auth/schema-*.sql``, written by ``npm run vectors``)."""
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
    """Columns, constraints and indexes of Better-Auth's tables, without ``OWN_INDEXES``."""
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
        # regclass text quotes reserved words and mixed-case names: "user", "teamMember".
        {"quoted": [f'"{t}"' if t == "user" or t != t.lower() else t for t in tables]},
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
        "indexes": [tuple(row) for row in indexes if row[1] not in OWN_INDEXES],
    }


async def _sqlite_snapshot(connection: AsyncConnection) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for table in BETTER_AUTH_TABLES:
        info = await connection.exec_driver_sql(f'PRAGMA table_info("{table}")')
        fks = await connection.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")')
        index_rows = (await connection.exec_driver_sql(f'PRAGMA index_list("{table}")')).all()
        indexes = []
        for row in index_rows:
            if row[1] in OWN_INDEXES:
                continue
            cols = await connection.exec_driver_sql(f'PRAGMA index_info("{row[1]}")')
            indexes.append((row[1], row[2], row[3], tuple(c[2] for c in cols)))
        result[table] = {
            # SQLite type names are case-insensitive ("date" and "DATE" are one type).
            "columns": [(r[0], r[1], str(r[2]).upper(), *r[3:]) for r in info],
            "foreign_keys": [tuple(row[2:]) for row in fks],
            "indexes": sorted(indexes),
        }
    return result
