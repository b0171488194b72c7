"""Readiness checks: each dependency answers quickly or is reported unavailable."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.schemas.common import CheckResult

DATABASE_CHECK_TIMEOUT_SECONDS = 2.0


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
