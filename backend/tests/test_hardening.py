"""HTTP hardening: security headers on every answer, request size limits, CORS, docs switch.

In-process through ``ASGITransport`` (which streams a body chunk by chunk to the app, as a server
does), plus a real uvicorn process for what only a real HTTP parser shows (oversized headers).
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.utils.middleware import DRAIN_LIMIT_BYTES
from app.utils.security import API_CSP, DOCS_CSP, HSTS, MIN_MAX_HEADER_BYTES
from devstack.processes import running_api
from tests.conftest import AppFactory, build_test_app, make_settings

BODY_LIMIT = 1024
BASE_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}


def assert_security_headers(response: httpx.Response, *, csp: str = API_CSP) -> None:
    for name, value in BASE_HEADERS.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))
    assert response.headers.get("content-security-policy") == csp


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["message"] == body["detail"]
    assert body["requestId"] == response.headers["x-request-id"]


@pytest.fixture
async def probe_app(app_factory: AppFactory) -> FastAPI:
    app = await app_factory(max_request_body_bytes=BODY_LIMIT, rate_limit_enabled=False)
    app.state.echo_calls = 0

    @app.post("/_probe/echo")
    async def echo(request: Request) -> dict[str, int]:
        app.state.echo_calls += 1
        return {"received": len(await request.body())}

    @app.get("/_probe/own-csp")
    async def own_csp(response: Response) -> dict[str, str]:
        response.headers["Content-Security-Policy"] = "default-src 'self'"
        return {}

    return app


@pytest.fixture
async def http(probe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=probe_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


class TestSecurityHeaders:
    @pytest.mark.parametrize(
        ("method", "path", "body", "status"),
        [
            ("GET", "/health/live", None, 200),
            ("GET", "/health/ready", None, 200),
            ("GET", "/nowhere", None, 404),
            ("DELETE", "/health/live", None, 405),
            ("POST", "/api/v1/auth/verify", {}, 422),
            ("GET", "/api/v1/users/me", None, 401),
            ("GET", "/openapi.json", None, 200),
        ],
    )
    async def test_on_every_kind_of_answer(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        body: dict[str, str] | None,
        status: int,
    ) -> None:
        response = await http.request(method, path, json=body)
        assert response.status_code == status, response.text
        assert_security_headers(response)
        assert "strict-transport-security" not in response.headers

    async def test_hsts_only_over_https(self, probe_app: FastAPI) -> None:
        transport = httpx.ASGITransport(app=probe_app)
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as client:
            response = await client.get("/health/live")
        assert response.headers["strict-transport-security"] == HSTS
        assert_security_headers(response)

    @pytest.mark.parametrize("path", ["/docs", "/redoc"])
    async def test_docs_get_a_policy_that_lets_them_load(
        self, http: httpx.AsyncClient, path: str
    ) -> None:
        response = await http.get(path)
        assert response.status_code == 200
        assert_security_headers(response, csp=DOCS_CSP)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self';" in policy
        # Nothing comes from another host, and no script is inline.
        assert "https://" not in policy
        assert "https://" not in response.text
        assert "<script>" not in response.text
        for src in re.findall(r'(?:src|href)="([^"]+)"', response.text):
            asset = await http.get(src)
            assert asset.status_code == 200, src
            assert asset.content, src

    async def test_swagger_ui_keeps_the_authorization(self, http: httpx.AsyncClient) -> None:
        page = (await http.get("/docs")).text
        options = json.loads(html.unescape(re.search(r'data-options="([^"]+)"', page)[1]))
        assert options["persistAuthorization"] is True

    async def test_bearer_format_is_jwt(self, http: httpx.AsyncClient) -> None:
        schemes = (await http.get("/openapi.json")).json()["components"]["securitySchemes"]
        assert schemes["BetterAuthBearer"] == {**schemes["BetterAuthBearer"], "bearerFormat": "JWT"}

    async def test_a_missing_asset_is_a_problem(self, http: httpx.AsyncClient) -> None:
        assert_problem(await http.get("/docs/assets/nope.js"), 404, "NOT_FOUND")

    async def test_a_route_s_own_policy_is_kept(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/_probe/own-csp")
        assert response.headers["content-security-policy"] == "default-src 'self'"
        assert response.headers["x-frame-options"] == "DENY"


async def _chunks(size: int, count: int, pulled: list[int]) -> AsyncIterator[bytes]:
    for _ in range(count):
        pulled.append(size)
        yield b"x" * size


class TestBodyLimit:
    async def test_declared_length_over_the_limit_is_refused_unread(
        self, http: httpx.AsyncClient, probe_app: FastAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        pulled: list[int] = []
        with caplog.at_level(logging.INFO, logger="app.access"):
            response = await http.post(
                "/_probe/echo",
                content=_chunks(700, 3, pulled),
                headers={"Content-Length": "2100"},
            )
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
        assert_security_headers(response)
        assert pulled == []  # not one byte of the body was asked for
        assert probe_app.state.echo_calls == 0
        access = [r.msg for r in caplog.records if r.name == "app.access"]
        assert any(isinstance(e, dict) and e["status"] == 413 for e in access), access

    async def test_chunked_body_is_counted_and_cut_off(self, http: httpx.AsyncClient) -> None:
        pulled: list[int] = []
        response = await http.post("/_probe/echo", content=_chunks(600, 10, pulled))
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
        assert_security_headers(response)
        # The rest of a modest body is read and dropped before the 413 (so that closing the
        # connection does not reset it before the client reads the answer).
        assert sum(pulled) == 6000

    async def test_a_huge_chunked_body_is_not_read_to_its_end(
        self, http: httpx.AsyncClient
    ) -> None:
        pulled: list[int] = []
        chunk = 64 * 1024
        response = await http.post("/_probe/echo", content=_chunks(chunk, 64, pulled))
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
        # Dropping stops after DRAIN_LIMIT_BYTES: a 4 MiB upload is not read to its end.
        assert sum(pulled) <= BODY_LIMIT + DRAIN_LIMIT_BYTES + 2 * chunk

    async def test_chunked_body_to_a_validated_route(self, http: httpx.AsyncClient) -> None:
        # FastAPI turns any error while reading a body into 400; the client still gets the 413.
        response = await http.post("/api/v1/auth/verify", content=_chunks(600, 3, []))
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")

    async def test_up_to_the_limit_passes(self, http: httpx.AsyncClient) -> None:
        exact = await http.post("/_probe/echo", content=b"x" * BODY_LIMIT)
        streamed = await http.post("/_probe/echo", content=_chunks(512, 2, []))
        assert exact.json() == {"received": BODY_LIMIT}
        assert streamed.json() == {"received": BODY_LIMIT}


class TestHeaderLimit:
    async def test_oversized_headers_are_431(self, http: httpx.AsyncClient) -> None:
        response = await http.get(
            "/health/live", headers={"X-Padding": "a" * (MIN_MAX_HEADER_BYTES + 1)}
        )
        assert_problem(response, 431, "HEADERS_TOO_LARGE")
        assert_security_headers(response)

    async def test_a_large_legitimate_token_fits(self, http: httpx.AsyncClient) -> None:
        # A JWT of the largest accepted size (JWT_MAX_TOKEN_BYTES) plus a cookie of that size.
        size = Settings.model_fields["jwt_max_token_bytes"].default
        response = await http.get(
            "/health/live", headers={"X-Token": "a" * size, "Cookie": "c=" + "b" * size}
        )
        assert response.status_code == 200


async def _get_status(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> int | str:
    """The status, or ``"reset"`` when the server closed the connection on a request it refused
    before reading all of it (the kernel then resets it and the client may never see the 400)."""
    try:
        return (await client.get(path, headers=headers)).status_code
    except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
        return "reset"


class TestRealServerLimits:
    """uvicorn's own parser: httptools (the default with uvicorn[standard]) sets no header limit,
    so the app's 431 answers; h11 refuses a head that is still incomplete past 16 KiB
    (``--h11-max-incomplete-event-size``) with 400 and closes, or passes a complete one on to the
    app's 431. Never a 500, never a hang, and the server keeps serving."""

    @pytest.mark.parametrize("http_impl", ["httptools", "h11"])
    async def test_100_kb_header(self, settings: Settings, http_impl: str) -> None:
        with running_api(
            settings.database_url, extra_args=("--http", http_impl), MAX_REQUEST_BODY_BYTES="16384"
        ) as api:
            async with httpx.AsyncClient(base_url=api.url, timeout=10.0, trust_env=False) as client:
                started = time.monotonic()
                big = await _get_status(client, "/health/live", {"X-Padding": "a" * 100_000})
                elapsed = time.monotonic() - started
                normal = await client.get("/health/live", headers={"X-Padding": "a" * 16_000})
                chunked = await client.post("/api/v1/auth/verify", content=_chunks(8192, 4, []))
                declared = await client.post(
                    "/api/v1/auth/verify",
                    content=b"{" + b" " * 20_000 + b"}",
                    headers={"Content-Type": "application/json"},
                )
        if http_impl == "httptools":
            assert big == 431
        else:
            assert big in {400, 431, "reset"}
        assert elapsed < 5.0
        assert normal.status_code == 200
        assert_problem(chunked, 413, "PAYLOAD_TOO_LARGE")
        assert_problem(declared, 413, "PAYLOAD_TOO_LARGE")


