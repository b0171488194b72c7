"""``app.routers.fast_path``: the two hot GETs answered before FastAPI's routing.

The fast path must be invisible: for every request, the app answers exactly as it does without
it (status, media type, body, the headers a client reads). And it must really answer the common
case: the routed handlers are never reached by a plain admin search or a ``/me`` with a bearer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.routers.deps import get_current_user, get_user_service
from app.routers.fast_path import FastPaths
from tests.conftest import AppFactory
from tests.support.factories import create_session, create_user

BASE = datetime(2026, 3, 1, tzinfo=UTC)

# Plain ones (the fast path answers them, 422s of the filter included) and the rest (the route
# does): unknown, repeated, blank, Python-named or invalid parameters.
LIST_QUERIES = [
    "",
    "search=ada",
    "searchValue=math",
    "search=ADA&searchField=name&searchOperator=starts_with",
    "search=%25",
    "search=_",
    "search=%C3%A9",
    "limit=2&offset=2",
    "limit=2&offset=40",
    "sortBy=name&sortDirection=desc",
    "sortBy=email",
    "role=admin",
    "banned=true",
    "banned=false",
    "banned=1",
    "filterField=role&filterOperator=in&filterValue=admin,user",
    "filterField=email&filterOperator=contains&filterValue=math",
    "filterField=createdAt&filterOperator=gte&filterValue=2026-03-03T00:00:00Z",
    "filterField=createdAt&filterOperator=lt&filterValue=0001-01-01T00:00:00%2B14:00",
    "filterField=createdAt&filterOperator=contains&filterValue=2026",
    "filterField=password&filterValue=x",
    "filterField=banned&filterValue=maybe",
    "limit=0",
    "limit=ten",
    "offset=-1",
    "sortBy=password",
    "search=",
    "search=%00",
    "role=ad%00min",
    "filterField=createdAt&filterOperator=lt&filterValue=9999-12-31T23:59:59-14:00",
    "search=ada&search=alan",
    "unknown=1",
    "search_value=math",
    "searchValue=math&search=ada",
]


def _without_fast_paths(app: FastAPI) -> FastAPI:
    """The same app with the layer taken out (the middleware stack is built on first use)."""
    app.user_middleware = [entry for entry in app.user_middleware if entry.cls is not FastPaths]
    return app


async def _client(app: FastAPI, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def clients(app_factory: AppFactory) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    fast = await _client(await app_factory())
    routed = await _client(_without_fast_paths(await app_factory()))
    async with fast, routed:
        yield fast, routed


@pytest.fixture
async def bearers(db_session: AsyncSession) -> dict[str, str]:
    specs = [
        ("admin", "Root Admin", "root@example.com", "admin", False),
        ("ada", "Ada Lovelace", "ada@math.example.org", "user", False),
        ("alan", "Alan Turing", "alan@math.example.org", "user,admin", False),
        ("grace", "Grace Hopper", "grace@navy.example.mil", "user", True),
        ("rene", "René Descartes", "rene@example.fr", None, None),
    ]
    tokens: dict[str, str] = {}
    for index, (key, name, email, role, banned) in enumerate(specs):
        user = await create_user(
            db_session,
            name=name,
            email=email,
            role=role,
            banned=banned,
            created_at=BASE + timedelta(days=index),
        )
        tokens[key] = (await create_session(db_session, user)).token
    tokens["forged"] = "not-a-session-token"
    return tokens


def _seen(response: httpx.Response) -> tuple[Any, ...]:
    """What a client reads of an answer (the request id differs from request to request)."""
    body = response.json()
    if isinstance(body, dict):
        body.pop("requestId", None)
    headers = {
        name: response.headers.get(name)
        for name in ("content-type", "www-authenticate", "retry-after", "cache-control")
    }
    return response.status_code, headers, body


class TestSameAnswers:
    @pytest.mark.parametrize("query", LIST_QUERIES)
    async def test_admin_search(
        self, clients: tuple[httpx.AsyncClient, ...], bearers: dict[str, str], query: str
    ) -> None:
        fast, routed = clients
        headers = {"Authorization": f"Bearer {bearers['admin']}"}
        url = f"/api/v1/users?{query}" if query else "/api/v1/users"
        assert _seen(await fast.get(url, headers=headers)) == _seen(
            await routed.get(url, headers=headers)
        )

    @pytest.mark.parametrize("path", ["/api/v1/users/me", "/api/v1/users?search=a"])
    @pytest.mark.parametrize("caller", ["admin", "ada", "alan", "grace", "rene", "forged", None])
    async def test_every_caller(
        self,
        clients: tuple[httpx.AsyncClient, ...],
        bearers: dict[str, str],
        path: str,
        caller: str | None,
    ) -> None:
        fast, routed = clients
        headers = {"Authorization": f"Bearer {bearers[caller]}"} if caller else {}
        assert _seen(await fast.get(path, headers=headers)) == _seen(
            await routed.get(path, headers=headers)
        )

    @pytest.mark.parametrize(
        "headers",
        [
            {"Authorization": "Basic abc"},
            {"Authorization": "Bearer "},
            {"Origin": "https://evil.example"},
            {"X-API-Key": "ba_not_a_key"},
        ],
    )
    async def test_odd_headers(
        self,
        clients: tuple[httpx.AsyncClient, ...],
        bearers: dict[str, str],
        headers: dict[str, str],
    ) -> None:
        fast, routed = clients
        for path in ("/api/v1/users/me", "/api/v1/users"):
            sent = {"Authorization": f"Bearer {bearers['admin']}", **headers}
            assert _seen(await fast.get(path, headers=sent)) == _seen(
                await routed.get(path, headers=sent)
            )


class TestTheFastPathAnswers:
    """With the routed handlers broken, what the fast path answers still works."""

    @pytest.fixture
    async def broken_app(self, app_factory: AppFactory) -> FastAPI:
        app = await app_factory()

        async def unreachable() -> None:
            raise AssertionError("the routed handler was reached")

        app.dependency_overrides[get_user_service] = unreachable
        app.dependency_overrides[get_current_user] = unreachable
        return app

    @pytest.fixture
    async def broken_routes(self, broken_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
        async with await _client(broken_app) as client:
            yield client

    async def test_plain_requests_never_reach_the_routes(
        self, broken_routes: httpx.AsyncClient, bearers: dict[str, str]
    ) -> None:
        headers = {"Authorization": f"Bearer {bearers['admin']}"}
        me = await broken_routes.get("/api/v1/users/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["email"] == "root@example.com"
        found = await broken_routes.get(
            "/api/v1/users", params={"search": "math", "sortBy": "name"}, headers=headers
        )
        assert found.status_code == 200
        assert [user["name"] for user in found.json()["users"]] == ["Ada Lovelace", "Alan Turing"]
        refused = await broken_routes.get(
            "/api/v1/users",
            params={"filterField": "createdAt", "filterValue": "yesterday"},
            headers=headers,
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "INVALID_FILTER"

    async def test_behind_a_root_path(self, broken_app: FastAPI, bearers: dict[str, str]) -> None:
        """Behind a proxy's prefix (``--root-path /svc``) the paths start with it."""
        async with await _client(broken_app, root_path="/svc") as client:
            me = await client.get(
                "/svc/api/v1/users/me", headers={"Authorization": f"Bearer {bearers['ada']}"}
            )
        assert me.status_code == 200
        assert me.json()["email"] == "ada@math.example.org"

    async def test_the_rest_does(
        self, broken_routes: httpx.AsyncClient, bearers: dict[str, str]
    ) -> None:
        headers = {"Authorization": f"Bearer {bearers['admin']}"}
        # A repeated parameter is the route's to read: it reaches the (broken) handler.
        response = await broken_routes.get("/api/v1/users?search=a&search=b", headers=headers)
        assert response.status_code == 500
        assert response.json()["code"] == "INTERNAL_ERROR"
