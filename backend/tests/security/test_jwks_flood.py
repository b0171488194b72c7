"""Unknown-``kid`` floods cannot turn the API into a load generator against the auth server.

An unknown ``kid`` may mean a rotated key, so it triggers a JWKS refetch, but at most one per
``JWKS_REFETCH_COOLDOWN_SECONDS`` whatever the number of requests, concurrent ones share one
fetch, and tokens with known keys keep working throughout. Counted with the real JWKS
server's own hit counter.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import AppFactory
from tests.security.helpers import ME, ORIGIN, KeyRing, bearer, dumps, raw_jws
from tests.support.factories import create_user
from tests.support.jwks_server import JwksServer
from tests.support.keys import better_auth_claims, generate_key, jwks


@pytest.fixture
def counted_server(keyring: KeyRing) -> Iterator[JwksServer]:
    with JwksServer(jwks(*keyring.published)) as server:
        yield server


async def flood_app(app_factory: AppFactory, server: JwksServer, cooldown: float) -> FastAPI:
    return await app_factory(
        jwks_url=server.url,
        jwks_refetch_cooldown_seconds=cooldown,
        rate_limit_enabled=False,
        log_format="json",
    )


@pytest.fixture
async def user_id(db_session: AsyncSession) -> str:
    return (await create_user(db_session)).id


def unknown_kid_token(keyring: KeyRing, number: int, user: str) -> str:
    claims = better_auth_claims(ORIGIN, iat=int(time.time()), user_id=user)
    header = {"alg": "EdDSA", "kid": f"flood-{number:06d}"}
    return raw_jws(keyring.attacker_eddsa, dumps(header), dumps(claims))


def good_token(keyring: KeyRing, user: str) -> str:
    claims = better_auth_claims(ORIGIN, iat=int(time.time()), user_id=user)
    header = {"alg": "EdDSA", "kid": keyring.eddsa.kid}
    return raw_jws(keyring.eddsa, dumps(header), dumps(claims))


Connect = Callable[[FastAPI], httpx.AsyncClient]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Clients over ``httpx.ASGITransport``, closed after the test."""
    clients: list[httpx.AsyncClient] = []

    def open_client(app: FastAPI) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://test"))
        return clients[-1]

    yield open_client
    for client in clients:
        await client.aclose()


async def codes(http: httpx.AsyncClient, tokens: list[str]) -> list[str]:
    responses = await asyncio.gather(*(http.get(ME, headers=bearer(token)) for token in tokens))
    assert all(response.status_code == 401 for response in responses)
    return [response.json()["code"] for response in responses]


async def test_a_flood_within_the_cooldown_costs_one_fetch(
    app_factory: AppFactory,
    counted_server: JwksServer,
    keyring: KeyRing,
    user_id: str,
    connect: Connect,
) -> None:
    http = connect(await flood_app(app_factory, counted_server, cooldown=60))
    # 300 unknown kids: 100 one after another, then 200 at once, on a cold cache.
    sequential = [
        (await http.get(ME, headers=bearer(unknown_kid_token(keyring, n, user_id)))).json()["code"]
        for n in range(100)
    ]
    concurrent = await codes(
        http, [unknown_kid_token(keyring, n, user_id) for n in range(100, 300)]
    )
    assert set(sequential) == set(concurrent) == {"KEY_NOT_FOUND"}
    assert counted_server.hits == 1
    # Known keys are unaffected by the flood, and cost no fetch either.
    ok = await http.get(ME, headers=bearer(good_token(keyring, user_id)))
    assert ok.status_code == 200
    assert counted_server.hits == 1


async def test_a_concurrent_flood_on_a_cold_cache_shares_one_fetch(
    app_factory: AppFactory,
    counted_server: JwksServer,
    keyring: KeyRing,
    user_id: str,
    connect: Connect,
) -> None:
    http = connect(await flood_app(app_factory, counted_server, cooldown=60))
    found = await codes(http, [unknown_kid_token(keyring, n, user_id) for n in range(250)])
    assert set(found) == {"KEY_NOT_FOUND"}
    assert counted_server.hits == 1


async def test_a_sustained_flood_refetches_at_most_once_per_cooldown(
    app_factory: AppFactory,
    counted_server: JwksServer,
    keyring: KeyRing,
    user_id: str,
    connect: Connect,
) -> None:
    cooldown = 0.25
    http = connect(await flood_app(app_factory, counted_server, cooldown=cooldown))
    started = time.monotonic()
    sent = 0
    # Bounded by count as well as time: on a loaded machine fewer batches fit in the window,
    # so the loop runs until both at least 100 requests and 4 cooldowns have passed.
    while sent < 100 or time.monotonic() - started < 4 * cooldown:
        batch = [unknown_kid_token(keyring, sent + n, user_id) for n in range(20)]
        sent += len(batch)
        assert set(await codes(http, batch)) == {"KEY_NOT_FOUND"}
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    # One fetch to start with, then at most one per elapsed cooldown, however many requests.
    assert 2 <= counted_server.hits <= 1 + math.ceil(elapsed / cooldown)


async def test_a_rotated_key_is_picked_up_after_the_cooldown(
    app_factory: AppFactory,
    counted_server: JwksServer,
    keyring: KeyRing,
    user_id: str,
    connect: Connect,
) -> None:
    cooldown = 0.2
    http = connect(await flood_app(app_factory, counted_server, cooldown=cooldown))
    assert (await http.get(ME, headers=bearer(good_token(keyring, user_id)))).status_code == 200
    rotated = generate_key("EdDSA")
    counted_server.set_keys([*jwks(*keyring.published)["keys"], rotated.public_jwk()])
    claims = better_auth_claims(ORIGIN, iat=int(time.time()), user_id=user_id)
    token = raw_jws(rotated, dumps({"alg": "EdDSA", "kid": rotated.kid}), dumps(claims))
    await asyncio.sleep(cooldown * 1.5)
    response = await http.get(ME, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert counted_server.hits == 2