class TestCors:
    ALLOWED = "https://app.example.com"

    @pytest.fixture
    async def cors(self, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(
            "sqlite:///unused.db", cors_origins=f"{self.ALLOWED},https://admin.example.com"
        )
        app, state = build_test_app(settings, engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
        await state.key_cache.aclose()
        await state.http_client.aclose()

    @staticmethod
    def preflight(origin: str) -> dict[str, str]:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type",
        }

    async def test_preflight_from_an_allowed_origin(self, cors: httpx.AsyncClient) -> None:
        response = await cors.options("/api/v1/users/x/role", headers=self.preflight(self.ALLOWED))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == self.ALLOWED
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "PUT" in response.headers["access-control-allow-methods"]
        assert "authorization" in response.headers["access-control-allow-headers"].lower()
        assert "origin" in response.headers.get("vary", "").lower()
        assert_security_headers(response)

    @pytest.mark.parametrize(
        "origin",
        [
            "https://evil.example.com",
            "null",
            "https://app.example.com.evil.com",
            "http://app.example.com",  # other scheme
            "https://app.example.com:8443",  # other port
            "https://APP.example.com.",
        ],
    )
    async def test_other_origins_get_nothing(self, cors: httpx.AsyncClient, origin: str) -> None:
        preflight = await cors.options("/api/v1/users/me", headers=self.preflight(origin))
        simple = await cors.get("/health/live", headers={"Origin": origin})
        assert_problem(preflight, 400, "CORS_REJECTED")
        assert preflight.json()["detail"] == "CORS preflight refused: origin not allowed"
        # Starlette adds allow-credentials (and, on a preflight, allow-methods) to every answer;
        # without an allow-origin the browser fails the CORS check whatever else is there.
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-origin" not in simple.headers

    async def test_a_refused_method_or_header_is_named(self, cors: httpx.AsyncClient) -> None:
        headers = {
            **self.preflight(self.ALLOWED),
            "Access-Control-Request-Method": "TRACE",
            "Access-Control-Request-Headers": "x-secret",
        }
        response = await cors.options("/api/v1/users/me", headers=headers)
        assert_problem(response, 400, "CORS_REJECTED")
        assert response.json()["message"] == "CORS preflight refused: method, headers not allowed"
        assert_security_headers(response)

    async def test_never_a_wildcard(self, cors: httpx.AsyncClient) -> None:
        for origin in (self.ALLOWED, "https://admin.example.com", "https://evil.example.com"):
            for response in (
                await cors.get("/health/live", headers={"Origin": origin}),
                await cors.options("/health/live", headers=self.preflight(origin)),
            ):
                assert response.headers.get("access-control-allow-origin") in {None, origin}

    async def test_no_cors_headers_without_configured_origins(
        self, http: httpx.AsyncClient
    ) -> None:
        response = await http.options("/health/live", headers=self.preflight(self.ALLOWED))
        assert "access-control-allow-origin" not in response.headers


class TestDocsSwitch:
    async def test_docs_and_schema_are_404_when_disabled(self, engine: AsyncEngine) -> None:
        settings = make_settings("sqlite:///unused.db", docs_enabled=False)
        app, state = build_test_app(settings, engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui.css"):
                response = await client.get(path)
                assert_problem(response, 404, "NOT_FOUND")
                assert_security_headers(response)
        await state.key_cache.aclose()
        await state.http_client.aclose()
