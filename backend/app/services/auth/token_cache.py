"""Verified-token cache: a token seen before skips parsing and signature checks.

Keyed by the SHA-256 digest of the token (a changed byte is a different token; the token itself
is not kept); an ECDSA token by the digest of its low-s spelling (see ``jose.ecdsa``). Each
entry lives exactly as long as the token would still pass the verifier's time checks (``exp``
plus the same leeway, on the same clock), so a cached token is refused at the very moment an
uncached one would be; the verifier's lifetime cap (``JWT_MAX_LIFETIME_SECONDS``) thus bounds
every entry too. Only successful verifications are cached. The cache is bounded; when full, the
oldest entries go first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from app.services.auth.jose import read_header
from app.services.auth.jose.ecdsa import canonical_ecdsa_token
from app.services.auth.verifier import VerifiedToken
from app.utils.errors import Unauthorized


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
    ) -> None:
        self._verifier = verifier
        self._max_entries = max_entries
        self._leeway = leeway_seconds
        self._clock = clock
        self._entries: dict[bytes, VerifiedToken] = {}
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
        if self._clock() - self._leeway < cached.expires_at:
            self.hits += 1
            return cached
        del self._entries[digest]
        return None

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
