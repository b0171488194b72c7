"""The FIFO gate in front of the database pool (``app.utils.fifo_gate``), on its own.

Order is observed by the event loop's turns, never by timing: each waiter is known to be
queued (``gate.waiting``) before the next one arrives.
"""

from __future__ import annotations

import asyncio

import pytest

from app.utils.fifo_gate import FifoGate, GateTimeout


async def queued(gate: FifoGate, count: int) -> None:
    for _ in range(1000):  # loop turns, not time
        if gate.waiting >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{count} waiters expected, {gate.waiting} queued")


async def test_waiters_are_admitted_in_arrival_order() -> None:
    gate = FifoGate(1, timeout=30)
    admitted: list[int] = []

    async def worker(n: int) -> None:
        await gate.acquire()
        admitted.append(n)
        await asyncio.sleep(0)  # hold the slot across a loop turn
        gate.release()

    await gate.acquire()
    tasks = []
    for n in range(8):
        tasks.append(asyncio.create_task(worker(n)))
        await queued(gate, n + 1)
    gate.release()
    await asyncio.gather(*tasks)
    assert admitted == list(range(8))
    assert (gate.in_use, gate.waiting) == (0, 0)


async def test_a_newcomer_does_not_overtake_the_queue() -> None:
    gate = FifoGate(1, timeout=30)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    await queued(gate, 1)
    gate.release()  # handed to ``first``, which has not run yet
    late = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    assert first.done()
    assert not late.done()
    gate.release()
    await late
    gate.release()
    assert (gate.in_use, gate.waiting) == (0, 0)


@pytest.mark.parametrize("handed_a_slot", [False, True], ids=["queued", "as-the-slot-arrives"])
async def test_cancelled_waiter_takes_no_slot(handed_a_slot: bool) -> None:
    gate = FifoGate(1, timeout=30)
    await gate.acquire()
    cancelled = asyncio.create_task(gate.acquire())
    behind = asyncio.create_task(gate.acquire())
    await queued(gate, 2)
    if handed_a_slot:
        gate.release()  # the slot is handed to ``cancelled``, cancelled before it could run
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    if not handed_a_slot:
        assert gate.waiting == 1
        gate.release()
    await behind  # the slot went on to the next waiter
    assert gate.in_use == 1
    gate.release()
    assert (gate.in_use, gate.waiting) == (0, 0)


async def test_wait_is_bounded_and_leaves_nothing_behind() -> None:
    gate = FifoGate(1, timeout=0.01)
    await gate.acquire()
    with pytest.raises(GateTimeout):
        await gate.acquire()
    assert (gate.in_use, gate.waiting, gate.timeouts) == (1, 0, 1)
    gate.release()
    await gate.acquire()  # the slot is free again
    gate.release()
    assert gate.in_use == 0


async def test_progress_is_recorded_only_for_real_work() -> None:
    now = [100.0]
    gate = FifoGate(1, timeout=30, clock=lambda: now[0])
    await gate.acquire()
    gate.release(progress=False)  # a failed checkout gives its slot back
    assert not gate.progressed_within(2.0)
    await gate.acquire()
    assert gate.saturated
    gate.release()
    assert gate.progressed_within(2.0)
    now[0] += 2.0
    assert not gate.progressed_within(2.0)
