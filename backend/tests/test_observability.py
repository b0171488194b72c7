"""Observability: ``/metrics`` (parsed with prometheus-client's own parser), its access rules,
several workers adding up (a real uvicorn with ``--workers 2``), and OpenTelemetry spans for the
request, its SQL and the JWKS fetch (captured by an in-memory exporter)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.main import create_app
from app.models import AuthSession, User
from app.state_metrics import start_state_metrics
from tests.conftest import AppFactory, make_settings
from tests.support.factories import create_session, create_user

BACKEND_DIR = Path(__file__).resolve().parents[1]


def parse(text: str) -> dict[str, list[Sample]]:
    """Samples by metric family name (``bab_http_requests`` holds ``..._total`` samples)."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(families: dict[str, list[Sample]], sample_name: str, **labels: str) -> float:
    for samples in families.values():
        for sample in samples:
            if sample.name == sample_name and labels.items() <= sample.labels.items():
                return sample.value
    raise AssertionError(f"no sample {sample_name}{labels}")


@pytest.fixture
async def metrics_app(app_factory: AppFactory) -> AsyncIterator[FastAPI]:
    app = await app_factory(
        rate_limit_enabled=True, rate_limit_per_ip="2/minute", identity_cache_enabled=True
    )
    stop = start_state_metrics(app.state.metrics, app.state.services)
    yield app
    await stop()


