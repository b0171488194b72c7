"""Application wiring: health probes, one problem+json error shape, request ids, logs."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from app.config import Settings
from app.database import create_engine
from tests.conftest import build_test_app, make_settings

PROBLEM_KEYS = {"type", "title", "status", "detail", "message", "instance", "code", "requestId"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code
    # Better-Auth's client reads {code, message, status}: the same text as detail.
    assert body["message"] == body["detail"]
    assert body["requestId"] == response.headers["x-request-id"]
    return body


class Item(BaseModel):
    name: str
    count: int


@pytest.fixture
def probe_app(app: FastAPI) -> FastAPI:
    @app.post("/_probe/items")
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/_probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    return app


class TestHealth:
    async def test_live(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health/live")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_ready(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health/ready")
        assert response.status_code == 200
        assert response.json()["checks"]["database"]["status"] == "ok"

    async def test_unready_when_database_is_down(self, settings: Settings) -> None:
        down = make_settings("postgresql://postgres@127.0.0.1:1/none")
        engine = create_engine(down)
        app, state = build_test_app(down, engine)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/health/ready")
        await state.aclose()
        body = assert_problem(response, 503, "NOT_READY")
        assert response.headers["retry-after"]
        assert body["checks"]["database"]["status"] == "unavailable"  # type: ignore[index]


class TestProblems:
    async def test_404(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.get("/nowhere"), 404, "NOT_FOUND")
        assert body["instance"] == "/nowhere"

    async def test_405(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.delete("/health/live"), 405, "METHOD_NOT_ALLOWED")

    async def test_422_lists_field_errors(
        self, probe_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/_probe/items", json={"name": "x", "count": "many"})
        body = assert_problem(response, 422, "VALIDATION_ERROR")
        errors = body["errors"]
        assert isinstance(errors, list)
        assert errors[0]["loc"] == ["body", "count"]
        assert {"loc", "msg", "type"} == set(errors[0])
        # The submitted value is never echoed back (it may be a secret).
        assert "many" not in response.text

    async def test_422_malformed_json(self, probe_app: FastAPI, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/_probe/items", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_problem(response, 422, "VALIDATION_ERROR")

    async def test_500_hides_internals_and_logs_traceback(
        self, probe_app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.ERROR):
            response = await client.get("/_probe/boom")
        body = assert_problem(response, 500, "INTERNAL_ERROR")
        assert "secret internal detail" not in response.text
        assert "Traceback" not in response.text
        assert body["instance"] == "/_probe/boom"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        records = [r for r in caplog.records if r.name == "app.errors"]
        assert records
        assert records[0].exc_info is not None


class TestRequestId:
    async def test_generated(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health/live")
        assert len(response.headers["x-request-id"]) == 32

    async def test_incoming_is_honoured(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"

    async def test_hostile_incoming_is_replaced(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health/live", headers={"X-Request-ID": "a b\tinjected"})
        assert response.headers["x-request-id"] != "a b\tinjected"

    async def test_access_log_line(
        self, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="app.access"):
            await client.get("/health/live?token=abc", headers={"X-Request-ID": "rid-1"})
        line = next(r for r in caplog.records if r.name == "app.access")
        event = line.msg
        assert isinstance(event, dict)
        assert event["path"] == "/health/live"
        assert event["status"] == 200
        assert event["method"] == "GET"
        assert "duration_ms" in event
        assert "abc" not in str(event)


class TestOpenApi:
    async def test_docs_and_schema(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/docs")).status_code == 200
        schema = (await client.get("/openapi.json")).json()
        assert schema["paths"]["/health/ready"]["get"]["operationId"] == "health-ready"

    async def test_docs_can_be_switched_off(self, engine: object, test_database: object) -> None:
        settings = make_settings("sqlite:///unused.db", docs_enabled=False)
        app, _state = build_test_app(settings, engine)  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/docs")).status_code == 404
            assert (await client.get("/openapi.json")).status_code == 404

    async def test_cors_exact_origin(self, engine: object) -> None:
        settings = make_settings("sqlite:///unused.db", cors_origins="https://app.example.com")
        app, _state = build_test_app(settings, engine)  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ok = await client.get("/health/live", headers={"Origin": "https://app.example.com"})
            bad = await client.get("/health/live", headers={"Origin": "https://evil.example.com"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
        assert ok.headers["access-control-allow-credentials"] == "true"
        assert "access-control-allow-origin" not in bad.headers
