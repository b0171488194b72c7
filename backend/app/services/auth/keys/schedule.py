"""When the key cache may fetch again, and what its last fetches say about the source.

The cache owns the keys and the single fetch in flight; this owns the bookkeeping of fetch
outcomes that the rate limit, stale-if-error and readiness decide on. Times are seconds on the
cache's clock.
"""

from __future__ import annotations

import math
from typing import Literal, TypedDict

# Holding no key at all, a fetch may start this soon after the last, whatever the interval.
_EMPTY_SET_COOLDOWN = 1.0
# An outage is logged once per this long, not once per (one-second) retry.
_FAILURE_LOG_INTERVAL = 10.0


class CacheStatus(TypedDict):
    """Readiness snapshot. ``state``: ``ok`` fresh keys; ``stale`` keys past their TTL but
    still served (the next request refetches; or the source is failing); ``unavailable`` no
    usable keys after a failure or past ``max_stale``; ``empty`` no key: nothing fetched yet,
    or the source publishes none."""

    state: Literal["ok", "stale", "unavailable", "empty"]
    keys: int
    last_success_age: float | None
    last_error: str | None


class FetchSchedule:
    """Fetch outcomes and the minimum interval (``cooldown``) between two fetches."""

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self.last_attempt: float | None = None  # when the last fetch ended
        self.last_started = -math.inf
        self.next_at = -math.inf  # when the fetch in flight starts (or started)
        self.last_success: float | None = None
        self.last_failed = False
        self.last_error: str | None = None
        self._last_error_logged = -math.inf

    def next_fetch_in(self, now: float, *, in_flight: bool, holding_keys: bool) -> float:
        """Seconds until the next fetch starts (the one scheduled) or may start."""
        if in_flight:
            return max(0.0, self.next_at - now)
        if self.last_attempt is None:
            return 0.0
        return max(0.0, self.last_attempt + self._effective_cooldown(holding_keys) - now)

    def _effective_cooldown(self, holding_keys: bool) -> float:
        """Holding no key at all (a cold start before the auth server or its first key exists),
        retry within a second whatever the configured interval: every request fails until
        then, and one fetch a second cannot hammer anyone."""
        if not holding_keys:
            return min(self.cooldown, _EMPTY_SET_COOLDOWN)
        return self.cooldown

    def source_failing(self, now: float) -> bool:
        """Last attempt failed and no success within the interval."""
        recent_success = self.last_success is not None and (now - self.last_success < self.cooldown)
        return self.last_failed and not recent_success

    def succeeded(self, now: float) -> bool:
        """Record a fetch that delivered keys; ``True`` if it ends a failure."""
        recovered = self.last_failed
        self.last_attempt = self.last_success = now
        self.last_failed = False
        self.last_error = None
        return recovered

    def failed(self, now: float, reason: str) -> bool:
        """Record a failed fetch; ``True`` if it is to be logged (once per interval)."""
        self.last_attempt = now
        self.last_failed = True
        self.last_error = reason
        if now - self._last_error_logged < _FAILURE_LOG_INTERVAL:
            return False
        self._last_error_logged = now
        return True

    def status(self, now: float, keys: int, fresh_until: float, max_stale: float) -> CacheStatus:
        """Readiness snapshot of a cache holding ``keys`` keys fresh until ``fresh_until``."""
        state: Literal["ok", "stale", "unavailable", "empty"]
        if keys == 0:
            state = "unavailable" if self.last_failed else "empty"
        elif now < fresh_until:
            state = "ok"
        elif now <= fresh_until + max_stale:
            state = "stale"
        else:
            state = "unavailable"
        age = None if self.last_success is None else max(0.0, now - self.last_success)
        return {
            "state": state,
            "keys": keys,
            "last_success_age": age,
            "last_error": self.last_error if self.last_failed else None,
        }
