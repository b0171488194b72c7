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
from dataclasses import dataclass
from datetime import datetime

from app.models.apikey import ApiKey
from app.services.platform.feed_cache import FeedCache, FeedTable
from app.services.platform.snapshots import snapshot_of

Permissions = dict[str, list[str]]


def parse_permissions(raw: str | None) -> Permissions | None:
    """The key's scope (``app.services.access.scope``), from the column as the plugin writes it.

    ``None``, the key has no permissions and acts with its owner's roles: a NULL or empty
    column, or the JSON ``null`` that update-api-key writes for ``permissions: null``. Anything
    else that is not a JSON object of string lists is an empty scope, which grants nothing: a
    row the plugin cannot read either (its ``safeJSONParse`` fails, and its verify then refuses
    every permission) must not act with the owner's full roles.
    """
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    if value is None:
        return None
    if not isinstance(value, dict):
        return {}
    parsed: Permissions = {}
    for resource, actions in value.items():
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            return {}
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
        return snapshot_of(
            cls, row, key_hash=row.key, permissions=parse_permissions(row.permissions)
        )

    def __repr__(self) -> str:  # never the hash
        return f"ApiKeySnapshot(id={self.id!r}, reference_id={self.reference_id!r})"


class ApiKeyCache(FeedCache):
    """Also a subscriber of the invalidation feed: ``notice("k", id)`` evicts a key."""

    KIND = "k"

    def _create_tables(self) -> None:
        self._by_hash: FeedTable[str, ApiKeySnapshot] = self._table(
            lambda _, oldest: self._hash_of.pop(oldest.value.id, None)
        )
        self._hash_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, key_hash: str) -> ApiKeySnapshot | None:
        entry = self._lookup(self._by_hash.rows.get(key_hash))
        return None if entry is None else entry.value

    def put(self, snapshot: ApiKeySnapshot, generation: int) -> None:
        if not self.enabled or generation != self._generation:
            return
        self._by_hash.put(snapshot.key_hash, self._entry(snapshot))
        self._hash_of[snapshot.id] = snapshot.key_hash

    def evict(self, key_id: str) -> None:
        self._bump()
        key_hash = self._hash_of.pop(key_id, None)
        if key_hash is not None:
            self._by_hash.rows.pop(key_hash, None)

    # --- the invalidation feed (NoticeSubscriber; feed_up/feed_down/flush are FeedCache's) ---

    def notice(self, kind: str, row_id: str) -> bool:
        if kind != self.KIND:
            return False
        self.evict(row_id)
        return True

    def _clear(self) -> None:
        self._by_hash.rows.clear()
        self._hash_of.clear()
