"""A clock that moves only when told: inject it instead of patching ``time``."""

from __future__ import annotations

import asyncio


class ManualClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Virtual time: the wait passes at once (the event loop still gets a turn)."""
        self.advance(seconds)
        await asyncio.sleep(0)
