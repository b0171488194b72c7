"""``apikey`` rows shaped as @better-auth/api-key 1.7.5 writes them, and keys to match."""

from __future__ import annotations

import json
import secrets
import string
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
from app.models.apikey import ApiKey
from app.services.apikeys.hashing import hash_api_key

ALPHABET = string.ascii_letters


def new_key(prefix: str = "") -> str:
    """The plugin's default generator: 64 letters a-z A-Z, after an optional prefix."""
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(64))


async def create_api_key(db: AsyncSession, user: User, key: str, **fields: object) -> ApiKey:
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "reference_id": user.id,
        "key": hash_api_key(key),
        "start": key[:6],
        "enabled": True,
        "rate_limit_enabled": True,
        "rate_limit_time_window": 86_400_000,
        "rate_limit_max": 10,
        "request_count": 0,
        "remaining": None,
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    row = ApiKey(**values)
    db.add(row)
    await db.flush()
    return row


async def key_headers(
    db: AsyncSession, user: User, permissions: object = None, **fields: object
) -> dict[str, str]:
    """The ``x-api-key`` header of a new key of ``user``, without its own rate limit (a test
    makes many calls with one key). ``permissions``: None (the column NULL) or the scope,
    stored as the plugin stores it (JSON text)."""
    key = new_key()
    stored = None if permissions is None else json.dumps(permissions)
    await create_api_key(db, user, key, permissions=stored, rate_limit_enabled=False, **fields)
    return {"x-api-key": key}
