"""Column types that store values exactly the way Better-Auth does on each dialect.

PostgreSQL: ``boolean`` and ``timestamptz``. SQLite (better-sqlite3 via Kysely): booleans as
integers 0/1 and dates as ISO-8601 text with milliseconds and a ``Z`` suffix, in columns
declared ``date`` (e.g. ``2026-11-26T17:46:11.446Z``). Rows written here must read back in
Better-Auth unchanged, and rows Better-Auth wrote must load here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType


class SqliteDate(UserDefinedType[str]):
    """The ``date`` column type Better-Auth declares on SQLite (TEXT values in practice)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "DATE"


def format_iso_utc(value: datetime) -> str:
    """``2026-11-26T17:46:11.446Z``: JavaScript's ``Date.prototype.toISOString`` format."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_iso_utc(value: str | int | float) -> datetime:
    """Parse what Better-Auth (or a hand-written row) stores in a SQLite date column."""
    if isinstance(value, int | float):
        # Epoch milliseconds: what a JS Date becomes when bound without conversion.
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes: ``timestamptz`` on PostgreSQL, ISO text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(SqliteDate())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if dialect.name == "sqlite":
            return format_iso_utc(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return parse_iso_utc(value)


class IntBoolean(TypeDecorator[bool]):
    """``boolean`` on PostgreSQL; ``integer`` 0/1 on SQLite, as Better-Auth declares it."""

    impl = Boolean(create_constraint=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Integer())
        return dialect.type_descriptor(Boolean(create_constraint=False))

    def process_bind_param(self, value: bool | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return int(bool(value)) if dialect.name == "sqlite" else bool(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> bool | None:
        if value is None:
            return None
        return bool(value)
