"""Issue 22: shutdown finishes within a bound, whatever is in flight.

The hang seen twice in ``bench.memory`` (the app's lifespan never returned, after the
invalidation feed had dropped) was a swallowed cancellation. On Python 3.11,
``asyncio.wait_for(inner, timeout)`` returns ``inner``'s result when its task is cancelled in
the loop turn in which ``inner`` completes. The listener closed its old connections with
``wait_for`` before reconnecting; a shutdown (``InvalidationListener.aclose``: one
``task.cancel()``, then ``await task``) arriving as that close completed was lost, the loop
went round to reconnect, and ``await task`` waited forever.
``test_a_shutdown_as_a_reconnect_closes_its_old_connection`` makes that instant happen on
purpose (the shutdown is started from the connection's ``close`` as it returns, through
asyncpg's ``connection_class``: the one thing not real is the timing) and hangs on the old
code. The listener now stops on a flag as well, and ``stop_task`` cancels until the task ends.

The whole app is then stopped (its lifespan) with a key refresh, a listener reconnect and a
request all in flight, for real: a JWKS server that does not answer (or, with
``JWKS_SOURCE=database``, a ``jwks`` table locked by another transaction), the listener's
backend killed with ``pg_terminate_backend`` while its reconnect hangs on a black-holed address,
and a request waiting for the keys. Shutdown must end within ``SHUTDOWN_BOUND_SECONDS``, and the
request gets a 503, not a cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.database import resolve_database_target
from app.main import create_app
from app.models import Jwks
from app.services.auth.identity_cache import IdentityCache
from app.services.auth.invalidation import InvalidationListener
from app.state import AppState
from tests.conftest import TEST_AUTH_URL, make_settings
from tests.faults.conftest import Seeded, eventually
from tests.faults.tcp_proxy import TcpProxy
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, better_auth_claims, jwks, sign_token

SHUTDOWN_BOUND_SECONDS = 15.0
STALL_SECONDS = 120.0  # far longer than the bound: nothing in flight may end on its own


async def wait_until(condition: Any, within: float = 10.0) -> None:
    async def probe() -> bool:
        return bool(condition())

    assert await eventually(probe, bool, within=within), "condition not reached in time"


async def stop_for_good(task: asyncio.Task[None]) -> None:
    """Test cleanup: whatever the code under test did, no task outlives the test."""
    for _ in range(100):
        if task.done():
            return
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)


async def terminate(admin: asyncpg.Connection, pid: int | None) -> None:
    assert pid is not None
    assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)


class TestListenerShutdown:
    async def test_a_shutdown_as_a_reconnect_closes_its_old_connection(
        self, settings: Settings, engine: AsyncEngine, pg_admin: asyncpg.Connection
    ) -> None:
        listener: InvalidationListener | None = None
        shutdowns: list[asyncio.Task[None]] = []

        class ShutdownAsCloseReturns(asyncpg.Connection):  # type: ignore[misc]
            """The beat connection: once the feed has dropped, its close is the moment at
            which the app's shutdown begins."""

            async def close(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 (asyncpg's signature)
                await super().close(timeout=timeout)
                if listener is not None and not listener.connected.is_set() and not shutdowns:
                    shutdowns.append(asyncio.ensure_future(listener.aclose()))

        target = resolve_database_target(settings.database_listen_url)
        beat_target = resolve_database_target(settings.database_url)
        beat_target.connect_args["connection_class"] = ShutdownAsCloseReturns
        cache = IdentityCache(max_entries=10, fallback_ttl=1, enabled=True)
        listener = InvalidationListener(
            target, cache, beat_target=beat_target, heartbeat_seconds=0.2
        )
        listener.start()
        task = listener._task
        assert task is not None
        try:
            await asyncio.wait_for(listener.connected.wait(), timeout=10)
            await terminate(pg_admin, listener.backend_pid)  # the feed drops
            await wait_until(lambda: shutdowns)
            done, _ = await asyncio.wait(shutdowns, timeout=SHUTDOWN_BOUND_SECONDS)
            assert shutdowns[0] in done, "the listener did not stop: its cancellation was lost"
            assert task.done()
            assert listener.backend_pid is None
        finally:
            await stop_for_good(task)
            for shutdown in shutdowns:
                await stop_for_good(shutdown)


# --- the whole app ------------------------------------------------------------------------------


def through(proxy: TcpProxy, database_url: str) -> str:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


@pytest.fixture
async def proxy(settings: Settings, postgres: None) -> AsyncIterator[TcpProxy]:
    real = make_url(settings.database_url)
    relay = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    await relay.up()
    try:
        yield relay
    finally:
        await relay.down()


@pytest.fixture
def stalled_jwks(key_a: TestKey) -> Iterator[JwksServer]:
    with JwksServer(jwks(key_a)) as server:
        server.slow_seconds = STALL_SECONDS
        server.mode = "slow"
        yield server


@contextlib.asynccontextmanager
async def jwks_table_locked(
    settings: Settings, engine: AsyncEngine, key: TestKey
) -> AsyncIterator[None]:
    """The key's row in Better-Auth's table, then the table locked by another transaction: the
    database key source's SELECT waits for real."""
    public = {k: v for k, v in key.public_jwk().items() if k not in {"kid", "alg"}}
    async with AsyncSession(engine) as writer:
        writer.add(Jwks(id=key.kid, public_key=json.dumps(public), private_key="enc", alg="EdDSA"))
        await writer.commit()
    dsn = make_url(settings.database_url).set(drivername="postgresql")
    locker = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute('LOCK TABLE "jwks" IN ACCESS EXCLUSIVE MODE')
        try:
            yield
        finally:
            await lock.rollback()
            await locker.execute('DELETE FROM "jwks" WHERE id = $1', key.kid)
    finally:
        await locker.close()


def waits_in(task: asyncio.Task[Any], function: str) -> bool:
    """Whether ``task`` is suspended somewhere inside ``function`` (its coroutine chain)."""
    awaited: Any = task.get_coro()
    while awaited is not None:
        code = getattr(awaited, "cr_code", None) or getattr(awaited, "gi_code", None)
        if code is not None and code.co_name == function:
            return True
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return False


@pytest.mark.parametrize("key_source", ["http", "database"])
async def test_the_app_stops_with_everything_in_flight(
    key_source: str,
    settings: Settings,
    engine: AsyncEngine,
    seeded: Seeded,
    pg_admin: asyncpg.Connection,
    proxy: TcpProxy,
    stalled_jwks: JwksServer,
    key_a: TestKey,
) -> None:
    user, _ = await seeded.user()
    app_settings = make_settings(
        settings.database_url,
        jwks_url=stalled_jwks.url,
        jwks_source=key_source,
        jwks_fetch_timeout_seconds=30,
        identity_cache_enabled=True,
        database_listen_url=through(proxy, settings.database_url),
        identity_feed_heartbeat_seconds=0.2,
        rate_limit_enabled=False,
    )
    async with contextlib.AsyncExitStack() as stack:
        if key_source == "database":
            await stack.enter_async_context(jwks_table_locked(settings, engine, key_a))
        app = create_app(app_settings)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        stopped = False
        request: asyncio.Task[httpx.Response] | None = None
        try:
            state: AppState = app.state.services
            listener = state.listener
            assert listener is not None
            await asyncio.wait_for(listener.connected.wait(), timeout=10)
            # 1. the key refresh started at start-up is stuck (server silent / table locked)
            await wait_until(lambda: state.key_cache.fetches >= 1)
            # 2. a request waits for it
            request = asyncio.ensure_future(get_me(app, user.id, key_a))
            await wait_until(lambda: waits_in(request, "get_key"))
            # 3. the feed drops and its reconnect hangs on a black-holed address
            proxy.stalling = True
            await terminate(pg_admin, listener.backend_pid)
            await wait_until(lambda: proxy.stalled >= 1)
            assert not listener.connected.is_set()

            started = time.monotonic()
            async with asyncio.timeout(SHUTDOWN_BOUND_SECONDS):
                await lifespan.__aexit__(None, None, None)
            stopped = True
            assert time.monotonic() - started < SHUTDOWN_BOUND_SECONDS

            response = await asyncio.wait_for(request, timeout=5)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "KEY_SOURCE_UNAVAILABLE"
        finally:
            if request is not None:
                await stop_for_good(request)  # type: ignore[arg-type]
            if not stopped:
                with contextlib.suppress(BaseException):
                    async with asyncio.timeout(SHUTDOWN_BOUND_SECONDS):
                        await lifespan.__aexit__(None, None, None)


async def get_me(app: FastAPI, user_id: str, key: TestKey) -> httpx.Response:
    claims = better_auth_claims(TEST_AUTH_URL, iat=int(time.time()), user_id=user_id)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        headers = {"Authorization": f"Bearer {sign_token(key, claims)}"}
        return await client.get("/api/v1/users/me", headers=headers)
