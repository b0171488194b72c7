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

from app.utils.timefmt import format_iso_utc, parse_iso_utc


class SqliteDate(UserDefinedType[str]):
    """The ``date`` column type Better-Auth declares on SQLite (TEXT values in practice)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "DATE"


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
