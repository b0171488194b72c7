"""A JWK set turned into verification keys, indexed by ``kid``.

Parsing is its own concern: the cache only decides when to fetch; what a fetched set holds
(which keys are usable, which are skipped and why) is decided here.

A key that a new fetch publishes again, member for member, is the *same object* as before
(not rebuilt): a verification made with it stays valid by identity (``KeySet.holds``), and the
token cache can tell in O(1) whether the key behind a cached token is still published.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.services.auth.jose import InvalidJwkError, VerificationKey, build_public_key


@dataclass
class KeySet:
    by_kid: dict[str, VerificationKey] = field(default_factory=dict)
    all: tuple[VerificationKey, ...] = ()
    # The JWK each key was built from (canonical JSON), to reuse it when published again.
    by_jwk: dict[str, VerificationKey] = field(default_factory=dict)

    def holds(self, key: VerificationKey) -> bool:
        """Whether ``key`` itself (this object) is in the set."""
        if key.kid is not None:
            return self.by_kid.get(key.kid) is key
        return any(held is key for held in self.all)

    def withdrawn_from(self, previous: KeySet) -> list[str]:
        """The kids of ``previous`` that this set no longer publishes (or publishes as another
        key)."""
        return [kid for kid, key in previous.by_kid.items() if not self.holds(key)]


def build_key_set(
    jwks: Sequence[Mapping[str, Any]], log: logging.Logger, previous: KeySet | None = None
) -> KeySet:
    """The usable keys of ``jwks``; an unusable key or a repeated ``kid`` is skipped with a
    warning. An empty result is a valid answer (every key withdrawn), not an error: the caller
    decides what it means."""
    keys = KeySet()
    for jwk in jwks:
        canonical = _canonical(jwk)
        key = previous.by_jwk.get(canonical) if previous is not None and canonical else None
        if key is None:
            try:
                key = build_public_key(jwk)
            except InvalidJwkError as error:
                log.warning("JWKS: skipped key %s: %s", _kid_of(jwk), error)
                continue
        if key.kid is not None:
            if key.kid in keys.by_kid:
                log.warning("JWKS: skipped duplicate kid %s", _kid_of(jwk))
                continue
            keys.by_kid[key.kid] = key
        keys.all += (key,)
        if canonical:
            keys.by_jwk[canonical] = key
    return keys


def _canonical(jwk: Mapping[str, Any]) -> str:
    try:
        return json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return ""  # not JSON-serialisable: built (and refused) anew each time


def _kid_of(jwk: Mapping[str, Any]) -> str:
    kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
    return repr(kid)[:40]
