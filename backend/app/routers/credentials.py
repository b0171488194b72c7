"""Where a request's credentials are read from: the ``Authorization: Bearer`` header, the
API key header and Better-Auth's session cookie, plus their OpenAPI security schemes; and
whether the one presented was already verified (what an address over its failure budget may
still use, ``presents_verified``).

Only parsing lives here; which credential wins, and what is done with it, is ``get_principal``'s
business in ``app.routers.deps``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, Literal, NamedTuple

from fastapi import Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPBearer

from app.config import Settings
from app.services.auth.vouching import holds_verified
from app.utils.errors import AppError, Unauthorized

if TYPE_CHECKING:
    from app.state import AppState

SECURE_COOKIE_PREFIX = "__Secure-"

# Declared in OpenAPI (the "Authorize" button; app.routers.security_docs), never run as
# dependencies: the header is parsed below so that a malformed Authorization header gets a
# precise 401 instead of being ignored.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BetterAuthBearer",
    bearerFormat="JWT",
    description="A JWT from Better-Auth's `/api/auth/token` (or `set-auth-jwt` header), "
    "or a session token from the bearer plugin's `set-auth-token` header.",
)
cookie_scheme = APIKeyCookie(
    name="better-auth.session_token",
    auto_error=False,
    scheme_name="BetterAuthSessionCookie",
    description="Better-Auth's signed session cookie (`__Secure-` prefixed on https).",
)

api_key_scheme = APIKeyHeader(
    name="x-api-key",
    auto_error=False,
    scheme_name="BetterAuthApiKey",
    description="A key from Better-Auth's api-key plugin (`/api/auth/api-key/create`); the "
    "header name is API_KEY_HEADER (default `x-api-key`). Acts as the key's owner, with the "
    "key's own permissions.",
)

# The alternatives, in the order the contract lists them (app.routers.security_docs).
SECURITY_SCHEMES: Final = (bearer_scheme, cookie_scheme, api_key_scheme)


def credential_headers(
    headers: Iterable[tuple[bytes, bytes]], api_key_header: str
) -> tuple[list[str], list[str]]:
    """Every ``Authorization`` value and every API-key header value of a request's raw headers,
    in one pass (Starlette's ``getlist`` walks them once per name)."""
    key_name = api_key_header.lower().encode("latin-1")
    authorization: list[str] = []
    api_keys: list[str] = []
    for name, value in headers:
        if name == b"authorization":
            authorization.append(value.decode("latin-1"))
        elif name == key_name:
            api_keys.append(value.decode("latin-1"))
    return authorization, api_keys


def bearer_from_header(values: list[str]) -> str | None:
    """The bearer credential of the ``Authorization`` header values."""
    if not values:
        return None
    if len(values) > 1:
        # A proxy that checked one copy must not see the API act on another.
        raise Unauthorized("several Authorization headers", code="TOKEN_INVALID")
    scheme, _, value = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("use the Bearer authorization scheme", code="TOKEN_INVALID")
    value = value.strip()
    if not value:
        raise Unauthorized("empty bearer token", code="TOKEN_INVALID")
    return value


def api_key_from_header(values: list[str]) -> str | None:
    """The API key of the API-key header values."""
    if not values:
        return None
    if len(values) > 1 or not values[0].strip():
        raise Unauthorized("Invalid API key.", code="INVALID_API_KEY")
    return values[0].strip()


def session_cookie(request: Request, settings: Settings) -> str | None:
    """Better-Auth's session cookie. On https (Better-Auth's URL or this request) only the
    ``__Secure-`` one counts, as in Better-Auth: a sibling subdomain can toss a plain cookie onto
    our host but cannot set a ``__Secure-`` one over http. A present ``__Secure-`` cookie, even
    empty, is the credential: it never falls back to the plain one."""
    name = settings.session_cookie_name
    cookies = request.cookies
    secure = cookies.get(SECURE_COOKIE_PREFIX + name)
    if secure is not None:
        return secure
    if settings.better_auth_url.startswith("https://") or request.scope.get("scheme") == "https":
        return None
    return cookies.get(name)


class Presented(NamedTuple):
    kind: Literal["api_key", "bearer", "cookie"]
    value: str


def presented_credential(request: Request, settings: Settings) -> Presented | None:
    """The credential ``get_principal`` would use (an API key, else the bearer, else the
    cookie), or None when there is none or its header is malformed."""
    authorization, api_keys = credential_headers(request.scope["headers"], settings.api_key_header)
    try:
        api_key = api_key_from_header(api_keys)
        if api_key is not None:
            return Presented("api_key", api_key)
        bearer = bearer_from_header(authorization)
    except AppError:
        return None
    if bearer is not None:
        return Presented("bearer", bearer)
    cookie = session_cookie(request, settings)
    return Presented("cookie", cookie) if cookie is not None else None


def verified_before(state: AppState, credential: str, *, from_cookie: bool = False) -> bool:
    """A JWT or session token this process verified before and still holds (no I/O)."""
    return holds_verified(
        credential,
        verifier=state.verifier,
        cache=state.identity_cache,
        secret=state.settings.session_secret,
        from_cookie=from_cookie,
    )


def presents_verified(request: Request, state: AppState) -> bool:
    """Whether the credential ``get_principal`` would use is one already verified and cached."""
    presented = presented_credential(request, state.settings)
    if presented is None:
        return False
    if presented.kind == "api_key":
        return state.api_key_service(state.side_sessions).is_cached(presented.value)
    return verified_before(state, presented.value, from_cookie=presented.kind == "cookie")
