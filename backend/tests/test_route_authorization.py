"""Every route of the app, times every kind of caller (issue 22): an API key never passes more than
its owner's session, nor more than its own permissions. Real app, real PostgreSQL (or SQLite).

The routes are enumerated from the app itself: a route added without an entry in ``ROUTES``
fails ``test_every_route_is_in_the_table``. Each entry says which check guards it:

- ``PUBLIC``: no credential is read (anyone gets the anonymous answer);
- ``OWN``: any valid credential, for the caller's own data (own record, sessions, organizations);
- ``Permission(...)``: the admin access control (Better-Auth's ``hasPermission``);
- ``ADMIN_ROLE``: ``require_admin`` (a role in ``ADMIN_ROLES``);
- ``OrgPermission(...)``: the organization access control, for the caller's membership;
- ``Answer(...)``: a permission query that answers in its body (``success``, or a listing);
  ``OrgAnswer(...)`` the same for the caller's membership (the organization access control).

Callers, for owners who are a plain user, an admin, a user in ``ADMIN_USER_IDS`` and an
organization owner: a session token (the ``FastPaths`` answer ``GET /users`` and
``/users/me`` for it), a key without permissions (acts as the owner), a key scoped to exactly
the route's permission, a key with every other permission, and a key with ``{}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount

from app.config import DEFAULT_ADMIN_CONSOLE_DIR
from app.models import Organization, User
from app.services.access.control import Permissions
from tests.conftest import AppFactory
from tests.support.api_keys import key_headers
from tests.support.factories import create_session, create_user
from tests.support.org_factories import add_member, create_organization

PUBLIC, OWN, ADMIN_ROLE = "public", "own", "admin-role"


@dataclass(frozen=True)
class Permission:
    permissions: Permissions


@dataclass(frozen=True)
class OrgPermission:
    permissions: Permissions


@dataclass(frozen=True)
class Answer:
    """A query route: 200 for everyone; ``granted(body)`` is whether it says ``asks`` passes."""

    asks: Permissions
    granted: Callable[[Any], bool]


@dataclass(frozen=True)
class OrgAnswer(Answer):
    """An ``Answer`` about the caller's membership: the organization's roles decide it."""


Check = str | Permission | OrgPermission | Answer


@dataclass
class World:
    """One owner, an organization they belong to, and fresh targets for each request."""

    db: AsyncSession
    owner: User
    organization: Organization
    target: User = field(init=False)
    target_session_id: str = field(init=False)
    target_member_id: str = field(init=False)
    own_session_id: str = field(init=False)

    async def refresh(self) -> None:
        """New targets: a request that bans, deletes or revokes leaves the next one its own."""
        self.target = await create_user(self.db)
        self.target_session_id = (await create_session(self.db, self.target)).id
        member = await add_member(self.db, self.organization, self.target, "member")
        self.target_member_id = member.id
        self.own_session_id = (await create_session(self.db, self.owner)).id


@dataclass(frozen=True)
class Variant:
    check: Check
    ok: int  # the status of an allowed call
    path: Callable[[World], str]
    body: Callable[[World], Any] | None = None


def user_path(suffix: str = "", *, own: bool = False) -> Callable[[World], str]:
    return lambda w: f"/api/v1/users/{(w.owner if own else w.target).id}{suffix}"


def member_path(w: World) -> str:
    return f"/api/v1/organizations/{w.organization.id}/members/{w.target_member_id}"


def fixed(path: str) -> Callable[[World], str]:
    return lambda _: path


def user(*actions: str) -> Permission:
    return Permission({"user": list(actions)})


def session(*actions: str) -> Permission:
    return Permission({"session": list(actions)})


ORG = "/api/v1/organizations/{organizationId}"
CONSOLE_PAGE_STATUS = 200 if (DEFAULT_ADMIN_CONSOLE_DIR / "index.html").is_file() else 503
ROUTES: dict[tuple[str, str], list[Variant]] = {
    ("GET", "/openapi.json"): [Variant(PUBLIC, 200, fixed("/openapi.json"))],
    ("GET", "/docs"): [Variant(PUBLIC, 200, fixed("/docs"))],
    ("GET", "/docs/swagger-init.js"): [Variant(PUBLIC, 200, fixed("/docs/swagger-init.js"))],
    ("GET", "/redoc"): [Variant(PUBLIC, 200, fixed("/redoc"))],
    ("GET", "/docs/assets/{path}"): [Variant(PUBLIC, 200, fixed("/docs/assets/favicon.png"))],
    # The admin console: static files and the page's settings, no credential read (the page signs
    # in by itself). The files answer 503 until `make admin-console` has built them.
    ("GET", "/admin"): [Variant(PUBLIC, 308, fixed("/admin"))],
    ("GET", "/admin/config.json"): [Variant(PUBLIC, 200, fixed("/admin/config.json"))],
    ("GET", "/admin/{path}"): [Variant(PUBLIC, CONSOLE_PAGE_STATUS, fixed("/admin/"))],
    ("GET", "/health/live"): [Variant(PUBLIC, 200, fixed("/health/live"))],
    ("GET", "/health/ready"): [Variant(PUBLIC, 200, fixed("/health/ready"))],
    ("GET", "/metrics"): [Variant(PUBLIC, 200, fixed("/metrics"))],
    ("POST", "/api/v1/auth/verify"): [
        Variant(PUBLIC, 200, fixed("/api/v1/auth/verify"), lambda _: {"token": "not-a-token"})
    ],
    ("GET", "/api/v1/auth/me"): [Variant(OWN, 200, fixed("/api/v1/auth/me"))],
    ("GET", "/api/v1/auth/session"): [Variant(OWN, 200, fixed("/api/v1/auth/session"))],
    ("GET", "/api/v1/auth/permissions"): [
        Variant(
            Answer({"user": ["ban"]}, lambda body: "ban" in body["permissions"]["user"]),
            200,
            fixed("/api/v1/auth/permissions"),
        )
    ],
    ("POST", "/api/v1/users/has-permission"): [
        Variant(
            Answer({"user": ["list"]}, lambda body: body["success"] is True),
            200,
            fixed("/api/v1/users/has-permission"),
            lambda _: {"permissions": {"user": ["list"]}},
        )
    ],
    ("GET", "/api/v1/users/me"): [Variant(OWN, 200, fixed("/api/v1/users/me"))],
    ("PATCH", "/api/v1/users/me"): [
        Variant(OWN, 200, fixed("/api/v1/users/me"), lambda _: {"name": "Renamed"})
    ],
    ("GET", "/api/v1/users"): [Variant(user("list"), 200, fixed("/api/v1/users"))],
    ("POST", "/api/v1/users"): [
        Variant(
            user("create"),
            201,
            fixed("/api/v1/users"),
            lambda w: {"email": f"new-{w.target.id.lower()}@example.com", "name": "New"},
        )
    ],
    ("GET", "/api/v1/users/{userId}"): [
        Variant(user("get"), 200, user_path()),
        Variant(OWN, 200, user_path(own=True)),
    ],
    ("PATCH", "/api/v1/users/{userId}"): [
        Variant(user("update"), 200, user_path(), lambda _: {"name": "Renamed"})
    ],
    ("PUT", "/api/v1/users/{userId}/role"): [
        Variant(user("set-role"), 200, user_path("/role"), lambda _: {"role": "user"})
    ],
    ("POST", "/api/v1/users/{userId}/ban"): [
        Variant(user("ban"), 200, user_path("/ban"), lambda _: {})
    ],
    ("POST", "/api/v1/users/{userId}/unban"): [Variant(user("ban"), 200, user_path("/unban"))],
    ("DELETE", "/api/v1/users/{userId}"): [Variant(user("delete"), 204, user_path())],
    ("GET", "/api/v1/users/{userId}/sessions"): [
        Variant(session("list"), 200, user_path("/sessions")),
        Variant(OWN, 200, user_path("/sessions", own=True)),
    ],
    ("DELETE", "/api/v1/users/{userId}/sessions/{sessionId}"): [
        Variant(
            session("revoke"), 204, lambda w: f"{user_path('/sessions')(w)}/{w.target_session_id}"
        ),
        Variant(OWN, 204, lambda w: f"{user_path('/sessions', own=True)(w)}/{w.own_session_id}"),
    ],
    ("DELETE", "/api/v1/users/{userId}/sessions"): [
        Variant(session("revoke"), 204, user_path("/sessions")),
        Variant(OWN, 204, user_path("/sessions", own=True)),
    ],
    ("PUT", "/api/v1/users/{userId}/password"): [
        Variant(
            user("set-password"), 204, user_path("/password"), lambda _: {"newPassword": "x" * 12}
        )
    ],
    ("GET", "/api/v1/organizations"): [Variant(OWN, 200, fixed("/api/v1/organizations"))],
    ("GET", ORG): [Variant(OWN, 200, lambda w: f"/api/v1/organizations/{w.organization.id}")],
    ("GET", f"{ORG}/members"): [
        Variant(OWN, 200, lambda w: f"/api/v1/organizations/{w.organization.id}/members")
    ],
    ("PATCH", f"{ORG}/members/{{memberId}}"): [
        Variant(
            OrgPermission({"member": ["update"]}), 200, member_path, lambda _: {"role": "admin"}
        )
    ],
    ("DELETE", f"{ORG}/members/{{memberId}}"): [
        Variant(OrgPermission({"member": ["delete"]}), 204, member_path)
    ],
    ("POST", f"{ORG}/has-permission"): [
        Variant(
            OrgAnswer({"member": ["update"]}, lambda body: body["success"] is True),
            200,
            lambda w: f"/api/v1/organizations/{w.organization.id}/has-permission",
            lambda _: {"permissions": {"member": ["update"]}},
        )
    ],
    ("POST", f"{ORG}/members/{{memberId}}/has-permission"): [
        Variant(
            OrgPermission({"member": ["update"]}),
            200,
            lambda w: f"{member_path(w)}/has-permission",
            lambda _: {"permissions": {"member": ["delete"]}},
        )
    ],
    ("GET", "/api/v1/audit-events"): [Variant(ADMIN_ROLE, 200, fixed("/api/v1/audit-events"))],
}

# Owner kind -> (user role, in ADMIN_USER_IDS, organization role).
OWNERS = {
    "user": ("user", False, "member"),
    "admin": ("admin", False, "admin"),
    "admin-user-id": ("user", True, "member"),
    "org-owner": ("user", False, "owner"),
}
EVERY_PERMISSION: dict[str, list[str]] = {
    "user": [
        *("create", "list", "get", "update", "set-role", "ban", "impersonate", "delete"),
        *("set-password", "set-email", "set-phone"),
    ],
    "session": ["list", "revoke", "delete"],
    "member": ["create", "update", "delete"],
    "organization": ["update", "delete"],
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(list(app.routes)):
        route = context.original_route
        if isinstance(route, Mount):
            found.add(("GET", context.path_format))
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, context.path_format))
    return found


def permissions_of(check: Check) -> Permissions | None:
    if isinstance(check, Permission | OrgPermission | Answer):
        return check.permissions if not isinstance(check, Answer) else check.asks
    return None


def all_but(permissions: Permissions | None) -> dict[str, list[str]]:
    """Every permission of both access controls except the route's own."""
    excluded = {(r, a) for r, actions in (permissions or {}).items() for a in actions}
    return {
        resource: [a for a in actions if (resource, a) not in excluded]
        for resource, actions in EVERY_PERMISSION.items()
    }


