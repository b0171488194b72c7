"""The composition root's counters, exposed on ``/metrics`` (see ``app.state``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from app.services.auth.token_cache import CachedTokenVerifier
from app.services.platform.metrics import (
    PUBLISH_INTERVAL_SECONDS,
    MetricSources,
    Publisher,
    StateCollector,
)
from app.state import AppState
from app.utils.metrics import Metrics


def metric_sources(state: AppState) -> MetricSources:
    verifier = state.verifier
    return MetricSources(
        identity_cache=state.identity_cache,
        key_cache=state.key_cache,
        rate_limiter=state.rate_limiter,
        token_cache=verifier if isinstance(verifier, CachedTokenVerifier) else None,
        principal_memo=state.principal_memo,
        listener=state.listener,
        pool=state.engine.pool,
    )


def start_state_metrics(metrics: Metrics, state: AppState) -> Callable[[], Awaitable[None]]:
    """Expose the services' counters on ``metrics``; returns the function that stops it.

    Single process: a collector reads them at scrape time. Multiprocess mode: a task copies
    them into the shared files every few seconds, and the scraped worker just before answering.
    The request counts (``Metrics.flush``) follow the same rhythm, and a last time on stop.
    """
    sources = metric_sources(state)
    if not metrics.multiprocess:
        collector = StateCollector(sources)
        metrics.register(collector)

        async def unregister() -> None:
            metrics.flush()
            metrics.unregister(collector)

        return unregister

    publisher = Publisher(sources)
    metrics.before_scrape(publisher.publish)

    async def publish_forever() -> None:
        while True:
            publisher.publish()
            metrics.flush()
            await asyncio.sleep(PUBLISH_INTERVAL_SECONDS)

    task = asyncio.create_task(publish_forever(), name="metrics-publisher")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        metrics.flush()
        metrics.process_exited()

    return stop
