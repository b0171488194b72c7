"""Building the admin user list: search, filter, sort, paginate and count in one indexed query.

Accepts our own parameters and Better-Auth admin plugin's ``listUsers`` ones, so a frontend
written against the plugin works unchanged. Search is case-insensitive; LIKE wildcards in the
user's input are escaped, so ``%`` and ``_`` match themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, Literal

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from app.models.user import User
from app.services.auth.snapshots import UserSnapshot
from app.utils.errors import UnprocessableEntity, invalid_field

SearchField = Literal["email", "name"]
SearchOperator = Literal["contains", "starts_with", "ends_with"]
SortField = Literal["createdAt", "email", "name"]
SortDirection = Literal["asc", "desc"]
FilterOperator = Literal[
    "eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "starts_with", "ends_with"
]

_LIKE_ESCAPE = "\\"
_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "createdAt": User.created_at,
    "email": User.email,
    "name": User.name,
}
_FILTER_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "id": User.id,
    "name": User.name,
    "email": User.email,
    "role": User.role,
    "image": User.image,
    "banned": User.banned,
    "emailVerified": User.email_verified,
    "createdAt": User.created_at,
    "updatedAt": User.updated_at,
    "banExpires": User.ban_expires,
}
_BOOLEAN_FIELDS = {"banned", "emailVerified"}
_DATE_FIELDS = {"createdAt", "updatedAt", "banExpires"}


@dataclass(frozen=True)
class UserListQuery:
    search: str | None = None
    search_field: SearchField = "email"
    search_operator: SearchOperator = "contains"
    role: str | None = None
    banned: bool | None = None
    sort_by: SortField = "createdAt"
    sort_direction: SortDirection = "asc"
    limit: int = 20
    offset: int = 0
    filter_field: str | None = None
    filter_value: str | None = None
    filter_operator: FilterOperator = "eq"


def escape_like(value: str) -> str:
    return value.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")


def like_pattern(value: str, operator: SearchOperator) -> str:
    escaped = escape_like(value)
    if operator == "starts_with":
        return f"{escaped}%"
    if operator == "ends_with":
        return f"%{escaped}"
    return f"%{escaped}%"


def _coerce(field: str, raw: str) -> Any:
    if field in _BOOLEAN_FIELDS:
        lowered = raw.strip().lower()
        if lowered not in {"true", "false", "1", "0"}:
            raise _invalid_filter("filterValue must be true or false for this field")
        return lowered in {"true", "1"}
    if field in _DATE_FIELDS:
        try:
            value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
            # Stored instants are UTC: convert here, where an offset that pushes the instant
            # out of datetime's range (0001-01-01T00:00:00+14:00) is a 422 and not an overflow
            # in the driver (asyncpg converts to UTC itself and raised a 500).
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except (ValueError, OverflowError):
            raise _invalid_filter("filterValue must be an ISO-8601 date for this field") from None
    return raw


def _invalid_filter(message: str) -> UnprocessableEntity:
    return invalid_field(["query", "filterValue"], message, code="INVALID_FILTER")


_LIKE_OPERATORS = frozenset({"contains", "starts_with", "ends_with"})
_LIST_OPERATORS = frozenset({"in", "not_in"})


def _filter_value(field: str, operator: FilterOperator, raw: str) -> Any:
    """The bound value of a filter (a list for ``in``/``not_in``), or a 422."""
    if operator in _LIST_OPERATORS:
        return [_coerce(field, part) for part in raw.split(",")]
    if operator in _LIKE_OPERATORS:
        if field in _BOOLEAN_FIELDS or field in _DATE_FIELDS:
            raise _invalid_filter(f"{operator} applies to text fields only")
        return like_pattern(raw, operator)  # type: ignore[arg-type]
    return _coerce(field, raw)


@dataclass(frozen=True)
class QueryShape:
    """What a list query's SQL depends on (its values are bound parameters): queries of one
    shape share one statement, built once, whose SQL SQLAlchemy compiles once."""

    search_field: SearchField | None  # None: no search
    filter_field: str | None  # None: no filter
    filter_operator: FilterOperator
    role: bool
    banned: bool | None
    sort_by: SortField
    sort_direction: SortDirection


def bind(query: UserListQuery) -> tuple[QueryShape, dict[str, Any]]:
    """The query's shape and its parameter values (validation errors are 422s)."""
    values: dict[str, Any] = {}
    if query.search:
        values["search"] = like_pattern(query.search, query.search_operator)
    filter_field = None
    if query.filter_value is not None:
        filter_field = query.filter_field or "email"
        if filter_field not in _FILTER_COLUMNS:
            raise invalid_field(
                ["query", "filterField"],
                f"cannot filter on {filter_field!r}",
                code="INVALID_FILTER",
            )
        values["filter"] = _filter_value(filter_field, query.filter_operator, query.filter_value)
    if query.role:
        values["role"] = f"%,{escape_like(query.role)},%"
    shape = QueryShape(
        search_field=query.search_field if query.search else None,
        filter_field=filter_field,
        filter_operator=query.filter_operator,
        role=bool(query.role),
        banned=query.banned,
        sort_by=query.sort_by,
        sort_direction=query.sort_direction,
    )
    return shape, values


