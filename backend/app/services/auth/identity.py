"""Who is calling: turns a credential into a :class:`Principal` backed by the database.

Two credentials are accepted, as Better-Auth issues them:
- a JWT from the jwt plugin (``/api/auth/token``, ``set-auth-jwt``), verified against the JWKS;
- an opaque session token (bearer plugin ``set-auth-token`` or the session cookie), bare or
  ``TOKEN.SIGNATURE``, looked up in the ``session`` table, or in Better-Auth's secondary storage
  (Redis) when it keeps sessions there (``secondary``; the table is then read only in its
  ``storeSessionInDatabase`` fallback mode, never for rows it preserves for audit).

Either way the user row is read fresh: the database, not the token, decides role and ban state,
because a JWT lives 15 minutes and a ban or demotion must bite on the very next request.

A JWT that names its session (a ``sid`` claim, added with the jwt plugin's ``definePayload``)
is refused once that session is gone: sign-out and revocation reach it. A JWT without one
outlives its session until ``exp``, unless ``require_live_session`` (``JWT_REQUIRE_LIVE_SESSION``)
asks that its user still have some live session. Both read the NOTIFY-invalidated cache.
The session a ``sid`` names also tells whether an admin impersonates the user
(``impersonatedBy``): the JWT acts as that session does, at no extra cost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, TypeVar

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import run_read
from app.models.session import AuthSession
from app.models.user import User
from app.services.auth.failures import UnknownTokenCache
from app.services.auth.identity_cache import IdentityCache
from app.services.auth.principal_memo import COOKIE, PrincipalMemo
from app.services.auth.secondary import SecondarySessions
from app.services.auth.session_tokens import jwt_header, verify_session_token_signature
from app.services.auth.snapshots import SessionSnapshot, UserSnapshot
from app.services.auth.token_cache import Verifier, token_digest
from app.services.auth.verifier import VerifiedToken
from app.services.users.roles import parse_roles
from app.utils.errors import Forbidden, Unauthorized

TokenType = Literal["jwt", "session", "api_key"]
BANNED_USER_MESSAGE = "You have been banned from this application"
T = TypeVar("T")
DbSessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    user: UserSnapshot
    token_type: TokenType
    issued_at: datetime | None
    expires_at: datetime
    session_id: str | None = None
    claims: dict[str, object] | None = None
    # The admin acting as this user (a session made by Better-Auth's impersonate-user).
    impersonated_by: str | None = None
    # An API key caller (``@better-auth/api-key``): the key's id, and its own permissions when
    # it has some: a scope that narrows every check of the owner's roles, never widens one
    # (``app.services.access.scope``). None for a key without permissions: it acts as the owner.
    api_key_id: str | None = None
    api_key_scope: Mapping[str, Sequence[str]] | None = None

    @property
    def user_id(self) -> str:
        return self.user.id

    @property
    def roles(self) -> list[str]:
        return parse_roles(self.user.role)


def is_ban_active(user: User | UserSnapshot, now: datetime) -> bool:
    """Better-Auth's rule: banned, and either no expiry or an expiry still in the future.

    An expired ban is only cleared by Better-Auth at the next sign-in; until then the row still
    says ``banned = true``, and such a user is treated as not banned.
    """
    if not user.banned:
        return False
    return user.ban_expires is None or user.ban_expires > now


@lru_cache(maxsize=8192)
def _from_timestamp(value: float) -> datetime:
    """A token's ``iat``/``exp`` as a datetime: asked on every request the token makes, so
    remembered (a datetime is immutable)."""
    return datetime.fromtimestamp(value, tz=UTC)


class IdentityService:
    def __init__(
        self,
        sessions: DbSessionFactory,
        verifier: Verifier,
        *,
        secret: str,
        cache: IdentityCache | None = None,
        require_live_session: bool = False,
        unknown_tokens: UnknownTokenCache | None = None,
        secondary: SecondarySessions | None = None,
        memo: PrincipalMemo | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Opened only when the caches cannot answer, and closed right after the read.
        self._sessions = sessions
        self._verifier = verifier
        self._secret = secret
        self._cache = cache or IdentityCache(max_entries=1, fallback_ttl=0, enabled=False)
        self._unknown_tokens = (
            unknown_tokens
            if unknown_tokens is not None
            else UnknownTokenCache(max_entries=1, ttl=0)
        )
        self._now = now
        self._require_live_session = require_live_session
        self._secondary = secondary
        # Better-Auth reads the session table only without secondary storage, or in its
        # storeSessionInDatabase fallback mode; preserved rows authenticate no one.
        self._database_sessions = secondary is None or secondary.mode.database_fallback
        # Callers remembered whole (``principal_memo``): not with Redis sessions, which are
        # re-read on their own short cache, nor when any live session of the user will do.
        self._memo = (
            memo
            if memo is not None and memo.enabled and secondary is None and not require_live_session
            else None
        )

    async def authenticate(self, credential: str) -> Principal:
        """A bearer value: a JWT when it looks like one, else a Better-Auth session token."""
        memo = self._memo
        if memo is None:
            return await self._authenticate_bearer(credential, None, None)
        key = token_digest(credential)
        known = memo.recall(key, self._now)
        if known is not None:
            return known
        return await self._authenticate_bearer(credential, key, memo.begin())

    async def _authenticate_bearer(
        self, credential: str, key: bytes | None, generation: int | None
    ) -> Principal:
        # A JWT verified before is known by its digest: its header need not be parsed again.
        verified = self._verifier.cached(credential)
        if verified is None:
            header = jwt_header(credential)
            if header is None:
                return await self._authenticate_session_token(credential, False, key, generation)
            verified = await self._verifier.verify(credential, header)
        principal, session = await self._principal_and_session(verified)
        if key is not None and self._memo is not None:
            self._memo.remember(
                key,
                principal,
                generation,
                token=verified,
                session_expires_at=session.expires_at if session is not None else None,
            )
        return principal

    async def _principal_and_session(
        self, verified: VerifiedToken
    ) -> tuple[Principal, SessionSnapshot | None]:
        """The caller a verified JWT names, if its user (and its session, with ``sid``) stand;
        and that session."""
        user = await self._load_user(verified.subject)
        session_id = verified.claims.get("sid")
        session: SessionSnapshot | None = None
        if session_id is not None:
            if not isinstance(session_id, str) or not session_id:
                raise Unauthorized("token sid claim is not a session id", code="TOKEN_INVALID")
            # The session, looked up (cached) for the sid check anyway, also says who
            # impersonates: a JWT of an impersonation session acts as it, audited as it.
            session = await self._live_session(session_id, user.id)
            impersonated_by = session.impersonated_by
        else:
            impersonated_by = None
            if self._require_live_session:
                await self._ensure_any_session_live(user.id)
        principal = Principal(
            user=user,
            token_type="jwt",
            issued_at=_from_timestamp(verified.issued_at) if verified.issued_at else None,
            expires_at=_from_timestamp(verified.expires_at),
            session_id=session_id,
            claims=verified.claims,
            impersonated_by=impersonated_by,
        )
        return principal, session

    async def _live_session(self, session_id: str, user_id: str) -> SessionSnapshot:
        """The JWT's own session, if it still exists, is the subject's, and has not expired."""
        stored = await self._secondary.by_id(session_id, user_id) if self._secondary else None
        session: SessionSnapshot | Literal[False] | None = None
        if stored is not None:
            session = stored.snapshot()
        elif not self._database_sessions:
            session = False
        if session is None:
            session = self._cache.get_session_by_id(session_id)
        if session is None:
            generation = self._cache.begin_read()

            async def read(db: AsyncSession) -> SessionSnapshot | None:
                row = await db.get(AuthSession, session_id)
                return SessionSnapshot.of(row) if row is not None else None

            snapshot = await self._read(read)
            self._cache.put_session_by_id(session_id, snapshot, generation)
            session = snapshot or False
        if session is False or session.user_id != user_id:
            raise Unauthorized("the token's session has ended", code="SESSION_INVALID")
        if session.expires_at <= self._now():
            raise Unauthorized("session has expired", code="SESSION_EXPIRED")
        return session

    async def _ensure_any_session_live(self, user_id: str) -> None:
        """Strict mode for JWTs without ``sid``: the user has at least one live session."""
        now = self._now()
        if self._secondary is not None:
            stored = await self._secondary.live_session_of(user_id)
            if stored is not None and stored.expires_at > now:
                return
            if not self._database_sessions:
                raise Unauthorized("the user has no live session", code="SESSION_INVALID")
        session = self._cache.get_live_session_of(user_id)
        if session is not None and session.expires_at > now:
            return
        generation = self._cache.begin_read()
        statement = (
            select(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.expires_at > now)
            .order_by(AuthSession.expires_at.desc())
            .limit(1)
        )

        async def read(db: AsyncSession) -> SessionSnapshot | None:
            row = (await db.execute(statement)).scalar_one_or_none()
            return SessionSnapshot.of(row) if row is not None else None

        snapshot = await self._read(read)
        if snapshot is None:
            raise Unauthorized("the user has no live session", code="SESSION_INVALID")
        self._cache.put_live_session_of(user_id, snapshot, generation)

    async def authenticate_session_token(
        self, value: str, *, from_cookie: bool = False
    ) -> Principal:
        memo = self._memo
        if memo is None or not from_cookie:
            return await self._authenticate_session_token(value, from_cookie, None, None)
        key = token_digest(value) + COOKIE  # a bare token passes as bearer, never as cookie
        known = memo.recall(key, self._now)
        if known is not None:
            return known
        return await self._authenticate_session_token(value, from_cookie, key, memo.begin())

    async def _authenticate_session_token(
        self, value: str, from_cookie: bool, key: bytes | None, generation: int | None
    ) -> Principal:
        # Better-Auth always signs its cookie; only the bearer plugin accepts a bare token.
        token = verify_session_token_signature(value, self._secret, allow_unsigned=not from_cookie)
        session = await self._load_session(token)
        if session.expires_at <= self._now():
            raise Unauthorized("session has expired", code="SESSION_EXPIRED")
        user = await self._load_user(session.user_id)
        principal = Principal(
            user=user,
            token_type="session",
            issued_at=session.created_at,
            expires_at=session.expires_at,
            session_id=session.id,
            impersonated_by=session.impersonated_by,
        )
        if key is not None and self._memo is not None:
            self._memo.remember(key, principal, generation, session_expires_at=session.expires_at)
        return principal

    async def _load_session(self, token: str) -> SessionSnapshot:
        digest = token_digest(token)
        if self._secondary is not None:
            if digest in self._unknown_tokens:
                raise Unauthorized("session not found or revoked", code="SESSION_INVALID")
            stored = await self._secondary.by_token(token)
            if stored is not None:
                return stored.snapshot()
            if not self._database_sessions:
                self._unknown_tokens.add(digest)
                raise Unauthorized("session not found or revoked", code="SESSION_INVALID")
        cached = self._cache.get_session(digest)
        if cached is not None:
            return cached
        if digest in self._unknown_tokens:
            raise Unauthorized("session not found or revoked", code="SESSION_INVALID")
        generation = self._cache.begin_read()
        statement = (
            select(AuthSession, User)
            .join(User, AuthSession.user_id == User.id)
            .where(AuthSession.token == token)
        )

        async def read(db: AsyncSession) -> Row[AuthSession, User] | None:
            return (await db.execute(statement)).one_or_none()

        row = await self._read(read)
        if row is None:
            self._unknown_tokens.add(digest)
            raise Unauthorized("session not found or revoked", code="SESSION_INVALID")
        session, user = row
        snapshot = SessionSnapshot.of(session)
        self._cache.put_session(digest, snapshot, generation)
        self._cache.put_user(UserSnapshot.of(user), generation)
        return snapshot

    async def _load_user(self, user_id: str) -> UserSnapshot:
        user = self._cache.get_user(user_id)
        if user is None:
            generation = self._cache.begin_read()

            async def read(db: AsyncSession) -> UserSnapshot | None:
                row = await db.get(User, user_id)
                return UserSnapshot.of(row) if row is not None else None

            user = await self._read(read)
            if user is None:
                raise Unauthorized("user no longer exists", code="USER_NOT_FOUND")
            self._cache.put_user(user, generation)
        self._ensure_not_banned(user)
        return user

    async def _read(self, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """A read in a session of its own (autocommit on PostgreSQL; retried once on a dead
        connection)."""
        async with self._sessions() as db:
            return await run_read(db, read)

    async def load_active_user(self, user_id: str) -> UserSnapshot:
        """The user behind a credential verified elsewhere (an API key's owner): cached, and
        refused when deleted (``USER_NOT_FOUND``) or banned (``BANNED_USER``)."""
        return await self._load_user(user_id)

    def _ensure_not_banned(self, user: UserSnapshot) -> None:
        if user.banned and is_ban_active(user, self._now()):  # no clock for the unbanned
            # Better-Auth's own answer (admin plugin, bannedUserMessage); banReason is the
            # admins' internal note and is never shown to the banned user.
            raise Forbidden(BANNED_USER_MESSAGE, code="BANNED_USER")
