"""What a handler's dependencies cost: CPU time per request of the app called in-process (ASGI,
no network: uvicorn's own share is left out), each row the handler of ``bench.own_app`` with one
more thing declared. Real credentials: a seeded database on PostgreSQL and JWTs from the bundled
Better-Auth server, both cached after the first request as in a running API.

Every row is measured in rounds, interleaved with the others, and the lowest CPU time per
request of its rounds is kept: on a shared machine another process can only add to a round.
Writes ``docs/benchmarks/endpoint-costs.md``; the guide ``docs/guides/endpoint-costs.md``
includes its table.

    make bench-costs            (PostgreSQL at 127.0.0.1:5432; about 2 min)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import fastapi
from fastapi import APIRouter, Depends, FastAPI

from app.config import get_settings
from app.main import API_PREFIX
from app.routers.deps import AppStateDep, CurrentUser, DbSession, require_permission
from app.services.auth.snapshots import UserSnapshot
from bench.peers.bare_own import app as bare_app
from bench.report import _cpu_model
from bench.stack import Stack, sign_session_token

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "benchmarks" / "endpoint-costs.md"
ITEMS = [1, 2, 3]
CanListUsers = Annotated[UserSnapshot, Depends(require_permission({"user": ["list"]}))]
Message = dict[str, Any]


@dataclass(frozen=True)
class Row:
    label: str
    path: str
    credential: str | None  # "jwt", "session", "admin"
    note: str
    bare: bool = False


ROWS = (
    Row("a bare FastAPI app (the ceiling)", "/api/v1/own/open", None, "", bare=True),
    Row(
        "added to this app, no dependency",
        "/api/v1/own/open",
        None,
        "request id, headers, limits, metrics, route lookup",
    ),
    Row(
        "`state: AppStateDep` (an `async def` dependency of the request alone)",
        "/api/v1/cost/state",
        None,
        "a step of the route's plan: called directly",
    ),
    Row("`user: CurrentUser` (a cached JWT)", "/api/v1/own/user", "jwt", "the authentication"),
    Row(
        "`user: CurrentUser` (a cached session token)",
        "/api/v1/own/user",
        "session",
        "the authentication",
    ),
    Row(
        '`require_permission({"user": ["list"]})`',
        "/api/v1/own/permitted",
        "admin",
        "the authentication and the check",
    ),
    Row(
        "`user: CurrentUser` **and** `require_permission(...)`",
        "/api/v1/cost/both",
        "admin",
        "the authentication still runs once",
    ),
    Row(
        "`user: CurrentUser, page: int = 1` (a query parameter)",
        "/api/v1/cost/query?page=2",
        "jwt",
        "the query string parsed, the value validated",
    ),
    Row(
        "`user: CurrentUser` and a dependency with a parameter",
        "/api/v1/cost/solved?page=2",
        "jwt",
        "FastAPI solves that dependency",
    ),
    Row(
        "a generator dependency (`yield`), even an empty one",
        "/api/v1/cost/generator",
        None,
        "FastAPI's exit stack around it",
    ),
    Row(
        "`user: CurrentUser, db: DbSession` (the session never used)",
        "/api/v1/cost/db",
        "jwt",
        "the request's database session",
    ),
    Row(
        "a plain `def` dependency instead of `async def`",
        "/api/v1/cost/sync-dependency",
        None,
        "FastAPI runs it in a thread pool",
    ),
    Row(
        "a plain `def` handler instead of `async def`",
        "/api/v1/cost/sync-handler",
        None,
        "the thread pool again",
    ),
)


async def empty_generator() -> AsyncIterator[None]:
    yield


def plain_dependency() -> int:
    return 1


async def page_of(page: int = 1) -> int:
    return page


def cost_router() -> APIRouter:
    """The rows' handlers that ``bench.own_app`` does not have."""
    router = APIRouter()

    @router.get("/cost/state")
    async def with_state(state: AppStateDep) -> dict[str, Any]:
        return {"id": "anonymous", "items": ITEMS}

    @router.get("/cost/both")
    async def with_both(user: CurrentUser, admin: CanListUsers) -> dict[str, Any]:
        return {"id": user.id, "items": ITEMS}

    @router.get("/cost/query")
    async def with_query(user: CurrentUser, page: int = 1) -> dict[str, Any]:
        return {"id": user.id, "items": ITEMS}

    @router.get("/cost/solved")
    async def with_solved(
        user: CurrentUser, page: Annotated[int, Depends(page_of)]
    ) -> dict[str, Any]:
        return {"id": user.id, "items": ITEMS}

    @router.get("/cost/generator")
    async def with_generator(_: Annotated[None, Depends(empty_generator)]) -> dict[str, Any]:
        return {"id": "anonymous", "items": ITEMS}

    @router.get("/cost/db")
    async def with_db(user: CurrentUser, db: DbSession) -> dict[str, Any]:
        return {"id": user.id, "items": ITEMS}

    @router.get("/cost/sync-dependency")
    async def with_sync_dependency(_: Annotated[int, Depends(plain_dependency)]) -> dict[str, Any]:
        return {"id": "anonymous", "items": ITEMS}

    @router.get("/cost/sync-handler")
    def sync_handler() -> dict[str, Any]:
        return {"id": "anonymous", "items": ITEMS}

    return router