def _roles_column() -> ColumnElement[str]:
    return literal(",") + func.coalesce(User.role, "") + literal(",")


def has_role(role: str) -> ColumnElement[bool]:
    """The comma-joined role string holds ``role`` as one of its parts (Better-Auth's split)."""
    return _roles_column().like(f"%,{escape_like(role)},%", escape=_LIKE_ESCAPE)


def _filter_condition(field: str, operator: FilterOperator) -> ColumnElement[bool]:
    column = _FILTER_COLUMNS[field]
    if operator in _LIST_OPERATORS:
        condition = column.in_(bindparam("filter", expanding=True))
        return not_(condition) if operator == "not_in" else condition
    value: BindParameter[Any] = bindparam("filter")
    if operator in _LIKE_OPERATORS:
        return column.ilike(value, escape=_LIKE_ESCAPE)
    comparisons: dict[str, Callable[[], ColumnElement[bool]]] = {
        "eq": lambda: column == value,
        "ne": lambda: column != value,
        "lt": lambda: column < value,
        "lte": lambda: column <= value,
        "gt": lambda: column > value,
        "gte": lambda: column >= value,
    }
    return comparisons[operator]()


@lru_cache(maxsize=512)
def _conditions(shape: QueryShape) -> tuple[ColumnElement[bool], ...]:
    conditions: list[ColumnElement[bool]] = []
    if shape.search_field is not None:
        column = User.email if shape.search_field == "email" else User.name
        conditions.append(column.ilike(bindparam("search"), escape=_LIKE_ESCAPE))
    if shape.filter_field is not None:
        conditions.append(_filter_condition(shape.filter_field, shape.filter_operator))
    if shape.role:
        conditions.append(_roles_column().like(bindparam("role"), escape=_LIKE_ESCAPE))
    if shape.banned is True:
        conditions.append(User.banned.is_(true()))
    elif shape.banned is False:
        conditions.append(or_(User.banned.is_(None), User.banned.is_(false())))
    return tuple(conditions)


# The columns of a listed user, read as plain rows (no ORM entities on the hot list path).
USER_COLUMNS: Final = tuple(getattr(User, field.name) for field in dataclasses.fields(UserSnapshot))


@lru_cache(maxsize=512)
def _page(shape: QueryShape) -> Select[Any]:
    column = _SORT_COLUMNS[shape.sort_by]
    # The id tie-breaker makes pages stable when several users share a sort value.
    order = (column.desc(), User.id.desc()) if shape.sort_direction == "desc" else (column, User.id)
    return (
        select(*USER_COLUMNS, func.count().over().label("total"))
        .where(and_(True, *_conditions(shape)))
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


@lru_cache(maxsize=512)
def _count(shape: QueryShape) -> Select[Any]:
    return select(func.count()).select_from(User).where(and_(True, *_conditions(shape)))


def page_statement(query: UserListQuery) -> tuple[Select[Any], dict[str, Any]]:
    """One page, each row carrying the number of matching users (``count(*) OVER ()`` is
    computed before LIMIT/OFFSET): the page and its total in one round trip."""
    shape, values = bind(query)
    return _page(shape), {**values, "limit": query.limit, "offset": query.offset}


def count_statement(query: UserListQuery) -> tuple[Select[Any], dict[str, Any]]:
    shape, values = bind(query)
    return _count(shape), values


async def read_page(
    connection: AsyncConnection, query: UserListQuery
) -> tuple[list[UserSnapshot], int]:
    """The page and the total, in one statement unless the page is past the end. Core: plain
    rows, no ORM execution context."""
    rows = (await connection.execute(*page_statement(query))).all()
    if rows:
        return [UserSnapshot(*row[:-1]) for row in rows], int(rows[0][-1])
    if query.offset > 0:  # past the end: the window had no row to carry the total
        return [], int(await connection.scalar(*count_statement(query)) or 0)
    return [], 0
