"""The static part of an ``apikey`` row, and the in-process cache that holds it.

Static means: changed only by an explicit update of the key (Better-Auth's update-api-key, or
SQL), which the ``apikey`` trigger of revision 0005 announces. The counters (``remaining``,
``requestCount``, ``lastRequest``, ``lastRefillAt``) are not here: they live in the database only
and every verification changes them in one atomic UPDATE (``usage.py``).

Only keys that exist are cached (a flood of random keys cannot fill it), keyed by the stored
hash, never by the key. Invalidation works like the identity cache's: notices evict by id, a
read that began before an eviction cannot re-insert, and while the feed is down (or on SQLite)
entries older than the fallback TTL are ignored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.models.apikey import ApiKey

Permissions = dict[str, list[str]]


def parse_permissions(raw: str | None) -> Permissions | None:
    """The plugin's ``safeJSONParse``: anything that is not a JSON object of string lists is
    treated as no permissions at all."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    parsed: Permissions = {}
    for resource, actions in value.items():
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            return None
        parsed[str(resource)] = list(actions)
    return parsed


@dataclass(frozen=True, slots=True)
class ApiKeySnapshot:
    id: str
    key_hash: str
    reference_id: str
    config_id: str
    name: str | None
    enabled: bool | None
    expires_at: datetime | None
    permissions: Permissions | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeySnapshot:
        return cls(
            id=row.id,
            key_hash=row.key,
            reference_id=row.reference_id,
            config_id=row.config_id,
            name=row.name,
            enabled=row.enabled,
            expires_at=row.expires_at,
            permissions=parse_permissions(row.permissions),
        )

    def __repr__(self) -> str:  # never the hash
        return f"ApiKeySnapshot(id={self.id!r}, reference_id={self.reference_id!r})"


@dataclass(frozen=True, slots=True)
class _Entry:
    value: ApiKeySnapshot
    loaded_at: float


class ApiKeyCache:
    """Also a subscriber of the invalidation feed: ``notice("k", id)`` evicts a key."""

    KIND = "k"

    def __init__(
        self,
        *,
        max_entries: int,
        fallback_ttl: float,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self._max_entries = max_entries
        self._fallback_ttl = fallback_ttl
        self._clock = clock
        self._by_hash: dict[str, _Entry] = {}
        self._hash_of: dict[str, str] = {}
        self._generation = 0
        self.live = False

    def __len__(self) -> int:
        return len(self._by_hash)

    def begin_read(self) -> int:
        return self._generation

    def get(self, key_hash: str) -> ApiKeySnapshot | None:
        entry = self._by_hash.get(key_hash)
        if entry is None or not self.enabled:
            return None
        if not self.live and self._clock() - entry.loaded_at >= self._fallback_ttl:
            return None
        return entry.value

    def put(self, snapshot: ApiKeySnapshot, generation: int) -> None:
        if not self.enabled or generation != self._generation:
            return
        while len(self._by_hash) >= self._max_entries:
            oldest = self._by_hash.pop(next(iter(self._by_hash)))
            self._hash_of.pop(oldest.value.id, None)
        self._by_hash[snapshot.key_hash] = _Entry(snapshot, self._clock())
        self._hash_of[snapshot.id] = snapshot.key_hash

    def evict(self, key_id: str) -> None:
        self._generation += 1
        key_hash = self._hash_of.pop(key_id, None)
        if key_hash is not None:
            self._by_hash.pop(key_hash, None)

    # --- the invalidation feed (NoticeSubscriber) ---

    def notice(self, kind: str, row_id: str) -> bool:
        if kind != self.KIND:
            return False
        self.evict(row_id)
        return True

    def flush(self) -> None:
        self._generation += 1
        self._by_hash.clear()
        self._hash_of.clear()

    def feed_up(self) -> None:
        self.flush()
        self.live = True

    def feed_down(self) -> None:
        self.live = False
