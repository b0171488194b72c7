"""FastAPI dependencies and their ``Annotated`` aliases, defined once and used everywhere.

Every dependency is ``async def``, even when it never awaits: FastAPI runs plain functions in
a thread pool, which costs more than the work they do. And the hot ones take nothing but
``request``: such a dependency is a *step* of its route's dependency plan
(``app.utils.dependency_plans``), called directly instead of through FastAPI's resolution (some
9 µs each, more than a cached authentication). So a dependency reads the app's services itself
(``app_state``) rather than depending on ``AppStateDep``, and the guards (``require_permission``,
``require_role``, ``require_admin``) authenticate themselves (``get_principal``) rather than
depending on ``CurrentPrincipal``. ``docs/guides/endpoint-costs.md`` says what each costs.

Credentials, in order of precedence: the ``Authorization: Bearer`` header (a JWT or a
Better-Auth session token), then Better-Auth's session cookie. When both are present the header
wins and the cookie is not looked at: the header is what the client chose to send for this
call, and a stale cookie from another account must not override it. How each one is read from
the request is in ``app.routers.credentials``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Annotated, Final, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.database import DbSessionProvider
from app.routers.credentials import (
    api_key_from_header,
    bearer_from_header,
    credential_headers,
    presents_verified,
    session_cookie,
)
from app.services.access import AccessControl, Permissions, Requirement
from app.services.access.guard import RequirementGuard, ensure, requirement_for
from app.services.access.scope import scope_allows_roles
from app.services.apikeys.principal import authenticate_api_key
from app.services.audit.service import AuditContext, AuditService
from app.services.auth.identity import DbSessionFactory, IdentityService, Principal
from app.services.auth.snapshots import UserSnapshot
from app.services.platform.health import HealthService
from app.services.users.credentials import CredentialService
from app.services.users.roles import has_any_role
from app.services.users.service import UserService
from app.state import AppState
from app.utils.errors import Forbidden, Unauthorized
from app.utils.request_context import current_request_id


def app_state(request: Request) -> AppState:
    """The app's services. The hot path reads them with this plain function: every FastAPI
    dependency costs its resolution, more than a cached authentication itself."""
    state: AppState = request.app.state.services
    return state


async def get_app_state(request: Request) -> AppState:
    return app_state(request)


AppStateDep = Annotated[AppState, Depends(get_app_state)]


async def get_app_settings(request: Request) -> Settings:
    return app_state(request).settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_db_session_provider(request: Request) -> AsyncIterator[DbSessionProvider]:
    provider = DbSessionProvider(app_state(request).sessionmaker)
    try:
        yield provider
    finally:
        await provider.aclose()


DbSessionProviderDep = Annotated[DbSessionProvider, Depends(get_db_session_provider)]


async def get_db_session(provider: DbSessionProviderDep) -> AsyncSession:
    return provider()


DbSession = Annotated[AsyncSession, Depends(get_db_session)]


def client_ip(request: Request) -> str:
    """The peer address. Behind a proxy, uvicorn's --proxy-headers makes it the client's."""
    return request.client.host if request.client else "unknown"


async def rate_limit_ip(request: Request) -> None:
    await app_state(request).rate_limiter.check("ip", client_ip(request))


async def get_db_session_factory(request: Request) -> DbSessionFactory:
    """Sessions for reads outside the request's own session (authentication on a cache miss).
    Not a generator dependency on purpose: those cost more than a cached authentication."""
    return app_state(request).side_sessions


DbSessionFactoryDep = Annotated[DbSessionFactory, Depends(get_db_session_factory)]


async def get_identity_service(request: Request) -> IdentityService:
    state = app_state(request)
    return state.identity_service(state.side_sessions)


IdentityDep = Annotated[IdentityService, Depends(get_identity_service)]


async def get_principal(request: Request) -> Principal:
    """Who calls: authenticated once per request (``get_current_user`` and the permission
    checks all come here). Only ``request`` is a parameter, so that FastAPI resolves nothing
    else on the hot path; the security schemes are declared in OpenAPI by
    ``app.routers.security_docs`` instead of being run as dependencies."""
    known: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if known is not None:
        return known
    state = app_state(request)
    client = request.scope.get("client")  # client_ip's answer, without building an Address
    address = client[0] if client else "unknown"
    sessions = state.side_sessions
    identity = state.identity_service(sessions)
    # An address over its budget of failures is refused before any credential is checked,
    # unless it presents one already verified (a guesser cannot; its neighbours behind the
    # same NAT can).
    state.auth_failures.check(address, vouched=lambda: presents_verified(request, state))
    try:
        # An API key wins over every other credential, as in the plugin's hook (it runs before
        # Better-Auth resolves the session).
        authorization, api_keys = credential_headers(
            request.scope["headers"], state.settings.api_key_header
        )
        api_key = api_key_from_header(api_keys)
        bearer = None if api_key is not None else bearer_from_header(authorization)
        if api_key is not None:
            principal = await authenticate_api_key(
                api_key, state.api_key_service(sessions), identity
            )
        elif bearer is not None:
            principal = await identity.authenticate(bearer)
        else:
            cookie = session_cookie(request, state.settings)
            if cookie is None:
                raise Unauthorized(
                    "authentication required", code="TOKEN_MISSING", token_present=False
                )
            # CSRF: a browser sends the cookie with a foreign page's form too (utils/origins).
            state.origin_policy.check(request.method, request.headers)
            principal = await identity.authenticate_session_token(cookie, from_cookie=True)
    except Unauthorized as error:
        if error.code != "TOKEN_MISSING":  # no credential is not a failed attempt
            await state.auth_failures.record_failure(address)
        raise
    request.scope[PRINCIPAL_SCOPE_KEY] = principal
    return principal


PRINCIPAL_SCOPE_KEY = "app.principal"


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_current_user(request: Request) -> UserSnapshot:
    """The caller's user row (a snapshot: read-only, possibly from the identity cache). Calls
    ``get_principal`` itself rather than depending on it: one dependency less to resolve."""
    return (await get_principal(request)).user


# Operations that reach one of these are documented as needing credentials, and so are those
# that reach a dependency marked by ``authenticates`` (the guards, which call get_principal).
AUTHENTICATORS: Final = (get_principal, get_current_user)
AUTHENTICATES_ATTRIBUTE: Final = "__authenticates__"
D = TypeVar("D", bound=Callable[..., object])


def authenticates(dependency: D) -> D:
    """Mark a dependency that authenticates the caller itself (``get_principal``): the OpenAPI
    contract lists the security schemes on every operation that reaches it."""
    setattr(dependency, AUTHENTICATES_ATTRIBUTE, True)
    return dependency


def is_authenticator(call: object) -> bool:
    return call in AUTHENTICATORS or getattr(call, AUTHENTICATES_ATTRIBUTE, False) is True


CurrentUser = Annotated[UserSnapshot, Depends(get_current_user)]


@authenticates
async def rate_limit_user(request: Request) -> None:
    principal = await get_principal(request)
    await app_state(request).rate_limiter.check("user", principal.user.id)


def require_role(*roles: str) -> Callable[[Request], Awaitable[UserSnapshot]]:
    """Dependency factory: the current user must hold one of ``roles`` (403 otherwise); an API
    key with permissions never passes (``holds_role``)."""
    if not roles:
        raise ValueError("require_role needs at least one role")

    async def dependency(request: Request) -> UserSnapshot:
        principal = await get_principal(request)
        if not holds_role(principal, roles):
            raise Forbidden(
                f"requires one of the roles: {', '.join(roles)}", code="INSUFFICIENT_ROLE"
            )
        return principal.user

    return authenticates(dependency)


def holds_role(caller: Principal, roles: Iterable[str]) -> bool:
    """A role check, under the one rule for API keys (``app.services.access.scope``): the user
    holds one of ``roles``, and no key scope narrows them (a scope names no role)."""
    return has_any_role(caller.user.role, roles) and scope_allows_roles(caller.api_key_scope)


async def get_access_control(request: Request) -> AccessControl:
    return app_state(request).access


AccessControlDep = Annotated[AccessControl, Depends(get_access_control)]


def require_permission(
    permissions: Permissions,
) -> Callable[[Request], Awaitable[UserSnapshot]]:
    """Dependency factory: the current user must hold ``permissions``, as Better-Auth's admin
    plugin decides it (``{"user": ["ban"]}``: every action on every resource, by any one of the
    user's roles; ``ADMIN_USER_IDS`` always pass), and for an API key with permissions granted
    by the key too (``RequirementGuard``: ``ensure``, its answers remembered by role). A
    refusal is 403 with Better-Auth's code when it names one admin-plugin check
    (``YOU_ARE_NOT_ALLOWED_TO_BAN_USERS``), else ``INSUFFICIENT_PERMISSION``."""
    if not permissions or not all(permissions.values()):
        raise ValueError("require_permission needs at least one action per resource")
    guard = RequirementGuard(requirement_for(permissions))

    async def dependency(request: Request) -> UserSnapshot:
        principal = await get_principal(request)
        user = principal.user
        guard.ensure(app_state(request).access, user.id, user.role, principal.api_key_scope)
        return user

    return authenticates(dependency)


def ensure_caller(access: AccessControl, caller: Principal, requirement: Requirement) -> None:
    """``ensure`` for the caller: their roles (or ``ADMIN_USER_IDS``) must grant it and, for an
    API key with permissions, so must the key (``app.services.access.scope``)."""
    ensure(access, caller.user.id, caller.user.role, requirement, caller.api_key_scope)


def require_self_or(
    access: AccessControl, caller: Principal, user_id: str, requirement: Requirement
) -> None:
    """Users may read and manage their own record and sessions (with any of their keys, as
    with a session); others need ``requirement``."""
    if caller.user.id != user_id:
        ensure_caller(access, caller, requirement)


@authenticates
async def require_admin(request: Request) -> UserSnapshot:
    """An admin as ``ADMIN_ROLES`` defines it (a role check: ``holds_role``)."""
    principal = await get_principal(request)
    if not holds_role(principal, app_state(request).settings.admin_roles):
        raise Forbidden("requires an admin role", code="INSUFFICIENT_ROLE")
    return principal.user


AdminUser = Annotated[UserSnapshot, Depends(require_admin)]


# --- per-request services (built by AppState, the composition root) ---------------------------


async def get_user_service(db: DbSession, request: Request) -> UserService:
    return app_state(request).user_service(db)


UsersDep = Annotated[UserService, Depends(get_user_service)]


async def get_credential_service(db: DbSession, request: Request) -> CredentialService:
    return app_state(request).credential_service(db)


CredentialsDep = Annotated[CredentialService, Depends(get_credential_service)]


async def get_audit_service(db: DbSession, request: Request) -> AuditService:
    return app_state(request).audit_service(db)


AuditServiceDep = Annotated[AuditService, Depends(get_audit_service)]


@authenticates
async def get_audit_context(request: Request) -> AuditContext:
    """Who acts (and who impersonates them), for the audit rows a write use-case records."""
    principal = await get_principal(request)
    return AuditContext(
        actor_id=principal.user.id,
        request_id=current_request_id(),
        ip_address=client_ip(request),
        impersonated_by=principal.impersonated_by,
    )


AuditContextDep = Annotated[AuditContext, Depends(get_audit_context)]


async def get_health_service(request: Request) -> HealthService:
    return app_state(request).health_service()


HealthDep = Annotated[HealthService, Depends(get_health_service)]
