"""Application settings: the only place that reads the environment.

Everything is validated when the app starts; a bad value stops it with one line that names
the variable (see ``load_settings``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.config_types import (
    BETTER_AUTH_ALGORITHMS,
    Algorithms,
    CacheSize,
    CsvList,
    DatabaseUrl,
    Environment,
    ExactOrigins,
    HttpUrlText,
    JwksSource,
    Networks,
    OriginPatterns,
    Roles,
    SignInProviders,
    blank_is_none,
)
from app.utils.auth_secrets import checked_secrets_env, signing_secret
from app.utils.urls import checked_redis_url, direct_endpoint_url, url_origin

BACKEND_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = BACKEND_DIR.parent
DEFAULT_SQLITE_PATH = PROJECT_DIR / "data" / "app.db"
# In a checkout, `npm run build` in admin-console/ writes the console there (make run / make
# test-e2e do); the image (backend/Dockerfile) has no admin-console/ beside its code and copies the
# built files to /app/admin-console. A blank ADMIN_CONSOLE_DIR (as in .env.example, which an
# operator's .env starts from) then still finds them.
DEFAULT_ADMIN_CONSOLE_DIR = (
    PROJECT_DIR / "admin-console" / "dist"
    if (PROJECT_DIR / "admin-console").is_dir()
    else BACKEND_DIR / "admin-console"
)


class Settings(BaseSettings):
    """Service configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=(PROJECT_DIR / ".env", BACKEND_DIR / ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # The docstring under each field is its description (docs/reference/settings.md).
        use_attribute_docstrings=True,
    )

    # --- service ---
    environment: Environment = Environment.DEVELOPMENT
    """Where the service runs: `development`, `test`, `staging` or `production`; logged at start."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """The lowest level logged."""
    log_format: Literal["json", "console"] = "json"
    """`json` (one object per line) or `console` (for a terminal)."""
    cors_origins: ExactOrigins = Field(default_factory=list)
    """Browser origins allowed with credentials (CORS), matched exactly (`*`, `null`: refused);
    empty: no CORS. `make run` and Compose set it from `FRONTEND_ORIGIN` when it is empty."""
    trusted_origins: OriginPatterns = Field(default_factory=list)
    """More origins (besides `BETTER_AUTH_URL`'s and `CORS_ORIGINS`) whose cookie-authenticated
    writes are accepted, in Better-Auth's `trustedOrigins` syntax (`https://*.example.com`,
    `myapp://`; one naming no host, such as `*`, is refused)."""
    better_auth_line: Literal["1.7", "1.6"] = "1.7"
    """The Better-Auth release line the auth server runs. `1.6`: the cookie origin check also
    refuses what 1.6 refuses (custom schemes compared case-sensitively, `myapp://*` wildcards);
    what only 1.6 trusts stays refused, so the answer is never wider than either line's."""
    docs_enabled: bool = True
    """Serve Swagger UI at `/docs`, ReDoc at `/redoc` and the schema at `/openapi.json`."""
    admin_console_enabled: bool = True
    """Serve the admin console (`admin-console/`, a browser app of this API) at `/admin/`;
    `false`: 404 there."""
    admin_console_dir: Annotated[Path | None, BeforeValidator(blank_is_none)] = None
    """The console's built files (`index.html`, `assets/`). Empty: `admin-console/dist` of the
    repository (the Docker image sets its own)."""
    admin_console_sign_in_providers: SignInProviders = Field(default_factory=list)
    """The OAuth providers the auth server has enabled, as the console's sign-in buttons: their
    Better-Auth ids (`google`, `github`, a genericOAuth `providerId`), each optionally `=Label`
    (`google,github,corp-sso=Acme SSO`). Empty: email and password only."""
    admin_console_password_sign_in: bool = True
    """Offer email and password on the console's sign-in screen; `false` when the auth server
    does not enable it (then `ADMIN_CONSOLE_SIGN_IN_PROVIDERS` must name a provider)."""
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Larger request bodies are refused with 413 `PAYLOAD_TOO_LARGE`."""

    # --- database ---
    database_url: DatabaseUrl = ""
    """The database shared with Better-Auth: `postgres://`, `postgresql://`, `postgresql+asyncpg://`
    (Neon URLs as pasted) or `sqlite:///...`. Empty: the SQLite file `data/app.db` of the
    repository."""
    database_statement_cache: bool = True
    """asyncpg's prepared-statement cache: `false` behind PgBouncer in transaction mode (Neon
    `-pooler` hosts)."""
    database_pool_size: int = Field(default=10, ge=1, le=200)
    """Connections kept open per process (PostgreSQL)."""
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    """Extra connections per process under load, kept while requests queue and closed once none
    waits."""
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """The pool's own wait for a connection: a backstop, since the queue in front of it admits only
    what the pool can serve."""
    database_queue_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """Beyond pool size + overflow, requests queue first come, first served this long, then get 503
    `DATABASE_UNAVAILABLE` with `Retry-After`."""
    database_echo: bool = False
    """Log every SQL statement."""
    database_listen_url: DatabaseUrl = ""
    """A direct (session-mode) connection for the cache-invalidation `LISTEN`. Empty: `DATABASE_URL`
    without Neon's `-pooler`."""

    # --- Better-Auth / tokens ---
    better_auth_url: HttpUrlText = "http://localhost:3000"
    """Base URL of the Better-Auth server (its `baseURL`); its origin is the expected `iss` and
    `aud`."""
    better_auth_secret: str = ""
    """Better-Auth's secret: verifies signed session tokens and the session cookie. Empty: only bare
    session tokens and JWTs are accepted."""
    auth_secret: str = ""
    """Better-Auth's own fallback for its secret, used when `BETTER_AUTH_SECRET` is unset."""
    better_auth_secrets: Annotated[str, AfterValidator(checked_secrets_env)] = ""
    """Rotated secrets, `<version>:<secret>,...` (Better-Auth's format): the first entry is the
    current secret, which signs session cookies and tokens; it wins over `BETTER_AUTH_SECRET`."""
    jwks_url: HttpUrlText = ""
    """The JWKS endpoint. Empty: `{BETTER_AUTH_URL}/api/auth/jwks`."""
    jwks_source: JwksSource = JwksSource.HTTP
    """`http` (fetch `JWKS_URL`) or `database` (the public keys of the shared `jwks` table)."""
    jwt_issuer: str = ""
    """The expected `iss`. Empty: the origin of `BETTER_AUTH_URL`."""
    jwt_audience: str = ""
    """The expected `aud` (the token's may be a list). Empty: the origin of `BETTER_AUTH_URL`."""
    jwt_algorithms: Algorithms = Field(default_factory=lambda: list(BETTER_AUTH_ALGORITHMS))
    """Accepted signature algorithms; also `Ed25519`, `RS384`, `RS512`, `PS384`, `PS512`, `ES384`;
    never HMAC or `none`."""
    jwt_leeway_seconds: int = Field(default=5, ge=0, le=60)
    """Clock skew allowed on `exp`, `nbf` and `iat`."""
    jwt_max_token_bytes: int = Field(default=8192, ge=512, le=65536)
    """Longer tokens are refused before parsing."""
    jwt_max_lifetime_seconds: int = Field(default=86400, ge=60, le=30 * 86400)
    """A JWT whose `exp - iat` is longer is refused (Better-Auth's JWTs live 15 minutes)."""
    jwks_cache_ttl_seconds: int = Field(default=300, ge=1, le=86400)
    """Key-set lifetime (caps `Cache-Control: max-age`): also how long a withdrawn key verifies."""
    jwks_min_ttl_seconds: int = Field(default=30, ge=0, le=86400)
    """The lower bound for the JWKS response's `Cache-Control: max-age`."""
    # A rate, not a penalty: the fetches a flood of unknown kids can cause.
    jwks_refetch_cooldown_seconds: float = Field(default=1.0, ge=0, le=3600)
    """Minimum interval between two key-set fetches after unknown kids or failures. A request with
    an unknown kid waits for the next fetch when it is due within a second, so a new key is
    accepted within this long (keep it at 1 or less)."""
    jwks_max_stale_seconds: int = Field(default=86400, ge=0, le=30 * 86400)
    """Cached keys keep verifying this long past their TTL while the key source fails."""
    jwks_fetch_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    """Bound on one whole key-set fetch."""
    jwks_max_response_bytes: int = Field(default=256 * 1024, ge=1024, le=8 * 1024 * 1024)
    """The largest JWKS response accepted."""
    jwks_grace_period_seconds: int = Field(default=30 * 86400, ge=0, le=365 * 86400)
    """`JWKS_SOURCE=database`: keys past `expiresAt` + this are dropped, as Better-Auth's `/jwks`
    does (its `jwks.gracePeriod`)."""
    session_cookie_name: str = "better-auth.session_token"
    """Better-Auth's session cookie; on https (`BETTER_AUTH_URL` or the request) only its
    `__Secure-` name counts."""
    jwt_require_live_session: bool = False
    """Refuse a JWT without a `sid` claim once its user has no live session (a JWT with `sid` is
    always checked against that session)."""

    # --- sessions in Better-Auth's secondaryStorage (Redis), read and revoked there ---
    secondary_storage_url: Annotated[str, AfterValidator(checked_redis_url)] = ""
    """Better-Auth's secondary storage (`redis://...`) when its sessions live there. Empty: sessions
    are read from the database."""
    secondary_storage_prefix: str = "better-auth:"
    """The key prefix of Better-Auth's storage."""
    store_session_in_database: bool = False
    """Better-Auth's `session.storeSessionInDatabase`, as configured there."""
    preserve_session_in_database: bool = False
    """Better-Auth's `session.preserveSessionInDatabase`, as configured there (the rows it keeps
    never authenticate)."""
    secondary_storage_cache_seconds: float = Field(default=0.5, ge=0, le=1)
    """How long a session read from the storage is reused: a sign-out or revocation made through
    Better-Auth reaches this process within this time (plus one round trip)."""
    secondary_storage_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    """Bound on connecting to the storage and on each command; beyond it, 503
    `SESSION_STORE_UNAVAILABLE`."""

    # --- authorisation ---
    admin_roles: Roles = Field(default_factory=lambda: ["admin"])
    """Better-Auth's `adminRoles`: the roles that count as admin for the last-admin guard, the
    audit log and the impersonation of admins (what each role may do: `ACCESS_CONTROL_FILE`)."""
    known_roles: Roles = Field(default_factory=lambda: ["user", "admin"])
    """Deprecated: extra role names set-role accepts, granting nothing. Name roles in
    `ACCESS_CONTROL_FILE` instead (its roles, `admin` and `user` are always accepted)."""
    # Read and checked at start by app.services.access.load_access_control.
    access_control_file: Annotated[Path | None, BeforeValidator(blank_is_none)] = None
    """A JSON file of statements and roles (`statements`, `roles`, `organization`) shared with the
    auth server, read and checked at start. Empty: Better-Auth's default roles."""
    admin_user_ids: CsvList = Field(default_factory=list)
    """Better-Auth's `adminUserIds`: these user ids pass every permission check."""
    organization_dynamic_roles: bool = False
    """The organization plugin's `dynamicAccessControl.enabled`: honour the roles each
    organization creates at run time (table `organizationRole`), merged with the static role of
    the same name. Set it exactly when Better-Auth has it on (with an `ac`); the bundled auth
    server reads this same variable."""

    # --- caches (authentication hot path) ---
    token_cache_enabled: bool = True
    """Cache verified JWTs by digest until their `exp`."""
    token_cache_size: CacheSize = 10_000
    """Verified JWTs kept, the least recently used evicted first (about 1.4 KiB each)."""
    identity_cache_enabled: bool = True
    """Cache users' role and ban state, sessions and organization memberships, invalidated by
    `NOTIFY`."""
    identity_cache_size: CacheSize = 10_000
    """Entries per kind (users, sessions, memberships)."""
    identity_cache_fallback_ttl_seconds: float = Field(default=2.0, ge=0, le=300)
    """Entry lifetime while no invalidation feed runs (SQLite, listener reconnecting, heartbeat
    missed, trigger missing)."""
    identity_feed_heartbeat_seconds: float = Field(default=2.0, ge=0, le=300)
    """PostgreSQL: how often the feed proves that notices still arrive and the triggers are in place
    (0: never, `LISTEN` is trusted)."""
    identity_feed_heartbeat_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    """A heartbeat notice later than this puts the cache on the fallback TTL and reconnects the
    listener."""

    # --- API keys (@better-auth/api-key) ---
    api_key_header: str = Field(default="x-api-key", min_length=1, pattern=r"^[A-Za-z0-9-]+$")
    """The header carrying a Better-Auth API key (the plugin's `apiKeyHeaders`)."""
    api_key_min_length: int = Field(default=64, ge=1, le=1024)
    """Shorter keys are refused without a query (the plugin's `defaultKeyLength`)."""
    api_key_max_length: int = Field(default=256, ge=1, le=4096)
    """Longer keys are refused without a query."""
    api_key_cache_size: CacheSize = 10_000
    """Cached static fields of existing keys (never their counters), invalidated by `NOTIFY` like
    the identity cache (and on its fallback TTL)."""
    # No key's ``requestCount`` is checked or counted then; ``lastRequest`` still moves, as the
    # plugin's verify does.
    api_key_rate_limit_enabled: bool = True
    """The API-key plugin's `rateLimit.enabled`: `false` turns the per-key rate limit off for every
    key (quotas still apply). Give the auth server the same value."""

    # --- rate limiting ---
    rate_limit_enabled: bool = True
    """The rate limits on `/api/v1/auth/*` and the failed-authentication limit."""
    rate_limit_per_ip: str = "120/minute"
    """Per client IP on `/api/v1/auth/*`, in the `limits` syntax (`10/second;1000/hour`)."""
    rate_limit_per_user: str = "60/minute"
    """Per user on `/api/v1/auth/me` and `/api/v1/auth/session`."""
    rate_limit_auth_failures_per_ip: str = "60/minute"
    """Failed authentications (401) per client address, on any route; over it, 429
    `AUTH_FAILURES_RATE_LIMITED` until the window ends. Empty: off."""
    redis_url: str = ""
    """`redis://...` shares the rate-limit budget across processes. Empty: in memory, per process.
    Redis down: the limits fail open."""

    # --- observability ---
    metrics_enabled: bool = True
    """Serve `GET /metrics` (Prometheus); `false` removes it."""
    metrics_token: str = ""
    """A scraper sending `Authorization: Bearer <token>` may read `/metrics` from anywhere."""
    metrics_allowed_ips: Networks = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    """Client addresses or networks that may read `/metrics` without the token (others get 404)."""
    # prometheus-client reads the same variable from the environment itself.
    prometheus_multiproc_dir: str = ""
    """prometheus-client's multiprocess mode for several workers: an empty, writable directory.
    Empty: in memory, per process."""
    otel_exporter_otlp_endpoint: str = ""
    """An OTLP/HTTP collector, e.g. `http://127.0.0.1:4318`: spans for requests, SQL and JWKS
    fetches. Empty: tracing off."""
    otel_service_name: str = "fastapi-better-auth-backend"
    """The `service.name` of the spans."""

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        # Better-Auth defaults iss and aud to the origin of its baseURL; so do we.
        origin = url_origin(self.better_auth_url)
        if not self.jwks_url:
            self.jwks_url = f"{self.better_auth_url}/api/auth/jwks"
        if not self.jwt_issuer:
            self.jwt_issuer = origin
        if not self.jwt_audience:
            self.jwt_audience = origin
        if not self.database_url:
            self.database_url = f"sqlite:///{DEFAULT_SQLITE_PATH}"
        if self.admin_console_dir is None:
            self.admin_console_dir = DEFAULT_ADMIN_CONSOLE_DIR
        if not self.database_listen_url:
            self.database_listen_url = direct_endpoint_url(self.database_url)
        signs_in = self.admin_console_password_sign_in or self.admin_console_sign_in_providers
        if self.admin_console_enabled and not signs_in:
            raise ValueError(
                "ADMIN_CONSOLE_PASSWORD_SIGN_IN=false leaves the console no way to sign in: "
                "name the auth server's providers in ADMIN_CONSOLE_SIGN_IN_PROVIDERS"
            )
        missing_admin = [role for role in self.admin_roles if role not in self.known_roles]
        if missing_admin:
            self.known_roles = [*self.known_roles, *missing_admin]
        return self

    @property
    def session_secret(self) -> str:
        """The secret that signs session cookies and tokens (Better-Auth's current secret)."""
        return signing_secret(self.better_auth_secrets, self.better_auth_secret, self.auth_secret)

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION


def format_validation_error(error: ValidationError) -> str:
    """One line per bad variable: ``DATABASE_URL: must be a postgres:// ... URL``."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper() or "SETTINGS"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"invalid setting {name}: {message}")
    return "; ".join(lines)


class SettingsError(RuntimeError):
    """Raised at start-up when the environment holds an invalid value."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(format_validation_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
