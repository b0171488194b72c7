"""Readiness checks: each dependency answers quickly or is reported unavailable."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.schemas.common import CheckResult
from app.services.jwks import JwksCache

DATABASE_CHECK_TIMEOUT_SECONDS = 2.0
KEY_CHECK_WAIT_SECONDS = 1.0


class HealthService:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

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

    @staticmethod
    async def check_keys(key_cache: JwksCache) -> CheckResult:
        """The key source's state: ``ok``, ``degraded`` (serving stale keys or none fetched yet)
        or ``unavailable`` (no usable keys after a failure). A stale set is refetched first
        (within the cooldown and a short wait), so the answer is about the source, not about
        the age of the last fetch."""
        await key_cache.refresh_if_stale(wait=KEY_CHECK_WAIT_SECONDS)
        status = key_cache.status()
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
