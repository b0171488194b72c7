"""``app.utils.warmup``: what the first request would build is built before ``gc.freeze()``.

Measured as the lifespan uses it: warm up, collect, freeze, then count the collector-tracked
objects the first real request leaves behind (each is walked again by every full collection).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.utils.warmup import warm_up
from tests.conftest import AppFactory

# Without the warm-up, FastAPI's route contexts and dependency graphs alone are some ten
# thousand objects (SQLAlchemy's mappers, configured once per process, add a few thousand).
LEFT_BEHIND_AT_MOST = 4_000


@pytest.fixture
def frozen() -> Iterator[None]:
    yield
    gc.unfreeze()


async def _left_behind_by_first_request(app: FastAPI, *, warm: bool) -> int:
    if warm:
        await warm_up(app)
    gc.collect()
    gc.freeze()
    before = len(gc.get_objects())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/health/live")).status_code == 200
    gc.collect()
    return len(gc.get_objects()) - before


async def test_first_request_leaves_little_behind(app_factory: AppFactory, frozen: None) -> None:
    left = await _left_behind_by_first_request(await app_factory(), warm=True)
    assert left < LEFT_BEHIND_AT_MOST


async def test_without_it_the_first_request_builds_much(
    app_factory: AppFactory, frozen: None
) -> None:
    left = await _left_behind_by_first_request(await app_factory(), warm=False)
    assert left > LEFT_BEHIND_AT_MOST


async def test_the_warm_up_request_is_neither_metered_nor_logged(
    app_factory: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = await app_factory()
    await warm_up(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        metrics = (await client.get("/metrics")).text
    assert 'route="/health/live"' not in metrics
    assert "/health/live" not in caplog.text
