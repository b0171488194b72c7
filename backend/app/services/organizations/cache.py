"""In-process cache of memberships and active organizations (the organization hot path).

It works like the identity cache (``app.services.auth.identity_cache``): correctness rests on
invalidation, not expiry. Revision 0007's triggers send, on the identity channel:

- ``m:<userId>`` for any insert, update or delete of a ``member`` row of that user;
- ``o:<organizationId>`` for any update or delete of an ``organization`` row;
- ``a:<sessionId>`` when a session's ``activeOrganizationId`` changes (``s:<sessionId>``, sent
  when a session is deleted, is honoured too).

The listener (``app.services.auth.invalidation``) hands every notice to :meth:`notice`. While the
feed is down (or on SQLite) entries older than ``fallback_ttl`` are ignored; a reconnect
flushes everything. Non-membership is cached too, so a refused caller costs no query either.
A read that began before an invalidation does not store its (possibly stale) result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.services.organizations.snapshots import Membership

V = TypeVar("V")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Entry(Generic[V]):
    value: V
    loaded_at: float


class _Table(Generic[K, V]):
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.rows: dict[K, Entry[V]] = {}

    def put(self, key: K, entry: Entry[V]) -> None:
        self.rows.pop(key, None)
        while len(self.rows) >= self.max_entries:
            del self.rows[next(iter(self.rows))]  # oldest first
        self.rows[key] = entry


class OrganizationCache:
    def __init__(
        self,
        *,
        max_entries: int,
        fallback_ttl: float,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self._fallback_ttl = fallback_ttl
        self._clock = clock
        # (userId, organizationId) -> the membership, or None: not a member (or no such org).
        self._memberships: _Table[tuple[str, str], Membership | None] = _Table(max_entries)
        # userId -> all of the user's memberships.
        self._lists: _Table[str, tuple[Membership, ...]] = _Table(max_entries)
        # sessionId -> activeOrganizationId.
        self._active: _Table[str, str | None] = _Table(max_entries)
        self._generation = 0
        self.live = False
        self.hits = 0
        self.misses = 0

    def begin_read(self) -> int:
        return self._generation

    def _get(self, table: _Table[K, V], key: K) -> Entry[V] | None:
        entry = table.rows.get(key) if self.enabled else None
        if entry is None or (
            not self.live and self._clock() - entry.loaded_at >= self._fallback_ttl
        ):
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def _put(self, table: _Table[K, V], key: K, value: V, generation: int) -> None:
        if self.enabled and generation == self._generation:
            table.put(key, Entry(value, self._clock()))

    # --- reads: None is a miss; an Entry's value may itself be None (cached absence) ---

    def get_membership(self, user_id: str, organization_id: str) -> Entry[Membership | None] | None:
        return self._get(self._memberships, (user_id, organization_id))

    def get_memberships(self, user_id: str) -> Entry[tuple[Membership, ...]] | None:
        return self._get(self._lists, user_id)

    def get_active_organization(self, session_id: str) -> Entry[str | None] | None:
        return self._get(self._active, session_id)

    def put_membership(
        self, user_id: str, organization_id: str, value: Membership | None, generation: int
    ) -> None:
        self._put(self._memberships, (user_id, organization_id), value, generation)

    def put_memberships(self, user_id: str, value: tuple[Membership, ...], generation: int) -> None:
        self._put(self._lists, user_id, value, generation)

    def put_active_organization(
        self, session_id: str, organization_id: str | None, generation: int
    ) -> None:
        self._put(self._active, session_id, organization_id, generation)

    # --- invalidation ---

    def evict_user(self, user_id: str) -> None:
        self._generation += 1
        self._lists.rows.pop(user_id, None)
        for key in [key for key in self._memberships.rows if key[0] == user_id]:
            del self._memberships.rows[key]

    def evict_organization(self, organization_id: str) -> None:
        self._generation += 1
        for key in [key for key in self._memberships.rows if key[1] == organization_id]:
            del self._memberships.rows[key]
        for user_id, entry in list(self._lists.rows.items()):
            if any(m.organization.id == organization_id for m in entry.value):
                del self._lists.rows[user_id]

    def evict_session(self, session_id: str) -> None:
        self._generation += 1
        self._active.rows.pop(session_id, None)

    def flush(self) -> None:
        self._generation += 1
        self._memberships.rows.clear()
        self._lists.rows.clear()
        self._active.rows.clear()

    # --- the invalidation feed (NoticeSubscriber) ---

    def notice(self, kind: str, row_id: str) -> bool:
        """Apply one notice; True when it was one of ours."""
        if kind == "m":
            self.evict_user(row_id)
        elif kind == "o":
            self.evict_organization(row_id)
        elif kind in ("a", "s"):
            self.evict_session(row_id)
            return kind == "a"
        else:
            return False
        return True

    def feed_up(self) -> None:
        self.flush()
        self.live = True

    def feed_down(self) -> None:
        self.live = False

    def stats(self) -> dict[str, object]:
        return {
            "live": self.live,
            "memberships": len(self._memberships.rows),
            "lists": len(self._lists.rows),
            "activeOrganizations": len(self._active.rows),
            "hits": self.hits,
            "misses": self.misses,
        }
