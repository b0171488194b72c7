"""The mechanism shared by the in-process caches fed by the invalidation feed (NOTIFY listener).

The identity, organization and API-key caches differ in what they hold and how a notice maps to
rows, but not in how they stay correct:
- entries are bounded per table, oldest dropped first, one at a time and in O(1) (an
  ``OrderedDict``: a plain dict's first key costs a walk over the slots deleted at its front);
- while the feed is up (``live``) entries have no age limit; while it is down (or on SQLite, no
  feed) entries older than ``fallback_ttl`` are ignored;
- a generation counter lets a read that began before an invalidation refuse to store its result;
- a reconnect (``feed_up``) flushes everything before the cache is trusted again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Entry(Generic[V]):
    value: V
    loaded_at: float


class FeedTable(Generic[K, V]):
    """One bounded table; ``on_drop`` hears of entries dropped for size (to clean side indexes)."""

    def __init__(
        self, max_entries: int, on_drop: Callable[[K, Entry[V]], object] | None = None
    ) -> None:
        self.max_entries = max_entries
        self.rows: OrderedDict[K, Entry[V]] = OrderedDict()
        self._on_drop = on_drop

    def __len__(self) -> int:
        return len(self.rows)

    def put(self, key: K, entry: Entry[V]) -> None:
        self.rows.pop(key, None)  # a replacement, not a drop: it moves to the newest end
        while len(self.rows) >= self.max_entries:
            oldest, dropped = self.rows.popitem(last=False)
            if self._on_drop is not None:
                self._on_drop(oldest, dropped)
        self.rows[key] = entry


class FeedCache:
    """A cache fed by the invalidation feed; subclasses hold the tables and define ``_clear``."""

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
        self._generation = 0
        self.live = False
        self.hits = 0
        self.misses = 0
        self._create_tables()

    def _create_tables(self) -> None:
        """Subclasses build their tables (``self._table()``) and side indexes here."""
        raise NotImplementedError

    def _table(self, on_drop: Callable[[K, Entry[V]], object] | None = None) -> FeedTable[K, V]:
        return FeedTable(self._max_entries, on_drop)

    def _entry(self, value: V) -> Entry[V]:
        return Entry(value, self._clock())

    def _young(self, entry: Entry[V]) -> bool:
        """Within the fallback TTL (the only age that counts while the feed is down)."""
        return self._clock() - entry.loaded_at < self._fallback_ttl

    def _lookup(self, entry: Entry[V] | None) -> Entry[V] | None:
        """The entry if it may be served (counted as a hit), else None (a miss)."""
        if entry is None or not self.enabled or not (self.live or self._young(entry)):
            self.misses += 1
            return None
        self.hits += 1
        return entry

    # --- generations ---

    def begin_read(self) -> int:
        return self._generation

    def _bump(self) -> int:
        self._generation += 1
        return self._generation

    # --- the invalidation feed ---

    def _clear(self) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        self._bump()
        self._clear()

    def feed_up(self) -> None:
        """The invalidation feed (re)connected: nothing cached before can be trusted."""
        self.flush()
        self.live = True

    def feed_down(self) -> None:
        self.live = False
