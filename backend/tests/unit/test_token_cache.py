"""The verified-token cache: hits skip verification, entries die with the token's exp."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.sources import StaticKeySource
from app.services.auth.token_cache import CachedTokenVerifier
from app.services.auth.verifier import TokenVerifier
from app.utils.errors import Unauthorized
from tests.support.clock import ManualClock
from tests.support.keys import better_auth_claims, generate_key, sign_token

ORIGIN = "http://127.0.0.1:3000"
LEEWAY = 5


class CountingVerifier:
    def __init__(self, inner: TokenVerifier) -> None:
        self.inner = inner
        self.calls = 0

    async def verify(self, token: str, header=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        return await self.inner.verify(token, header)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(now=1_800_000_000.0)


@pytest.fixture
def key():  # type: ignore[no-untyped-def]
    return generate_key("EdDSA")


@pytest.fixture
def verifier(clock: ManualClock, key) -> CountingVerifier:  # type: ignore[no-untyped-def]
    cache = JwksCache(
        StaticKeySource([key.public_jwk()]), ttl=300, min_ttl=1, refetch_cooldown=0, max_stale=0
    )
    inner = TokenVerifier(
        cache,
        issuer=ORIGIN,
        audience=ORIGIN,
        algorithms=["EdDSA"],
        leeway_seconds=LEEWAY,
        clock=clock,
    )
    return CountingVerifier(inner)


def cached(verifier: CountingVerifier, clock: ManualClock, size: int = 100) -> CachedTokenVerifier:
    return CachedTokenVerifier(verifier, max_entries=size, leeway_seconds=LEEWAY, clock=clock)


async def filled(  # type: ignore[no-untyped-def]
    verifier: CountingVerifier, clock: ManualClock, key, *, size: int, count: int
) -> tuple[CachedTokenVerifier, list[str]]:
    """A cache of ``size`` that has verified ``count`` tokens of distinct users, in order."""
    cache = cached(verifier, clock, size=size)
    tokens = [
        sign_token(key, better_auth_claims(ORIGIN, iat=int(clock()), user_id=f"user{i}"))
        for i in range(count)
    ]
    for token in tokens:
        await cache.verify(token)
    return cache, tokens


async def test_hit_skips_verification(verifier: CountingVerifier, clock: ManualClock, key) -> None:  # type: ignore[no-untyped-def]
    cache = cached(verifier, clock)
    token = sign_token(key, better_auth_claims(ORIGIN, iat=int(clock())))
    first = await cache.verify(token)
    second = await cache.verify(token)
    assert first is second
    assert verifier.calls == 1
    assert (cache.hits, cache.misses) == (1, 1)


async def test_token_one_second_from_expiry_is_refused_after_expiry(
    verifier: CountingVerifier,
    clock: ManualClock,
    key,  # type: ignore[no-untyped-def]
) -> None:
    cache = cached(verifier, clock)
    iat = int(clock()) - 900 + 1 - LEEWAY  # one second of validity left (leeway included)
    token = sign_token(key, better_auth_claims(ORIGIN, iat=iat))
    await cache.verify(token)
    await cache.verify(token)
    assert verifier.calls == 1
    clock.advance(1)
    with pytest.raises(Unauthorized) as caught:
        await cache.verify(token)
    assert caught.value.code == "TOKEN_EXPIRED"
    assert len(cache) == 0


async def test_changed_byte_is_another_token(
    verifier: CountingVerifier,
    clock: ManualClock,
    key,  # type: ignore[no-untyped-def]
) -> None:
    cache = cached(verifier, clock)
    token = sign_token(key, better_auth_claims(ORIGIN, iat=int(clock())))
    await cache.verify(token)
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(Unauthorized):
        await cache.verify(tampered)
    assert verifier.calls == 2


async def test_failures_are_not_cached(
    verifier: CountingVerifier,
    clock: ManualClock,
    key,  # type: ignore[no-untyped-def]
) -> None:
    cache = cached(verifier, clock)
    bad = sign_token(key, better_auth_claims(ORIGIN, iat=int(clock()), aud="elsewhere"))
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await cache.verify(bad)
    assert verifier.calls == 3
    assert len(cache) == 0


async def test_bounded_oldest_first(
    verifier: CountingVerifier,
    clock: ManualClock,
    key,  # type: ignore[no-untyped-def]
) -> None:
    cache, tokens = await filled(verifier, clock, key, size=3, count=5)
    assert len(cache) == 3
    await cache.verify(tokens[-1])
    assert verifier.calls == 5
    await cache.verify(tokens[0])
    assert verifier.calls == 6
    cache.clear()
    assert len(cache) == 0


async def test_hit_makes_an_entry_the_newest(
    verifier: CountingVerifier,
    clock: ManualClock,
    key,  # type: ignore[no-untyped-def]
) -> None:
    cache, (first, second) = await filled(verifier, clock, key, size=2, count=2)
    third = sign_token(key, better_auth_claims(ORIGIN, iat=int(clock()), user_id="third"))
    await cache.verify(first)  # a hit: now "second" is the least recently used
    await cache.verify(third)
    calls = verifier.calls
    await cache.verify(first)
    assert verifier.calls == calls
    await cache.verify(second)
    assert verifier.calls == calls + 1


class NoScan(OrderedDict[bytes, object]):
    """The cache's table, refusing every walk over its entries: what an O(n) purge needs."""

    def _scan(self, *_: object) -> None:
        raise AssertionError("the token cache walked over all its entries")

    __iter__ = keys = values = items = _scan  # type: ignore[assignment]


async def test_miss_at_capacity_evicts_exactly_one_without_scanning(
    verifier: CountingVerifier,
    clock: ManualClock,
    key,  # type: ignore[no-untyped-def]
) -> None:
    size = 50
    cache = cached(verifier, clock, size=size)
    for i in range(size):
        # Half of them expire after 10 s: an expired entry is not hunted down either.
        iat = int(clock()) - (890 if i % 2 else 0)
        await cache.verify(sign_token(key, better_auth_claims(ORIGIN, iat=iat, user_id=f"u{i}")))
    clock.advance(20)
    before = list(OrderedDict.items(cache._entries))
    cache._entries = NoScan(before)

    newcomer = sign_token(key, better_auth_claims(ORIGIN, iat=int(clock()), user_id="new"))
    await cache.verify(newcomer)

    after = list(OrderedDict.items(cache._entries))
    assert len(after) == size
    # Exactly one entry left (the least recently used), one came in (at the newest end), and
    # every other entry is the same object in the same place.
    assert after[:-1] == before[1:]
    assert all(a[1] is b[1] for a, b in zip(after[:-1], before[1:], strict=True))
    assert after[-1][1].claims["sub"] == "new"


async def test_hit_touches_only_its_own_entry(
    verifier: CountingVerifier,
    clock: ManualClock,
    key,  # type: ignore[no-untyped-def]
) -> None:
    cache, tokens = await filled(verifier, clock, key, size=10, count=10)
    before = list(OrderedDict.items(cache._entries))
    cache._entries = NoScan(before)
    await cache.verify(tokens[3])
    after = list(OrderedDict.items(cache._entries))
    assert after == before[:3] + before[4:] + [before[3]]
    assert verifier.calls == 10
