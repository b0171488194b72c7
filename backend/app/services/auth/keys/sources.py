"""Where the auth server's public keys come from: a :class:`KeySource` delivers a JWK set,
over HTTP from Better-Auth's ``/api/auth/jwks`` (:class:`HttpKeySource`), from a fixed list
(tests), or from its ``jwks`` table (``keys.database``)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from app.services.auth.jose import InvalidJwkError

if TYPE_CHECKING:
    pass

_log = logging.getLogger(__name__)

# The keys a fetch delivers are usable for at least this long, so that the requests that waited
# for that fetch can use them even with a zero TTL and no stale window.
_MAX_AGE = re.compile(r'^max-age\s*=\s*"?(\d{1,10})"?$')


@dataclass(frozen=True)
class FetchedKeys:
    """A JWK set as delivered by a source; ``max_age`` is the source's own freshness hint."""

    keys: list[dict[str, Any]]
    max_age: int | None = None


class KeySourceError(Exception):
    """The source could not deliver a key set. The message is short and safe to log."""


class KeySource(Protocol):
    """Where the public keys come from. Raise :class:`KeySourceError` on failure (any other
    exception is treated the same way by the cache)."""

    async def fetch(self) -> FetchedKeys: ...


class StaticKeySource:
    """A fixed key set (configuration, tests, or keys loaded once elsewhere)."""

    def __init__(self, keys: Sequence[Mapping[str, Any]], *, max_age: int | None = None) -> None:
        self._keys = [dict(key) for key in keys]
        self._max_age = max_age

    async def fetch(self) -> FetchedKeys:
        return FetchedKeys([dict(key) for key in self._keys], self._max_age)


class HttpKeySource:
    """``GET`` a JWKS document.

    Redirects are errors (a JWKS URL that moves is a misconfiguration or an attack, and
    following it would let another host choose our keys). The whole fetch, not each socket
    operation, is bounded by ``timeout``, and the body is streamed and abandoned past
    ``max_bytes``.
    """

    def __init__(
        self, client: httpx.AsyncClient, url: str, *, timeout: float, max_bytes: int
    ) -> None:
        self._client = client
        self._url = url
        self._timeout = timeout
        self._max_bytes = max_bytes

    async def fetch(self) -> FetchedKeys:
        try:
            async with asyncio.timeout(self._timeout):
                body, cache_control = await self._get()
        except TimeoutError:
            raise KeySourceError(f"JWKS request timed out after {self._timeout:g}s") from None
        except (httpx.HTTPError, httpx.StreamError, OSError) as error:
            raise KeySourceError(f"JWKS request failed: {type(error).__name__}") from None
        return FetchedKeys(parse_jwks(body), parse_max_age(cache_control))

    async def _get(self) -> tuple[bytes, str | None]:
        async with self._client.stream(
            "GET",
            self._url,
            follow_redirects=False,
            timeout=self._timeout,
            headers={"Accept": "application/json"},
        ) as response:
            if response.is_redirect:
                raise KeySourceError(f"JWKS endpoint redirected (HTTP {response.status_code})")
            if response.status_code != httpx.codes.OK:
                raise KeySourceError(f"JWKS endpoint answered HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self._max_bytes:
                raise KeySourceError(f"JWKS response larger than {self._max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    raise KeySourceError(f"JWKS response larger than {self._max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("Cache-Control")


def parse_jwks(body: bytes) -> list[dict[str, Any]]:
    """The ``keys`` of a JWKS document; entries that are not objects are dropped."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise KeySourceError("JWKS response is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySourceError("JWKS response has no 'keys' list")
    keys = [key for key in document["keys"] if isinstance(key, dict)]
    if len(keys) != len(document["keys"]):
        _log.warning(
            "JWKS: ignored %d entries that are not JSON objects", len(document["keys"]) - len(keys)
        )
    return keys


def parse_max_age(cache_control: str | None) -> int | None:
    """``max-age`` of a ``Cache-Control`` header; ``no-store``/``no-cache`` count as 0."""
    if not cache_control:
        return None
    max_age: int | None = None
    for raw in cache_control.lower().split(","):
        directive = raw.strip()
        if directive in {"no-store", "no-cache"}:
            return 0
        match = _MAX_AGE.match(directive)
        if match:
            max_age = int(match.group(1))
    return max_age


def jwk_from_jwks_row(
    kid: str, public_key: str, alg: str | None, crv: str | None = None
) -> dict[str, Any]:
    """A JWK from a row of Better-Auth's ``jwks`` table (for a database key source).

    ``publicKey`` holds the JWK without ``kid``/``alg``: the ``kid`` Better-Auth publishes is the
    row ``id`` and ``alg``/``crv`` are columns. Better-Auth 1.6 has neither column and leaves them
    NULL: the JWK then has no ``alg``, which :func:`build_public_key` infers from the key. Raises
    :class:`InvalidJwkError` for a malformed row.
    """
    try:
        jwk = json.loads(public_key)
    except (ValueError, RecursionError):
        raise InvalidJwkError("jwks.publicKey is not valid JSON") from None
    if not isinstance(jwk, dict):
        raise InvalidJwkError("jwks.publicKey is not a JSON object")
    jwk["kid"] = kid
    if alg:
        jwk["alg"] = alg
    if crv and "crv" not in jwk:
        jwk["crv"] = crv
    return jwk
