"""``app.utils.dependency_plans``: the dependencies of the request alone, solved without
FastAPI's walk, with FastAPI's answers.

- The same routes served by FastAPI's solver and by the plans give the same responses and call
  the same dependencies in the same order, the same number of times: steps only, nested and
  cached steps, ``use_cache=False``, a generator or a sync dependency among them, parameters and
  their 422s, a step that refuses (before the parameters are validated, as in FastAPI), a
  ``Response`` or ``BackgroundTasks`` parameter, router and include-time dependencies, security
  schemes with scopes, a callable instance, ``HTTPConnection``.
- A dependency override always wins: FastAPI's solver runs the route.
- What is a step and what is not; the project's guards are steps.
"""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

import fastapi.routing
import httpx
import pytest
from fastapi import (
    APIRouter,
    BackgroundTasks,
    Cookie,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    Security,
)
from fastapi.dependencies.utils import get_dependant
from fastapi.requests import HTTPConnection
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPBearer, SecurityScopes
from pydantic import BaseModel

from app.main import create_app
from app.routers import deps
from app.utils.dependency_plans import plan_for, solve_with_plan, step_of
from app.utils.route_index import install_route_index
from tests.conftest import make_settings

Log = list[str]


def _build(log: Log, *, planned: bool) -> FastAPI:
    """Every shape of dependency around steps. ``log`` records each call, in order."""
    app = FastAPI()

    async def first(request: Request) -> str:
        log.append("first")
        return "first"

    async def second(request: Request, before: Annotated[str, Depends(first)]) -> str:
        log.append("second")
        return f"second<{before}>"

    async def uncached(request: Request) -> int:
        log.append("uncached")
        return len(log)

    async def refuse(request: Request) -> None:
        log.append("refuse")
        if request.headers.get("x-refuse"):
            raise HTTPException(status_code=401, detail="refused", headers={"X": "1"})

    async def generator(request: Request) -> AsyncIterator[str]:
        log.append("generator-enter")
        yield "generated"
        log.append("generator-exit")

    def sync(request: Request) -> str:
        log.append("sync")
        return "sync"

    async def connection(conn: HTTPConnection) -> str:
        log.append("connection")
        return conn.url.path

    class Instance:
        async def __call__(self, request: Request) -> str:
            log.append("instance")
            return "instance"

    bearer = HTTPBearer(auto_error=False)

    async def scoped(scopes: SecurityScopes, credentials: Annotated[Any, Depends(bearer)]) -> str:
        log.append("scoped")
        return " ".join(scopes.scopes) + ("+" if credentials else "-")

    First = Annotated[str, Depends(first)]
    Second = Annotated[str, Depends(second)]
    Uncached = Annotated[int, Depends(uncached, use_cache=False)]

    @app.get("/steps")
    async def steps(a: First, b: Second, c: Uncached, d: Uncached) -> dict[str, Any]:
        return {"a": a, "b": b, "fresh": c != d}

    @app.get("/generator-between")
    async def generator_between(
        a: First, g: Annotated[str, Depends(generator)], b: Second
    ) -> dict[str, Any]:
        log.append("endpoint")
        return {"a": a, "g": g, "b": b}

    @app.get("/sync-first")
    async def sync_first(s: Annotated[str, Depends(sync)], a: First) -> dict[str, Any]:
        return {"s": s, "a": a}

    @app.get("/params/{item_id}", dependencies=[Depends(refuse)])
    async def params(
        item_id: int, a: First, size: Annotated[int, Query(ge=1)] = 10
    ) -> dict[str, Any]:
        return {"item_id": item_id, "a": a, "size": size}

    @app.get("/headers/{kind}")
    async def with_headers(
        kind: Literal["a", "b"],
        a: First,
        x_count: Annotated[int, Header()],
        session: Annotated[str | None, Cookie()] = None,
        tags: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        return {"kind": kind, "a": a, "count": x_count, "session": session, "tags": tags}

    class Filters(BaseModel):
        limit: int = 10
        tag: str | None = None

    @app.get("/aliases")
    async def with_aliases(
        a: First,
        page_size: Annotated[int, Query(alias="page-size")] = 5,
        q: Annotated[str | None, Query(max_length=3)] = None,
        when: Annotated[float, Query(gt=0)] = 1.5,
    ) -> dict[str, Any]:
        return {"a": a, "page_size": page_size, "q": q, "when": when}

    @app.get("/model")
    async def with_model(a: First, filters: Annotated[Filters, Query()]) -> dict[str, Any]:
        return {"a": a, **filters.model_dump()}

    @app.get("/response")
    async def with_response(a: First, response: Response, tasks: BackgroundTasks) -> dict[str, Any]:
        response.headers["x-set"] = a
        response.status_code = 203
        tasks.add_task(log.append, "task")
        return {"a": a}

    @app.get("/connection")
    async def with_connection(
        c: Annotated[str, Depends(connection)], i: Annotated[str, Depends(Instance())]
    ) -> dict[str, str]:
        return {"c": c, "i": i}

    @app.get("/security")
    async def security(
        a: Annotated[str, Security(scoped, scopes=["read"])],
        b: Annotated[str, Security(scoped, scopes=["write"])],
    ) -> dict[str, str]:
        return {"a": a, "b": b}

    @app.get("/request-only")
    async def request_only(request: Request, a: First) -> dict[str, str]:
        return {"path": request.url.path, "a": a}

    router = APIRouter(dependencies=[Depends(refuse)])

    @router.get("/included")
    async def included(b: Second) -> dict[str, str]:
        return {"b": b}

    app.include_router(router, prefix="/r", dependencies=[Depends(first)])
    if planned:
        assert install_route_index(app) is not None
    return app


REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("/steps", {}),
    ("/generator-between", {}),
    ("/sync-first", {}),
    ("/params/7?size=3", {}),
    ("/params/seven?size=0", {}),
    ("/params/seven?size=0", {"x-refuse": "1"}),
    ("/response", {}),
    ("/headers/a?tags=x&tags=y", {"x-count": "3", "cookie": "session=abc"}),
    ("/headers/c?tags=x", {"x-count": "three"}),
    ("/headers/b", {}),
    ("/aliases?page-size=7&q=abc&when=2", {}),
    ("/aliases", {}),
    ("/aliases?page_size=7&q=abcd&when=-1", {}),
    ("/model?limit=3&tag=x", {}),
    ("/model?limit=x", {}),
    ("/connection", {}),
    ("/security", {}),
    ("/security", {"authorization": "Bearer abc"}),
    ("/request-only", {}),
    ("/r/included", {}),
    ("/r/included", {"x-refuse": "1"}),
]


