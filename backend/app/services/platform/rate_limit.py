"""Rate limits for the auth endpoints, on the ``limits`` library.

In-memory storage by default (one budget per process); Redis when ``REDIS_URL`` is set, so every
replica draws from one budget. If Redis stops answering we fail **open** (the request is served
and a warning is logged at most once per ``_WARN_INTERVAL_SECONDS``): an auth API that refuses
every request because a cache is down would be a worse outage than a briefly unlimited one, and
signature checks still guard every call.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from app.utils.errors import TooManyRequests

logger = logging.getLogger(__name__)
_WARN_INTERVAL_SECONDS = 30.0


def storage_for(redis_url: str) -> Storage:
    if not redis_url:
        return MemoryStorage()
    scheme, _, rest = redis_url.partition("://")
    uri = f"async+{scheme}://{rest}" if not scheme.startswith("async+") else redis_url
    # Short timeouts: a slow Redis must not stall the request path.
    storage = storage_from_string(
        uri, wrap_exceptions=True, connect_timeout=0.5, stream_timeout=0.5
    )
    assert isinstance(storage, Storage)
    return storage


@dataclass(frozen=True)
class RateLimitRule:
    scope: str
    items: tuple[RateLimitItem, ...]

    @classmethod
    def parse(cls, scope: str, text: str) -> RateLimitRule:
        return cls(scope=scope, items=tuple(parse_many(text)))


class RateLimiter:
    def __init__(
        self,
        storage: Storage,
        *,
        per_ip: str,
        per_user: str,
        auth_failures_per_ip: str = "",
        enabled: bool = True,
    ) -> None:
        self._storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._rules = {
            "ip": RateLimitRule.parse("ip", per_ip),
            "user": RateLimitRule.parse("user", per_user),
            # Empty: failed authentications are not counted.
            "auth_failures": RateLimitRule.parse("auth_failures", auth_failures_per_ip)
            if auth_failures_per_ip.strip()
            else RateLimitRule("auth_failures", ()),
        }
        self.enabled = enabled
        self._last_warning = -math.inf
        # Read by the metrics collector at scrape time: refusals per scope.
        self.refusals: dict[str, int] = dict.fromkeys(self._rules, 0)

    async def check(self, scope: str, identifier: str) -> None:
        """Count one hit for ``identifier``; raise 429 with ``Retry-After`` when over budget."""
        retry_after = await self.over_budget(scope, identifier)
        if retry_after is not None:
            raise TooManyRequests(
                f"rate limit exceeded; retry in {retry_after} s", retry_after=retry_after
            )

    async def over_budget(self, scope: str, identifier: str) -> int | None:
        """Count one hit; the seconds until the budget recovers when it is used up, else None."""
        if not self.enabled:
            return None
        rule = self._rules[scope]
        for item in rule.items:
            try:
                allowed = await self._limiter.hit(item, scope, identifier)
                if allowed:
                    continue
                stats = await self._limiter.get_window_stats(item, scope, identifier)
            except Exception as error:  # storage outage: fail open, see module docstring
                self._warn_storage_down(error)
                return None
            self.refusals[scope] = self.refusals.get(scope, 0) + 1
            return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    def _warn_storage_down(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_INTERVAL_SECONDS:
            self._last_warning = now
            logger.warning("rate-limit storage unavailable, failing open: %s", type(error).__name__)

    async def reset(self) -> None:
        await self._storage.reset()

    async def healthy(self) -> bool:
        try:
            return bool(await self._storage.check())
        except Exception:
            return False
