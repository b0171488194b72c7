"""The composition root: every service of the running app is built here, and only here.

Process-wide services (key cache, verifier, caches, rate limiter, listener) are built once in
the lifespan by :func:`build_app_state` and disposed on shutdown. Per-request services, which
need the request's database session, are built by the ``AppState`` methods below, which the
dependency providers in ``app.routers.deps`` call: no router builds a service itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import JwksSource, Settings, url_origin
from app.database import resolve_database_target
from app.services.access import AccessControl, AccessControlError, load_access_control
from app.services.apikeys.service import ApiKeyService
from app.services.apikeys.snapshot import ApiKeyCache
from app.services.audit.service import AuditService
from app.services.auth.failures import FailedAuthLimiter, UnknownTokenCache
from app.services.auth.identity import DbSessionFactory, IdentityService
from app.services.auth.identity_cache import IdentityCache
from app.services.auth.invalidation import InvalidationListener
from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.database import DatabaseKeySource
from app.services.auth.keys.sources import HttpKeySource, KeySource
from app.services.auth.token_cache import CachedTokenVerifier, Verifier
from app.services.auth.verifier import TokenVerifier
from app.services.organizations.access import OrgAccessControl, parse_org_access
from app.services.organizations.cache import OrganizationCache
from app.services.organizations.memberships import MembershipResolver
from app.services.organizations.service import OrganizationService
from app.services.platform.health import HealthService
from app.services.platform.metrics import (
    PUBLISH_INTERVAL_SECONDS,
    MetricSources,
    Publisher,
    StateCollector,
)
from app.services.platform.rate_limit import RateLimiter, storage_for
from app.services.users.credentials import CredentialService
from app.services.users.service import UserService
from app.utils.metrics import Metrics
from app.utils.origins import OriginPolicy


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
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> None:
        """Background work of a serving process: warm the keys (start-up never waits for the
        auth server) and listen for cache invalidations."""
        task = asyncio.create_task(self.key_cache.warm())
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        if self.listener is not None:
            self.listener.start()

    def identity_service(self, sessions: DbSessionFactory) -> IdentityService:
        """Authentication; ``sessions`` opens a database session only on a cache miss."""
        return IdentityService(
            sessions,
            self.verifier,
            secret=self.settings.better_auth_secret,
            cache=self.identity_cache,
            require_live_session=self.settings.jwt_require_live_session,
            unknown_tokens=self.unknown_tokens,
        )

    def api_key_service(self, sessions: DbSessionFactory) -> ApiKeyService:
        """API key verification; the counters are always spent in the database."""
        return ApiKeyService(
            sessions,
            self.api_key_cache,
            min_length=self.settings.api_key_min_length,
            max_length=self.settings.api_key_max_length,
        )

    def user_service(self, db: AsyncSession) -> UserService:
        return UserService(
            db,
            admin_roles=self.settings.admin_roles,
            known_roles=self.settings.known_roles,
            access=self.access,
            cache=self.identity_cache,
        )

    def credential_service(self, db: AsyncSession) -> CredentialService:
        known = {*self.settings.known_roles, *self.settings.admin_roles, *self.access.role_names}
        return CredentialService(db, known_roles=known, default_role=self.access.default_role)

    def memberships(self, sessions: DbSessionFactory) -> MembershipResolver:
        """Cached memberships; ``sessions`` opens a database session only on a cache miss."""
        return MembershipResolver(sessions, self.org_cache)

    def organization_service(self, db: AsyncSession) -> OrganizationService:
        return OrganizationService(db, access=self.org_access, cache=self.org_cache)

    @staticmethod
    def audit_service(db: AsyncSession) -> AuditService:
        return AuditService(db)

    def health_service(self) -> HealthService:
        return HealthService(
            self.engine,
            self.key_cache,
            listener=self.listener,
            cache_enabled=self.identity_cache.enabled,
        )

    async def aclose(self) -> None:
        if self.listener is not None:
            await self.listener.aclose()
        for task in list(self.background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.key_cache.aclose()
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
        [url_origin(settings.better_auth_url), *settings.cors_origins, *settings.trusted_origins]
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
    verifier: Verifier = TokenVerifier.from_settings(settings, key_cache)
    if settings.token_cache_enabled:
        verifier = CachedTokenVerifier(
            verifier,
            max_entries=settings.token_cache_size,
            leeway_seconds=settings.jwt_leeway_seconds,
            clock=time.time,
        )
    identity_cache = IdentityCache(
        max_entries=settings.identity_cache_size,
        fallback_ttl=settings.identity_cache_fallback_ttl_seconds,
        enabled=settings.identity_cache_enabled,
    )
    rate_limiter = RateLimiter(
        storage_for(settings.redis_url),
        per_ip=settings.rate_limit_per_ip,
        per_user=settings.rate_limit_per_user,
        auth_failures_per_ip=settings.rate_limit_auth_failures_per_ip,
        enabled=settings.rate_limit_enabled,
    )
    # API keys' static fields: same switch, TTL and feed as the identity cache.
    api_key_cache = ApiKeyCache(
        max_entries=settings.api_key_cache_size,
        fallback_ttl=settings.identity_cache_fallback_ttl_seconds,
        enabled=settings.identity_cache_enabled,
    )
    # Memberships are cached like identities, with the same settings and the same feed.
    org_cache = OrganizationCache(
        max_entries=settings.identity_cache_size,
        fallback_ttl=settings.identity_cache_fallback_ttl_seconds,
        enabled=settings.identity_cache_enabled,
    )
    listener = None
    if settings.identity_cache_enabled and engine.dialect.name == "postgresql":
        listener = InvalidationListener(
            resolve_database_target(settings.database_listen_url),
            identity_cache,
            subscribers=[api_key_cache, org_cache],
            # Heartbeats are written the way Better-Auth writes (DATABASE_URL, poolers and all).
            beat_target=resolve_database_target(
                settings.database_url, statement_cache=settings.database_statement_cache
            ),
            heartbeat_seconds=settings.identity_feed_heartbeat_seconds,
            heartbeat_timeout_seconds=settings.identity_feed_heartbeat_timeout_seconds,
        )
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
        listener=listener,
        rate_limiter=rate_limiter,
        auth_failures=FailedAuthLimiter(rate_limiter),
    )


def metric_sources(state: AppState) -> MetricSources:
    verifier = state.verifier
    return MetricSources(
        identity_cache=state.identity_cache,
        key_cache=state.key_cache,
        rate_limiter=state.rate_limiter,
        token_cache=verifier if isinstance(verifier, CachedTokenVerifier) else None,
        listener=state.listener,
        pool=state.engine.pool,
    )


def start_state_metrics(metrics: Metrics, state: AppState) -> Callable[[], Awaitable[None]]:
    """Expose the services' counters on ``metrics``; returns the function that stops it.

    Single process: a collector reads them at scrape time. Multiprocess mode: a task copies
    them into the shared files every few seconds, and the scraped worker just before answering.
    """
    sources = metric_sources(state)
    if not metrics.multiprocess:
        collector = StateCollector(sources)
        metrics.register(collector)

        async def unregister() -> None:
            metrics.unregister(collector)

        return unregister

    publisher = Publisher(sources)
    metrics.before_scrape(publisher.publish)

    async def publish_forever() -> None:
        while True:
            publisher.publish()
            await asyncio.sleep(PUBLISH_INTERVAL_SECONDS)

    task = asyncio.create_task(publish_forever(), name="metrics-publisher")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        metrics.process_exited()

    return stop
