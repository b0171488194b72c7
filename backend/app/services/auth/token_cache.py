"""Verified-token cache: a token seen before skips parsing and signature checks.

Keyed by the SHA-256 digest of the token (a changed byte is a different token; the token itself
is not kept). Each entry lives exactly as long as the token would still pass the verifier's
time checks (``exp`` plus the same leeway, on the same clock), so a cached token is refused at
the very moment an uncached one would be. Only successful verifications are cached. The cache
is bounded; when full, the oldest entries go first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from app.services.auth.verifier import VerifiedToken


class Verifier(Protocol):
    async def verify(
        self, token: str, header: Mapping[str, Any] | None = None
    ) -> VerifiedToken: ...


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class CachedTokenVerifier:
    def __init__(
        self,
        verifier: Verifier,
        *,
        max_entries: int,
        leeway_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._verifier = verifier
        self._max_entries = max_entries
        self._leeway = leeway_seconds
        self._clock = clock
        self._entries: dict[bytes, VerifiedToken] = {}
        self.hits = 0
        self.misses = 0

    async def verify(self, token: str, header: Mapping[str, Any] | None = None) -> VerifiedToken:
        digest = token_digest(token)
        cached = self._entries.get(digest)
        if cached is not None:
            if self._clock() - self._leeway < cached.expires_at:
                self.hits += 1
                return cached
            del self._entries[digest]
        self.misses += 1
        verified = await self._verifier.verify(token, header)
        self._store(digest, verified)
        return verified

    def _store(self, digest: bytes, verified: VerifiedToken) -> None:
        if len(self._entries) >= self._max_entries:
            self._purge_expired()
            while len(self._entries) >= self._max_entries:
                # dicts keep insertion order: the first key is the oldest entry.
                del self._entries[next(iter(self._entries))]
        self._entries[digest] = verified

    def _purge_expired(self) -> None:
        horizon = self._clock() - self._leeway
        for digest in [d for d, v in self._entries.items() if v.expires_at <= horizon]:
            del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
