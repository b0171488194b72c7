"""Readiness checks: each dependency answers quickly or is reported unavailable."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.services.auth.keys.cache import JwksCache

DATABASE_CHECK_TIMEOUT_SECONDS = 2.0
KEY_CHECK_WAIT_SECONDS = 1.0


CheckStatus = Literal["ok", "degraded", "unavailable"]


@dataclass(frozen=True)
class CheckResult:
    """One dependency's answer; ``info`` carries camelCase keys for the readiness document."""

    status: CheckStatus
    detail: str | None = None
    info: dict[str, Any] | None = None


class HealthService:
    def __init__(self, engine: AsyncEngine, key_cache: JwksCache) -> None:
        self._engine = engine
        self._key_cache = key_cache

    async def check_database(self) -> CheckResult:
        try:
            async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_SECONDS):
                async with self._engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except TimeoutError:
            return CheckResult(status="unavailable", detail="database did not answer in time")
        except Exception as error:  # any driver error means "not ready", never a 500
            return CheckResult(status="unavailable", detail=type(error).__name__)
        return CheckResult(status="ok")

    async def check_keys(self) -> CheckResult:
        """The key source's state: ``ok``, ``degraded`` (serving stale keys or none fetched yet)
        or ``unavailable`` (no usable keys after a failure). A stale set is refetched first
        (within the cooldown and a short wait), so the answer is about the source, not about
        the age of the last fetch."""
        await self._key_cache.refresh_if_stale(wait=KEY_CHECK_WAIT_SECONDS)
        status = self._key_cache.status()
        info = {
            "state": status["state"],
            "keys": status["keys"],
            "lastSuccessAge": status["last_success_age"],
        }
        if status["state"] == "ok":
            return CheckResult(status="ok", info=info)
        if status["state"] == "unavailable":
            return CheckResult(status="unavailable", detail=status["last_error"], info=info)
        return CheckResult(status="degraded", detail=status["last_error"], info=info)
