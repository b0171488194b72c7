"""A first-come-first-served admission gate with a bounded wait.

``asyncio.Semaphore`` is not strictly FIFO (a task arriving while a slot is being handed over
can take it) and has no wait bound. Here a released slot goes straight to the oldest waiter, a
newcomer never overtakes a queue, and a waiter that gives up (timeout or cancellation) takes
nothing with it: if the slot was handed to it in the same instant, it passes the slot on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable


class GateTimeout(Exception):
    """No slot was free within the gate's wait bound."""


class FifoGate:
    def __init__(
        self,
        capacity: int,
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.timeout = timeout
        self._clock = clock
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.timeouts = 0
        # When a holder last gave its slot back after real work (readiness: busy, not dead).
        self.last_progress: float | None = None

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def saturated(self) -> bool:
        return self._in_use >= self.capacity

    def progressed_within(self, seconds: float) -> bool:
        return self.last_progress is not None and self._clock() - self.last_progress < seconds

    async def acquire(self) -> None:
        if self._in_use < self.capacity and not self._waiters:
            self._in_use += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self.release(progress=False)  # handed a slot just as it gave up: pass it on
            else:
                with contextlib.suppress(ValueError):  # already skipped by a release
                    self._waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                self.timeouts += 1
                raise GateTimeout(f"no free slot within {self.timeout:g} s") from None
            raise

    def release(self, *, progress: bool = True) -> None:
        """Give a slot back: to the oldest live waiter if any (``in_use`` unchanged), else free.
        ``progress``: the holder did real work (a connection came back alive)."""
        if progress:
            self.last_progress = self._clock()
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():  # cancelled, not yet removed by its task
                continue
            try:
                waiter.set_result(None)
            except RuntimeError:  # its event loop is closed: nobody is waiting any more
                continue
            return
        self._in_use = max(0, self._in_use - 1)
