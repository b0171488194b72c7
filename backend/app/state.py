"""The composition root: every service of the running app is built here, and only here.

Process-wide services (key cache, verifier, caches, rate limiter, listener) are built once in
the lifespan by :func:`build_app_state` and disposed on shutdown. Per-request services, which
need the request's database session, are built by the ``AppState`` methods below, which the
dependency providers in ``app.routers.deps`` call: no router builds a service itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app import state_sessions
from app.config import Settings
from app.config_types import JwksSource
from app.database import read_connection, resolve_database_target
from app.services.access import AccessControl, AccessControlError, load_access_control
from app.services.apikeys.service import ApiKeyService
from app.services.apikeys.snapshot import ApiKeyCache
from app.services.audit.service import AuditService
from app.services.auth.failures import FailedAuthLimiter, UnknownTokenCache
from app.services.auth.identity import DbSessionFactory, IdentityService
from app.services.auth.identity_cache import IdentityCache
from app.services.auth.invalidation import InvalidationListener, NoticeSubscriber
from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.database import DatabaseKeySource
from app.services.auth.keys.sources import HttpKeySource, KeySource
from app.services.auth.principal_memo import PrincipalMemo
from app.services.auth.secondary import SecondarySessions
from app.services.auth.token_cache import CachedTokenVerifier, Verifier
from app.services.auth.verifier import TokenVerifier
from app.services.organizations.access import OrgAccessControl, parse_org_access
from app.services.organizations.cache import OrganizationCache
from app.services.organizations.dynamic_roles import OrgRoleResolver
from app.services.organizations.memberships import MembershipResolver
from app.services.organizations.service import OrganizationService
from app.services.platform.feed_cache import FeedCache
from app.services.platform.health import HealthService
from app.services.platform.rate_limit import RateLimiter, storage_for
from app.services.users.credentials import CredentialService
from app.services.users.service import UserService
from app.utils.origins import OriginPolicy
from app.utils.urls import url_origin

C = TypeVar("C", bound=FeedCache)


@contextlib.asynccontextmanager
async def _connection_of(sessions: DbSessionFactory) -> AsyncIterator[AsyncConnection]:
    async with sessions() as db:
        yield await db.connection()


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http_client: httpx.AsyncClient
    key_cache: JwksCache
    verifier: Verifier
    identity_cache: IdentityCache
    rate_limiter: RateLimiter
    auth_failures: FailedAuthLimiter
    api_key_cache: ApiKeyCache
    access: AccessControl
    org_access: OrgAccessControl
    org_cache: OrganizationCache
    origin_policy: OriginPolicy = field(default_factory=lambda: OriginPolicy(()))
    unknown_tokens: UnknownTokenCache = field(default_factory=UnknownTokenCache)
    listener: InvalidationListener | None = None
    secondary_sessions: SecondarySessions | None = None
    principal_memo: PrincipalMemo | None = None
    # Sessions for reads outside a request's own session (authentication on a cache miss);
    # tests point it at their rolled-back transaction.
    side_sessions_override: DbSessionFactory | None = None
    # The identity service of the last sessions factory asked for: it holds no request state,
    # and building one per request (reading the signing secret from the settings) cost ~1 µs.
    _identity: tuple[DbSessionFactory, IdentityService] | None = field(
        default=None, init=False, repr=False
    )

    @property
    def side_sessions(self) -> DbSessionFactory:
        return self.side_sessions_override or self.sessionmaker

    def side_connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for a read outside the request's session (the admin list's fast path):
        no ORM session to open, commit and close. With ``side_sessions_override``, that
        session's connection (a test's transaction)."""
        if self.side_sessions_override is not None:
            return _connection_of(self.side_sessions_override)
        return read_connection(self.engine)

    def start(self) -> None:
        """Background work of a serving process: fetch the keys and keep them fresh (start-up
        never waits for the auth server) and listen for cache invalidations."""
        self.key_cache.start()
        if self.listener is not None:
            self.listener.start()

    def identity_service(self, sessions: DbSessionFactory) -> IdentityService:
        """Authentication; ``sessions`` opens a database session only on a cache miss."""
        known = self._identity
        if known is not None and known[0] is sessions:
            return known[1]
        service = self._build_identity_service(sessions)
        self._identity = (sessions, service)
        return service

    def _build_identity_service(self, sessions: DbSessionFactory) -> IdentityService:
        return IdentityService(
            sessions,
            self.verifier,
            secret=self.settings.session_secret,
            cache=self.identity_cache,
            require_live_session=self.settings.jwt_require_live_session,
            unknown_tokens=self.unknown_tokens,
            secondary=self.secondary_sessions,
            memo=self.principal_memo,
        )

    def api_key_service(self, sessions: DbSessionFactory) -> ApiKeyService:
        """API key verification; the counters are always spent in the database."""
        return ApiKeyService(
            sessions,
            self.api_key_cache,
            min_length=self.settings.api_key_min_length,
            max_length=self.settings.api_key_max_length,
            rate_limit_enabled=self.settings.api_key_rate_limit_enabled,
        )

    def user_service(self, db: AsyncSession) -> UserService:
        return UserService(
            db,
            admin_roles=self.settings.admin_roles,
            known_roles=self.settings.known_roles,
            access=self.access,
            cache=self.identity_cache,
            sessions=state_sessions.user_sessions(self.secondary_sessions, db),
        )

    def credential_service(self, db: AsyncSession) -> CredentialService:
        known = {*self.settings.known_roles, *self.settings.admin_roles, *self.access.role_names}
        return CredentialService(db, known_roles=known, default_role=self.access.default_role)

    def memberships(self, sessions: DbSessionFactory) -> MembershipResolver:
        """Cached memberships; ``sessions`` opens a database session only on a cache miss."""
        return MembershipResolver(sessions, self.org_cache, self.secondary_sessions)

    def org_roles(self, sessions: DbSessionFactory) -> OrgRoleResolver:
        """Each organization's roles (dynamic ones merged in when enabled), cached."""
        return OrgRoleResolver(
            sessions,
            self.org_cache,
            self.org_access,
            dynamic=self.settings.organization_dynamic_roles,
        )

    def organization_service(self, db: AsyncSession) -> OrganizationService:
        return OrganizationService(
            db,
            access=self.org_access,
            cache=self.org_cache,
            secondary=self.secondary_sessions,
            dynamic_roles=self.settings.organization_dynamic_roles,
        )

    @staticmethod
    def audit_service(db: AsyncSession) -> AuditService:
        return AuditService(db)

    def health_service(self) -> HealthService:
        return HealthService(
            self.engine,
            self.key_cache,
            listener=self.listener,
            cache_enabled=self.identity_cache.enabled,
            session_storage=state_sessions.session_storage_of(self.secondary_sessions),
        )

    async def aclose(self) -> None:
        if self.listener is not None:
            await self.listener.aclose()
        await self.key_cache.aclose()
        await state_sessions.close_secondary_sessions(self.secondary_sessions)
        await self.http_client.aclose()
        await self.engine.dispose()


