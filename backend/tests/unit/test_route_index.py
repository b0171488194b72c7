"""``app.utils.route_index``: the route FastAPI's scan would choose, found without the scan.

- On the real app (every route, every method, the project's own paths and a handler added after
  them all), ``RouteIndex.choose`` picks the route a linear scan of FastAPI's routes in
  declaration order picks, and hands everything else (a wrong method, an unknown path, a mount)
  to FastAPI's router.
- On small apps served both ways, every answer is the same: overlapping routes (the first
  declared wins), path converters, router dependencies, nested routers, 405s, trailing-slash
  redirects, routes added after the first request.
- The candidates of a path do not grow with the number of routes declared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match

from app.main import API_PREFIX, create_app
from app.utils.route_index import RouteIndex, build_index, install_route_index
from tests.conftest import make_settings

_PARAMETER = re.compile(r"{[^}]+}")


def _scope(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "app": app,
    }


def _scanned(app: FastAPI, scope: dict[str, Any]) -> Any:
    """The oracle: FastAPI's routes in declaration order, the first full match."""
    for context in iter_route_contexts(list(app.router.routes)):
        match, _ = context.matches(dict(scope))
        if match is Match.FULL:
            return context.original_route
    return None


@pytest.fixture(scope="module")
def real_app() -> FastAPI:
    app = create_app(make_settings("sqlite:///unused.db"))
    own = APIRouter()

    @own.get("/own/{itemId}")
    async def own_item(itemId: str) -> dict[str, str]:
        return {"id": itemId}

    app.include_router(own, prefix=API_PREFIX)  # after every route of the project
    return app


def _requests(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(list(app.router.routes)):
        path = _PARAMETER.sub("x1", str(context.path_format))
        for method in sorted(context.methods or {"GET"}):
            found.append((method, path))
        found.append(("PUT" if "PUT" not in (context.methods or ()) else "TRACE", path))
    return [
        *found,
        ("GET", "/nowhere"),
        ("GET", "/api/v1/users/me/"),
        ("GET", "/api/v1/users/x1/sessions/x2/more"),
        ("GET", "/docs/assets/swagger-ui.css"),
        ("GET", "/"),
    ]


class TestTheRealApp:
    def test_every_request_gets_the_scans_route(self, real_app: FastAPI) -> None:
        index = install_route_index(real_app) or RouteIndex(real_app.router, real_app.router.app)
        requests = _requests(real_app)
        assert len(requests) >= 80
        for method, path in requests:
            scope = _scope(real_app, method, path)
            expected = _scanned(real_app, scope)
            chosen = index.choose(dict(scope))
            if isinstance(expected, APIRoute):
                assert chosen is not None, (method, path)
                assert chosen[0].api_route is expected, (method, path)
            else:  # FastAPI's router answers: 405, 404, a mount, a plain route
                assert chosen is None, (method, path)

    def test_the_app_installs_it(self, real_app: FastAPI) -> None:
        assert isinstance(real_app.router.middleware_stack, RouteIndex)

    def test_a_route_added_last_has_as_few_candidates_as_the_first(self, real_app: FastAPI) -> None:
        index = build_index(real_app.router)
        assert len(index.candidates("/api/v1/own/x1")) == 1
        # /users/me (GET, PATCH) and /users/{userId} (GET, PATCH, DELETE)
        assert len(index.candidates("/api/v1/users/me")) == 5
        # /users/{userId}/x: role, ban, unban, sessions (GET, DELETE), password
        assert len(index.candidates("/api/v1/users/x1/sessions")) == 6


def _overlapping_app(*, indexed: bool) -> FastAPI:
    app = FastAPI()

    async def router_dependency(request: Request) -> None:
        request.state.seen = True

    items = APIRouter(dependencies=[Depends(router_dependency)])

    @items.get("/items/{item_id}")
    async def item(item_id: str, request: Request) -> dict[str, Any]:
        return {"route": "item", "id": item_id, "seen": request.state.seen}

    @items.get("/items/special")  # declared after the parameter: never reached, as in FastAPI
    async def special() -> dict[str, str]:
        return {"route": "special"}

    @items.get("/numbers/{n:int}")
    async def number(n: int) -> dict[str, Any]:
        return {"route": "number", "n": n}

    @items.get("/numbers/{word}")
    async def word(word: str) -> dict[str, str]:
        return {"route": "word", "word": word}

    @items.post("/things/")
    async def things() -> dict[str, str]:
        return {"route": "things"}

    inner = APIRouter()

    @inner.get("/deep/{x}")
    async def deep(x: str, extra: Annotated[str, Depends(lambda: "dep")]) -> dict[str, str]:
        return {"route": "deep", "x": x, "extra": extra}

    outer = APIRouter()
    outer.include_router(inner, prefix="/inner")
    app.include_router(items, prefix="/v1")
    app.include_router(outer, prefix="/outer")

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"route": "plain"}

    if indexed:
        assert install_route_index(app) is not None
    return app


REQUESTS = [
    ("GET", "/v1/items/a"),
    ("GET", "/v1/items/special"),
    ("GET", "/v1/numbers/42"),
    ("GET", "/v1/numbers/forty-two"),
    ("POST", "/v1/things/"),
    ("POST", "/v1/things"),  # redirect to the slash
    ("GET", "/v1/things/"),  # 405
    ("DELETE", "/v1/items/a"),  # 405
    ("GET", "/outer/inner/deep/y"),
    ("GET", "/plain"),
    ("GET", "/plain/"),
    ("GET", "/missing"),
    ("GET", "/v1/items/a/b"),
]


async def _answers(app: FastAPI) -> list[tuple[int, str, str | None]]:
    transport = httpx.ASGITransport(app=app)
    answers = []
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method, path in REQUESTS:
            response = await client.request(method, path, follow_redirects=False)
            answers.append((response.status_code, response.text, response.headers.get("allow")))
    return answers


class TestSameAnswers:
    async def test_overlaps_converters_dependencies_and_errors(self) -> None:
        indexed = await _answers(_overlapping_app(indexed=True))
        scanned = await _answers(_overlapping_app(indexed=False))
        assert indexed == scanned
        assert indexed[1][1] == '{"route":"item","id":"special","seen":true}'
        assert indexed[2][1] == '{"route":"number","n":42}'

    async def test_a_route_added_after_the_first_request(self) -> None:
        app = _overlapping_app(indexed=True)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/plain")).status_code == 200

            @app.get("/later")
            async def later() -> dict[str, str]:
                return {"route": "later"}

            assert (await client.get("/later")).json() == {"route": "later"}

    def test_not_installed_over_router_middleware(self) -> None:
        app = FastAPI()
        plain: Callable[..., Any] = app.router.app

        async def router_middleware(*args: Any) -> None:
            await plain(*args)

        app.router.middleware_stack = router_middleware
        assert install_route_index(app) is None


class TestDoesNotGrow:
    def test_candidates_of_the_last_route(self) -> None:
        app = FastAPI()
        for number in range(500):
            router = APIRouter()

            async def endpoint() -> None:
                return None

            router.add_api_route(f"/r{number}/static", endpoint)
            router.add_api_route(f"/r{number}/{{item}}/more", endpoint)
            app.include_router(router, prefix="/api")
        index = build_index(app.router)
        assert len(index.candidates("/api/r0/static")) == 1
        assert len(index.candidates("/api/r499/static")) == 1
        assert len(index.candidates("/api/r499/x/more")) == 1
        assert index.candidates("/api/nothing") == ()
