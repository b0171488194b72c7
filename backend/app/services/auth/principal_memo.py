"""Callers remembered whole: a credential seen before is answered with the ``Principal`` it got,
for as long as the lookups that built it would give the same answer.

Authenticating a cached credential is a handful of lookups (the verified token, the user, the
session a JWT names or a session token is) and a ``Principal`` built from them: some 5 µs on
every request, a third of what authentication adds to an endpoint. A remembered ``Principal``
stands only while nothing it was built from can have changed:

- the identity cache has seen no invalidation since (its generation is the same: a user or
  session notice from the feed, this process's own writes, a flush) and its feed is live. While
  the feed is down (or on SQLite, where there is none) cached rows only count within the
  fallback TTL, and nothing is remembered;
- a JWT is still within ``exp`` plus the leeway and its key is still published: the token
  cache's own test (``CachedTokenVerifier.still_trusted``), on the same clock;
- the session (a session token, or the one a JWT's ``sid`` names) has not expired.

Only successful authentications are remembered, and only of users not banned; a ban is a write,
so an invalidation. Nothing is remembered with secondary storage (Redis sessions are re-read on
their own short cache) or ``JWT_REQUIRE_LIVE_SESSION`` (any live session of the user will do,
and its expiry is not the caller's): those callers take the ordinary path every time.

Keyed by the SHA-256 digest of the credential (the credential itself is not kept), a cookie apart
from a bearer value (a bare session token is a bearer credential only). Bounded: the oldest
entry goes first, without bookkeeping on a hit (a dropped entry costs one ordinary
authentication).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from app.services.auth.identity_cache import IdentityCache
from app.services.auth.verifier import VerifiedToken

if TYPE_CHECKING:
    from app.services.auth.identity import Principal

COOKIE: bytes = b"c"  # appended to a cookie's digest: its own entry


@dataclass(frozen=True, slots=True)
class Remembered:
    principal: Principal
    generation: int  # the identity cache's, when the lookups began
    token: VerifiedToken | None  # a JWT's verification: its expiry and key are asked again
    session_expires_at: datetime | None


class PrincipalMemo:
    def __init__(
        self,
        cache: IdentityCache,
        *,
        max_entries: int,
        still_trusted: Callable[[VerifiedToken], bool] | None,
        enabled: bool = True,
    ) -> None:
        self._cache = cache
        self._max_entries = max_entries
        # None: no token cache (every JWT is verified afresh), so no JWT is remembered either.
        self._still_trusted = still_trusted
        self.enabled = enabled and cache.enabled and max_entries > 0
        self._entries: OrderedDict[bytes, Remembered] = OrderedDict()
        self.hits = 0
        self.misses = 0  # credentials not remembered, or no longer standing

    def recall(self, key: bytes, now: Callable[[], datetime]) -> Principal | None:
        remembered = self._entries.get(key)
        if remembered is None:
            self.misses += 1
            return None
        cache = self._cache
        token = remembered.token
        session_expires_at = remembered.session_expires_at
        if (
            cache.begin_read() != remembered.generation
            or not cache.live
            or (token is not None and not self._trusts(token))
            or (session_expires_at is not None and session_expires_at <= now())
        ):
            del self._entries[key]
            self.misses += 1
            return None
        self.hits += 1
        return remembered.principal

    def _trusts(self, token: VerifiedToken) -> bool:
        return self._still_trusted is not None and self._still_trusted(token)

    def begin(self) -> int | None:
        """The generation to remember a caller under, read before its lookups; ``None`` when
        nothing may be remembered now."""
        if not self.enabled or not self._cache.live:
            return None
        return self._cache.begin_read()

    def remember(
        self,
        key: bytes,
        principal: Principal,
        generation: int | None,
        *,
        token: VerifiedToken | None = None,
        session_expires_at: datetime | None = None,
    ) -> None:
        """Keep ``principal`` for ``key`` if no invalidation came while it was looked up."""
        cache = self._cache
        if generation is None or cache.begin_read() != generation or not cache.live:
            return
        if token is not None and self._still_trusted is None:
            return
        if principal.user.banned:
            return  # an expired ban still on the row: rare, and not worth a clock per hit
        entries = self._entries
        entries.pop(key, None)
        while len(entries) >= self._max_entries:
            entries.popitem(last=False)
        entries[key] = Remembered(principal, generation, token, session_expires_at)

    def __len__(self) -> int:
        return len(self._entries)