async def _served(build: Callable[[Log], FastAPI]) -> list[tuple[Any, ...]]:
    answers: list[tuple[Any, ...]] = []
    for path, headers in REQUESTS:
        log: Log = []
        app = build(log)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(path, headers=headers)
        answers.append(
            (path, headers, response.status_code, response.text, response.headers.get("x-set"), log)
        )
    return answers


async def test_same_answers_and_calls_as_fastapis_solver() -> None:
    planned = await _served(lambda log: _build(log, planned=True))
    walked = await _served(lambda log: _build(log, planned=False))
    assert planned == walked
    by_path = {(a[0], bool(a[1])): a for a in planned}
    assert by_path[("/steps", False)][3] == '{"a":"first","b":"second<first>","fresh":true}'
    assert by_path[("/steps", False)][5] == ["first", "second", "uncached", "uncached"]
    assert by_path[("/generator-between", False)][5] == [
        "first",
        "generator-enter",
        "second",
        "endpoint",
        "generator-exit",
    ]
    assert by_path[("/params/seven?size=0", False)][2] == 422
    assert by_path[("/params/seven?size=0", True)][2] == 401  # dependencies before parameters
    assert by_path[("/response", False)][2:5] == (203, '{"a":"first"}', "first")
    assert by_path[("/response", False)][5] == ["first", "task"]
    assert by_path[("/security", True)][3] == '{"a":"read+","b":"write+"}'
    assert by_path[("/headers/a?tags=x&tags=y", True)][3] == (
        '{"kind":"a","a":"first","count":3,"session":"abc","tags":["x","y"]}'
    )
    assert by_path[("/headers/c?tags=x", True)][2] == 422
    assert by_path[("/aliases?page-size=7&q=abc&when=2", False)][3] == (
        '{"a":"first","page_size":7,"q":"abc","when":2.0}'
    )
    assert by_path[("/aliases?page_size=7&q=abcd&when=-1", False)][2] == 422
    assert by_path[("/model?limit=3&tag=x", False)][3] == '{"a":"first","limit":3,"tag":"x"}'


def _route(app: FastAPI, path: str) -> APIRoute:
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path == path:
            return route
    raise AssertionError(path)


