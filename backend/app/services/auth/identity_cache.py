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
  returns the invalidation generation, and ``put_*`` drops the value if *its* row (user, session,
  or all sessions of its user) was invalidated since, or the whole cache was flushed. Per row, not
  globally: under load a read takes longer than the gap between any two notices, and a global
  check then dropped nearly every read, so evicted users were never cached again and every
  request for them went to the database (measured in docs/benchmarks/soak.md).
- JWTs: sessions are also kept by id (a JWT's ``sid`` claim), and "this user has a live
  session" by user (``JWT_REQUIRE_LIVE_SESSION``); the same session notices evict both. A
  session id found gone is remembered as gone for the fallback TTL only (ids never come back,
  but a row not yet visible to this read must not be refused for long); a user without a live
  session is never remembered (a sign-in INSERTs, which does not notify).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

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
        # By session id: the snapshot, or None when the row was found gone.
        self._session_ids: dict[str, _Entry[SessionSnapshot | None]] = {}
        # By user id: one of the user's live sessions (strict mode); and which user holds it.
        self._live_sessions: dict[str, _Entry[SessionSnapshot]] = {}
        self._live_owners: dict[str, str] = {}
        self._generation = 0
        # Generation at which each row was last invalidated, oldest first, bounded; a put whose
        # read began before ``_floor`` (a flush, or history dropped for size) is refused.
        self._evicted: dict[tuple[str, str], int] = {}
        self._floor = 0
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

    def get_session_by_id(self, session_id: str) -> SessionSnapshot | Literal[False] | None:
        """The session, ``False`` when it is known to be gone, ``None`` when not cached."""
        entry = self._session_ids.get(session_id)
        if entry is not None and entry.value is None:
            if self.enabled and self._clock() - entry.loaded_at < self._fallback_ttl:
                self.hits += 1
                return False
            self.misses += 1
            return None
        return self._fresh(entry)

    def get_live_session_of(self, user_id: str) -> SessionSnapshot | None:
        return self._fresh(self._live_sessions.get(user_id))

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

    def _may_put(self, generation: int, *keys: tuple[str, str]) -> bool:
        if not self.enabled or generation < self._floor:
            return False
        return all(self._evicted.get(key, -1) <= generation for key in keys)

    def _mark(self, key: tuple[str, str]) -> None:
        self._generation += 1
        self._evicted.pop(key, None)  # re-insert: the dict stays ordered by generation
        self._evicted[key] = self._generation
        while len(self._evicted) > 4 * self._max_entries:
            oldest = next(iter(self._evicted))
            self._floor = max(self._floor, self._evicted.pop(oldest))

    def put_user(self, user: UserSnapshot, generation: int) -> None:
        if self._may_put(generation, ("u", user.id)):
            while len(self._users) >= self._max_entries:
                del self._users[next(iter(self._users))]  # oldest first
            self._users[user.id] = _Entry(user, self._clock())

    def put_session(self, token_digest: bytes, session: SessionSnapshot, generation: int) -> None:
        if self._may_put(generation, ("s", session.id), ("su", session.user_id)):
            while len(self._sessions) >= self._max_entries:
                oldest = self._sessions.pop(next(iter(self._sessions)))
                self._session_keys.pop(oldest.value.id, None)
            self._sessions[token_digest] = _Entry(session, self._clock())
            self._session_keys[session.id] = token_digest

    def put_session_by_id(
        self, session_id: str, session: SessionSnapshot | None, generation: int
    ) -> None:
        keys = [("s", session_id)] + ([("su", session.user_id)] if session is not None else [])
        if self._may_put(generation, *keys):
            while len(self._session_ids) >= self._max_entries:
                del self._session_ids[next(iter(self._session_ids))]
            self._session_ids[session_id] = _Entry(session, self._clock())

    def put_live_session_of(self, user_id: str, session: SessionSnapshot, generation: int) -> None:
        if self._may_put(generation, ("s", session.id), ("su", user_id)):
            while len(self._live_sessions) >= self._max_entries:
                oldest = self._live_sessions.pop(next(iter(self._live_sessions)))
                self._live_owners.pop(oldest.value.id, None)
            previous = self._live_sessions.get(user_id)
            if previous is not None:
                self._live_owners.pop(previous.value.id, None)
            self._live_sessions[user_id] = _Entry(session, self._clock())
            self._live_owners[session.id] = user_id

    # --- invalidation ---

    def evict_user(self, user_id: str) -> None:
        self._mark(("u", user_id))
        self._users.pop(user_id, None)

    def evict_session(self, session_id: str) -> None:
        self._mark(("s", session_id))
        digest = self._session_keys.pop(session_id, None)
        if digest is not None:
            self._sessions.pop(digest, None)
        self._session_ids.pop(session_id, None)
        owner = self._live_owners.pop(session_id, None)
        if owner is not None:
            self._live_sessions.pop(owner, None)

    def evict_sessions_of(self, user_id: str) -> None:
        self._mark(("su", user_id))
        for digest, entry in list(self._sessions.items()):
            if entry.value.user_id == user_id:
                self._sessions.pop(digest, None)
                self._session_keys.pop(entry.value.id, None)
        for session_id, by_id in list(self._session_ids.items()):
            if by_id.value is not None and by_id.value.user_id == user_id:
                self._session_ids.pop(session_id, None)
        live = self._live_sessions.pop(user_id, None)
        if live is not None:
            self._live_owners.pop(live.value.id, None)

    def flush(self) -> None:
        self._generation += 1
        self._floor = self._generation
        self._evicted.clear()
        self._users.clear()
        self._sessions.clear()
        self._session_keys.clear()
        self._session_ids.clear()
        self._live_sessions.clear()
        self._live_owners.clear()

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
