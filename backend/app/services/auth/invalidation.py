"""The invalidation feed: one dedicated PostgreSQL connection per process LISTENing for the
notices of revision 0003 and evicting cache entries; a heartbeat (revision 0006) that proves the
notices still arrive.

The connection is asyncpg's own (not the pool's): LISTEN holds a session, and a pooled or
PgBouncer-transaction connection would drop it. If the connection is lost, the cache falls back
to its short TTL (``feed_down``) until the listener has reconnected, re-issued LISTEN, seen its
own heartbeat come back and flushed the cache (``feed_up``).

A successful LISTEN proves little: behind a transaction pooler it lands on a server connection
that then serves others, and a dropped or disabled trigger sends nothing. So every
``heartbeat_seconds`` the listener, over a second connection to ``DATABASE_URL`` (the path
Better-Auth's writes take, not the request pool, so a busy pool cannot fake an outage):

- checks in ``pg_trigger`` that the triggers exist and are enabled; any missing -> TTL mode
  (``feed_down``) until they are back, then a flush (changes made meanwhile were not announced);
- updates its own row of ``bab_identity_heartbeat``, whose trigger runs the very function that
  announces user changes, and waits for that notice on the LISTEN connection. None within
  ``heartbeat_timeout_seconds`` -> TTL mode and a reconnect. From the beat's COMMIT to its
  notice is the feed's per-notice lag (``lag_observer``), on one process's monotonic clock,
  over the trigger function, channel and commit-time delivery of every change notice.

Entries cached while the path was already broken are stale for at most one interval plus the
timeout; after that, the TTL applies to them. The SQL of both checks (and the connections) is in
``heartbeat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import asyncpg

from app.database import DatabaseTarget
from app.services.auth.heartbeat import (
    HEARTBEAT_BEAT_SQL,
    HEARTBEAT_INSERT_SQL,
    HEARTBEAT_PREFIX,
    HEARTBEAT_SWEEP_SQL,
    HeartbeatLost,
    close_connection,
    fetch_missing_triggers,
    forget_beat,
    open_connection,
)
from app.services.auth.identity_cache import IdentityCache
from app.utils.tasks import stop_task

logger = logging.getLogger(__name__)

CHANNEL = "bab_identity"
STOP_SECONDS = 5.0


class NoticeSubscriber(Protocol):
    """Another cache fed by the same channel (e.g. the organization or API key cache): it sees
    every notice (``notice`` answers whether the kind was its own) and the feed's state."""

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
        beat_target: DatabaseTarget | None = None,
        heartbeat_seconds: float = 2.0,
        heartbeat_timeout_seconds: float = 3.0,
        max_backoff_seconds: float = 10.0,
        subscribers: Sequence[NoticeSubscriber] = (),
    ) -> None:
        self._target = target
        self._subscribers = tuple(subscribers)
        self._beat_target = beat_target or target
        self._cache = cache
        # 0 turns the heartbeat off: a keep-alive query only, and LISTEN is trusted.
        self._interval = heartbeat_seconds
        self._timeout = heartbeat_timeout_seconds
        self._max_backoff = max_backoff_seconds
        self._beat_id = f"{HEARTBEAT_PREFIX}{uuid.uuid4().hex}"
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connection: asyncpg.Connection | None = None
        self._beat_connection: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._echo = asyncio.Event()
        self.connected = asyncio.Event()
        self.notices = 0  # change notices (heartbeats are counted apart)
        self.heartbeats = 0
        self.heartbeat_misses = 0
        self.last_heartbeat: float | None = None  # time.monotonic() of the last echo
        self.missing_triggers: tuple[str, ...] = ()
        # For the metrics collector: when the feed last proved alive (connect, heartbeat or
        # keep-alive), on the monotonic clock, and how many times it (re)connected.
        self.last_alive: float | None = None
        self.connects = 0
        # Per-notice lag: the last heartbeat's, and a hook (the metrics' histogram) fed each one.
        self.last_notice_lag: float | None = None
        self.lag_observer: Callable[[float], None] | None = None
        self._beat_sent: float | None = None  # monotonic, just before the beat's COMMIT

    @property
    def backend_pid(self) -> int | None:
        return self._connection.get_server_pid() if self._connection is not None else None

    @property
    def heartbeat_enabled(self) -> bool:
        return self._interval > 0

    def status(self) -> dict[str, object]:
        age = None if self.last_heartbeat is None else time.monotonic() - self.last_heartbeat
        return {
            "connected": self.connected.is_set(),
            "live": self._cache.live,
            "heartbeat": self.heartbeat_enabled,
            "last_heartbeat_age": None if age is None else round(age, 3),
            "heartbeat_misses": self.heartbeat_misses,
            "missing_triggers": list(self.missing_triggers),
        }

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="invalidation-listener")

    async def aclose(self) -> None:
        """Stop within a bound, whatever the loop is doing (a reconnect included)."""
        self._stopping = True
        await forget_beat(self._beat_connection, self._beat_id)  # best effort
        if self._task is not None:
            await stop_task(self._task, within=STOP_SECONDS)
        await self._disconnect()

    async def _run(self) -> None:
        backoff = 0.2
        failures = 0
        # Not ``while True``: a cancellation swallowed below (see app.utils.tasks) must not
        # send a stopping listener round to reconnect again.
        while not self._stopping:
            try:
                await self._connect()
                await self._prove()
                # Set once the path is proven, so that waiting for it means the cache is live
                # (unless a trigger is missing).
                self.connected.set()
                backoff, failures = 0.2, 0
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: fall back, then retry
                failures += 1
                logger.debug("cache invalidation feed failure: %s", type(error).__name__)
                if failures == 1:
                    logger.warning(
                        "cache invalidation feed unavailable (%s); caching with a short TTL "
                        "until it reconnects",
                        type(error).__name__,
                    )
            finally:
                self._feed_down()
                self.connected.clear()
                await self._disconnect()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _connect(self) -> None:
        self._lost.clear()
        connection = await open_connection(self._target)
        self._connection = connection
        connection.add_termination_listener(lambda _connection: self._lost.set())
        await connection.add_listener(CHANNEL, self._on_notice)
        if self.heartbeat_enabled:
            beat = await open_connection(self._beat_target)
            self._beat_connection = beat
            beat.add_termination_listener(lambda _connection: self._lost.set())
            async with asyncio.timeout(self._timeout):
                # Rows of processes gone for an hour are nobody's; an INSERT does not notify.
                await beat.execute(HEARTBEAT_SWEEP_SQL)
                await beat.execute(HEARTBEAT_INSERT_SQL, self._beat_id)
        self.connects += 1
        self.last_alive = time.monotonic()
        logger.info("cache invalidation feed connected")

    async def _prove(self) -> None:
        """One heartbeat (or, with it off, trust LISTEN): ``feed_up`` when the path is proven
        and the triggers are all there, ``feed_down`` while any is missing. Raises
        :class:`HeartbeatLost` when the notice does not come back in time."""
        if not self.heartbeat_enabled:
            if not self._cache.live:
                self._feed_up()  # only now can no change slip by: forget the past
            return
        beat = self._beat_connection
        assert beat is not None
        self._echo.clear()
        self._beat_sent = None
        async with asyncio.timeout(self._timeout):
            async with beat.transaction():
                missing = await fetch_missing_triggers(beat)
                await beat.execute(HEARTBEAT_BEAT_SQL, self._beat_id)
                # The notice leaves at COMMIT, which the block's exit sends next.
                self._beat_sent = time.monotonic()
        # The echo, or the listener's connection dying meanwhile (then no need to wait).
        echo = asyncio.ensure_future(self._echo.wait())
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({echo, lost}, timeout=self._timeout, return_when="FIRST_COMPLETED")
        finally:
            for waiter in (echo, lost):
                waiter.cancel()
        if self._lost.is_set():
            raise ConnectionError("listener connection lost")
        if not self._echo.is_set():
            self.heartbeat_misses += 1
            raise HeartbeatLost("heartbeat notice did not arrive in time")
        self.heartbeats += 1
        self.last_heartbeat = self.last_alive = time.monotonic()
        if missing:
            if missing != self.missing_triggers:
                logger.warning(
                    "cache invalidation triggers missing or disabled (%s); caching with a "
                    "short TTL until they are back",
                    ", ".join(missing),
                )
            self._feed_down()
        elif not self._cache.live:
            self._feed_up()  # proven (again): nothing cached before can be trusted
        self.missing_triggers = missing

    async def _watch(self) -> None:
        assert self._connection is not None
        interval = self._interval if self.heartbeat_enabled else 10.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._lost.wait()
            if self._lost.is_set():
                raise ConnectionError("listener connection lost")
            if self.heartbeat_enabled:
                await self._prove()
            else:  # keep-alive: notice a connection that died silently
                async with asyncio.timeout(5.0):
                    await self._connection.fetchval("SELECT 1")
                self.last_alive = time.monotonic()

    async def _disconnect(self) -> None:
        for name in ("_connection", "_beat_connection"):
            connection: asyncpg.Connection | None = getattr(self, name)
            setattr(self, name, None)
            await close_connection(connection)

    def _feed_up(self) -> None:
        self._cache.feed_up()
        for subscriber in self._subscribers:
            subscriber.feed_up()

    def _feed_down(self) -> None:
        self._cache.feed_down()
        for subscriber in self._subscribers:
            subscriber.feed_down()

    def _observe_lag(self) -> None:
        if self._beat_sent is None:
            return  # an echo of a beat whose commit was never sent (a retry after a failure)
        self.last_notice_lag = lag = time.monotonic() - self._beat_sent
        self._beat_sent = None
        if self.lag_observer is not None:
            self.lag_observer(lag)

    def _on_notice(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        kind, _, row_id = payload.partition(":")
        if kind == "u" and row_id.startswith(HEARTBEAT_PREFIX):
            if row_id == self._beat_id:
                self._echo.set()
                self._observe_lag()
            return  # another process's heartbeat: no row of ours changed
        self.notices += 1
        claimed = [subscriber.notice(kind, row_id) for subscriber in self._subscribers]
        if kind == "u":
            self._cache.evict_user(row_id)
        elif kind == "s":
            self._cache.evict_session(row_id)
        elif not any(claimed):  # unknown payload: be safe
            self._cache.flush()
            for subscriber in self._subscribers:
                subscriber.flush()