def test_what_is_planned() -> None:
    app = _build([], planned=False)
    steps = plan_for(_route(app, "/steps").dependant)
    assert steps is not None
    assert steps.rest is None
    assert len(steps.steps) == 4
    assert steps.steps[1].steps[0].call is steps.steps[0].call  # second's own dependency
    between = plan_for(_route(app, "/generator-between").dependant)
    assert between is not None
    assert len(between.steps) == 1
    assert between.rest is not None
    assert len(between.rest.dependencies) == 2
    assert plan_for(_route(app, "/sync-first").dependant) is None  # nothing to save
    params = plan_for(_route(app, "/params/{item_id}").dependant)
    assert params is not None
    assert len(params.steps) == 2
    assert params.rest is None  # its parameters are read by the plan
    headers = plan_for(_route(app, "/headers/{kind}").dependant)
    assert headers is not None
    # path, query (a list: FastAPI's own reading), header, cookie
    assert [kind.plain is None for kind in headers.parameters] == [False, True, False, False]
    model = plan_for(_route(app, "/model").dependant)
    assert model is not None
    assert [kind.plain is None for kind in model.parameters] == [True]
    response = plan_for(_route(app, "/response").dependant)
    assert response is not None
    assert response.rest is not None
    connection = plan_for(_route(app, "/connection").dependant)
    assert connection is not None
    assert connection.rest is None
    security = plan_for(_route(app, "/security").dependant)
    assert security is None  # SecurityScopes: FastAPI's
    request_only = plan_for(_route(app, "/request-only").dependant)
    assert request_only is not None
    assert request_only.request_names == ("request",)


def test_steps_are_async_dependencies_of_the_request_alone() -> None:
    async def of_request(request: Request) -> None: ...

    async def of_query(request: Request, q: str) -> None: ...

    def plain(request: Request) -> None: ...

    async def generator(request: Request) -> AsyncIterator[None]:
        yield None

    def dependant(call: Callable[..., Any]) -> Any:
        return get_dependant(path="/", call=call, name="x")

    assert step_of(dependant(of_request)) is not None
    assert step_of(dependant(of_query)) is None
    assert step_of(dependant(plain)) is None
    assert step_of(dependant(generator)) is None


async def test_an_override_always_wins() -> None:
    log: Log = []
    app = _build(log, planned=True)

    async def replaced(request: Request) -> str:
        return "replaced"

    first = _route(app, "/steps").dependant.dependencies[0].call
    assert first is not None
    app.dependency_overrides[first] = replaced
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = (await client.get("/steps")).json()
    assert answer == {"a": "replaced", "b": "second<replaced>", "fresh": True}


def test_the_projects_guards_are_steps() -> None:
    app = create_app(make_settings("sqlite:///unused.db"))
    assert fastapi.routing.solve_dependencies is solve_with_plan
    guards = [
        deps.get_current_user,
        deps.get_principal,
        deps.require_admin,
        deps.require_permission({"user": ["list"]}),
        deps.require_role("admin"),
        deps.rate_limit_user,
        deps.get_audit_context,
    ]
    for guard in guards:
        assert step_of(get_dependant(path="/", call=guard, name="x")) is not None, guard
    # Every route of the project that authenticates does it in a step of its plan, but those
    # whose first check needs a path parameter (FastAPI solves it, and what follows it).
    needs_the_path = {"_may_revoke"}
    authenticating = 0
    for context in iter_route_contexts(list(app.router.routes)):
        dependant = getattr(context, "dependant", None)
        if dependant is None or not any(
            deps.is_authenticator(sub.call) for sub in dependant.dependencies
        ):
            continue
        if getattr(dependant.dependencies[0].call, "__name__", None) in needs_the_path:
            continue
        authenticating += 1
        plan = plan_for(dependant)
        assert plan is not None, context.path_format
        assert plan.steps, context.path_format
    assert authenticating >= 20


@pytest.mark.parametrize("path", ["/steps", "/r/included", "/params/7?size=3"])
async def test_a_plan_is_used(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planned routes do not reach FastAPI's solver for their steps (counted)."""
    import app.utils.dependency_plans as plans

    solved: list[Any] = []
    original = plans.fastapi_solve_dependencies

    async def counting(**kwargs: Any) -> Any:
        solved.append(kwargs["dependant"])
        return await original(**kwargs)

    monkeypatch.setattr(plans, "fastapi_solve_dependencies", counting)
    app = _build([], planned=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get(path)).status_code == 200
    assert solved == []


def test_the_blank_response_is_fastapis() -> None:
    from app.utils.dependency_plans import _blank_response

    fastapis = Response()
    del fastapis.headers["content-length"]
    fastapis.status_code = None  # type: ignore[assignment]
    ours = _blank_response()
    assert (ours.status_code, ours.background, ours.body, ours.raw_headers) == (
        fastapis.status_code,
        fastapis.background,
        fastapis.body,
        fastapis.raw_headers,
    )
    ours.headers["x-set"] = "1"
    assert ours.raw_headers == [(b"x-set", b"1")]
