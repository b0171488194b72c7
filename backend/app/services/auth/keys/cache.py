"""Signing keys of the auth server, cached for the token verifier.

A :class:`KeySource` delivers a JWK set (over HTTP from Better-Auth's ``/api/auth/jwks``, or
from its ``jwks`` table); :class:`JwksCache` keeps the keys pre-built by ``kid`` and decides
when to fetch again:

- fresh hit: returned without awaiting anything;
- unknown ``kid`` (a new or rotated key) or expired set: one shared fetch for every concurrent
  caller (single-flight), at most one per ``refetch_cooldown`` (the minimum interval between
  two fetches, 1 s by default) whatever the traffic;
- a key the cache cannot give is only refused on the strength of a fetch that started after the
  request arrived: if the last one is older, the request waits for the next, shared, fetch when
  it is due within a second, rather than refuse a token whose key has just been published;
- source down: keys already held keep working up to ``max_stale`` past their expiry
  (stale-if-error); the failure is logged once per 10 s, not once per request;
- every answer of a reachable source is the truth, an empty one included: a key it no longer
  publishes (withdrawn after a leak, past its grace period, purged) is dropped at once, and
  ``trusts`` tells the token cache so that tokens verified with it stop passing too. With no key
  at all, a token is refused 401 ``KEY_NOT_FOUND`` (the source answered: there is no such key),
  never 503, which stays for a source that does not answer;
- ``start`` keeps the set fresh in the background (``keys.refresher``), so that a withdrawal
  reaches a process that only serves cached tokens within one TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from app.services.auth.jose import VerificationKey
from app.services.auth.keys.keyset import KeySet, build_key_set
from app.services.auth.keys.refresher import KeyRefresher
from app.services.auth.keys.schedule import CacheStatus, FetchSchedule
from app.services.auth.keys.sources import KeySource, KeySourceError
from app.utils.errors import ServiceUnavailable, Unauthorized

if TYPE_CHECKING:
    from app.config import Settings

_log = logging.getLogger(__name__)

# The keys a fetch delivers are usable for at least this long, so that the requests that waited
# for that fetch can use them even with a zero TTL and no stale window.
_MIN_EFFECTIVE_TTL = 1.0
# A request about to be refused waits for the next fetch if it is due within this long: a key
# published a moment after this process's last fetch is then accepted, not refused until the
# interval ends (two workers warming up, a rotation).
_MAX_REFUSAL_WAIT = 1.0


class JwksCache:
    """Keys by ``kid`` with TTL, single-flight refetch at a bounded rate and stale-if-error.

    Times are seconds on ``clock`` (monotonic by default) and ``sleep`` waits on it: inject
    both in tests.
    """

    def __init__(
        self,
        source: KeySource,
        *,
        ttl: float,
        min_ttl: float,
        refetch_cooldown: float,
        max_stale: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        self._source = source
        self._ttl = ttl
        self._min_ttl = min_ttl
        self._max_stale = max_stale
        self._clock = clock
        self._sleep = sleep
        self._log = logger or _log
        self._keys = KeySet()
        self._fresh_until = -math.inf
        self._schedule = FetchSchedule(refetch_cooldown)
        self._inflight: asyncio.Future[None] | None = None
        self._closed = False  # after aclose: no new fetch (a request still running gets 503)
        self._refresher = KeyRefresher(self, sleep=sleep, logger=self._log)
        self.fetches = 0
        self.fetch_failures = 0  # read by the metrics collector

    @classmethod
    def from_settings(
        cls,
        source: KeySource,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        logger: logging.Logger | None = None,
    ) -> JwksCache:
        return cls(
            source,
            ttl=settings.jwks_cache_ttl_seconds,
            min_ttl=settings.jwks_min_ttl_seconds,
            refetch_cooldown=settings.jwks_refetch_cooldown_seconds,
            max_stale=settings.jwks_max_stale_seconds,
            clock=clock,
            sleep=sleep,
            logger=logger,
        )

    # -- public API --

    async def get_key(self, kid: str | None) -> VerificationKey:
        """The key for ``kid`` (``None``: the only key of a one-key set).

        Raises ``Unauthorized(KEY_NOT_FOUND)`` for a kid the (reachable) source does not have,
        ``Unauthorized(TOKEN_INVALID)`` for a missing kid with several keys, and
        ``ServiceUnavailable(KEY_SOURCE_UNAVAILABLE)`` when the answer depends on a source that
        is failing. Such an answer waits for a fetch started after the call, if one can start
        within a second.
        """
        arrived = self._clock()
        if arrived < self._fresh_until:
            key = self._pick(kid)  # fast path: no await, no lock
            if key is not None:
                return key
        if self._next_fetch_in(arrived) == 0:
            await self._refresh()
        if (
            self._usable_key(kid) is None
            and self._schedule.last_started < arrived
            and self._next_fetch_in(self._clock()) <= _MAX_REFUSAL_WAIT
        ):
            # What we hold predates this request: the key may have been published since.
            await self._refresh()
        return self._resolve(kid)

    async def refresh_if_stale(self, *, wait: float) -> None:
        """Refetch a stale set (the interval permitting), waiting at most ``wait`` seconds; the
        fetch goes on in the background past that. For readiness probes: without it a quiet
        process would report the state of its last fetch, however old."""
        now = self._clock()
        if now < self._fresh_until or self._next_fetch_in(now) > 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):  # not wait_for: it can swallow a cancellation
                await self._refresh()

    def trusts(self, key: VerificationKey) -> bool:
        """Whether ``key`` (the object a verification used) is still held and usable. O(1)."""
        kid = key.kid
        held = self._keys.by_kid.get(kid) is key if kid is not None else self._keys.holds(key)
        return held and self._clock() <= self._fresh_until + self._max_stale

    def start(self) -> None:
        """Fetch now and keep the set fresh in the background until ``aclose``."""
        self._refresher.start()

    def refresh_due_in(self) -> float:
        """Seconds until the set goes stale, or until the next fetch may start if it is."""
        return max(self._fresh_until - self._clock(), self._next_fetch_in(self._clock()), 0.0)

    @property
    def last_fetch_failed(self) -> bool:
        return self._schedule.last_failed

    async def refresh(self) -> None:
        await self._refresh()  # the refresher's: join the fetch in flight or start one

    async def warm(self) -> None:
        """Fetch once at start-up. Never raises: the app starts even if the source is down."""
        try:
            await self._refresh()
        except Exception:  # _refresh records failures; this guards against the unexpected
            self._log.exception("JWKS warm-up failed")

    def status(self) -> CacheStatus:
        now = self._clock()
        return self._schedule.status(now, len(self._keys.all), self._fresh_until, self._max_stale)

    async def aclose(self) -> None:
        """Stop the refresher and cancel a fetch in flight (shutdown)."""
        self._closed = True
        await self._refresher.aclose()
        inflight = self._inflight
        if inflight is not None and not inflight.done():
            inflight.cancel()
            await asyncio.gather(inflight, return_exceptions=True)

    # -- lookup --

    def _pick(self, kid: str | None) -> VerificationKey | None:
        if kid is not None:
            return self._keys.by_kid.get(kid)
        if len(self._keys.all) == 1:
            return self._keys.all[0]
        if len(self._keys.all) > 1:
            raise Unauthorized(
                "token has no key id (kid) and the key set has several keys",
                code="TOKEN_INVALID",
            )
        return None

    def _usable(self, now: float) -> bool:
        """Keys held, fresh or within ``max_stale``."""
        return bool(self._keys.all) and now <= self._fresh_until + self._max_stale

    def _answered(self, now: float) -> bool:
        """The source answered (with keys or none), fresh or within ``max_stale``."""
        last_success = self._schedule.last_success
        return last_success is not None and now <= self._fresh_until + self._max_stale

    def _usable_key(self, kid: str | None) -> VerificationKey | None:
        return self._pick(kid) if self._usable(self._clock()) else None

    def _resolve(self, kid: str | None) -> VerificationKey:
        """Answer after a fetch (or a fetch skipped by the interval)."""
        key = self._usable_key(kid)
        if key is not None:
            return key
        now = self._clock()
        if self._closed or not self._answered(now) or self._schedule.source_failing(now):
            raise ServiceUnavailable(
                "signing keys are unavailable",
                code="KEY_SOURCE_UNAVAILABLE",
                retry_after=self._retry_after(now),
            )
        raise Unauthorized("unknown signing key", code="KEY_NOT_FOUND")

    def _next_fetch_in(self, now: float) -> float:
        return self._schedule.next_fetch_in(
            now, in_flight=self._inflight is not None, holding_keys=bool(self._keys.all)
        )

    def _retry_after(self, now: float) -> int:
        return max(1, math.ceil(self._next_fetch_in(now)))

    # -- fetching --

    async def _refresh(self) -> None:
        """Join the fetch in flight (or due) or start one, as soon as the interval since the
        last allows. Never raises (except cancellation)."""
        if self._closed:
            return
        if self._inflight is None:
            now = self._clock()
            delay = self._next_fetch_in(now)
            self._schedule.next_at = now + delay
            self._inflight = asyncio.ensure_future(self._fetch_and_store(delay))
        # shield: a caller that gives up (client gone) must not cancel the others' fetch.
        try:
            await asyncio.shield(self._inflight)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # this caller was cancelled
            # The fetch was (shutdown, ``aclose``): the caller answers from what is held.

    async def _fetch_and_store(self, delay: float) -> None:
        try:
            if delay > 0:
                await self._sleep(delay)
            self._schedule.last_started = self._clock()
            self.fetches += 1
            try:
                fetched = await self._source.fetch()
                keys = build_key_set(fetched.keys, self._log, self._keys)
            except KeySourceError as error:
                self._on_failure(str(error))
                return
            except Exception as error:
                # e.g. a database source's driver error: a failing source, not a crash.
                self._on_failure(f"key source raised {type(error).__name__}")
                return
            self._on_success(keys, fetched.max_age)
        finally:
            self._inflight = None

    def _on_success(self, keys: KeySet, max_age: int | None) -> None:
        now = self._clock()
        ttl = self._ttl if max_age is None else min(max(max_age, self._min_ttl), self._ttl)
        if self._schedule.succeeded(now):
            self._log.info("JWKS source recovered (%d keys)", len(keys.all))
        withdrawn = keys.withdrawn_from(self._keys)
        if withdrawn:
            # Tokens verified with these stop passing now (``trusts``), cached or not.
            self._log.warning("JWKS: key(s) withdrawn by the source: %s", ", ".join(withdrawn))
        if not keys.all and self._keys.all:
            self._log.warning("JWKS: the source publishes no usable key; every JWT is refused")
        self._keys = keys
        self._fresh_until = now + max(ttl, _MIN_EFFECTIVE_TTL)

    def _on_failure(self, reason: str) -> None:
        self.fetch_failures += 1
        now = self._clock()
        if self._schedule.failed(now, reason):
            stale_until = self._fresh_until + self._max_stale
            held = len(self._keys.all) if now <= stale_until else 0
            self._log.warning("JWKS refresh failed: %s; serving %d cached key(s)", reason, held)