@pytest.fixture
async def http(metrics_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=metrics_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


class TestMetrics:
    async def test_requests_caches_keys_and_refusals_are_counted(
        self, http: httpx.AsyncClient, metrics_app: FastAPI, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session, email="metrics@example.com")
        session = await create_session(db_session, user)
        headers = {"Authorization": f"Bearer {session.token}"}
        for _ in range(3):
            assert (await http.get(f"/api/v1/users/{user.id}", headers=headers)).status_code == 200
        assert (await http.get("/nowhere")).status_code == 404
        statuses = [(await http.get("/api/v1/auth/me", headers=headers)).status_code for _ in "abc"]
        assert statuses == [200, 200, 429]

        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        families = parse(response.text)

        route = {"method": "GET", "route": "/api/v1/users/{userId}", "status": "200"}
        assert value(families, "bab_http_requests_total", **route) == 3
        assert value(families, "bab_http_request_duration_seconds_count", **route) == 3
        assert value(families, "bab_http_request_duration_seconds_bucket", le="+Inf", **route) == 3
        assert value(families, "bab_http_requests_total", route="unmatched", status="404") == 1
        assert value(families, "bab_http_requests_total", route="/api/v1/auth/me", status="429")
        # The scrape itself is not counted.
        assert not any(s.labels.get("route") == "/metrics" for s in families["bab_http_requests"])

        state = metrics_app.state.services
        identity = state.identity_cache
        assert value(families, "bab_identity_cache_hits_total") == identity.hits
        assert value(families, "bab_identity_cache_misses_total") == identity.misses
        assert identity.hits + identity.misses > 0
        assert value(families, "bab_token_cache_hits_total") == state.verifier.hits
        memo = state.principal_memo
        assert value(families, "bab_principal_cache_hits_total") == memo.hits
        assert value(families, "bab_principal_cache_misses_total") == memo.misses
        assert value(families, "bab_rate_limit_refusals_total", scope="ip") == 1
        assert value(families, "bab_jwks_fetches_total") == state.key_cache.fetches
        assert value(families, "bab_jwks_key_set_state", state="empty") == 1
        assert value(families, "bab_jwks_key_set_state", state="ok") == 0
        if state.engine.dialect.name == "postgresql":
            assert value(families, "bab_db_pool_size") >= 1
            assert value(families, "bab_db_pool_checked_out") >= 0
            assert value(families, "bab_db_queue_waiting") == 0
            assert value(families, "bab_db_queue_timeouts_total") == 0

    async def test_private_unless_allowed_or_token(self, app_factory: AppFactory) -> None:
        app = await app_factory(metrics_allowed_ips="10.0.0.0/8", metrics_token="s3cret-scrape")
        transport = httpx.ASGITransport(app=app)  # client 127.0.0.1: not in the list
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            refused = await client.get("/metrics")
            assert refused.status_code == 404
            assert refused.json()["code"] == "NOT_FOUND"
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 404
            good = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
            assert good.status_code == 200
            assert "bab_http_requests" in good.text

    async def test_switched_off(self, app_factory: AppFactory) -> None:
        app = await app_factory(metrics_enabled=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/metrics")).status_code == 404

    def test_not_in_the_contract(self, metrics_app: FastAPI) -> None:
        assert "/metrics" not in metrics_app.openapi()["paths"]


Worker = Callable[..., str]


@pytest.fixture
def multiprocess_worker(tmp_path: Path) -> Worker:
    """Runs one worker process (``tests/support/metrics_worker.py``) on a shared
    ``PROMETHEUS_MULTIPROC_DIR``; returns what it printed."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}

    def worker(database_url: str, requests: int, *flags: str) -> str:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.support.metrics_worker",
                database_url,
                str(requests),
                *flags,
            ],
            cwd=BACKEND_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        return completed.stdout

    return worker


def test_several_processes_add_up(tmp_path: Path, multiprocess_worker: Worker) -> None:
    """Multiprocess mode: two processes (as uvicorn's workers would be) share one directory; the
    second one's scrape counts the requests of both, the first one's after it exited too."""
    database_url = f"sqlite:///{tmp_path / 'metrics.db'}"
    multiprocess_worker(database_url, 5)
    families = parse(multiprocess_worker(database_url, 7, "--scrape"))
    assert value(families, "bab_http_requests_total", route="/health/live", status="200") == 12
    assert value(families, "bab_http_request_duration_seconds_count", route="/health/live") == 12
    # Live gauges: the first worker's went with it (one worker's key set is in one state).
    states = [
        sample.value
        for sample in families["bab_jwks_key_set_state"]
        if sample.name == "bab_jwks_key_set_state"
    ]
    assert sum(states) == 1


async def test_notice_lag_of_several_processes_adds_up(
    engine: AsyncEngine, settings: Settings, multiprocess_worker: Worker
) -> None:
    """The listener's notice-lag histogram in multiprocess mode: each worker observes its own
    heartbeats into the shared files, and a scrape sums them, an exited worker's too."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the invalidation feed is PostgreSQL's")
    lag = "bab_invalidation_notice_lag_seconds"  # the name operators' dashboards use
    url = settings.database_url
    await asyncio.to_thread(multiprocess_worker, url, 0, "--beats", "3")
    scraped = await asyncio.to_thread(multiprocess_worker, url, 0, "--beats", "3", "--scrape")
    families = parse(scraped)
    count = value(families, f"{lag}_count")
    assert count >= 6  # at least 3 proven beats from each worker
    assert value(families, f"{lag}_bucket", le="+Inf") == count
    assert value(families, f"{lag}_sum") > 0


class TestTracing:
    @pytest.fixture
    def exporter(self) -> Iterator[InMemorySpanExporter]:
        spans = InMemorySpanExporter()
        yield spans
        spans.shutdown()

    async def test_request_sql_and_jwks_fetch_are_spans(
        self, engine: AsyncEngine, exporter: InMemorySpanExporter
    ) -> None:
        settings = make_settings(str(engine.url.render_as_string(hide_password=False)))
        app = create_app(settings, span_exporter=exporter)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            state = app.state.services
            async with state.sessionmaker() as db:
                user = await create_user(db, email="traced@example.com")
                session = await create_session(db, user)
                await db.commit()
            try:
                response = await client.get(
                    "/api/v1/users/me", headers={"Authorization": f"Bearer {session.token}"}
                )
                assert response.status_code == 200
                # A (failing) JWKS fetch: the start-up warm-up's, or this one past the cooldown.
                await state.key_cache.refresh_if_stale(wait=2.0)
                spans = exporter.get_finished_spans()
            finally:  # committed rows: remove them for the tests that count users
                async with state.sessionmaker() as db:
                    await db.delete(await db.get(AuthSession, session.id))
                    await db.delete(await db.get(User, user.id))
                    await db.commit()
        server = [s for s in spans if s.kind is SpanKind.SERVER]
        assert [s.attributes.get("http.route") for s in server] == ["/api/v1/users/me"]
        sql = [s for s in spans if any(key.startswith("db.") for key in s.attributes or {})]
        assert sql, [s.name for s in spans]
        # The request's own queries are children of its span (setup's are traces of their own).
        assert any(s.context.trace_id == server[0].context.trace_id for s in sql)
        client_spans = [s for s in spans if s.kind is SpanKind.CLIENT and s not in sql]
        urls = [
            str((s.attributes or {}).get("url.full", s.attributes.get("http.url")))
            for s in client_spans
        ]
        assert any(url.endswith("/api/auth/jwks") for url in urls), [
            (s.name, dict(s.attributes or {})) for s in client_spans
        ]

    def test_off_without_an_endpoint(self) -> None:
        app = create_app(make_settings("sqlite:///unused.db"))
        assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