def owner_passes(check: Check, owner: str) -> bool:
    """What the owner's own session may do, with Better-Auth's default roles."""
    role, listed, org_role = OWNERS[owner]
    if isinstance(check, OrgPermission | OrgAnswer):
        return org_role in ("owner", "admin")
    if isinstance(check, Permission | Answer):
        return role == "admin" or listed
    if check == ADMIN_ROLE:
        return role == "admin"
    return True


def credential_passes(check: Check, owner: str, credential: str) -> bool:
    """The rule: the owner passes, and a scope (any key with permissions) grants it too; a
    role check passes no scope."""
    if not owner_passes(check, owner):
        return False
    if credential in ("session", "full") or check in (PUBLIC, OWN):
        return True
    if check == ADMIN_ROLE:
        return False
    return credential == "scoped"


CREDENTIALS = ("session", "full", "scoped", "all-but", "empty")


async def credential(world: World, kind: str, check: Check) -> dict[str, str]:
    if kind == "session":
        token = (await create_session(world.db, world.owner)).token
        return {"Authorization": f"Bearer {token}"}
    scopes: dict[str, object] = {
        "full": None,
        "scoped": permissions_of(check) or {"project": ["read"]},
        "all-but": all_but(permissions_of(check)),
        "empty": {},
    }
    return await key_headers(world.db, world.owner, scopes[kind])


