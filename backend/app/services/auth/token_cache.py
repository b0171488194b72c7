"""Verified-token cache: a token seen before skips parsing and signature checks.

Keyed by the SHA-256 digest of the token (a changed byte is a different token; the token itself
is not kept); an ECDSA token by the digest of its low-s spelling (see ``jose.ecdsa``). Each
entry lives exactly as long as the token would still pass the verifier's time checks (``exp``
plus the same leeway, on the same clock), so a cached token is refused at the very moment an
uncached one would be; the verifier's lifetime cap (``JWT_MAX_LIFETIME_SECONDS``) thus bounds
every entry too. Only successful verifications are cached.

An entry also stands only while the key that verified it is still published: each remembers its
key, and a hit asks the key cache (``KeyTrust.trusts``, an identity check in a dict, O(1))
whether it still holds that very key. A key the source withdraws (a leak, the end of its grace
period, an emergency purge) takes its tokens with it at their next use, on every process, as
soon as that process's key set is refreshed (``keys.refresher``: within one TTL).

The cache is bounded and least-recently-used: a hit moves its entry to the newest end, and a miss
at capacity drops exactly one entry, the least recently used, in O(1) (``OrderedDict.popitem``).
Expired entries are dropped lazily, when looked up or when they reach the old end; nothing ever
scans the whole cache. A plain dict's "first key" is not O(1) after many deletions at its front
(CPython walks the deleted slots), hence the ``OrderedDict``. Not cachetools: its per-item-TTL
cache keeps a heap (O(log n)) and runs Python code on every hit, and a hit is the hot path.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from app.services.auth.jose import VerificationKey, read_header
from app.services.auth.jose.ecdsa import canonical_ecdsa_token
from app.services.auth.verifier import VerifiedToken
from app.utils.errors import Unauthorized


class KeyTrust(Protocol):
    def trusts(self, key: VerificationKey) -> bool:
        """Whether a verification made with ``key`` may still be relied on (no I/O)."""
        ...


class Verifier(Protocol):
    async def verify(
        self, token: str, header: Mapping[str, Any] | None = None
    ) -> VerifiedToken: ...

    def cached(self, token: str) -> VerifiedToken | None:
        """The token's verification if it is remembered (no parsing, no key), else ``None``."""
        ...


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _alg(token: str, header: Mapping[str, Any] | None) -> object:
    if header is None:
        try:
            header = read_header(token)
        except Unauthorized:
            return None  # the verifier refuses it with the precise reason
    return header.get("alg")


class CachedTokenVerifier:
    def __init__(
        self,
        verifier: Verifier,
        *,
        max_entries: int,
        leeway_seconds: float,
        clock: Callable[[], float],
        keys: KeyTrust | None = None,
    ) -> None:
        self._verifier = verifier
        # Bound once: a hit calls it, and attribute lookups are a fair share of a hit's cost.
        self._trusts = keys.trusts if keys is not None else None
        self._max_entries = max_entries
        self._leeway = leeway_seconds
        self._clock = clock
        self._entries: OrderedDict[bytes, VerifiedToken] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def cached(self, token: str) -> VerifiedToken | None:
        return self._lookup(token_digest(token))

    async def verify(self, token: str, header: Mapping[str, Any] | None = None) -> VerifiedToken:
        digest = token_digest(token)
        cached = self._lookup(digest)
        if cached is not None:
            return cached
        # ECDSA: the high-s spelling of a token is keyed on its low-s twin (jose.ecdsa), so the
        # two strings of one token are one entry. Other tokens have one spelling only.
        canonical = canonical_ecdsa_token(token, _alg(token, header))
        if canonical != token:
            digest = token_digest(canonical)
            cached = self._lookup(digest)
            if cached is not None:
                return cached
        self.misses += 1
        verified = await self._verifier.verify(token, header)
        self._store(digest, verified)
        return verified

    def _lookup(self, digest: bytes) -> VerifiedToken | None:
        cached = self._entries.get(digest)
        if cached is None:
            return None
        if self.still_trusted(cached):
            self.hits += 1
            self._entries.move_to_end(digest)
            return cached
        del self._entries[digest]
        return None

    def still_trusted(self, verified: VerifiedToken) -> bool:
        """Whether a verification may still be relied on: within ``exp`` plus the leeway, and
        its key still published. (Also what a remembered caller asks: ``principal_memo``.)"""
        trusts = self._trusts
        return self._clock() - self._leeway < verified.expires_at and (
            trusts is None or verified.key is None or trusts(verified.key)
        )

    def _store(self, digest: bytes, verified: VerifiedToken) -> None:
        entries = self._entries
        if digest in entries:  # two concurrent misses on one token: one entry, now the newest
            entries.move_to_end(digest)
        elif len(entries) >= self._max_entries:
            entries.popitem(last=False)  # the least recently used: one entry, O(1)
        entries[digest] = verified

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
