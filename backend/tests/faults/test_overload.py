"""Overload on the real PostgreSQL: the FIFO gate in front of a pool of one or two connections.

More requests than connections queue in arrival order; one that waits longer than
``DATABASE_QUEUE_TIMEOUT_SECONDS`` is answered 503 ``DATABASE_UNAVAILABLE`` with
``Retry-After``; a cancelled waiter leaks no slot; and readiness calls a saturated pool that
keeps working busy, not unavailable. Order is observed through the gate's queue (each waiter is
known to be queued before the next arrives), never through timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import Settings
from app.database import create_engine
from app.pool import GatedPool
from app.utils.errors import DatabaseQueueTimeout
from tests.conftest import make_settings
from tests.faults.conftest import AppBuilder, Seeded, asgi_client, eventually
from tests.faults.test_database import NO_CACHES, assert_database_unavailable


def gate_of(engine: AsyncEngine) -> GatedPool:
    pool = engine.pool
    assert isinstance(pool, GatedPool)
    return pool


async def queued(engine: AsyncEngine, count: int) -> None:
    gate = gate_of(engine).gate

    async def waiting() -> int:
        return gate.waiting

    assert await eventually(waiting, lambda n: n >= count, within=10, interval=0.001) == count


def gated_engine(database_url: str, size: int, overflow: int, **overrides: object) -> AsyncEngine:
    return create_engine(
        make_settings(
            database_url,
            database_pool_size=size,
            database_max_overflow=overflow,
            **overrides,
        )
    )


@pytest.fixture
async def small_engine(settings: Settings, postgres: None) -> AsyncIterator[AsyncEngine]:
    """Two connections (one pooled, one overflow); queue bound long enough never to matter."""
    engine = gated_engine(settings.database_url, 1, 1, database_queue_timeout_seconds=30)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def one_connection(settings: Settings, postgres: None) -> AsyncIterator[AsyncEngine]:
    """One connection: whoever holds it finishes before the next starts, so the order in which
    connections are handed out is the order in which the work happens."""
    engine = gated_engine(settings.database_url, 1, 0, database_queue_timeout_seconds=30)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_waiters_get_connections_in_arrival_order(one_connection: AsyncEngine) -> None:
    admitted: list[int] = []

    async def query(n: int) -> None:
        async with one_connection.connect() as connection:
            admitted.append(n)
            await connection.execute(text("SELECT 1"))

    holder = await one_connection.connect()
    tasks = []
    for n in range(8):
        tasks.append(asyncio.create_task(query(n)))
        await queued(one_connection, n + 1)
    await holder.close()
    await asyncio.gather(*tasks)

    assert admitted == list(range(8))
    pool = gate_of(one_connection)
    assert (pool.gate.in_use, pool.gate.waiting, pool.checkedout()) == (0, 0, 0)


async def test_cancelled_waiter_leaks_no_slot(small_engine: AsyncEngine) -> None:
    async def connect() -> AsyncConnection:
        return await small_engine.connect()

    holders = [await small_engine.connect() for _ in range(2)]
    cancelled = asyncio.create_task(connect())
    await queued(small_engine, 1)
    behind = asyncio.create_task(connect())
    await queued(small_engine, 2)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await holders[0].close()
    connection: AsyncConnection = await asyncio.wait_for(behind, 10)
    await connection.close()
    await holders[1].close()

    pool = gate_of(small_engine)
    assert (pool.gate.in_use, pool.gate.waiting, pool.checkedout()) == (0, 0, 0)
    # Both connections can still be taken at once: no slot went missing.
    both = [await asyncio.wait_for(small_engine.connect(), 10) for _ in range(2)]
    for connection in both:
        await connection.close()


async def test_failed_checkout_gives_its_slot_back(settings: Settings, postgres: None) -> None:
    closed_port = make_url(settings.database_url).set(port=1)
    engine = gated_engine(closed_port.render_as_string(hide_password=False), 1, 0)
    try:
        for _ in range(2):  # the second would queue forever if the first had kept its slot
            with pytest.raises(OSError):
                await asyncio.wait_for(engine.connect(), 10)
        assert gate_of(engine).gate.in_use == 0
    finally:
        await engine.dispose()


async def test_queue_timeout_answers_503_with_retry_after(
    settings: Settings, real_app: AppBuilder, seeded: Seeded, postgres: None
) -> None:
    engine = gated_engine(settings.database_url, 1, 0, database_queue_timeout_seconds=0.2)
    app, _state = real_app(app_engine=engine, **NO_CACHES)
    _admin, tokens = await seeded.user(role="admin", sessions=1)
    auth = {"Authorization": f"Bearer {tokens[0]}"}
    try:
        async with asgi_client(app) as client:
            assert (await client.get("/api/v1/users", headers=auth)).status_code == 200
            holder = await engine.connect()  # the only connection, just after real work
            try:
                response = await client.get("/api/v1/users", headers=auth)
                assert_database_unavailable(response)
                assert "busy" in response.json()["detail"]
                assert gate_of(engine).gate.timeouts == 1

                # Busy, not dead: connections came back alive a moment ago.
                ready = await client.get("/health/ready")
                assert ready.status_code == 200, ready.text
                database = ready.json()["checks"]["database"]
                assert database["status"] == "ok"
                assert database["info"]["state"] == "busy"
            finally:
                await holder.close()
            assert (await client.get("/api/v1/users", headers=auth)).status_code == 200
        async with engine.connect():
            with pytest.raises(DatabaseQueueTimeout):
                await asyncio.wait_for(engine.connect(), 5)
    finally:
        await engine.dispose()


async def test_overflow_connection_is_handed_on_while_others_wait(
    small_engine: AsyncEngine,
) -> None:
    """Under load the overflow connection goes to the next waiter instead of being closed and
    reopened (a new PostgreSQL backend per request); once nobody waits it is closed, as
    QueuePool closes it, leaving ``pool_size`` idle."""
    opened: list[object] = []
    event.listen(small_engine.sync_engine, "connect", lambda dbapi, record: opened.append(record))
    pool = gate_of(small_engine)

    async def backend_pid(connection: AsyncConnection) -> int:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    holders = [await small_engine.connect() for _ in range(2)]  # the pooled one and the overflow
    pids = {await backend_pid(holder) for holder in holders}
    assert len(opened) == 2

    async def connect() -> AsyncConnection:
        return await small_engine.connect()

    waiters = [asyncio.create_task(connect()) for _ in range(2)]
    await queued(small_engine, 2)
    for holder in holders:
        await holder.close()
    handed = [await asyncio.wait_for(waiter, 10) for waiter in waiters]
    assert {await backend_pid(connection) for connection in handed} == pids
    assert len(opened) == 2  # nothing was reopened
    for connection in handed:
        await connection.close()
    # Nobody waits now: one idle (the pool size), the overflow closed.
    assert (pool.checkedin(), pool.overflow(), pool.gate.in_use) == (1, 0, 0)


async def test_a_recreated_pool_keeps_the_gate_and_the_sizes(small_engine: AsyncEngine) -> None:
    """``engine.dispose()`` swaps in a new pool: same gate (slots still out stay counted), same
    pool size and overflow, so it still closes only the overflow once nobody waits."""
    before = gate_of(small_engine)
    await small_engine.dispose()
    after = gate_of(small_engine)
    assert after is not before
    assert after.gate is before.gate
    assert (after.size(), after.overflow(), after.gate.capacity) == (1, -1, 2)
    both = [await small_engine.connect() for _ in range(2)]
    assert after.overflow() == 1
    for connection in both:
        await connection.close()
    assert (after.checkedin(), after.overflow()) == (1, 0)
