"""The auth server's JWKS endpoint misbehaving, seen through the whole app over real HTTP.

For each fault (down, slower than the fetch timeout, HTTP 500, invalid JSON; an empty key set is
an answer, not a fault: tests/test_key_withdrawal.py):
tokens signed with keys already held keep working; a token with a new ``kid`` gets 503
``KEY_SOURCE_UNAVAILABLE`` with ``Retry-After`` (never 500, never longer than the fetch timeout);
a storm of such tokens reaches the JWKS server no more often than the refetch cooldown allows;
``/health/ready`` names the key source as the degraded dependency; and once the server is back
the new key is picked up without a restart.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from app.models import User
from app.services.auth.keys.cache import JwksCache
from tests.conftest import TEST_AUTH_URL
from tests.faults.conftest import AppBuilder, Seeded, asgi_client, eventually
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, better_auth_claims, jwks, sign_token

TIMEOUT = 0.25  # JWKS_FETCH_TIMEOUT_SECONDS
COOLDOWN = 0.25  # JWKS_REFETCH_COOLDOWN_SECONDS
STORM_SECONDS = 0.9
STORM_CLIENTS = 8
SLACK = 1.0  # scheduling slack on a loaded CI machine

FAULT_SETTINGS: dict[str, object] = {
    "jwks_fetch_timeout_seconds": TIMEOUT,
    "jwks_refetch_cooldown_seconds": COOLDOWN,
    "jwks_cache_ttl_seconds": 1,
    "jwks_min_ttl_seconds": 0,
    "token_cache_enabled": False,  # every request asks the key cache
    "rate_limit_enabled": False,
}

# What /health/ready reports as the reason, per fault.
REASONS = {
    "down": "JWKS request failed",
    "slow": "timed out",
    "error": "HTTP 500",
    "invalid_json": "not valid JSON",
}


def bearer(key: TestKey, user: User) -> dict[str, str]:
    claims = better_auth_claims(TEST_AUTH_URL, iat=int(time.time()), user_id=user.id)
    return {"Authorization": f"Bearer {sign_token(key, claims)}"}


@contextmanager
def fault(server: JwksServer, mode: str) -> Iterator[None]:
    if mode == "down":
        server.go_down()
        try:
            yield
        finally:
            server.come_back()
        return
    server.slow_seconds = 3 * TIMEOUT + 1
    with server.behaving(mode):  # type: ignore[arg-type]
        yield


def source_attempts(server: JwksServer, cache: JwksCache, mode: str) -> int:
    """Requests that reached the JWKS server (a server that is down cannot count them: then the
    cache's own attempt counter stands in)."""
    return cache.fetches if mode == "down" else server.hits


async def storm(
    client: httpx.AsyncClient, headers: list[dict[str, str]], seconds: float
) -> list[int]:
    statuses: list[int] = []
    deadline = time.monotonic() + seconds

    async def worker(index: int) -> None:
        while time.monotonic() < deadline:
            response = await client.get("/api/v1/auth/me", headers=headers[index % len(headers)])
            statuses.append(response.status_code)

    await asyncio.gather(*(worker(i) for i in range(STORM_CLIENTS)))
    return statuses


@pytest.mark.parametrize("mode", list(REASONS))
async def test_jwks_fault_through_the_app(
    mode: str,
    real_app: AppBuilder,
    seeded: Seeded,
    jwks_server: JwksServer,
    key_a: TestKey,
    key_b: TestKey,
) -> None:
    app, state = real_app(jwks_url=jwks_server.url, **FAULT_SETTINGS)
    user, _ = await seeded.user()
    known, rotated = bearer(key_a, user), bearer(key_b, user)
    async with asgi_client(app) as client:
        assert (await client.get("/api/v1/auth/me", headers=known)).status_code == 200
        assert jwks_server.hits == 1

        with fault(jwks_server, mode):
            await asyncio.sleep(COOLDOWN + 0.05)  # the last fetch may not excuse the new kid

            # Keys already held keep working.
            assert (await client.get("/api/v1/auth/me", headers=known)).status_code == 200

            # A new kid cannot be resolved: 503, fast, with Retry-After.
            started = time.monotonic()
            response = await client.get("/api/v1/auth/me", headers=rotated)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "KEY_SOURCE_UNAVAILABLE"
            assert 1 <= int(response.headers["retry-after"]) <= math.ceil(COOLDOWN) + 1
            assert elapsed < TIMEOUT + SLACK

            # A storm of new-kid (and known-kid) tokens: the source is asked at most once per
            # cooldown, and every answer is a 503 or a 200, never a 500.
            before = source_attempts(jwks_server, state.key_cache, mode)
            started = time.monotonic()
            statuses = await storm(client, [rotated, known], STORM_SECONDS)
            window = time.monotonic() - started
            attempts = source_attempts(jwks_server, state.key_cache, mode) - before
            assert set(statuses) <= {200, 503}, statuses
            assert statuses.count(503) >= STORM_CLIENTS // 2
            assert statuses.count(200) >= STORM_CLIENTS // 2
            assert attempts <= window / COOLDOWN + 1, (attempts, window)
            assert len(statuses) >= 5 * max(attempts, 1)

            # Readiness names the key source (the database alone gates it: still 200).
            ready = await client.get("/health/ready")
            assert ready.status_code == 200
            body = ready.json()
            assert body["status"] == "degraded"
            assert body["checks"]["database"]["status"] == "ok"
            assert body["checks"]["keys"]["status"] == "degraded"
            assert REASONS[mode] in body["checks"]["keys"]["detail"]

        # Back, now publishing the rotated key: picked up without a restart.
        jwks_server.set_keys(jwks(key_a, key_b)["keys"])
        seen: list[int] = []

        async def probe() -> int:
            seen.append((await client.get("/api/v1/auth/me", headers=rotated)).status_code)
            return seen[-1]

        status = await eventually(probe, lambda s: s != 503, within=5 * COOLDOWN + SLACK)
        assert status == 200
        assert set(seen) <= {200, 503}, seen
        ready = (await client.get("/health/ready")).json()
        assert ready["checks"]["keys"]["status"] == "ok"
        assert ready["status"] == "ok"


async def test_cold_start_with_the_auth_server_down(
    real_app: AppBuilder, seeded: Seeded, jwks_server: JwksServer, key_a: TestKey
) -> None:
    """No key was ever fetched: every token is 503 (not 401: the key may well exist), the
    readiness check says the keys are unavailable, and the first fetch after the server comes
    up serves everyone."""
    jwks_server.go_down()
    app, _state = real_app(jwks_url=jwks_server.url, **FAULT_SETTINGS)
    user, _ = await seeded.user()
    async with asgi_client(app) as client:
        statuses = await storm(client, [bearer(key_a, user)], 0.3)
        assert set(statuses) == {503}
        ready = (await client.get("/health/ready")).json()
        assert ready["checks"]["keys"]["status"] == "unavailable"
        assert ready["checks"]["keys"]["info"]["keys"] == 0

        jwks_server.come_back()

        async def probe() -> int:
            return (await client.get("/api/v1/auth/me", headers=bearer(key_a, user))).status_code

        assert await eventually(probe, lambda s: s != 503, within=5 * COOLDOWN + SLACK) == 200
        assert (await client.get("/health/ready")).json()["checks"]["keys"]["status"] == "ok"
