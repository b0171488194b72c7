"""Readiness checks: each dependency answers quickly or is reported unavailable."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.services.auth.heartbeat import MISSING_TRIGGERS_SQL, trigger_query_params
from app.services.auth.invalidation import InvalidationListener
from app.services.auth.keys.cache import JwksCache
from app.services.auth.secondary import SessionStorage
from app.utils.errors import ServiceUnavailable

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
    def __init__(
        self,
        engine: AsyncEngine,
        key_cache: JwksCache,
        *,
        listener: InvalidationListener | None = None,
        cache_enabled: bool = False,
        session_storage: SessionStorage | None = None,
    ) -> None:
        self._engine = engine
        self._session_storage = session_storage
        self._key_cache = key_cache
        self._listener = listener
        self._cache_enabled = cache_enabled

    async def check_database(self) -> CheckResult:
        """``SELECT 1`` within the timeout; but a saturated pool that keeps handing back live
        connections is busy, not dead: ``ok`` without queueing behind the requests."""
        busy = self._pool_busy()
        if busy is not None:
            return CheckResult(status="ok", info=busy)
        try:
            async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_SECONDS):
                async with self._engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except TimeoutError:
            return CheckResult(status="unavailable", detail="database did not answer in time")
        except Exception as error:  # any driver error means "not ready", never a 500
            return CheckResult(status="unavailable", detail=type(error).__name__)
        return CheckResult(status="ok")

    async def check_session_storage(self) -> CheckResult | None:
        """Better-Auth's secondary storage (Redis), when sessions live there: ``degraded`` when
        it does not answer (session tokens then get 503; JWTs without ``sid`` still work)."""
        if self._session_storage is None:
            return None
        try:
            async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_SECONDS):
                await self._session_storage.ping()
        except (TimeoutError, ServiceUnavailable):
            return CheckResult(status="degraded", detail="session storage did not answer")
        return CheckResult(status="ok")

    def _pool_busy(self) -> dict[str, Any] | None:
        """Every connection in use while live ones keep coming back (``app.pool``), or None."""
        gate = getattr(self._engine.pool, "gate", None)
        if gate is None or not gate.saturated:
            return None
        if not gate.progressed_within(DATABASE_CHECK_TIMEOUT_SECONDS):
            return None
        return {"state": "busy", "inUse": gate.in_use, "queued": gate.waiting}

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

    async def check_identity_feed(self) -> CheckResult:
        """The cache invalidation feed: ``ok`` when notices are proven to arrive and every
        trigger is in place; ``degraded`` (entries live for the fallback TTL only) when a
        trigger is missing or disabled, or the feed is down. Never gates readiness: the
        fallback is correct, only slower."""
        if not self._cache_enabled:
            return CheckResult(status="ok", info={"state": "cache disabled"})
        if self._engine.dialect.name != "postgresql":
            return CheckResult(status="ok", info={"state": "no feed (fallback TTL)"})
        listener = self._listener.status() if self._listener is not None else {}
        info: dict[str, Any] = {
            "state": "live" if listener.get("live") else "fallback TTL",
            "missingTriggers": None,
            "lastHeartbeatAge": listener.get("last_heartbeat_age"),
            "heartbeatMisses": listener.get("heartbeat_misses"),
        }
        if self._pool_busy() is not None:  # not worth a place in the queue: checked when idle
            return self._feed_result(listener, info)
        try:
            async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_SECONDS):
                async with self._engine.connect() as connection:
                    rows = await connection.execute(
                        text(MISSING_TRIGGERS_SQL), trigger_query_params()
                    )
                    missing = [row[0] for row in rows]
        except Exception as error:  # the database check reports the database itself
            detail = f"trigger check failed: {type(error).__name__}"
            return CheckResult(status="degraded", detail=detail, info=info)
        info["missingTriggers"] = missing
        if missing:
            return CheckResult(
                status="degraded",
                detail=f"invalidation triggers missing or disabled: {', '.join(missing)}",
                info=info,
            )
        return self._feed_result(listener, info)

    @staticmethod
    def _feed_result(listener: dict[str, Any], info: dict[str, Any]) -> CheckResult:
        if not listener.get("live"):
            return CheckResult(
                status="degraded",
                detail="invalidation feed down: cached identities expire after the fallback TTL",
                info=info,
            )
        return CheckResult(status="ok", info=info)
