"""A key published after the verifier last fetched the key set (a fresh deployment whose first
key appears after the API started, a second worker's key, a rotation) is accepted within a
second, with the default settings; a flood of unknown kids still costs one fetch per second.

A real local JWKS server; the cache runs on a manual clock whose ``sleep`` is virtual, so the
one-second waits take no real time and the bounds are exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Literal

import httpx
import pytest

from app.config import Settings
from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.sources import HttpKeySource
from app.services.auth.verifier import TokenVerifier
from app.utils.errors import Unauthorized
from tests.support.clock import ManualClock
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, better_auth_claims, generate_key, new_kid, sign_token

ORIGIN = "http://localhost:3000"
SETTINGS = Settings(_env_file=None)
INTERVAL = SETTINGS.jwks_refetch_cooldown_seconds


@pytest.fixture(scope="module")
def old_key() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture(scope="module")
def new_key() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture
def server() -> Iterator[JwksServer]:
    with JwksServer() as jwks_server:
        yield jwks_server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@dataclass
class Api:
    """One API process's view: its key cache (default settings, virtual time) and verifier."""

    server: JwksServer
    clock: ManualClock
    cache: JwksCache
    verifier: TokenVerifier


@pytest.fixture
def api(http: httpx.AsyncClient, server: JwksServer) -> Api:
    clock = ManualClock()
    source = HttpKeySource(http, server.url, timeout=2, max_bytes=64 * 1024)
    cache = JwksCache.from_settings(source, SETTINGS, clock=clock, sleep=clock.sleep)
    verifier = TokenVerifier(cache, issuer=ORIGIN, audience=ORIGIN, algorithms=["EdDSA"])
    return Api(server, clock, cache, verifier)


def token(key: TestKey) -> str:
    return sign_token(key, better_auth_claims(ORIGIN, iat=int(time.time())))


def test_the_default_interval_is_a_second_at_most() -> None:
    assert 0 < INTERVAL <= 1


@pytest.mark.parametrize("first_fetch", ["empty", "older"])
async def test_a_key_published_after_the_last_fetch_is_accepted_within_a_second(
    api: Api, old_key: TestKey, new_key: TestKey, first_fetch: Literal["empty", "older"]
) -> None:
    server, clock, cache, verifier = api.server, api.clock, api.cache, api.verifier
    # The API warms its cache before the auth server has the key that will sign.
    server.set_keys([] if first_fetch == "empty" else [old_key.public_jwk()])
    await cache.warm()
    assert server.hits == 1

    clock.advance(INTERVAL / 4)
    server.set_keys([new_key.public_jwk()])
    published = clock()

    # A burst of requests with the new key: all wait for one shared fetch, none is refused.
    tokens = [token(new_key) for _ in range(50)]
    verified = await asyncio.gather(*(verifier.verify(jwt) for jwt in tokens))
    assert len(verified) == len(tokens)
    assert clock() - published <= 1.0
    assert server.hits == 2

    # A later request is served from the cache.
    await verifier.verify(token(new_key))
    assert server.hits == 2


async def test_a_key_published_during_a_flood_of_unknown_kids(
    api: Api, old_key: TestKey, new_key: TestKey
) -> None:
    server, clock, cache, verifier = api.server, api.clock, api.cache, api.verifier
    server.set_keys([old_key.public_jwk()])
    await cache.warm()
    started = clock()
    requests = 0
    published: float | None = None
    accepted: float | None = None
    while clock() - started < 10:
        clock.advance(INTERVAL / 10)
        if published is None and clock() - started >= 5:
            server.set_keys([old_key.public_jwk(), new_key.public_jwk()])
            published = clock()
        outcomes = await asyncio.gather(
            *(cache.get_key(new_kid()) for _ in range(100)), return_exceptions=True
        )
        requests += len(outcomes)
        assert all(isinstance(o, Unauthorized) and o.code == "KEY_NOT_FOUND" for o in outcomes)
        if published is not None:
            await verifier.verify(token(new_key))  # the genuine token is never refused
            accepted = accepted or clock()

    assert published is not None
    assert accepted is not None
    assert accepted - published <= 1.0
    elapsed = clock() - started
    assert requests >= 50 * server.hits
    # One fetch to start with, then at most one per interval, whatever the number of requests.
    assert server.hits <= 1 + elapsed / INTERVAL + 1
