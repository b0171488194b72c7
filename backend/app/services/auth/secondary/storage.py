"""Better-Auth's session keys in Redis: read, and written exactly as its internal adapter writes
them (``better-auth`` 1.7.25 / 1.7.29 ``db/internal-adapter``, with ``@better-auth/redis-storage``
1.7.5: ``SET key value EX ttl``, ``GET``, ``DEL`` under one key prefix).

- ``find``: ``findSession`` (the record, unless ``revoked-sessions-before-<userId>`` is later
  than its ``createdAt``);
- ``sessions_of``: ``listSessions`` (the user's list, expired and duplicate entries skipped,
  records gone or revoked skipped);
- ``delete_session``: ``deleteSession``'s storage part (the token's key, and its entry in the
  user's list);
- ``revoke_user_sessions``: ``deleteUserSessions`` / ``deleteUser``'s storage part
  (``revoked-sessions-before-<userId>`` = now, every listed token deleted, the list rewritten);
- ``update_session``: ``updateSession`` (the record merged and rewritten, the list refreshed).

Every Redis failure is ``ServiceUnavailable(SESSION_STORE_UNAVAILABLE)``: the API cannot tell
whether a session stands, so it neither accepts nor refuses it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.services.auth.secondary.records import (
    StoredSession,
    dump_json,
    js_number,
    js_time_ms,
    parse_references,
    parse_session,
    reference_expiry,
)
from app.utils.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

# Better-Auth's revokedBeforeTTL is max(session.expiresIn (default 7 days), 1 day,
# impersonationSessionDuration); the API does not know Better-Auth's expiresIn, so it keeps the
# marker for 7 days, or longer when a listed session lives longer.
DEFAULT_REVOKED_BEFORE_TTL: Final = 7 * 86400


@dataclass(frozen=True, slots=True)
class StorageMode:
    """Better-Auth's ``session.storeSessionInDatabase`` / ``preserveSessionInDatabase``."""

    store_in_database: bool = False
    preserve_in_database: bool = False

    @property
    def database_fallback(self) -> bool:
        """Better-Auth's ``databaseSessionFallbackEnabled``: a session missing from the storage
        is looked up in the ``session`` table (and listed from it)."""
        return self.store_in_database and not self.preserve_in_database


def _ttl_seconds(expires_ms: float, now_ms: float) -> int:
    """``getTTLSeconds``: whole seconds left, never negative."""
    if math.isnan(expires_ms):
        return 0
    return max(math.floor((expires_ms - now_ms) / 1000), 0)