async def call(
    http: httpx.AsyncClient, method: str, variant: Variant, world: World, headers: dict[str, str]
) -> httpx.Response:
    body = variant.body(world) if variant.body else None
    return await http.request(method, variant.path(world), json=body, headers=headers)


async def make_world(db: AsyncSession, owner_kind: str) -> World:
    role, _, org_role = OWNERS[owner_kind]
    owner = await create_user(db, role=role)
    organization = await create_organization(db)
    await add_member(db, organization, owner, org_role)
    return World(db, owner, organization)


def verdict(check: Check, ok: int, response: httpx.Response) -> bool:
    """Did the call pass the check? Only its expected success or a 403 are answers here."""
    if isinstance(check, Answer):
        assert response.status_code == 200, response.text
        return check.granted(response.json())
    assert response.status_code in (ok, 403), response.text
    return response.status_code == ok


async def test_every_route_is_in_the_table(app: FastAPI) -> None:
    assert app_routes(app) == set(ROUTES)


@pytest.mark.parametrize("owner_kind", list(OWNERS))
async def test_no_caller_passes_more_than_the_owner_and_the_scope(
    owner_kind: str, app_factory: AppFactory, db_session: AsyncSession
) -> None:
    """One app per owner (building one costs more than its requests); every mismatch of the
    table is reported at once, by route, variant and credential."""
    world = await make_world(db_session, owner_kind)
    admin_user_ids = [world.owner.id] if OWNERS[owner_kind][1] else []
    app = await app_factory(admin_user_ids=admin_user_ids)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    mismatches: list[str] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for (method, template), variants in ROUTES.items():
            for variant in variants:
                if variant.check == PUBLIC:
                    await world.refresh()
                    anonymous = await call(http, method, variant, world, {})
                    assert anonymous.status_code == variant.ok, anonymous.text
                for kind in CREDENTIALS:
                    await world.refresh()
                    headers = await credential(world, kind, variant.check)
                    response = await call(http, method, variant, world, headers)
                    passed = verdict(variant.check, variant.ok, response)
                    if passed != credential_passes(variant.check, owner_kind, kind):
                        mismatches.append(
                            f"{method} {variant.path(world)} ({template}, {variant.check}) with "
                            f"{kind}: {'passed' if passed else 'refused'} {response.text[:120]}"
                        )
    assert not mismatches, "\n".join(mismatches)
