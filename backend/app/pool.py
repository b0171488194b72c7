"""The database pool behind a first-come-first-served gate.

Under overload, SQLAlchemy's pool makes a request beyond ``pool_size + max_overflow`` wait for
a connection, and whichever task the event loop happens to wake gets the next one: a request
can time out (503) while later ones are served. The gate in front of the pool admits at most
that many checkouts at a time and queues the rest strictly in arrival order, each for at most
``DATABASE_QUEUE_TIMEOUT_SECONDS``; past that, :class:`DatabaseQueueTimeout` (503
``DATABASE_UNAVAILABLE`` with ``Retry-After``). Admitted, a checkout never waits in the pool
itself: the gate's capacity is the pool's.

Under sustained load every connection is busy and the returns come in batches (one event-loop
turn hands back several): a plain QueuePool then finds its idle queue full and closes the
overflow connection it is handed, and the next checkout opens a new one (a PostgreSQL backend
started per request: 118 in ten seconds of admin searches). Here the queue has room for
``pool_size + max_overflow``; a returned connection is closed only when nobody is waiting and
``pool_size`` connections are idle already, which is QueuePool's rule once the load is gone.

The gate sits in the pool, not in the request's session, so that every user of the engine
goes through it: request sessions, the identity loaders' own sessions, the database key
source, readiness checks. The invalidation listener holds its own connection, outside the pool.
"""

from __future__ import annotations

from typing import Any

from greenlet import getcurrent  # type: ignore[import-untyped]  # no stubs; SQLAlchemy asyncio needs it
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_

from app.utils.errors import DatabaseQueueTimeout
from app.utils.fifo_gate import FifoGate, GateTimeout


class GatedPool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` whose checkouts pass a :class:`FifoGate` first.

    A slot is taken when a connection is checked out and given back when it is returned (every
    checkout SQLAlchemy hands out is returned exactly once, also after a failure), or at once
    if the checkout itself fails.
    """

    # ``gate`` is positional-or-keyword: create_engine passes on only such pool arguments.
    def __init__(
        self,
        creator: Any,
        gate: FifoGate | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
        **kw: Any,
    ) -> None:
        capacity = pool_size + max(0, max_overflow)
        # Room for every connection in the queue; the overflow is ours to close (below).
        super().__init__(creator, pool_size=capacity, max_overflow=0, **kw)
        self._steady_size = pool_size
        self.gate = gate or FifoGate(capacity, timeout=self._timeout)
        # Greenlets inside a checkout: QueuePool retries by calling ``_do_get`` again, and a
        # retry must not queue for a second slot.
        self._admitted: set[object] = set()

    def _do_get(self) -> ConnectionPoolEntry:
        current = getcurrent()
        if current in self._admitted:
            return super()._do_get()
        try:
            await_(self.gate.acquire())
        except GateTimeout as error:
            raise DatabaseQueueTimeout(
                f"queued for a database connection longer than {self.gate.timeout:g} s"
            ) from error
        self._admitted.add(current)
        try:
            return super()._do_get()
        except BaseException:
            self.gate.release(progress=False)
            raise
        finally:
            self._admitted.discard(current)

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        alive = record.dbapi_connection is not None  # None: invalidated (a dead connection)
        try:
            if not self.gate.waiting and self._pool.qsize() >= self._steady_size:
                # Nobody waits and the steady pool is idle already: an overflow connection,
                # closed as QueuePool closes it.
                try:
                    record.close()
                finally:
                    self._dec_overflow()
            else:  # handed on to the next checkout through the queue
                super()._do_return_conn(record)
        finally:
            self.gate.release(progress=alive)

    def size(self) -> int:
        """The steady pool size (``pool_size``), as QueuePool reports it."""
        return self._steady_size

    def overflow(self) -> int:
        """Connections open beyond ``pool_size`` (negative: not yet opened), as QueuePool."""
        return self._pool.maxsize + self._overflow - self._steady_size

    def recreate(self) -> GatedPool:
        # ``engine.dispose()`` swaps in a new pool while connections of the old one may still be
        # out: both share the gate, so those still hold their slots until they come back.
        # QueuePool rebuilds with the queue's size (our capacity) and no overflow: the same
        # capacity; the steady size is ours to carry over.
        pool = super().recreate()
        assert isinstance(pool, GatedPool)
        pool._steady_size = self._steady_size
        pool.gate = self.gate
        return pool
