"""Stopping background tasks at shutdown, within a bound.

A single ``task.cancel()`` is not enough to stop a loop: a cancellation can be swallowed below
it. On Python 3.11, ``asyncio.wait_for`` returns its inner task's result when the cancellation
arrives in the same turn as that task completes, and the caller carries on as if never
cancelled; a reconnect loop then goes round again and the shutdown that awaits it hangs. So the
task is cancelled again while it still runs, and waited for no longer than a deadline.
"""

from __future__ import annotations

import asyncio
import logging

_log = logging.getLogger(__name__)


async def stop_task(task: asyncio.Task[None], *, within: float) -> None:
    """Cancel ``task`` and wait for it, cancelling again while it runs (a cancellation can be
    swallowed below it), for at most ``within`` seconds; never raises the task's error."""
    deadline = asyncio.get_running_loop().time() + within
    while not task.done():
        task.cancel()
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            _log.warning("task %s did not stop", task.get_name())
            return
        await asyncio.wait({task}, timeout=min(remaining, 0.5))
    if not task.cancelled():
        task.exception()  # retrieved: never "exception was never retrieved"
