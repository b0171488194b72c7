"""Bounding what failed authentication costs: random bearer values must not each buy a query.

Two guards, both in front of the database:

- :class:`UnknownTokenCache` remembers, for ``UNKNOWN_TOKEN_TTL_SECONDS``, the digests of session
  tokens the database did not know. A client repeating a revoked or made-up token then costs a
  dictionary lookup, not a query. Safe because Better-Auth's session tokens are 32 random
  characters created together with their row: a token that was unknown a moment ago cannot
  become a live session (no one could have presented it before Better-Auth made it).
- :class:`FailedAuthLimiter` counts failed authentications (any 401, ``POST /auth/verify``'s
  included) per client address (``RATE_LIMIT_AUTH_FAILURES_PER_IP``). Once an address is over
  budget, its requests are answered 429 until the window ends, before any database read or
  signature check: only a credential this process has already verified and still holds (a
  token-cache or session-cache hit, a cached API key) goes through. A guesser cannot present
  one, while the valid users behind the same NAT or proxy keep working. The block is kept in
  process memory, so checking it costs no round trip even with Redis (which only shares the
  counting): the steady-state request path stays free of I/O.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from app.services.platform.rate_limit import RateLimiter
from app.utils.errors import TooManyRequests

UNKNOWN_TOKEN_TTL_SECONDS: Final = 60.0
UNKNOWN_TOKEN_ENTRIES: Final = 10_000
BLOCKED_ADDRESSES: Final = 10_000


class UnknownTokenCache:
    """Digests of session tokens the database did not know, each kept ``ttl`` seconds."""

    def __init__(
        self,
        *,
        max_entries: int = UNKNOWN_TOKEN_ENTRIES,
        ttl: float = UNKNOWN_TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl
        self._clock = clock

    def __contains__(self, digest: bytes) -> bool:
        expires = self._entries.get(digest)
        if expires is None:
            return False
        if self._clock() < expires:
            return True
        del self._entries[digest]
        return False

    def add(self, digest: bytes) -> None:
        self._entries.pop(digest, None)
        while len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)  # the oldest goes first
        self._entries[digest] = self._clock() + self._ttl

    def __len__(self) -> int:
        return len(self._entries)


class FailedAuthLimiter:
    """Per-address budget of failed authentications, enforced before the next attempt."""

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        max_blocked: int = BLOCKED_ADDRESSES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limiter = limiter
        self._blocked: OrderedDict[str, float] = OrderedDict()
        self._max_blocked = max_blocked
        self._clock = clock

    def check(self, address: str, *, vouched: Callable[[], bool] | None = None) -> None:
        """429 when ``address`` used up its budget of failures, unless ``vouched()`` says the
        request carries a credential already verified (asked only for a blocked address);
        no I/O."""
        until = self._blocked.get(address)
        if until is None:
            return
        remaining = until - self._clock()
        if remaining <= 0:
            del self._blocked[address]
            return
        if vouched is not None and vouched():
            return
        raise TooManyRequests(
            "too many failed authentications from this address",
            retry_after=math.ceil(remaining),
            code="AUTH_FAILURES_RATE_LIMITED",
        )

    async def record_failure(self, address: str) -> None:
        """Count one failure; over the budget, block ``address`` until its window resets."""
        retry_after = await self._limiter.over_budget("auth_failures", address)
        if retry_after is None:
            return
        self._blocked.pop(address, None)
        while len(self._blocked) >= self._max_blocked:
            self._blocked.popitem(last=False)
        self._blocked[address] = self._clock() + retry_after
