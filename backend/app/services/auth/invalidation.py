"""The invalidation feed: one dedicated PostgreSQL connection per process LISTENing for the
notices of revision 0003 and evicting cache entries.

The connection is asyncpg's own (not the pool's): LISTEN holds a session, and a pooled or
PgBouncer-transaction connection would drop it. If the connection is lost, the cache falls back
to its short TTL (``feed_down``) until the listener has reconnected, re-issued LISTEN and
flushed the cache (``feed_up``). A keep-alive query notices a connection that died silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg

from app.database import DatabaseTarget
from app.services.auth.identity_cache import IdentityCache

logger = logging.getLogger(__name__)

CHANNEL = "bab_identity"


class NoticeSubscriber(Protocol):
    """Another cache fed by the same channel (e.g. the organization cache): it sees every
    notice (``notice`` answers whether the kind was its own) and the feed's state."""

    def notice(self, kind: str, row_id: str) -> bool: ...

    def flush(self) -> None: ...

    def feed_up(self) -> None: ...

    def feed_down(self) -> None: ...


class InvalidationListener:
    def __init__(
        self,
        target: DatabaseTarget,
        cache: IdentityCache,
        *,
        keepalive_seconds: float = 10.0,
        max_backoff_seconds: float = 10.0,
        subscribers: Sequence[NoticeSubscriber] = (),
    ) -> None:
        self._target = target
        self._cache = cache
        self._subscribers = tuple(subscribers)
        self._keepalive = keepalive_seconds
        self._max_backoff = max_backoff_seconds
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self.connected = asyncio.Event()
        self.notices = 0
        # For the metrics collector: when the feed last proved alive (connect or keep-alive),
        # on the monotonic clock, and how many times it (re)connected.
        self.last_alive: float | None = None
        self.connects = 0

    @property
    def backend_pid(self) -> int | None:
        return self._connection.get_server_pid() if self._connection is not None else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="invalidation-listener")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()

    async def _run(self) -> None:
        backoff = 0.2
        failures = 0
        while True:
            try:
                await self._connect()
                backoff, failures = 0.2, 0
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: fall back, then retry
                failures += 1
                if failures == 1:
                    logger.warning(
                        "cache invalidation feed unavailable (%s); caching with a short TTL "
                        "until it reconnects",
                        type(error).__name__,
                    )
            finally:
                self._cache.feed_down()
                for subscriber in self._subscribers:
                    subscriber.feed_down()
                self.connected.clear()
                await self._disconnect()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _connect(self) -> None:
        url = self._target.url
        args: dict[str, Any] = dict(self._target.connect_args)
        # The pool-only options make no sense for this single connection.
        args.pop("prepared_statement_name_func", None)
        self._lost.clear()
        connection = await asyncpg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=args.pop("timeout", 5.0),
            **args,
        )
        self._connection = connection
        connection.add_termination_listener(lambda _connection: self._lost.set())
        await connection.add_listener(CHANNEL, self._on_notice)
        # Only now can no change slip by unnoticed: forget everything cached before.
        self._cache.feed_up()
        for subscriber in self._subscribers:
            subscriber.feed_up()
        self.connected.set()
        self.connects += 1
        self.last_alive = time.monotonic()
        logger.info("cache invalidation feed connected")

    async def _watch(self) -> None:
        assert self._connection is not None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._keepalive):
                    await self._lost.wait()
            if self._lost.is_set():
                raise ConnectionError("listener connection lost")
            async with asyncio.timeout(5.0):
                await self._connection.fetchval("SELECT 1")
            self.last_alive = time.monotonic()

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=2.0)

    def _on_notice(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.notices += 1
        kind, _, row_id = payload.partition(":")
        claimed = [subscriber.notice(kind, row_id) for subscriber in self._subscribers]
        if kind == "u":
            self._cache.evict_user(row_id)
        elif kind == "s":
            self._cache.evict_session(row_id)
        elif not any(claimed):  # unknown payload: be safe
            self._cache.flush()
            for subscriber in self._subscribers:
                subscriber.flush()
