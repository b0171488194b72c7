"""In-process cache of users and sessions for the authentication path.

Correctness rests on invalidation, not on expiry:
- On PostgreSQL, triggers on ``"user"`` and ``"session"`` ``pg_notify`` the changed row's id
  (revision 0003) and every process listens (``invalidation.py``); a notice evicts the entry.
  While that feed is up (``live``), entries have no age limit.
- While the feed is down, or on SQLite (no feed), entries older than ``fallback_ttl`` are
  ignored; when the feed comes back the whole cache is flushed before it is trusted again.
- This process's own writes evict at once (UserService), so a ban made here bites on the very
  next request even before the notice arrives.
- A read that started before an invalidation must not re-insert the old state: ``begin_read``
  returns the invalidation generation, and ``put_*`` drops the value if it has moved since.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.services.auth.snapshots import SessionSnapshot, UserSnapshot

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    loaded_at: float


class IdentityCache:
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
        self._users: dict[str, _Entry[UserSnapshot]] = {}
        self._sessions: dict[bytes, _Entry[SessionSnapshot]] = {}
        self._session_keys: dict[str, bytes] = {}
        self._generation = 0
        self.live = False
        self.hits = 0
        self.misses = 0

    # --- reads ---

    def begin_read(self) -> int:
        return self._generation

    def get_user(self, user_id: str) -> UserSnapshot | None:
        return self._fresh(self._users.get(user_id))

    def get_session(self, token_digest: bytes) -> SessionSnapshot | None:
        return self._fresh(self._sessions.get(token_digest))

    def _fresh(self, entry: _Entry[V] | None) -> V | None:
        if entry is None or not self.enabled:
            self.misses += 1
            return None
        if not self.live and self._clock() - entry.loaded_at >= self._fallback_ttl:
            self.misses += 1
            return None
        self.hits += 1
        return entry.value

    # --- writes ---

    def put_user(self, user: UserSnapshot, generation: int) -> None:
        if self.enabled and generation == self._generation:
            while len(self._users) >= self._max_entries:
                del self._users[next(iter(self._users))]  # oldest first
            self._users[user.id] = _Entry(user, self._clock())

    def put_session(self, token_digest: bytes, session: SessionSnapshot, generation: int) -> None:
        if self.enabled and generation == self._generation:
            while len(self._sessions) >= self._max_entries:
                oldest = self._sessions.pop(next(iter(self._sessions)))
                self._session_keys.pop(oldest.value.id, None)
            self._sessions[token_digest] = _Entry(session, self._clock())
            self._session_keys[session.id] = token_digest

    # --- invalidation ---

    def evict_user(self, user_id: str) -> None:
        self._generation += 1
        self._users.pop(user_id, None)

    def evict_session(self, session_id: str) -> None:
        self._generation += 1
        digest = self._session_keys.pop(session_id, None)
        if digest is not None:
            self._sessions.pop(digest, None)

    def evict_sessions_of(self, user_id: str) -> None:
        self._generation += 1
        for digest, entry in list(self._sessions.items()):
            if entry.value.user_id == user_id:
                self._sessions.pop(digest, None)
                self._session_keys.pop(entry.value.id, None)

    def flush(self) -> None:
        self._generation += 1
        self._users.clear()
        self._sessions.clear()
        self._session_keys.clear()

    def feed_up(self) -> None:
        """The invalidation feed (re)connected: nothing cached before can be trusted."""
        self.flush()
        self.live = True

    def feed_down(self) -> None:
        self.live = False

    def stats(self) -> dict[str, object]:
        return {
            "live": self.live,
            "users": len(self._users),
            "sessions": len(self._sessions),
            "hits": self.hits,
            "misses": self.misses,
        }
