"""A JWK set turned into verification keys, indexed by ``kid``.

Parsing is its own concern: the cache only decides when to fetch; what a fetched set holds
(which keys are usable, which are skipped and why) is decided here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.services.auth.jose import InvalidJwkError, VerificationKey, build_public_key
from app.services.auth.keys.sources import KeySourceError


@dataclass
class KeySet:
    by_kid: dict[str, VerificationKey] = field(default_factory=dict)
    all: tuple[VerificationKey, ...] = ()


def build_key_set(jwks: Sequence[Mapping[str, Any]], log: logging.Logger) -> KeySet:
    """The usable keys of ``jwks``; an unusable key or a repeated ``kid`` is skipped with a
    warning. Raises ``KeySourceError`` when no key is usable."""
    keys = KeySet()
    for jwk in jwks:
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
    if not keys.all:
        # An empty (or entirely unusable) set is a failure, not news: a broken auth server
        # must not be able to wipe the keys we hold.
        raise KeySourceError("JWKS holds no usable key")
    return keys


def _kid_of(jwk: Mapping[str, Any]) -> str:
    kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
    return repr(kid)[:40]