class SessionStorage:
    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock

    @property
    def client(self) -> Redis:
        return self._client

    def key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def _now_ms(self) -> float:
        return self._clock() * 1000

    async def _call(self, operation: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await operation()
        except RedisError as error:
            logger.warning("session storage unavailable: %s", type(error).__name__)
            raise ServiceUnavailable(
                "the session storage is unavailable", code="SESSION_STORE_UNAVAILABLE"
            ) from None

    async def _get(self, name: str) -> str | None:
        return _text(await self._call(lambda: self._client.get(self.key(name))))

    # --- reads ---

    async def ping(self) -> None:
        await self._call(self._client.ping)

    async def find(self, token: str) -> StoredSession | None:
        session = parse_session(await self._get(token), token)
        if session is None:
            return None
        revoked_before = js_number(await self._get(_revoked_key(session.user_id)))
        return None if session.created_ms < revoked_before else session

    async def references(self, user_id: str) -> list[dict[str, Any]]:
        return parse_references(await self._get(_list_key(user_id)))

    async def sessions_of(self, user_id: str) -> list[StoredSession]:
        """``listSessions``: the live sessions of the user's list, in its order."""
        now = self._now_ms()
        tokens: list[str] = []
        for reference in await self.references(user_id):
            token = reference["token"]
            if reference_expiry(reference) > now and token not in tokens:
                tokens.append(token)
        if not tokens:
            return []
        keys = [self.key(_revoked_key(user_id)), *(self.key(token) for token in tokens)]
        values = [_text(value) for value in await self._call(lambda: self._client.mget(keys))]
        revoked_before = js_number(values[0])
        found = (parse_session(raw, token) for token, raw in zip(tokens, values[1:], strict=True))
        return [s for s in found if s is not None and not s.created_ms < revoked_before]

    async def find_by_id(self, user_id: str, session_id: str) -> StoredSession | None:
        return next((s for s in await self.sessions_of(user_id) if s.id == session_id), None)

    # --- writes ---

    async def _set_references(
        self, user_id: str, references: Iterable[dict[str, Any]], now: float
    ) -> None:
        """``setActiveSessionReferences``: sorted by expiry, kept as long as the last one."""
        ordered = sorted(references, key=reference_expiry)
        ttl = _ttl_seconds(reference_expiry(ordered[-1]) if ordered else 0, now)
        key = self.key(_list_key(user_id))
        if ttl > 0:
            await self._call(lambda: self._client.set(key, dump_json(ordered), ex=ttl))
        else:
            await self._call(lambda: self._client.delete(key))

    async def delete_session(self, token: str) -> None:
        """``deleteSession(token)``, the storage part."""
        raw = await self._get(token)
        if raw is not None:
            session = parse_session(raw, token)
            if session is None:
                # Better-Auth logs "Session not found in secondary storage" and stops there.
                logger.error("session record in secondary storage is not a session")
                return
            listed = await self._get(_list_key(session.user_id))
            if listed is not None:
                now = self._now_ms()
                kept = [
                    reference
                    for reference in parse_references(listed)
                    if reference_expiry(reference) > now and reference["token"] != token
                ]
                await self._set_references(session.user_id, kept, now)
        await self._delete(token)

    async def _set(self, name: str, value: str, ttl: int) -> None:
        await self._call(lambda: self._client.set(self.key(name), value, ex=ttl))

    async def _delete(self, name: str) -> None:
        await self._call(lambda: self._client.delete(self.key(name)))

    async def revoke_user_sessions(self, user_id: str) -> None:
        """``deleteCachedUserSessions``: every session of the user issued until now is revoked
        (also one created by a request in flight, through the marker), its listed tokens
        deleted and the list rewritten without them."""
        references = await self.references(user_id)
        revoked_at = self._now_ms()
        previous = js_number(await self._get(_revoked_key(user_id)))
        marker = max(revoked_at, previous if math.isfinite(previous) else 0)
        longest = max(
            (_ttl_seconds(reference_expiry(r), revoked_at) for r in references), default=0
        )
        ttl = max(DEFAULT_REVOKED_BEFORE_TTL, longest)
        key = self.key(_revoked_key(user_id))
        await self._call(lambda: self._client.set(key, str(math.floor(marker)), ex=ttl))
        deleted = {reference["token"] for reference in references}
        for token in deleted:
            await self._delete(token)
        now = self._now_ms()
        current = await self.references(user_id)
        await self._set_references(
            user_id,
            (r for r in current if reference_expiry(r) > now and r["token"] not in deleted),
            now,
        )

    async def update_session(self, token: str, changes: dict[str, Any]) -> None:
        """``updateSession(token, changes)`` (e.g. ``{"activeOrganizationId": None}``)."""
        session = parse_session(await self._get(token), token)
        if session is None:
            return
        fields = {**session.fields, **changes}
        for name in ("expiresAt", "createdAt", "updatedAt"):
            fields[name] = changes.get(name, session.fields[name])
        now = self._now_ms()
        expires_ms = js_time_ms(fields["expiresAt"])
        ttl = _ttl_seconds(expires_ms, now)
        if ttl <= 0:
            return
        record = dump_json({"session": fields, "user": session.record.get("user")})
        await self._call(lambda: self._client.set(self.key(token), record, ex=ttl))
        references = [
            r
            for r in await self.references(session.user_id)
            if r["token"] != token and reference_expiry(r) > now
        ]
        references.append({"token": token, "expiresAt": math.floor(expires_ms)})
        await self._set_references(session.user_id, references, now)

    async def refresh_user(self, user_id: str, fields: dict[str, Any]) -> None:
        """``refreshUserSessions``: every listed live session's record gets the new copy of the
        user (merged into the stored one, so that columns the API does not know survive)."""
        now = self._now_ms()
        for reference in await self.references(user_id):
            if not reference_expiry(reference) > now:
                continue
            token = reference["token"]
            session = parse_session(await self._get(token), token)
            if session is None:
                continue
            ttl = _ttl_seconds(js_time_ms(session.fields["expiresAt"]), now)
            if ttl <= 0:  # Better-Auth would SET it without expiry; let it expire instead
                continue
            stored_user = session.record.get("user")
            user = {**(stored_user if isinstance(stored_user, dict) else {}), **fields}
            await self._set(token, dump_json({"session": session.fields, "user": user}), ttl)

    async def aclose(self) -> None:
        await self._client.aclose()


def _text(value: object) -> str | None:
    """A reply as text (the client decodes replies; bytes only from one built otherwise)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _list_key(user_id: str) -> str:
    return f"active-sessions-{user_id}"


def _revoked_key(user_id: str) -> str:
    return f"revoked-sessions-before-{user_id}"
