"""Building the admin user list: search, filter, sort, paginate and count in one indexed query.

Accepts our own parameters and Better-Auth admin plugin's ``listUsers`` ones, so a frontend
written against the plugin works unchanged. Search is case-insensitive; LIKE wildcards in the
user's input are escaped, so ``%`` and ``_`` match themselves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, not_, or_, select, true
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


def has_role(role: str) -> ColumnElement[bool]:
    """The comma-joined role string holds ``role`` as one of its parts (Better-Auth's split)."""
    wrapped = literal(",") + func.coalesce(User.role, "") + literal(",")
    return wrapped.like(f"%,{escape_like(role)},%", escape=_LIKE_ESCAPE)


def _search_condition(query: UserListQuery) -> ColumnElement[bool] | None:
    if not query.search:
        return None
    column = User.email if query.search_field == "email" else User.name
    return column.ilike(like_pattern(query.search, query.search_operator), escape=_LIKE_ESCAPE)


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


def _filter_condition(query: UserListQuery) -> ColumnElement[bool] | None:
    if query.filter_value is None:
        return None
    field = query.filter_field or "email"
    column = _FILTER_COLUMNS.get(field)
    if column is None:
        raise invalid_field(
            ["query", "filterField"], f"cannot filter on {field!r}", code="INVALID_FILTER"
        )
    operator = query.filter_operator
    if operator in {"in", "not_in"}:
        values = [_coerce(field, part) for part in query.filter_value.split(",")]
        condition = column.in_(values)
        return not_(condition) if operator == "not_in" else condition
    if operator in {"contains", "starts_with", "ends_with"}:
        if field in _BOOLEAN_FIELDS or field in _DATE_FIELDS:
            raise _invalid_filter(f"{operator} applies to text fields only")
        return column.ilike(like_pattern(query.filter_value, operator), escape=_LIKE_ESCAPE)
    value = _coerce(field, query.filter_value)
    comparisons: dict[str, ColumnElement[bool]] = {
        "eq": column == value,
        "ne": column != value,
        "lt": column < value,
        "lte": column <= value,
        "gt": column > value,
        "gte": column >= value,
    }
    return comparisons[operator]


def build_conditions(query: UserListQuery) -> list[ColumnElement[bool]]:
    conditions = [
        condition
        for condition in (_search_condition(query), _filter_condition(query))
        if condition is not None
    ]
    if query.role:
        conditions.append(has_role(query.role))
    if query.banned is True:
        conditions.append(User.banned.is_(true()))
    elif query.banned is False:
        conditions.append(or_(User.banned.is_(None), User.banned.is_(false())))
    return conditions


# The columns of a listed user, read as plain rows (no ORM entities on the hot list path).
USER_COLUMNS: Final = tuple(getattr(User, field.name) for field in dataclasses.fields(UserSnapshot))
TOTAL: Final = "total"


def page_statement(query: UserListQuery) -> Select[Any]:
    """One page, each row carrying the number of matching users (``count(*) OVER ()`` is
    computed before LIMIT/OFFSET): the page and its total in one round trip."""
    column = _SORT_COLUMNS[query.sort_by]
    # The id tie-breaker makes pages stable when several users share a sort value.
    order = (column.desc(), User.id.desc()) if query.sort_direction == "desc" else (column, User.id)
    return (
        select(*USER_COLUMNS, func.count().over().label(TOTAL))
        .where(and_(True, *build_conditions(query)))
        .order_by(*order)
        .limit(query.limit)
        .offset(query.offset)
    )


def count_statement(query: UserListQuery) -> Select[int]:
    return select(func.count()).select_from(User).where(and_(True, *build_conditions(query)))
