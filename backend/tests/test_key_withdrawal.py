"""Issue 22: a withdrawn signing key stops its tokens on every replica, over each key source.

Two app states (two replicas) share a key source: the real JWKS HTTP server, or the real
PostgreSQL ``jwks`` table (``JWKS_SOURCE=database``, a committed row deleted as Better-Auth or
an operator would). Each replica verifies and caches a token; the key is withdrawn; each
replica's own background refresh drops it within one TTL (no request has to come by: the
replicas are polled through their token caches only), and the next request gets 401
``KEY_NOT_FOUND``. Before, both kept answering 200 until the token's ``exp``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Jwks
from app.state import AppState
from tests.conftest import TEST_AUTH_URL, AppFactory
from tests.support.factories import create_user
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, better_auth_claims, generate_key, jwks, sign_token

ME = "/api/v1/users/me"
REPLICAS = 2
TTL_SECONDS = 1
# One TTL plus a fetch, with room for a loaded machine.
WITHDRAWAL_DEADLINE_SECONDS = 15.0
FRESH_KEYS: dict[str, object] = {
    "jwks_cache_ttl_seconds": TTL_SECONDS,
    "jwks_min_ttl_seconds": 0,
    "jwks_refetch_cooldown_seconds": 0.2,
    "rate_limit_enabled": False,
}


@pytest.fixture
def leaked() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture
def kept() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture
def jwks_server(leaked: TestKey, kept: TestKey) -> Iterator[JwksServer]:
    with JwksServer(jwks(leaked, kept)) as server:
        yield server


async def replicas(app_factory: AppFactory, **settings: object) -> list[FastAPI]:
    apps = [await app_factory(**FRESH_KEYS, **settings) for _ in range(REPLICAS)]
    for app in apps:
        state(app).key_cache.start()  # what the lifespan starts (AppState.start)
    return apps


def state(app: FastAPI) -> AppState:
    services: AppState = app.state.services
    return services


async def get_me(app: FastAPI, jwt: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(ME, headers={"Authorization": f"Bearer {jwt}"})


def sign(key: TestKey, user_id: str) -> str:
    claims = better_auth_claims(TEST_AUTH_URL, iat=int(time.time()), user_id=user_id)
    return sign_token(key, claims)


async def until_forgotten(apps: list[FastAPI], jwt: str) -> None:
    """Poll the replicas' token caches (a request would fetch keys itself) until none holds."""
    deadline = time.monotonic() + WITHDRAWAL_DEADLINE_SECONDS
    while any(state(app).verifier.cached(jwt) is not None for app in apps):
        assert time.monotonic() < deadline, "a replica still trusts the withdrawn key"
        await asyncio.sleep(0.05)


async def assert_withdrawn_everywhere(apps: list[FastAPI], jwt: str, other: str) -> None:
    await until_forgotten(apps, jwt)
    for app in apps:
        response = await get_me(app, jwt)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "KEY_NOT_FOUND"
        assert (await get_me(app, other)).status_code == 200


class TestHttpSource:
    async def test_every_replica_drops_the_withdrawn_kid(
        self,
        app_factory: AppFactory,
        db_session: AsyncSession,
        jwks_server: JwksServer,
        leaked: TestKey,
        kept: TestKey,
    ) -> None:
        apps = await replicas(app_factory, jwks_url=jwks_server.url)
        user = await create_user(db_session)
        jwt, other = sign(leaked, user.id), sign(kept, user.id)
        for app in apps:
            assert (await get_me(app, jwt)).status_code == 200
            assert state(app).verifier.cached(jwt) is not None

        jwks_server.set_keys([kept.public_jwk()])
        await assert_withdrawn_everywhere(apps, jwt, other)

    async def test_an_emergency_purge_is_401_not_503(
        self,
        app_factory: AppFactory,
        db_session: AsyncSession,
        jwks_server: JwksServer,
        leaked: TestKey,
    ) -> None:
        apps = await replicas(app_factory, jwks_url=jwks_server.url)
        user = await create_user(db_session)
        jwt = sign(leaked, user.id)
        for app in apps:
            assert (await get_me(app, jwt)).status_code == 200
        jwks_server.set_keys([])
        await until_forgotten(apps, jwt)
        for app in apps:
            response = await get_me(app, jwt)
            assert response.status_code == 401, response.text
            assert response.json()["code"] == "KEY_NOT_FOUND"
            ready = state(app).key_cache.status()
            assert ready["state"] == "empty"


@pytest.fixture
async def published(engine: AsyncEngine, leaked: TestKey, kept: TestKey) -> AsyncIterator[None]:
    """Both keys as committed rows of Better-Auth's table (the replicas read it on their own
    connections), removed at the end whatever happens."""
    kids = [leaked.kid, kept.kid]
    async with AsyncSession(engine) as writer:
        for key in (leaked, kept):
            public = {k: v for k, v in key.public_jwk().items() if k not in {"kid", "alg"}}
            writer.add(
                Jwks(id=key.kid, public_key=json.dumps(public), private_key="enc", alg="EdDSA")
            )
        await writer.commit()
    try:
        yield
    finally:
        async with AsyncSession(engine) as writer:
            await writer.execute(delete(Jwks).where(Jwks.id.in_(kids)))
            await writer.commit()


class TestDatabaseSource:
    @pytest.mark.usefixtures("published")
    async def test_every_replica_drops_a_deleted_row(
        self,
        app_factory: AppFactory,
        engine: AsyncEngine,
        db_session: AsyncSession,
        leaked: TestKey,
        kept: TestKey,
    ) -> None:
        if engine.dialect.name != "postgresql":
            pytest.skip("the database key source's replicas share PostgreSQL")
        apps = await replicas(app_factory, jwks_source="database")
        user = await create_user(db_session)
        jwt, other = sign(leaked, user.id), sign(kept, user.id)
        for app in apps:
            assert (await get_me(app, jwt)).status_code == 200

        async with AsyncSession(engine) as operator:  # the leaked key's row, deleted
            await operator.execute(delete(Jwks).where(Jwks.id == leaked.kid))
            await operator.commit()
        await assert_withdrawn_everywhere(apps, jwt, other)
