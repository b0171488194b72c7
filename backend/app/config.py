"""Application settings: the only place that reads the environment.

Everything is validated when the app starts; a bad value stops it with one line that names
the variable (see ``load_settings``).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.utils.auth_secrets import checked_secrets_env, signing_secret
from app.utils.origins import exact_origins, origin_patterns
from app.utils.urls import checked_redis_url, direct_endpoint_url, url_origin

BACKEND_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = BACKEND_DIR.parent
DEFAULT_SQLITE_PATH = PROJECT_DIR / "data" / "app.db"

# The algorithms Better-Auth's jwt plugin can mint (keyPairConfig.alg). HMAC is never allowed:
# a verifier holding only public keys must not accept symmetric signatures.
BETTER_AUTH_ALGORITHMS = ("EdDSA", "RS256", "PS256", "ES256", "ES512")
SUPPORTED_ALGORITHMS = frozenset(
    {*BETTER_AUTH_ALGORITHMS, "Ed25519", "RS384", "RS512", "PS384", "PS512", "ES384"}
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


class JwksSource(StrEnum):
    HTTP = "http"
    DATABASE = "database"


# --- value types: each field's check is in its type, declared once ---------------------------


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _http_url(value: str) -> str:
    if value and urlsplit(value).scheme not in {"http", "https"}:
        raise ValueError("must be an http(s) URL")
    if value and not urlsplit(value).netloc:
        raise ValueError("must include a host")
    return value.rstrip("/")


def _database_url(value: str) -> str:
    value = value.strip()
    if not value:
        return value
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if not (scheme.startswith("postgres") or scheme.startswith("sqlite")):
        raise ValueError("must be a postgres:// , postgresql:// or sqlite:// URL")
    return value


def _algorithms(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one algorithm")
    unknown = [alg for alg in value if alg not in SUPPORTED_ALGORITHMS]
    if unknown:
        raise ValueError(
            f"unsupported algorithm(s) {', '.join(unknown)}; "
            f"choose from {', '.join(sorted(SUPPORTED_ALGORITHMS))}"
        )
    return value


def _networks(value: list[str]) -> list[str]:
    for item in value:
        try:
            ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return value


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _roles(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one role")
    return value


# A comma-separated environment value (``a, b``), read as a list.
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]
HttpUrlText = Annotated[str, AfterValidator(_http_url)]  # no trailing "/"
DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
Algorithms = Annotated[CsvList, AfterValidator(_algorithms)]
Networks = Annotated[CsvList, AfterValidator(_networks)]
Roles = Annotated[CsvList, AfterValidator(_roles)]
CacheSize = Annotated[int, Field(ge=1, le=1_000_000)]


class Settings(BaseSettings):
    """Service configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=(PROJECT_DIR / ".env", BACKEND_DIR / ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # --- service ---
    environment: Environment = Environment.DEVELOPMENT
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    cors_origins: Annotated[CsvList, AfterValidator(exact_origins)] = Field(default_factory=list)
    # More origins whose cookie-authenticated writes pass (Better-Auth's trustedOrigins syntax).
    trusted_origins: Annotated[CsvList, AfterValidator(origin_patterns)] = []
    docs_enabled: bool = True
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    # --- database ---
    database_url: DatabaseUrl = ""
    database_statement_cache: bool = True
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Beyond pool size + overflow, requests queue first-come-first-served this long, then 503.
    database_queue_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    database_echo: bool = False
    # LISTEN needs a session-mode connection: empty = DATABASE_URL without Neon's "-pooler".
    database_listen_url: DatabaseUrl = ""

    # --- Better-Auth / tokens ---
    better_auth_url: HttpUrlText = "http://localhost:3000"
    better_auth_secret: str = ""
    # Better-Auth's own fallback when BETTER_AUTH_SECRET is unset.
    auth_secret: str = ""
    # Rotated secrets, "<version>:<secret>,..." (Better-Auth's format); the first entry signs
    # session cookies and tokens and wins over BETTER_AUTH_SECRET.
    better_auth_secrets: Annotated[str, AfterValidator(checked_secrets_env)] = ""
    jwks_url: HttpUrlText = ""
    jwks_source: JwksSource = JwksSource.HTTP
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_algorithms: Algorithms = Field(default_factory=lambda: list(BETTER_AUTH_ALGORITHMS))
    jwt_leeway_seconds: int = Field(default=5, ge=0, le=60)
    jwt_max_token_bytes: int = Field(default=8192, ge=512, le=65536)
    # Longest accepted exp - iat; Better-Auth's JWTs live 15 minutes.
    jwt_max_lifetime_seconds: int = Field(default=86400, ge=60, le=30 * 86400)
    jwks_cache_ttl_seconds: int = Field(default=300, ge=1, le=86400)
    jwks_min_ttl_seconds: int = Field(default=30, ge=0, le=86400)
    # Minimum interval between two key-set fetches (unknown kids, failures): a rate, not a
    # penalty. A request with an unknown kid waits for the next fetch when it is due within a
    # second, so a key is accepted within this long of being published (keep it at 1 s or less).
    jwks_refetch_cooldown_seconds: float = Field(default=1.0, ge=0, le=3600)
    jwks_max_stale_seconds: int = Field(default=86400, ge=0, le=30 * 86400)
    jwks_fetch_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    jwks_max_response_bytes: int = Field(default=256 * 1024, ge=1024, le=8 * 1024 * 1024)
    # JWKS_SOURCE=database: rows past expiresAt + this are dropped, as Better-Auth's /jwks does
    # (its jwt({ jwks: { gracePeriod } }), default 30 days).
    jwks_grace_period_seconds: int = Field(default=30 * 86400, ge=0, le=365 * 86400)
    session_cookie_name: str = "better-auth.session_token"
    # Refuse a JWT whose user has no live session (for JWTs without a ``sid`` claim; a JWT with
    # one is always checked against its own session).
    jwt_require_live_session: bool = False

    # --- sessions in Better-Auth's secondaryStorage (Redis), read and revoked there ---
    secondary_storage_url: Annotated[str, AfterValidator(checked_redis_url)] = ""
    secondary_storage_prefix: str = "better-auth:"
    # Better-Auth's session.storeSessionInDatabase / preserveSessionInDatabase, as configured there.
    store_session_in_database: bool = False
    preserve_session_in_database: bool = False
    # How long a session read from the storage is reused: a sign-out or revocation made through
    # Better-Auth reaches this process within this time (plus one round trip).
    secondary_storage_cache_seconds: float = Field(default=0.5, ge=0, le=1)
    secondary_storage_timeout_seconds: float = Field(default=2.0, gt=0, le=30)

    # --- authorisation ---
    # Better-Auth's admin-plugin ``adminRoles``: who counts as an admin (last-admin guard,
    # the audit log, impersonation of admins). What each role may do: ACCESS_CONTROL_FILE.
    admin_roles: Roles = Field(default_factory=lambda: ["admin"])
    # Deprecated: extra role names set-role accepts, granting nothing. Name roles in
    # ACCESS_CONTROL_FILE instead (its roles, and admin and user, are always accepted).
    known_roles: Roles = Field(default_factory=lambda: ["user", "admin"])
    # JSON {"statements", "roles", "organization"}, shared with the auth server; read and
    # checked at start (app.services.access.load_access_control). Empty: Better-Auth's defaults.
    access_control_file: Annotated[Path | None, BeforeValidator(_blank_is_none)] = None
    # Better-Auth's ``adminUserIds``: these user ids pass every permission check.
    admin_user_ids: CsvList = Field(default_factory=list)

    # --- caches (authentication hot path) ---
    token_cache_enabled: bool = True
    token_cache_size: CacheSize = 10_000
    identity_cache_enabled: bool = True
    identity_cache_size: CacheSize = 10_000
    # Entry lifetime when no invalidation feed is available (SQLite, listener down).
    identity_cache_fallback_ttl_seconds: float = Field(default=2.0, ge=0, le=300)
    # PostgreSQL: how often the feed proves that notices still arrive (0 = never: LISTEN is
    # trusted), and how long its own notice may take before the cache falls back to the TTL.
    identity_feed_heartbeat_seconds: float = Field(default=2.0, ge=0, le=300)
    identity_feed_heartbeat_timeout_seconds: float = Field(default=3.0, gt=0, le=60)

    # --- API keys (@better-auth/api-key) ---
    # The plugin's ``apiKeyHeaders`` (its default). Keys outside the length bounds are refused
    # without a query; the minimum is the plugin's ``defaultKeyLength`` (its session hook's check).
    api_key_header: str = Field(default="x-api-key", min_length=1, pattern=r"^[A-Za-z0-9-]+$")
    api_key_min_length: int = Field(default=64, ge=1, le=1024)
    api_key_max_length: int = Field(default=256, ge=1, le=4096)
    # Static fields of keys that exist (never counters); uses the identity cache's feed and TTL.
    api_key_cache_size: CacheSize = 10_000
    # The plugin's ``rateLimit.enabled``: false turns the per-key rate limit off for every key
    # (no key's ``requestCount`` is checked or counted; ``lastRequest`` still moves), as the
    # plugin's verify does with it; give the auth server the same value.
    api_key_rate_limit_enabled: bool = True

    # --- rate limiting ---
    rate_limit_enabled: bool = True
    rate_limit_per_ip: str = "120/minute"
    rate_limit_per_user: str = "60/minute"
    # Failed authentications (any 401) per client address; over it, 429 until the window ends.
    rate_limit_auth_failures_per_ip: str = "60/minute"
    redis_url: str = ""

    # --- observability ---
    metrics_enabled: bool = True
    # /metrics answers a bearer METRICS_TOKEN, or a client address in METRICS_ALLOWED_IPS.
    metrics_token: str = ""
    metrics_allowed_ips: Networks = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    # prometheus-client's multiprocess mode (several workers); the library reads it too.
    prometheus_multiproc_dir: str = ""
    # OpenTelemetry tracing (OTLP over HTTP/protobuf) is on when this is set.
    otel_exporter_otlp_endpoint: str = ""
    otel_service_name: str = "fastapi-better-auth-backend"

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
        if not self.database_listen_url:
            self.database_listen_url = direct_endpoint_url(self.database_url)
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