def _scope(app: FastAPI, target: str, credential: str | None) -> dict[str, Any]:
    path, _, query = target.partition("?")
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")]
    if credential is not None:
        headers.append((b"authorization", f"Bearer {credential}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }


async def _requests(app: Callable[..., Awaitable[None]], scope: dict[str, Any], count: int) -> int:
    """``count`` requests; the status of the last (every one must be 200)."""
    request: Message = {"type": "http.request", "body": b"", "more_body": False}
    statuses: list[int] = []
    body = b""

    async def receive() -> Message:
        return request

    async def send(message: Message) -> None:
        nonlocal body
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")

    for _ in range(count):
        await app(dict(scope), receive, send)
    if set(statuses) != {200}:
        raise RuntimeError(f"{scope['path']}: statuses {sorted(set(statuses))}: {body[:300]!r}")
    return statuses[-1]


async def measure(
    apps: dict[bool, Any], credentials: dict[str, str], *, requests: int, rounds: int
) -> dict[Row, float]:
    """CPU µs per request of each row: the lowest of ``rounds`` interleaved rounds."""
    scopes = {
        row: _scope(apps[row.bare], row.path, credentials.get(row.credential or "")) for row in ROWS
    }
    for row in ROWS:  # warm: caches filled, plans and routes indexed
        await _requests(apps[row.bare], scopes[row], 200)
    best = dict.fromkeys(ROWS, float("inf"))
    for _ in range(rounds):
        for row in ROWS:
            started = time.process_time()
            await _requests(apps[row.bare], scopes[row], requests)
            per_request = (time.process_time() - started) / requests * 1e6
            best[row] = min(best[row], per_request)
    return best


def table(costs: dict[Row, float]) -> str:
    bare = next(cost for row, cost in costs.items() if row.bare)
    lines = [
        '| the handler (`return {"id": ..., "items": [1, 2, 3]}`) | CPU per request | '
        "over the bare app | what it pays for |",
        "|---|---:|---:|---|",
    ]
    for row, cost in costs.items():
        over = "" if row.bare else f"{cost - bare:+.0f} µs"
        lines.append(f"| {row.label} | {cost:.0f} µs | {over} | {row.note} |")
    return "\n".join(lines)


def write_report(costs: dict[Row, float], *, requests: int, rounds: int, path: Path) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    document = f"""# What each dependency costs

CPU time per request of one process, the app called in-process (the ASGI app awaited in a loop:
no network, no uvicorn, which adds some 30 µs to every request whatever the app), each row the
same handler with one more thing declared. Measured {when} by `make bench-costs`
(`backend/bench/endpoint_costs.py`): {requests:,} requests per round, {rounds} rounds
interleaved, the lowest round kept; Python {platform.python_version()}, FastAPI
{fastapi.__version__}, {_cpu_model()}. Credentials are real (a JWT from the bundled Better-Auth
server, a seeded session) and cached, as after a caller's first request. A negative "over the
bare app" is no mistake: the bare app pays FastAPI's own routing and dependency walk on every
request, which this app replaces with its route index and dependency plans.

<!-- --8<-- [start:table] -->
{table(costs)}
<!-- --8<-- [end:table] -->

What to make of it, and what to avoid: [What your endpoint costs](../guides/endpoint-costs.md).
The same handlers under load against a bare FastAPI app: [Your own endpoint](own-endpoint.md).
"""
    path.write_text(document)
    return document


async def _run(stack: Stack, *, requests: int, rounds: int) -> dict[Row, float]:
    # Builds the API at import, from the settings in the environment (set by main).
    from bench.own_app import build  # noqa: PLC0415

    users = stack.sample()
    admin = stack.admin
    assert admin is not None
    jwt, admin_jwt = await asyncio.to_thread(stack.fetch_jwts, [users[0], admin])
    credentials = {
        "jwt": jwt,
        "admin": admin_jwt,
        "session": sign_session_token(users[1].session_token, stack.secret),
    }
    app = build()
    app.include_router(cost_router(), prefix=API_PREFIX)
    async with app.router.lifespan_context(app):
        return await measure(
            {False: app, True: bare_app}, credentials, requests=requests, rounds=rounds
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3_000, help="per round (3000)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    stack = Stack(admin_url=args.admin_url, work_dir=Path(tempfile.mkdtemp()), token_count=2)
    try:
        stack.create_database()
        stack.migrate()
        stack.seed(10)
        stack.start_auth()
        settings = stack._api_settings() | {
            "DATABASE_URL": stack.url.replace("postgresql://", "postgresql+asyncpg://", 1)
        }
        os.environ.update(settings)
        get_settings.cache_clear()  # importing app.main built the default app from the defaults
        costs = asyncio.run(_run(stack, requests=args.requests, rounds=args.rounds))
    finally:
        stack.close()
    print(table(costs))  # noqa: T201
    write_report(costs, requests=args.requests, rounds=args.rounds, path=args.out)


if __name__ == "__main__":
    main()
