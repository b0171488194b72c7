"""Verification of an API key, in the order of the plugin's ``validateApiKey``:

unknown -> ``INVALID_API_KEY``; ``enabled = false`` -> ``KEY_DISABLED``; past ``expiresAt`` ->
``KEY_EXPIRED``; quota spent -> ``USAGE_EXCEEDED``; window full -> ``RATE_LIMITED``. The owner
is checked afterwards by the caller (``principal.py``), as the plugin's session hook does.

Cost: a cached key costs one UPDATE by primary key; an uncached one a SELECT on the ``key``
index first; a key that does not exist exactly one SELECT on that index and nothing is cached
for it; a string outside the plugin's key lengths costs no query at all.

Differences from the plugin, on purpose: an expired or exhausted key is refused but not
deleted (Better-Auth deletes it at its next verification; the API does not own the table), and
a rate-limited request does not spend quota (one atomic statement decides both).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.models.apikey import ApiKey
from app.services.apikeys import errors
from app.services.apikeys.hashing import hash_api_key, hashes_match
from app.services.apikeys.snapshot import ApiKeyCache, ApiKeySnapshot
from app.services.apikeys.usage import claim_usage
from app.services.auth.identity import DbSessionFactory
from app.utils.errors import AppError, Unauthorized

ATTEMPTS = 2  # a refusal that the fresh row does not explain (a window just reset) is retried


@dataclass(frozen=True, slots=True)
class VerifiedApiKey:
    key: ApiKeySnapshot
    remaining: int | None


def _millis(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


def _seconds_until(ms: float) -> int:
    return max(1, math.ceil(ms / 1000))


class ApiKeyService:
    def __init__(
        self,
        sessions: DbSessionFactory,
        cache: ApiKeyCache,
        *,
        min_length: int,
        max_length: int,
        rate_limit_enabled: bool = True,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._cache = cache
        self._min_length = min_length
        self._max_length = max_length
        self._rate_limit_enabled = rate_limit_enabled
        self._now = now

    def is_cached(self, key: str) -> bool:
        """Whether ``key`` was verified before and its row is still cached (no I/O)."""
        if not self._min_length <= len(key) <= self._max_length:
            return False
        return self._cache.get(hash_api_key(key)) is not None

    async def verify(self, key: str) -> VerifiedApiKey:
        if not self._min_length <= len(key) <= self._max_length:
            # Not something the plugin could have issued: refused before any hashing or query.
            raise errors.invalid_api_key()
        key_hash = hash_api_key(key)
        generation = self._cache.begin_read()
        snapshot = self._cache.get(key_hash)
        async with self._sessions() as db:
            if snapshot is None:
                row = (
                    await db.execute(select(ApiKey).where(ApiKey.key == key_hash))
                ).scalar_one_or_none()
                if row is None or not hashes_match(row.key, key_hash):
                    raise errors.invalid_api_key()
                snapshot = ApiKeySnapshot.of(row)
                self._cache.put(snapshot, generation)
            now = self._now()
            self._check_static(snapshot, now)
            for _ in range(ATTEMPTS):
                now = self._now()
                claimed = (
                    await db.execute(
                        claim_usage(snapshot.id, now, rate_limit_enabled=self._rate_limit_enabled)
                    )
                ).scalar_one_or_none()
                if claimed is not None:
                    await db.commit()
                    fresh = ApiKeySnapshot.of(claimed)
                    self._cache.put(fresh, generation)
                    return VerifiedApiKey(key=fresh, remaining=claimed.remaining)
                current = (
                    await db.execute(
                        select(ApiKey)
                        .where(ApiKey.id == snapshot.id)
                        .execution_options(populate_existing=True)
                    )
                ).scalar_one_or_none()
                # Nothing to undo: the refused UPDATE changed no row (the session closes after).
                refusal = self._refusal(current, now)
                if refusal is not None:
                    if current is None or isinstance(refusal, Unauthorized):
                        self._cache.evict(snapshot.id)
                    raise refusal
        raise errors.rate_limited(1)

    @staticmethod
    def _check_static(snapshot: ApiKeySnapshot, now: datetime) -> None:
        if snapshot.enabled is False:
            raise errors.key_disabled()
        if snapshot.expires_at is not None and now > snapshot.expires_at:
            raise errors.key_expired()

    def _refusal(self, row: ApiKey | None, now: datetime) -> AppError | None:
        """Why the UPDATE matched nothing, from the row as it is now (plugin order)."""
        if row is None:
            return errors.invalid_api_key()
        try:
            self._check_static(ApiKeySnapshot.of(row), now)
        except AppError as refusal:
            return refusal
        if row.remaining is not None and row.remaining <= 0:
            if not (row.refill_interval and row.refill_amount):
                return errors.usage_exceeded(None)
            last = row.last_refill_at or row.created_at
            wait = row.refill_interval - _millis(now - last)
            if wait >= 0:
                return errors.usage_exceeded(_seconds_until(wait))
        window, limit = row.rate_limit_time_window, row.rate_limit_max
        if (
            self._rate_limit_enabled
            and row.rate_limit_enabled is not False
            and window is not None
            and limit is not None
            and row.last_request is not None
            and (row.request_count or 0) >= limit
        ):
            wait = window - _millis(now - row.last_request)
            if wait >= 0:
                return errors.rate_limited(_seconds_until(wait))
        return None
