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

from collections import OrderedDict
from typing import Literal, TypeVar

from app.services.auth.snapshots import SessionSnapshot, UserSnapshot
from app.services.platform.feed_cache import Entry, FeedCache, FeedTable

V = TypeVar("V")


class IdentityCache(FeedCache):
    def _create_tables(self) -> None:
        self._users: FeedTable[str, UserSnapshot] = self._table()
        self._sessions: FeedTable[bytes, SessionSnapshot] = self._table(
            lambda _, oldest: self._session_keys.pop(oldest.value.id, None)
        )
        self._session_keys: dict[str, bytes] = {}
        # By session id: the snapshot, or None when the row was found gone.
        self._session_ids: FeedTable[str, SessionSnapshot | None] = self._table()
        # By user id: one of the user's live sessions (strict mode); and which user holds it.
        self._live_sessions: FeedTable[str, SessionSnapshot] = self._table(
            lambda _, oldest: self._live_owners.pop(oldest.value.id, None)
        )
        self._live_owners: dict[str, str] = {}
        # Generation at which each row was last invalidated, oldest first, bounded; a put whose
        # read began before ``_floor`` (a flush, or history dropped for size) is refused.
        self._evicted: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._floor = 0

    # --- reads ---

    def get_user(self, user_id: str) -> UserSnapshot | None:
        return self._fresh(self._users.rows.get(user_id))

    def get_session(self, token_digest: bytes) -> SessionSnapshot | None:
        return self._fresh(self._sessions.rows.get(token_digest))

    def get_session_by_id(self, session_id: str) -> SessionSnapshot | Literal[False] | None:
        """The session, ``False`` when it is known to be gone, ``None`` when not cached."""
        entry = self._session_ids.rows.get(session_id)
        if entry is not None and entry.value is None:
            if self.enabled and self._young(entry):
                self.hits += 1
                return False
            self.misses += 1
            return None
        return self._fresh(entry)

    def get_live_session_of(self, user_id: str) -> SessionSnapshot | None:
        return self._fresh(self._live_sessions.rows.get(user_id))

    def _fresh(self, entry: Entry[V] | None) -> V | None:
        found = self._lookup(entry)
        return None if found is None else found.value

    # --- writes ---

    def _may_put(self, generation: int, *keys: tuple[str, str]) -> bool:
        if not self.enabled or generation < self._floor:
            return False
        return all(self._evicted.get(key, -1) <= generation for key in keys)

    def _mark(self, key: tuple[str, str]) -> None:
        generation = self._bump()
        self._evicted[key] = generation
        self._evicted.move_to_end(key)  # the dict stays ordered by generation
        while len(self._evicted) > 4 * self._max_entries:
            self._floor = max(self._floor, self._evicted.popitem(last=False)[1])

    def put_user(self, user: UserSnapshot, generation: int) -> None:
        if self._may_put(generation, ("u", user.id)):
            self._users.put(user.id, self._entry(user))

    def put_session(self, token_digest: bytes, session: SessionSnapshot, generation: int) -> None:
        if self._may_put(generation, ("s", session.id), ("su", session.user_id)):
            self._sessions.put(token_digest, self._entry(session))
            self._session_keys[session.id] = token_digest

    def put_session_by_id(
        self, session_id: str, session: SessionSnapshot | None, generation: int
    ) -> None:
        keys = [("s", session_id)] + ([("su", session.user_id)] if session is not None else [])
        if self._may_put(generation, *keys):
            self._session_ids.put(session_id, self._entry(session))

    def put_live_session_of(self, user_id: str, session: SessionSnapshot, generation: int) -> None:
        if self._may_put(generation, ("s", session.id), ("su", user_id)):
            previous = self._live_sessions.rows.get(user_id)
            if previous is not None:
                self._live_owners.pop(previous.value.id, None)
            self._live_sessions.put(user_id, self._entry(session))
            self._live_owners[session.id] = user_id

    # --- invalidation ---

    def evict_user(self, user_id: str) -> None:
        self._mark(("u", user_id))
        self._users.rows.pop(user_id, None)

    def evict_session(self, session_id: str) -> None:
        self._mark(("s", session_id))
        digest = self._session_keys.pop(session_id, None)
        if digest is not None:
            self._sessions.rows.pop(digest, None)
        self._session_ids.rows.pop(session_id, None)
        owner = self._live_owners.pop(session_id, None)
        if owner is not None:
            self._live_sessions.rows.pop(owner, None)

    def evict_sessions_of(self, user_id: str) -> None:
        self._mark(("su", user_id))
        for digest, entry in list(self._sessions.rows.items()):
            if entry.value.user_id == user_id:
                self._sessions.rows.pop(digest, None)
                self._session_keys.pop(entry.value.id, None)
        for session_id, by_id in list(self._session_ids.rows.items()):
            if by_id.value is not None and by_id.value.user_id == user_id:
                self._session_ids.rows.pop(session_id, None)
        live = self._live_sessions.rows.pop(user_id, None)
        if live is not None:
            self._live_owners.pop(live.value.id, None)

    def _clear(self) -> None:
        self._floor = self._generation
        self._evicted.clear()
        self._users.rows.clear()
        self._sessions.rows.clear()
        self._session_keys.clear()
        self._session_ids.rows.clear()
        self._live_sessions.rows.clear()
        self._live_owners.clear()

    def stats(self) -> dict[str, object]:
        return {
            "live": self.live,
            "users": len(self._users),
            "sessions": len(self._sessions),
            "hits": self.hits,
            "misses": self.misses,
        }