def build_key_source(
    settings: Settings,
    http_client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> KeySource:
    if settings.jwks_source is JwksSource.DATABASE:
        return DatabaseKeySource(
            sessionmaker, grace_period_seconds=settings.jwks_grace_period_seconds
        )
    return HttpKeySource(
        http_client,
        settings.jwks_url,
        timeout=settings.jwks_fetch_timeout_seconds,
        max_bytes=settings.jwks_max_response_bytes,
    )


def build_origin_policy(settings: Settings) -> OriginPolicy:
    """Better-Auth's trusted origins: its own (BETTER_AUTH_URL's), plus ours."""
    return OriginPolicy(
        [url_origin(settings.better_auth_url), *settings.cors_origins, *settings.trusted_origins],
        line=settings.better_auth_line,
    )


def build_access_control(settings: Settings) -> AccessControl:
    """Better-Auth's defaults, ``ACCESS_CONTROL_FILE`` and ``ADMIN_USER_IDS``; raises
    ``AccessControlError`` (one line) for a bad file."""
    return load_access_control(settings.access_control_file, admin_user_ids=settings.admin_user_ids)


def build_org_access(settings: Settings, access: AccessControl) -> OrgAccessControl:
    """The organization plugin's roles: the file's ``"organization"`` section; raises
    ``AccessControlError`` (one line, naming the file) for a bad one."""
    try:
        return parse_org_access(access.organization)
    except AccessControlError as error:
        raise AccessControlError(f"{settings.access_control_file}: {error}") from None


def build_verifier(settings: Settings, key_cache: JwksCache) -> Verifier:
    verifier = TokenVerifier.from_settings(settings, key_cache)
    if not settings.token_cache_enabled:
        return verifier
    return CachedTokenVerifier(
        verifier,
        max_entries=settings.token_cache_size,
        leeway_seconds=settings.jwt_leeway_seconds,
        clock=time.time,
        keys=key_cache,  # a withdrawn key takes its cached tokens with it
    )


def build_rate_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(
        storage_for(settings.redis_url),
        per_ip=settings.rate_limit_per_ip,
        per_user=settings.rate_limit_per_user,
        auth_failures_per_ip=settings.rate_limit_auth_failures_per_ip,
        enabled=settings.rate_limit_enabled,
    )


def build_listener(
    settings: Settings,
    engine: AsyncEngine,
    identity_cache: IdentityCache,
    subscribers: Sequence[NoticeSubscriber],
) -> InvalidationListener | None:
    """The invalidation feed (PostgreSQL only; SQLite has no LISTEN, and caches fall back to
    their TTL)."""
    if not settings.identity_cache_enabled or engine.dialect.name != "postgresql":
        return None
    return InvalidationListener(
        resolve_database_target(settings.database_listen_url),
        identity_cache,
        subscribers=subscribers,
        # Heartbeats are written the way Better-Auth writes (DATABASE_URL, poolers and all).
        beat_target=resolve_database_target(
            settings.database_url, statement_cache=settings.database_statement_cache
        ),
        heartbeat_seconds=settings.identity_feed_heartbeat_seconds,
        heartbeat_timeout_seconds=settings.identity_feed_heartbeat_timeout_seconds,
    )


def feed_cache(cache_type: type[C], settings: Settings, max_entries: int) -> C:
    """The caches the invalidation feed keeps fresh share one switch and one fallback TTL."""
    return cache_type(
        max_entries=max_entries,
        fallback_ttl=settings.identity_cache_fallback_ttl_seconds,
        enabled=settings.identity_cache_enabled,
    )


def build_app_state(settings: Settings, engine: AsyncEngine) -> AppState:
    """Wire the services around an engine (the lifespan's, or a test's)."""
    access = build_access_control(settings)  # first: a bad file leaves nothing to dispose
    org_access = build_org_access(settings, access)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    # One shared client: connection pooling for the JWKS fetches; redirects are never followed.
    http_client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
    key_cache = JwksCache.from_settings(
        build_key_source(settings, http_client, sessionmaker), settings
    )
    identity_cache = feed_cache(IdentityCache, settings, settings.identity_cache_size)
    # API keys' static fields, and memberships (as many as identities).
    api_key_cache = feed_cache(ApiKeyCache, settings, settings.api_key_cache_size)
    org_cache = feed_cache(OrganizationCache, settings, settings.identity_cache_size)
    rate_limiter = build_rate_limiter(settings)
    verifier = build_verifier(settings, key_cache)
    return AppState(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        http_client=http_client,
        key_cache=key_cache,
        verifier=verifier,
        identity_cache=identity_cache,
        origin_policy=build_origin_policy(settings),
        api_key_cache=api_key_cache,
        access=access,
        org_access=org_access,
        org_cache=org_cache,
        listener=build_listener(settings, engine, identity_cache, [api_key_cache, org_cache]),
        rate_limiter=rate_limiter,
        auth_failures=FailedAuthLimiter(rate_limiter),
        secondary_sessions=state_sessions.build_secondary_sessions(settings),
        principal_memo=build_principal_memo(settings, identity_cache, verifier),
    )


def build_principal_memo(
    settings: Settings, identity_cache: IdentityCache, verifier: Verifier
) -> PrincipalMemo:
    """Callers remembered whole, as many as verified tokens; JWTs only with the token cache
    (its test of a token's expiry and key is the memo's too)."""
    return PrincipalMemo(
        identity_cache,
        max_entries=settings.token_cache_size,
        still_trusted=verifier.still_trusted if isinstance(verifier, CachedTokenVerifier) else None,
    )
