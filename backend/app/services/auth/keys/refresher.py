"""Keeps the key cache fresh in the background, whatever the traffic.

The token cache answers a token it has seen without asking the key cache, so a process that
only serves cached tokens would never fetch again, and never learn that a key was withdrawn.
This task fetches whenever the set goes stale (``JWKS_CACHE_TTL_SECONDS``, or the source's
``max-age`` when shorter, never below ``JWKS_MIN_TTL_SECONDS``): a withdrawal reaches every
process, busy or quiet, within one TTL plus one fetch. While the source fails, it retries with
a backoff (requests that need a new key still fetch on their own, at the cooldown's pace).

Its first fetch is the start-up warm-up. It never raises; ``aclose`` stops it within a bound
even if a cancellation is swallowed somewhere below it (Python 3.11's ``asyncio.wait_for``
loses one that arrives as its inner task completes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from app.utils.tasks import stop_task

if TYPE_CHECKING:
    from app.services.auth.keys.cache import JwksCache

MAX_FAILURE_BACKOFF: Final = 30.0
STOP_TIMEOUT: Final = 5.0


class KeyRefresher:
    def __init__(
        self,
        cache: JwksCache,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        logger: logging.Logger,
    ) -> None:
        self._cache = cache
        self._sleep = sleep
        self._log = logger
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="jwks-refresher")

    async def _run(self) -> None:
        failures = 0
        delay = 0.0  # the first fetch is the warm-up
        while not self._stopping:
            await self._sleep(delay)
            try:
                await self._cache.refresh()
            except Exception:  # refresh records source failures; this guards the unexpected
                self._log.exception("JWKS background refresh failed")
            failures = failures + 1 if self._cache.last_fetch_failed else 0
            backoff = min(MAX_FAILURE_BACKOFF, 2.0 ** (failures - 1)) if failures else 0.0
            delay = max(self._cache.refresh_due_in(), backoff)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        await stop_task(task, within=STOP_TIMEOUT)
