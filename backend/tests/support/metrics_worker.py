"""One "worker" of the multiprocess metrics test: the real app in this process, with
``PROMETHEUS_MULTIPROC_DIR`` set before prometheus-client is imported, serves N requests through
its lifespan; with ``--scrape`` it then prints what ``/metrics`` answers.

python -m tests.support.metrics_worker DATABASE_URL REQUESTS [--scrape] [--beats N]

``--beats N`` (PostgreSQL): the identity cache and its invalidation listener on, heartbeats every
0.1 s, and the worker waits until its listener has proven N of them before it scrapes or exits.
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx

from app.config import Settings
from app.main import create_app

BEAT_DEADLINE_SECONDS = 30.0


async def serve(database_url: str, requests: int, scrape: bool, beats: int) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        log_level="WARNING",
        log_format="console",
        better_auth_url="http://127.0.0.1:9",
        jwks_fetch_timeout_seconds=0.2,
        rate_limit_enabled=False,
        identity_cache_enabled=beats > 0,
        identity_feed_heartbeat_seconds=0.1,
    )
    assert settings.prometheus_multiproc_dir, "PROMETHEUS_MULTIPROC_DIR is not set"
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://worker") as client,
    ):
        for _ in range(requests):
            assert (await client.get("/health/live")).status_code == 200
        if beats:
            listener = app.state.services.listener
            deadline = time.monotonic() + BEAT_DEADLINE_SECONDS
            while listener.heartbeats < beats:
                assert time.monotonic() < deadline, f"{listener.heartbeats} heartbeats only"
                await asyncio.sleep(0.02)
        if scrape:
            sys.stdout.write((await client.get("/metrics")).text)


if __name__ == "__main__":
    flags = sys.argv[3:]
    beats = int(flags[flags.index("--beats") + 1]) if "--beats" in flags else 0
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), "--scrape" in flags, beats))
