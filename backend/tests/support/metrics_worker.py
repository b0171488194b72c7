"""One "worker" of the multiprocess metrics test: the real app in this process, with
``PROMETHEUS_MULTIPROC_DIR`` set before prometheus-client is imported, serves N requests through
its lifespan; with ``--scrape`` it then prints what ``/metrics`` answers.

python -m tests.support.metrics_worker DATABASE_URL REQUESTS [--scrape]
"""

from __future__ import annotations

import asyncio
import sys

import httpx

from app.config import Settings
from app.main import create_app


async def serve(database_url: str, requests: int, scrape: bool) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        log_level="WARNING",
        log_format="console",
        better_auth_url="http://127.0.0.1:9",
        jwks_fetch_timeout_seconds=0.2,
        rate_limit_enabled=False,
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
        if scrape:
            sys.stdout.write((await client.get("/metrics")).text)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), "--scrape" in sys.argv[3:]))
