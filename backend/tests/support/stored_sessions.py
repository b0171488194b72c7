"""Sessions in the real Redis, written as Better-Auth 1.7's ``createSession`` writes them into its
secondary storage (the shape read off a real 1.7.25 server: see docs/guides/secondary-storage.md).

Redis at 127.0.0.1:6379 is shared: every test gets a prefix of its own, and only that prefix's
keys are deleted afterwards (never FLUSHDB).
"""

from __future__ import annotations

import json
import math
import secrets
import string
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

REDIS_URL = "redis://127.0.0.1:6379/0"
_ALPHABET = string.ascii_letters + string.digits


def generate_id(size: int = 32) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(size))


def iso(moment: datetime) -> str:
    """``Date.prototype.toISOString``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def unique_prefix(label: str = "test") -> str:
    return f"bab-{label}-{secrets.token_hex(6)}:"


class BetterAuthStorage:
    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def get(self, name: str) -> str | None:
        value = await self.client.get(self.prefix + name)
        return None if value is None else str(value)

    async def get_json(self, name: str) -> Any:
        raw = await self.get(name)
        return None if raw is None else json.loads(raw)

    async def create_session(
        self,
        user_id: str,
        *,
        expires_in: timedelta = timedelta(days=7),
        created_at: datetime | None = None,
        user: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A session as ``createSession`` mirrors it: the list entry, then the record. Returns
        the stored ``session`` object (its ``token`` included)."""
        now = datetime.now(UTC)
        created = created_at or now
        expires = now + expires_in
        session = {
            "id": generate_id(),
            "ipAddress": "127.0.0.1",
            "userAgent": "pytest",
            "expiresAt": iso(expires),
            "userId": user_id,
            "token": generate_id(),
            "createdAt": iso(created),
            "updatedAt": iso(now),
            **fields,
        }
        expires_ms = math.floor(expires.timestamp() * 1000)
        listed = list(await self.get_json(f"active-sessions-{user_id}") or [])
        listed = [r for r in listed if r["expiresAt"] > time.time() * 1000]
        listed.append({"token": session["token"], "expiresAt": expires_ms})
        listed.sort(key=lambda r: r["expiresAt"])
        ttl = max(math.floor((listed[-1]["expiresAt"] - time.time() * 1000) / 1000), 1)
        await self.client.set(
            f"{self.prefix}active-sessions-{user_id}",
            json.dumps(listed, separators=(",", ":")),
            ex=ttl,
        )
        record = {"session": session, "user": user or {"id": user_id, "role": "user"}}
        await self.client.set(
            self.prefix + session["token"],
            json.dumps(record, separators=(",", ":")),
            ex=max(math.floor(expires_in.total_seconds()), 1),
        )
        return session

    async def keys(self) -> list[str]:
        return [str(key) async for key in self.client.scan_iter(match=f"{self.prefix}*")]

    async def cleanup(self) -> None:
        keys = await self.keys()
        if keys:
            await self.client.delete(*keys)


@asynccontextmanager
async def open_storage(label: str = "test") -> AsyncIterator[BetterAuthStorage]:
    """A client on the shared Redis with a prefix of its own; that prefix's keys are deleted
    on the way out."""
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    storage = BetterAuthStorage(client, unique_prefix(label))
    try:
        yield storage
    finally:
        await storage.cleanup()
        await client.aclose()
