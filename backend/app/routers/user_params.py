"""What the two ``/api/v1/users`` routers (``users``, ``user_sessions``) share: the router's
prefix, tags and error responses, permission dependencies, the ``userId`` path parameter, and the
query parameters of ``GET /api/v1/users`` (Better-Auth's list-users names, and ours); and the
service of the single-user read with linked accounts."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, ValidationError

from app.routers.deps import DbSession, require_permission
from app.routers.responses import problem_responses
from app.schemas.base import InputText
from app.services.access.requirements import Requirement
from app.services.users.accounts import UserAccountService
from app.services.users.query import (
    FilterOperator,
    SearchField,
    SearchOperator,
    SortDirection,
    SortField,
    UserListQuery,
)


def users_router() -> APIRouter:
    return APIRouter(
        prefix="/users",
        tags=["users"],
        responses=problem_responses(401, 403, 422, 429, 503),
    )


def holding(requirement: Requirement) -> Any:
    """``Annotated[UserSnapshot, holding(need.X)]``: the caller, who must hold ``need.X``."""
    return Depends(require_permission(requirement.permissions))


async def get_user_account_service(db: DbSession) -> UserAccountService:
    return UserAccountService(db)


UserAccountsDep = Annotated[UserAccountService, Depends(get_user_account_service)]


# Path parameters keep Better-Auth's camelCase names in the URL template (and the contract).
UserIdPath = Annotated[
    InputText, Path(min_length=1, max_length=255, examples=["7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs"])
]


class ListParams(BaseModel):
    """The query parameters of ``GET /api/v1/users``, as FastAPI reads them (a query parameter
    model: validated in the event loop, where a ``Depends()`` class would cost a thread hop)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    search: Annotated[InputText | None, Query(max_length=256, description="Case-insensitive")] = (
        None
    )
    search_value: Annotated[
        InputText | None,
        Query(alias="searchValue", max_length=256, description="Alias of `search`"),
    ] = None
    search_field: Annotated[SearchField, Query(alias="searchField")] = "email"
    search_operator: Annotated[SearchOperator, Query(alias="searchOperator")] = "contains"
    role: Annotated[InputText | None, Query(max_length=128, description="Holds this role")] = None
    banned: bool | None = None
    sort_by: Annotated[SortField, Query(alias="sortBy")] = "createdAt"
    sort_direction: Annotated[SortDirection, Query(alias="sortDirection")] = "asc"
    limit: Annotated[int, Query(ge=1, le=100)] = 20
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0
    filter_field: Annotated[InputText | None, Query(alias="filterField", max_length=64)] = None
    filter_value: Annotated[InputText | None, Query(alias="filterValue", max_length=256)] = None
    filter_operator: Annotated[FilterOperator, Query(alias="filterOperator")] = "eq"


# The query names the route reads (aliases where declared): what FastAPI looks up.
_QUERY_NAMES: Final = frozenset(
    field.alias or name for name, field in ListParams.model_fields.items()
)


def to_list_query(params: ListParams) -> UserListQuery:
    fields = params.model_dump()
    search_value = fields.pop("search_value")
    if fields["search"] is None:  # ``searchValue`` is Better-Auth's other name for it
        fields["search"] = search_value
    return UserListQuery(**fields)


async def list_query(params: Annotated[ListParams, Query()]) -> UserListQuery:
    return to_list_query(params)


@lru_cache(maxsize=256)
def plain_list_query(query_string: bytes) -> UserListQuery | None:
    """The list query of a plain query string: each parameter one the route reads, given once,
    not blank, and valid. ``None`` otherwise: the route reads it (and answers its 422s).

    Parsed as Starlette parses it, validated by the route's own model: for a plain query
    string, the same query as the route's. Cached: an admin panel asks the same few pages
    again and again, and the answer (an immutable query) depends on the string alone."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    values = dict(pairs)
    if len(values) != len(pairs) or not values.keys() <= _QUERY_NAMES or "" in values.values():
        return None
    try:
        return to_list_query(ListParams.model_validate(values))
    except ValidationError:
        return None
