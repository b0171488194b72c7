"""Sessions from the secondary storage, for the authentication path: a short-lived cache.

Better-Auth announces nothing when it deletes a key, unless Redis is configured to
(``notify-keyspace-events``), which managed Redis services often forbid and which every other
client of the server would pay for. So a record read from the storage is reused for
``SECONDARY_STORAGE_CACHE_SECONDS`` (0.5 s by default, at most 1 s) and then read again: a
sign-out or a revocation made through Better-Auth reaches every process within that time plus
one round trip, whatever the Redis configuration, and a busy token costs one ``GET`` per
interval instead of one per request. This process's own revocations forget the user's entries
at once (``forget_user``).

Only found sessions are kept: a token the storage does not know is remembered by the identity
service's unknown-token cache, as for the database.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from app.services.auth.secondary.records import StoredSession
from app.services.auth.secondary.storage import SessionStorage, StorageMode
from app.services.auth.token_cache import token_digest

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _TtlCache(Generic[K, V]):
    """Bounded, least recently used, each entry kept ``ttl`` seconds."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def drop(self, keep: Callable[[K, V], bool]) -> None:
        for key, (_, value) in list(self._entries.items()):
            if not keep(key, value):
                self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class SecondarySessions:
    def __init__(
        self,
        storage: SessionStorage,
        mode: StorageMode,
        *,
        ttl: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.mode = mode
        self._by_token: _TtlCache[bytes, StoredSession] = _TtlCache(ttl, max_entries, clock)
        self._by_id: _TtlCache[tuple[str, str], StoredSession] = _TtlCache(ttl, max_entries, clock)
        self._live: _TtlCache[str, StoredSession] = _TtlCache(ttl, max_entries, clock)

    async def _cached(
        self,
        cache: _TtlCache[K, StoredSession],
        key: K,
        read: Callable[[], Awaitable[StoredSession | None]],
    ) -> StoredSession | None:
        found = cache.get(key)
        if found is None:
            found = await read()
            if found is not None:
                cache.put(key, found)
        return found

    async def by_token(self, token: str) -> StoredSession | None:
        """``findSession``: the live record of a session token, or ``None``."""
        return await self._cached(
            self._by_token, token_digest(token), lambda: self.storage.find(token)
        )

    async def by_id(self, session_id: str, user_id: str) -> StoredSession | None:
        """The user's session with this id (a JWT's ``sid``), or ``None``."""
        return await self._cached(
            self._by_id,
            (user_id, session_id),
            lambda: self.storage.find_by_id(user_id, session_id),
        )

    async def live_session_of(self, user_id: str) -> StoredSession | None:
        """One of the user's listed sessions (the one that lives longest), or ``None``."""

        async def read() -> StoredSession | None:
            sessions = await self.storage.sessions_of(user_id)
            return max(sessions, key=lambda s: s.expires_at, default=None)

        return await self._cached(self._live, user_id, read)

    async def active_organization(self, session_id: str, user_id: str) -> str | None:
        session = await self.by_id(session_id, user_id)
        return session.active_organization_id if session is not None else None

    def forget_user(self, user_id: str) -> None:
        """This process changed the user's sessions: read them again on the next request."""
        self._by_token.drop(lambda _, session: session.user_id != user_id)
        self._by_id.drop(lambda key, _: key[0] != user_id)
        self._live.drop(lambda key, _: key != user_id)

    def stats(self) -> dict[str, int]:
        return {"tokens": len(self._by_token), "ids": len(self._by_id)}
