"""JWKS source and cache against a real local HTTP server (no HTTP mocks).

The cache runs on a manual clock (TTL, cooldown, stale window); HTTP timeouts are real.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.config import Settings
from app.services.auth.jose import InvalidJwkError
from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.sources import (
    FetchedKeys,
    HttpKeySource,
    KeySource,
    KeySourceError,
    StaticKeySource,
    jwk_from_jwks_row,
    parse_max_age,
)
from app.utils.errors import ServiceUnavailable, Unauthorized
from tests.support.clock import ManualClock
from tests.support.jwks_server import JwksServer, Mode
from tests.support.keys import TestKey, generate_key, new_kid

TTL = 300
MIN_TTL = 10
COOLDOWN = 1.0
MAX_STALE = 3600
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def key_a() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture(scope="module")
def key_b() -> TestKey:
    return generate_key("ES256")


@pytest.fixture
def server(key_a: TestKey) -> Iterator[JwksServer]:
    with JwksServer({"keys": [key_a.public_jwk()]}) as jwks_server:
        yield jwks_server


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Plain http to 127.0.0.1 only: no proxies from the environment, no TLS context to build.
    async with httpx.AsyncClient(trust_env=False, verify=False) as client:
        yield client


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, ListHandler]]:
    logger = logging.getLogger(f"test.jwks.{new_kid()}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = ListHandler()
    logger.addHandler(handler)
    yield logger, handler
    logger.removeHandler(handler)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def source_for(
    http: httpx.AsyncClient,
    server: JwksServer,
    *,
    timeout: float = TIMEOUT,
    max_bytes: int = 64 * 1024,
) -> HttpKeySource:
    return HttpKeySource(http, server.url, timeout=timeout, max_bytes=max_bytes)


def cache_for(
    source: KeySource, clock: ManualClock, logger: logging.Logger | None = None
) -> JwksCache:
    return JwksCache(
        source,
        ttl=TTL,
        min_ttl=MIN_TTL,
        refetch_cooldown=COOLDOWN,
        max_stale=MAX_STALE,
        clock=clock,
        sleep=clock.sleep,
        logger=logger,
    )


@pytest.fixture
def cache(
    http: httpx.AsyncClient,
    server: JwksServer,
    clock: ManualClock,
    log: tuple[logging.Logger, ListHandler],
) -> JwksCache:
    return cache_for(source_for(http, server), clock, log[0])


async def unavailable(cache: JwksCache, kid: str | None) -> ServiceUnavailable:
    with pytest.raises(ServiceUnavailable) as error:
        await cache.get_key(kid)
    assert error.value.code == "KEY_SOURCE_UNAVAILABLE"
    assert int(error.value.headers["Retry-After"]) >= 1
    return error.value


async def not_found(cache: JwksCache, kid: str | None) -> None:
    with pytest.raises(Unauthorized) as error:
        await cache.get_key(kid)
    assert error.value.code == "KEY_NOT_FOUND"


# What a source that does not answer looks like. An empty set is an answer (TestWithdrawal).
FAILURES: list[Mode] = [
    "error",
    "invalid_json",
    "not_object",
    "redirect",
    "oversized",
    "oversized_stream",
]


class TestHttpKeySource:
    async def test_fetches_keys_and_max_age(
        self, http: httpx.AsyncClient, server: JwksServer, key_a: TestKey
    ) -> None:
        server.cache_control = "public, max-age=120, must-revalidate"
        assert await source_for(http, server).fetch() == FetchedKeys([key_a.public_jwk()], 120)

    async def test_entries_that_are_not_objects_are_dropped(
        self, http: httpx.AsyncClient, server: JwksServer, key_a: TestKey
    ) -> None:
        server.set_keys([key_a.public_jwk(), "junk", 3])  # type: ignore[list-item]
        assert (await source_for(http, server).fetch()).keys == [key_a.public_jwk()]

    async def test_an_empty_set_is_returned_as_such(
        self, http: httpx.AsyncClient, server: JwksServer
    ) -> None:
        server.mode = "empty"
        assert (await source_for(http, server).fetch()).keys == []

    @pytest.mark.parametrize("mode", FAILURES)
    async def test_failures(self, http: httpx.AsyncClient, server: JwksServer, mode: Mode) -> None:
        server.mode = mode
        with pytest.raises(KeySourceError):
            await source_for(http, server).fetch()

    async def test_redirect_is_not_followed(
        self, http: httpx.AsyncClient, server: JwksServer
    ) -> None:
        server.mode = "redirect"
        with pytest.raises(KeySourceError, match="redirect"):
            await source_for(http, server).fetch()
        assert server.hits == 1
        assert server.moved_hits == 0

    @pytest.mark.parametrize("mode", ["oversized", "oversized_stream"])
    async def test_oversized_response_is_refused(
        self, http: httpx.AsyncClient, server: JwksServer, mode: Mode
    ) -> None:
        server.mode = mode
        with pytest.raises(KeySourceError, match="larger than"):
            await source_for(http, server, max_bytes=4096).fetch()

    async def test_timeout_bounds_the_whole_fetch(
        self, http: httpx.AsyncClient, server: JwksServer
    ) -> None:
        server.mode = "slow"
        started = time.monotonic()
        with pytest.raises(KeySourceError, match="timed out"):
            await source_for(http, server, timeout=0.2).fetch()
        assert time.monotonic() - started < 0.2 + 0.5

    async def test_connection_refused(self, http: httpx.AsyncClient, server: JwksServer) -> None:
        server.go_down()
        with pytest.raises(KeySourceError, match="ConnectError"):
            await source_for(http, server).fetch()

    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            (None, None),
            ("", None),
            ("max-age=60", 60),
            ("public, max-age=60, must-revalidate", 60),
            ('max-age="30"', 30),
            ("MAX-AGE=7", 7),
            ("max-age = 8", 8),
            ("no-store", 0),
            ("max-age=60, no-cache", 0),
            ("max-age=abc", None),
            ("max-age=-5", None),
            ("s-maxage=5", None),
        ],
    )
    def test_parse_max_age(self, header: str | None, expected: int | None) -> None:
        assert parse_max_age(header) == expected


class TestLookup:
    async def test_warm_then_cache_hits(
        self, cache: JwksCache, server: JwksServer, key_a: TestKey
    ) -> None:
        assert cache.status()["state"] == "empty"
        await cache.warm()
        for _ in range(10):
            assert (await cache.get_key(key_a.kid)).kid == key_a.kid
        assert server.hits == 1
        assert cache.status() == {
            "state": "ok",
            "keys": 1,
            "last_success_age": 0.0,
            "last_error": None,
        }

    async def test_a_fresh_hit_never_suspends(self, cache: JwksCache, key_a: TestKey) -> None:
        await cache.warm()
        coroutine = cache.get_key(key_a.kid)
        with pytest.raises(StopIteration) as done:
            coroutine.send(None)
        assert done.value.value.kid == key_a.kid

    async def test_first_request_fetches_lazily(
        self, cache: JwksCache, server: JwksServer, key_a: TestKey
    ) -> None:
        assert (await cache.get_key(key_a.kid)).alg == "EdDSA"
        assert server.hits == 1

    async def test_missing_kid_with_one_key(self, cache: JwksCache, key_a: TestKey) -> None:
        assert (await cache.get_key(None)).kid == key_a.kid

    async def test_missing_kid_with_two_keys(
        self, cache: JwksCache, server: JwksServer, key_a: TestKey, key_b: TestKey
    ) -> None:
        server.set_keys([key_a.public_jwk(), key_b.public_jwk()])
        with pytest.raises(Unauthorized, match="several keys") as error:
            await cache.get_key(None)
        assert error.value.code == "TOKEN_INVALID"

    async def test_invalid_keys_are_skipped_with_a_warning(
        self,
        cache: JwksCache,
        server: JwksServer,
        key_a: TestKey,
        key_b: TestKey,
        log: tuple[logging.Logger, ListHandler],
    ) -> None:
        server.set_keys(
            [
                {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                key_b.private_jwk(),
                {"kty": "RSA", "kid": "broken"},
                key_a.public_jwk(),
                {**key_b.public_jwk(), "kid": key_a.kid},  # duplicate kid: first one wins
            ]
        )
        assert (await cache.get_key(key_a.kid)).alg == "EdDSA"
        await not_found(cache, key_b.kid)
        await not_found(cache, "hmac")
        warnings = log[1].messages(logging.WARNING)
        assert len(warnings) == 4
        assert all("skipped" in message for message in warnings)

    async def test_a_set_without_usable_keys_is_an_answer(
        self, cache: JwksCache, server: JwksServer
    ) -> None:
        """The source answered: it publishes no key we can verify with (401, not 503)."""
        server.set_keys([{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}])
        await cache.warm()
        assert cache.status()["state"] == "empty"
        assert cache.status()["last_error"] is None
        await not_found(cache, "hmac")

    async def test_static_source_and_from_settings(self, key_a: TestKey) -> None:
        config = Settings(_env_file=None)
        cache = JwksCache.from_settings(StaticKeySource([key_a.public_jwk()]), config)
        assert (await cache.get_key(key_a.kid)).kid == key_a.kid


class TestRefetch:
    async def test_rotation_triggers_one_refetch(
        self,
        cache: JwksCache,
        server: JwksServer,
        clock: ManualClock,
        key_a: TestKey,
        key_b: TestKey,
    ) -> None:
        await cache.warm()
        server.set_keys([key_a.public_jwk(), key_b.public_jwk()])
        clock.advance(COOLDOWN)
        assert (await cache.get_key(key_b.kid)).alg == "ES256"
        assert (await cache.get_key(key_a.kid)).alg == "EdDSA"
        assert server.hits == 2

    async def test_a_key_removed_from_the_set_stops_working(
        self,
        cache: JwksCache,
        server: JwksServer,
        clock: ManualClock,
        key_a: TestKey,
        key_b: TestKey,
    ) -> None:
        await cache.warm()
        server.set_keys([key_b.public_jwk()])
        clock.advance(TTL)
        await not_found(cache, key_a.kid)

    async def test_single_flight(
        self,
        cache: JwksCache,
        server: JwksServer,
        clock: ManualClock,
        key_a: TestKey,
        key_b: TestKey,
    ) -> None:
        await cache.warm()
        server.set_keys([key_a.public_jwk(), key_b.public_jwk()])
        clock.advance(COOLDOWN)
        results = await asyncio.gather(*(cache.get_key(key_b.kid) for _ in range(100)))
        assert {result.kid for result in results} == {key_b.kid}
        assert server.hits == 2

    async def test_single_flight_on_a_cold_cache(
        self, cache: JwksCache, server: JwksServer, key_a: TestKey
    ) -> None:
        results = await asyncio.gather(*(cache.get_key(key_a.kid) for _ in range(100)))
        assert len(results) == 100
        assert server.hits == 1

    async def test_concurrent_random_kids_share_one_fetch(
        self, cache: JwksCache, server: JwksServer, clock: ManualClock
    ) -> None:
        await cache.warm()
        clock.advance(COOLDOWN)
        outcomes = await asyncio.gather(
            *(cache.get_key(new_kid()) for _ in range(100)), return_exceptions=True
        )
        assert all(isinstance(o, Unauthorized) and o.code == "KEY_NOT_FOUND" for o in outcomes)
        assert server.hits == 2

    async def test_unknown_kid_within_the_interval_waits_for_the_next_fetch(
        self,
        cache: JwksCache,
        server: JwksServer,
        clock: ManualClock,
        key_a: TestKey,
        key_b: TestKey,
    ) -> None:
        await cache.warm()
        server.set_keys([key_a.public_jwk(), key_b.public_jwk()])
        clock.advance(COOLDOWN / 4)
        asked = clock()
        assert (await cache.get_key(key_b.kid)).kid == key_b.kid
        assert server.hits == 2
        assert clock() - asked == COOLDOWN * 3 / 4  # the rest of the interval, no more
        await not_found(cache, new_kid())  # that fetch is no older than this request
        assert server.hits == 2

    async def test_a_flood_of_random_kids_is_bounded_by_the_interval(
        self, cache: JwksCache, server: JwksServer, clock: ManualClock
    ) -> None:
        await cache.warm()
        started = clock()
        for _ in range(200):
            clock.advance(COOLDOWN / 20)
            await not_found(cache, new_kid())
        # Each refusal waited for a fetch, but the fetches kept to one per interval.
        assert 2 <= server.hits <= 1 + (clock() - started) / COOLDOWN + 1

    @pytest.mark.parametrize(
        ("cache_control", "still_fresh_at", "refetched_at"),
        [
            (None, TTL - 1, TTL),
            ("max-age=60", 59, 60),
            ("max-age=1", MIN_TTL - 1, MIN_TTL),  # clamped up to min_ttl
            ("max-age=100000", TTL - 1, TTL),  # clamped down to ttl
            ("no-store", MIN_TTL - 1, MIN_TTL),
        ],
    )
    async def test_cache_control_max_age_is_honoured_and_clamped(
        self,
        cache: JwksCache,
        server: JwksServer,
        clock: ManualClock,
        key_a: TestKey,
        cache_control: str | None,
        still_fresh_at: float,
        refetched_at: float,
    ) -> None:
        server.cache_control = cache_control
        await cache.warm()
        clock.advance(still_fresh_at)
        await cache.get_key(key_a.kid)
        assert server.hits == 1
        clock.advance(refetched_at - still_fresh_at)
        await cache.get_key(key_a.kid)
        assert server.hits == 2


class TestFailures:
    async def test_timeout_answers_fast(
        self, http: httpx.AsyncClient, server: JwksServer, clock: ManualClock, key_a: TestKey
    ) -> None:
        server.mode = "slow"
        cache = cache_for(source_for(http, server, timeout=0.2), clock)
        started = time.monotonic()
        await unavailable(cache, key_a.kid)
        assert time.monotonic() - started < 0.2 + 0.5

    @pytest.mark.parametrize("mode", [*FAILURES, "down", "slow"])
    async def test_stale_if_error(
        self,
        http: httpx.AsyncClient,
        server: JwksServer,
        clock: ManualClock,
        key_a: TestKey,
        mode: str,
    ) -> None:
        cache = cache_for(source_for(http, server, timeout=0.2, max_bytes=4096), clock)
        await cache.warm()
        if mode == "down":
            server.go_down()
        else:
            server.mode = mode  # type: ignore[assignment]
        clock.advance(TTL + 1)
        assert (await cache.get_key(key_a.kid)).kid == key_a.kid  # stale, still served
        status = cache.status()
        assert status["state"] == "stale"
        assert status["last_error"]
        clock.advance(COOLDOWN)
        error = await unavailable(cache, new_kid())
        assert error.detail == "signing keys are unavailable"
        assert (await cache.get_key(key_a.kid)).kid == key_a.kid

    async def test_new_kid_during_an_outage_is_503_even_with_fresh_keys(
        self, cache: JwksCache, server: JwksServer, clock: ManualClock, key_a: TestKey
    ) -> None:
        await cache.warm()
        server.mode = "error"
        clock.advance(COOLDOWN)
        error = await unavailable(cache, new_kid())
        assert error.headers["Retry-After"] == str(int(COOLDOWN))
        assert (await cache.get_key(key_a.kid)).kid == key_a.kid  # still fresh

    async def test_a_held_key_never_waits_for_the_next_fetch(
        self,
        http: httpx.AsyncClient,
        server: JwksServer,
        clock: ManualClock,
        key_a: TestKey,
    ) -> None:
        gate = asyncio.Event()

        async def gated_sleep(seconds: float) -> None:
            await gate.wait()
            clock.advance(seconds)

        cache = JwksCache(
            source_for(http, server),
            ttl=TTL,
            min_ttl=MIN_TTL,
            refetch_cooldown=COOLDOWN,
            max_stale=MAX_STALE,
            clock=clock,
            sleep=gated_sleep,
        )
        await cache.warm()
        server.mode = "error"
        clock.advance(TTL + 1)
        assert (await cache.get_key(key_a.kid)).kid == key_a.kid  # stale; the refetch failed
        clock.advance(COOLDOWN / 2)
        waiting = asyncio.create_task(cache.get_key(new_kid()))  # waits for the next fetch
        await asyncio.sleep(0)
        assert not waiting.done()
        coroutine = cache.get_key(key_a.kid)
        with pytest.raises(StopIteration) as done:  # the stale key at once, no waiting
            coroutine.send(None)
        assert done.value.value.kid == key_a.kid
        gate.set()
        with pytest.raises(ServiceUnavailable):
            await waiting
        assert server.hits == 3

    async def test_max_stale_exceeded(
        self, cache: JwksCache, server: JwksServer, clock: ManualClock, key_a: TestKey
    ) -> None:
        await cache.warm()
        server.mode = "error"
        clock.advance(TTL + MAX_STALE + 1)
        await unavailable(cache, key_a.kid)
        assert cache.status()["state"] == "unavailable"

    async def test_recovery(
        self,
        cache: JwksCache,
        server: JwksServer,
        clock: ManualClock,
        key_a: TestKey,
        key_b: TestKey,
        log: tuple[logging.Logger, ListHandler],
    ) -> None:
        await cache.warm()
        server.go_down()
        clock.advance(TTL + 1)
        await cache.get_key(key_a.kid)
        await unavailable(cache, key_b.kid)
        server.come_back()
        server.set_keys([key_a.public_jwk(), key_b.public_jwk()])
        clock.advance(COOLDOWN)
        assert (await cache.get_key(key_b.kid)).kid == key_b.kid
        assert cache.status() == {
            "state": "ok",
            "keys": 2,
            "last_success_age": 0.0,
            "last_error": None,
        }
        assert any("recovered" in m for m in log[1].messages(logging.INFO))

    async def test_cold_start_with_the_source_down(
        self, cache: JwksCache, server: JwksServer, key_a: TestKey
    ) -> None:
        server.go_down()
        await cache.warm()  # must not raise
        assert cache.status()["state"] == "unavailable"
        await unavailable(cache, key_a.kid)
        await unavailable(cache, None)

    async def test_failure_is_logged_once_per_ten_seconds(
        self,
        cache: JwksCache,
        server: JwksServer,
        clock: ManualClock,
        log: tuple[logging.Logger, ListHandler],
    ) -> None:
        await cache.warm()
        server.mode = "error"
        clock.advance(COOLDOWN)
        await asyncio.gather(
            *(cache.get_key(new_kid()) for _ in range(100)), return_exceptions=True
        )
        warnings = log[1].messages(logging.WARNING)
        assert len(warnings) == 1
        assert "HTTP 500" in warnings[0]
        started = clock()
        while clock() - started < 25:  # a retry per interval; 1/8 is exact in binary: no drift
            clock.advance(COOLDOWN / 8)
            with pytest.raises(ServiceUnavailable):
                await cache.get_key(new_kid())
        assert server.hits > 20
        assert len(log[1].messages(logging.WARNING)) == 1 + 2

    async def test_a_source_that_raises_anything_is_a_failing_source(
        self, clock: ManualClock, key_a: TestKey
    ) -> None:
        class Broken:
            async def fetch(self) -> FetchedKeys:
                raise RuntimeError("driver exploded")

        cache = cache_for(Broken(), clock)
        await cache.warm()
        assert cache.status()["last_error"] == "key source raised RuntimeError"
        await unavailable(cache, key_a.kid)


class TestCancellation:
    async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(
        self, cache: JwksCache, server: JwksServer, key_a: TestKey
    ) -> None:
        server.mode, server.slow_seconds = "slow", 0.2
        first = asyncio.create_task(cache.get_key(key_a.kid))
        second = asyncio.create_task(cache.get_key(key_a.kid))
        await asyncio.sleep(0.05)
        first.cancel()
        assert (await second).kid == key_a.kid
        assert first.cancelled()
        assert server.hits == 1

    async def test_aclose_cancels_the_fetch_in_flight(
        self, cache: JwksCache, server: JwksServer, key_a: TestKey
    ) -> None:
        server.mode = "slow"
        waiter = asyncio.create_task(cache.get_key(key_a.kid))
        await asyncio.sleep(0.05)
        await cache.aclose()
        # The request that waited is answered (no key held: 503), not cancelled with the fetch.
        with pytest.raises(ServiceUnavailable) as refused:
            await waiter
        assert refused.value.code == "KEY_SOURCE_UNAVAILABLE"
        await cache.aclose()  # idempotent


class TestJwksRow:
    def test_kid_alg_and_crv_come_from_the_columns(self, key_a: TestKey) -> None:
        public = key_a.public_jwk(with_alg=False, with_kid=False)
        del public["crv"]
        jwk = jwk_from_jwks_row("row-id", json.dumps(public), "EdDSA", "Ed25519")
        assert jwk == {**public, "kid": "row-id", "alg": "EdDSA", "crv": "Ed25519"}

    def test_without_alg_column(self, key_b: TestKey) -> None:
        public = key_b.public_jwk(with_alg=False, with_kid=False)
        assert jwk_from_jwks_row("k", json.dumps(public), None) == {**public, "kid": "k"}

    @pytest.mark.parametrize("public_key", ["not json", "[1]", "[" * 5000])
    def test_malformed_rows(self, public_key: str) -> None:
        with pytest.raises(InvalidJwkError):
            jwk_from_jwks_row("k", public_key, "EdDSA")


class TestColdStartAndReadiness:
    """A cold start retries within a second; readiness refetches a stale set."""

    async def test_empty_set_retries_within_a_second_not_the_interval(self, key_a: TestKey) -> None:
        clock = ManualClock()
        source = MutableSource([])
        cache = JwksCache(
            source,
            ttl=TTL,
            min_ttl=MIN_TTL,
            refetch_cooldown=10,
            max_stale=MAX_STALE,
            clock=clock,
            sleep=clock.sleep,
        )
        # The source answered "no keys": 401. A key it publishes next is found within a second.
        with pytest.raises(Unauthorized) as caught:
            await cache.get_key(key_a.kid)
        assert caught.value.code == "KEY_NOT_FOUND"
        source.keys = [key_a.public_jwk()]
        clock.advance(0.5)
        assert (await cache.get_key(key_a.kid)).kid == key_a.kid  # waited for the 1 s retry
        assert source.calls == 2
        assert clock.now == 1_001.0

    async def test_a_long_interval_applies_once_keys_are_held(self, key_a: TestKey) -> None:
        clock = ManualClock()
        source = MutableSource([key_a.public_jwk()])
        cache = JwksCache(
            source,
            ttl=TTL,
            min_ttl=MIN_TTL,
            refetch_cooldown=10,
            max_stale=MAX_STALE,
            clock=clock,
            sleep=clock.sleep,
        )
        await cache.get_key(key_a.kid)
        clock.advance(2)
        with pytest.raises(Unauthorized):
            await cache.get_key("unknown-kid")
        assert source.calls == 1

    async def test_refresh_if_stale(self, key_a: TestKey) -> None:
        clock = ManualClock()
        source = MutableSource([key_a.public_jwk()])
        cache = JwksCache(
            source,
            ttl=TTL,
            min_ttl=MIN_TTL,
            refetch_cooldown=COOLDOWN,
            max_stale=MAX_STALE,
            clock=clock,
            sleep=clock.sleep,
        )
        await cache.refresh_if_stale(wait=1)  # nothing fetched yet: fetches
        assert cache.status()["state"] == "ok"
        await cache.refresh_if_stale(wait=1)  # fresh: no fetch
        assert source.calls == 1
        clock.advance(TTL + 1)
        source.fail = True
        await cache.refresh_if_stale(wait=1)
        status = cache.status()
        assert (status["state"], status["last_error"]) == ("stale", "source down")
        source.fail = False
        clock.advance(COOLDOWN + 0.1)
        await cache.refresh_if_stale(wait=1)
        assert cache.status()["state"] == "ok"
        assert source.calls == 3


class MutableSource:
    def __init__(self, keys: list[dict[str, object]]) -> None:
        self.keys = keys
        self.fail = False
        self.calls = 0

    async def fetch(self) -> FetchedKeys:
        self.calls += 1
        if self.fail:
            raise KeySourceError("source down")
        return FetchedKeys([dict(key) for key in self.keys])
