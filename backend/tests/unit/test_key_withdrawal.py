"""Issue 22: trust is withdrawn with a key.

A key the source stops publishing (withdrawn after a leak, past its grace period, an emergency
purge) takes the tokens verified with it along, cached or not; an empty answer from a reachable
source is an answer (401 ``KEY_NOT_FOUND``), not an outage (503, stale keys kept for
``JWKS_MAX_STALE_SECONDS``). Real keys, the real JWKS HTTP server and the real PostgreSQL
``jwks`` table; the cache's clock is a manual one where TTLs matter, the refresher runs on real
time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Jwks
from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.database import DatabaseKeySource
from app.services.auth.keys.sources import HttpKeySource, KeySource
from app.services.auth.token_cache import CachedTokenVerifier
from app.services.auth.verifier import TokenVerifier
from app.utils.errors import ServiceUnavailable, Unauthorized
from tests.support.clock import ManualClock
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, better_auth_claims, generate_key, jwks, sign_token

ORIGIN = "http://127.0.0.1:3000"
TTL = 300
MAX_STALE = 3600
COOLDOWN = 1.0


@pytest.fixture
def key_a() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture
def key_b() -> TestKey:
    # EdDSA: an ES token may be cached under its other spelling, and cached() takes the raw one.
    return generate_key("EdDSA")


@pytest.fixture
def server(key_a: TestKey, key_b: TestKey) -> Iterator[JwksServer]:
    with JwksServer(jwks(key_a, key_b)) as jwks_server:
        yield jwks_server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


class Stack:
    """Key cache, verifier and token cache, wired as the app wires them (``build_verifier``)."""

    def __init__(self, source: KeySource, clock: ManualClock, **cache_options: float) -> None:
        options = {"ttl": TTL, "min_ttl": 0, "refetch_cooldown": COOLDOWN, "max_stale": MAX_STALE}
        options.update(cache_options)
        self.keys = JwksCache(source, clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]
        wall = time.time
        inner = TokenVerifier(
            self.keys, issuer=ORIGIN, audience=ORIGIN, algorithms=["EdDSA", "ES256"]
        )
        self.tokens = CachedTokenVerifier(
            inner, max_entries=100, leeway_seconds=5, clock=wall, keys=self.keys
        )
        self.clock = clock

    async def refetch(self) -> None:
        """Past the TTL, and refreshed (what the background refresher does)."""
        self.clock.advance(TTL + 1)
        await self.keys.refresh()


def token(key: TestKey, user: str = "u1") -> str:
    return sign_token(key, better_auth_claims(ORIGIN, iat=int(time.time()), user_id=user))


async def refused(stack: Stack, jwt: str, code: str) -> None:
    assert stack.tokens.cached(jwt) is None
    with pytest.raises(Unauthorized) as caught:
        await stack.tokens.verify(jwt)
    assert caught.value.code == code


@pytest.fixture
def stack(http: httpx.AsyncClient, server: JwksServer) -> Stack:
    return Stack(HttpKeySource(http, server.url, timeout=2.0, max_bytes=65536), ManualClock())


class TestWithdrawnKid:
    async def test_cached_tokens_of_a_withdrawn_kid_stop_passing(
        self, stack: Stack, server: JwksServer, key_a: TestKey, key_b: TestKey
    ) -> None:
        leaked, other = token(key_a), token(key_b)
        for jwt in (leaked, other):
            await stack.tokens.verify(jwt)
            assert stack.tokens.cached(jwt) is not None

        server.set_keys([key_b.public_jwk()])  # key A withdrawn after a leak
        await stack.refetch()

        await refused(stack, leaked, "KEY_NOT_FOUND")
        assert stack.tokens.cached(other) is not None  # the other key's tokens are untouched
        assert (await stack.tokens.verify(other)).kid == key_b.kid

    async def test_a_key_published_again_keeps_its_tokens_without_reverifying(
        self, stack: Stack, key_a: TestKey
    ) -> None:
        jwt = token(key_a)
        await stack.tokens.verify(jwt)
        misses = stack.tokens.misses
        await stack.refetch()  # the same set again: the same key objects
        assert stack.tokens.cached(jwt) is not None
        await stack.tokens.verify(jwt)
        assert stack.tokens.misses == misses

    async def test_the_same_kid_with_other_material_is_a_withdrawal(
        self, stack: Stack, server: JwksServer, key_a: TestKey
    ) -> None:
        jwt = token(key_a)
        await stack.tokens.verify(jwt)
        impostor = generate_key("EdDSA", kid=key_a.kid)
        server.set_keys([impostor.public_jwk()])
        await stack.refetch()
        await refused(stack, jwt, "TOKEN_INVALID")  # no longer verifies with the key published


class TestEmptyAnswer:
    async def test_an_empty_set_withdraws_every_key(
        self, stack: Stack, server: JwksServer, key_a: TestKey, key_b: TestKey
    ) -> None:
        """Before: an empty answer counted as a failed fetch, and the old keys (and their
        tokens) stayed valid for JWKS_MAX_STALE_SECONDS."""
        tokens = [token(key_a), token(key_b)]
        for jwt in tokens:
            await stack.tokens.verify(jwt)
        with server.behaving("empty"):  # an emergency purge
            await stack.refetch()
            for jwt in tokens:
                await refused(stack, jwt, "KEY_NOT_FOUND")
            status = stack.keys.status()
            assert (status["state"], status["keys"], status["last_error"]) == ("empty", 0, None)
        # The auth server publishes a new key: found at once (the empty set is retried within
        # a second, not after the TTL).
        fresh = generate_key("EdDSA")
        server.set_keys([fresh.public_jwk()])
        stack.clock.advance(COOLDOWN)
        assert (await stack.tokens.verify(token(fresh))).kid == fresh.kid

    async def test_an_unreachable_source_still_serves_what_it_published(
        self, stack: Stack, server: JwksServer, key_a: TestKey
    ) -> None:
        """Stale-if-error is unchanged, cached tokens included: an outage is not an answer."""
        jwt = token(key_a)
        await stack.tokens.verify(jwt)
        server.go_down()
        await stack.refetch()
        assert stack.keys.status()["state"] == "stale"
        assert stack.tokens.cached(jwt) is not None
        stack.clock.advance(MAX_STALE)  # past the stale window: nothing is trusted any more
        assert stack.tokens.cached(jwt) is None
        with pytest.raises(ServiceUnavailable):
            await stack.tokens.verify(jwt)


class TestDatabaseSource:
    """``JWKS_SOURCE=database``: Better-Auth's ``jwks`` table, rows in the test's transaction."""

    async def test_every_key_past_its_grace_is_an_empty_answer(
        self, db_session: AsyncSession, key_a: TestKey
    ) -> None:
        public = {k: v for k, v in key_a.public_jwk().items() if k not in {"kid", "alg"}}
        db_session.add(
            Jwks(id=key_a.kid, public_key=json.dumps(public), private_key="enc", alg="EdDSA")
        )
        await db_session.flush()

        @asynccontextmanager
        async def sessions() -> AsyncIterator[AsyncSession]:
            yield db_session

        source = DatabaseKeySource(sessions, grace_period_seconds=86400)  # type: ignore[arg-type]
        stack = Stack(source, ManualClock())
        jwt = token(key_a)
        await stack.tokens.verify(jwt)

        # Every row retired long ago: past expiresAt + grace, Better-Auth no longer publishes.
        retired = datetime.now(UTC) - timedelta(days=2)
        await db_session.execute(update(Jwks).values(expires_at=retired))
        await db_session.flush()
        await stack.refetch()
        await refused(stack, jwt, "KEY_NOT_FOUND")
        assert stack.keys.status()["state"] == "empty"


class TestRefresher:
    async def test_a_quiet_process_learns_of_a_withdrawal_within_one_ttl(
        self, http: httpx.AsyncClient, server: JwksServer, key_a: TestKey, key_b: TestKey
    ) -> None:
        """Nothing asks the key cache (every token is a cache hit): the background refresher
        alone must drop the key. Real time, a TTL of one second."""
        source = HttpKeySource(http, server.url, timeout=2.0, max_bytes=65536)
        keys = JwksCache(source, ttl=1, min_ttl=0, refetch_cooldown=0.1, max_stale=MAX_STALE)
        inner = TokenVerifier(keys, issuer=ORIGIN, audience=ORIGIN, algorithms=["EdDSA"])
        tokens = CachedTokenVerifier(
            inner, max_entries=10, leeway_seconds=5, clock=time.time, keys=keys
        )
        keys.start()
        try:
            jwt = token(key_a)
            await tokens.verify(jwt)
            fetches = keys.fetches
            server.set_keys([key_b.public_jwk()])
            deadline = time.monotonic() + 15
            while tokens.cached(jwt) is not None:
                assert time.monotonic() < deadline, "the withdrawal never reached the cache"
                await asyncio.sleep(0.05)
            assert keys.fetches > fetches
        finally:
            started = time.monotonic()
            await keys.aclose()
            assert time.monotonic() - started < 5
