"""An API key narrows its owner, never widens one (issue 22): the reproductions of the issue and
the rule in every kind of check, through the real app on real PostgreSQL (or SQLite).
The rule is ``app.services.access.scope``; every route is covered by
``tests/test_route_authorization.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Member, User
from app.routers.deps import require_role
from app.services.access.scope import narrow, scope_grants
from app.services.apikeys.snapshot import parse_permissions
from app.services.auth.snapshots import UserSnapshot
from tests.conftest import AppFactory
from tests.support.api_keys import create_api_key, key_headers, new_key
from tests.support.factories import create_session, create_user
from tests.support.org_factories import add_member, create_organization

USERS = "/api/v1/users"
AUDIT = "/api/v1/audit-events"
ADMIN_POWERS = {"user": ["set-role", "list", "ban"]}


def code(response: httpx.Response) -> tuple[int, str | None]:
    body = response.json() if response.content else {}
    return response.status_code, body.get("code")


async def reload(db: AsyncSession, user: User) -> User:
    statement = select(User).where(User.id == user.id).execution_options(populate_existing=True)
    return (await db.scalars(statement)).one()


@pytest.fixture
async def roles_app(app_factory: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The app, plus a route guarded by ``require_role("admin")`` as an app would add one."""
    app = await app_factory()
    router = APIRouter()

    @router.get("/role-guarded")
    async def guarded(
        user: Annotated[UserSnapshot, Depends(require_role("admin"))],
    ) -> dict[str, str]:
        return {"id": user.id}

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


class TestIssueReproductions:
    """Each of these passed on the old code (the key's permissions replaced its owner's role)."""

    async def test_user_key_with_admin_permissions_lists_bans_and_promotes_nobody(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        owner = await create_user(db_session, role="user")
        other = await create_user(db_session)
        headers = await key_headers(db_session, owner, ADMIN_POWERS)
        assert code(await client.get(USERS, headers=headers)) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS",
        )
        banned = await client.post(f"{USERS}/{other.id}/ban", json={}, headers=headers)
        assert code(banned) == (403, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")
        promoted = await client.put(
            f"{USERS}/{owner.id}/role", json={"role": "admin"}, headers=headers
        )
        assert code(promoted) == (403, "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")
        assert (await reload(db_session, owner)).role == "user"
        assert not (await reload(db_session, other)).banned

    async def test_demoted_admins_keys_lose_admin_power(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        scoped = await key_headers(db_session, admin, ADMIN_POWERS)
        full = await key_headers(db_session, admin)
        assert (await client.get(USERS, headers=scoped)).status_code == 200
        assert (await client.get(USERS, headers=full)).status_code == 200
        admin.role = "user"  # demoted yesterday
        await db_session.flush()
        for headers in (scoped, full):
            assert (await client.get(USERS, headers=headers)).status_code == 403

    async def test_admins_project_read_key_cannot_read_the_audit_log(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        scoped = await key_headers(db_session, admin, {"project": ["read"]})
        assert code(await client.get(AUDIT, headers=scoped)) == (403, "INSUFFICIENT_ROLE")
        # Admin-wide scopes name permissions, not roles: a role check needs an unscoped key.
        everything = await key_headers(db_session, admin, {"user": ["list"], "session": ["list"]})
        assert code(await client.get(AUDIT, headers=everything)) == (403, "INSUFFICIENT_ROLE")
        full = await key_headers(db_session, admin)
        assert (await client.get(AUDIT, headers=full)).status_code == 200

    async def test_org_owners_empty_scope_key_cannot_delete_members(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        owner = await create_user(db_session)
        member_user = await create_user(db_session)
        organization = await create_organization(db_session)
        await add_member(db_session, organization, owner, "owner")
        member = await add_member(db_session, organization, member_user, "member")
        path = f"/api/v1/organizations/{organization.id}/members/{member.id}"
        empty = await key_headers(db_session, owner, {})
        assert code(await client.delete(path, headers=empty)) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        )
        changed = await client.patch(path, json={"role": "admin"}, headers=empty)
        assert code(changed) == (403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")
        assert await db_session.get(Member, member.id) is not None
        # The key's statements must grant the organization action too.
        deleting = await key_headers(db_session, owner, {"member": ["delete"]})
        assert (await client.delete(path, headers=deleting)).status_code == 204


class TestEveryKindOfCheck:
    async def test_scope_within_the_owners_roles_passes_only_what_it_names(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        other = await create_user(db_session)
        headers = await key_headers(db_session, admin, {"user": ["list"]})
        assert (await client.get(USERS, headers=headers)).status_code == 200
        banned = await client.post(f"{USERS}/{other.id}/ban", json={}, headers=headers)
        assert code(banned) == (403, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")

    async def test_admin_user_ids_are_narrowed_too(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        owner = await create_user(db_session, role="user")
        other = await create_user(db_session)
        app = await app_factory(admin_user_ids=[owner.id])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            full = await key_headers(db_session, owner)
            assert (await http.post(f"{USERS}/{other.id}/ban", json={}, headers=full)).is_success
            listing = await key_headers(db_session, owner, {"user": ["list"]})
            assert (await http.get(USERS, headers=listing)).status_code == 200
            response = await http.post(f"{USERS}/{other.id}/unban", headers=listing)
            assert code(response) == (403, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")

    async def test_per_field_checks_of_update_and_create_use_the_scope(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        other = await create_user(db_session)
        headers = await key_headers(db_session, admin, {"user": ["update", "create"]})
        named = await client.patch(f"{USERS}/{other.id}", json={"name": "N"}, headers=headers)
        assert named.status_code == 200
        role = await client.patch(f"{USERS}/{other.id}", json={"role": "admin"}, headers=headers)
        assert code(role) == (403, "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")
        body = {"email": "scoped-create@example.com", "name": "C", "role": "admin"}
        created = await client.post(USERS, json=body, headers=headers)
        assert code(created) == (403, "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")

    async def test_require_role(
        self, roles_app: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        user = await create_user(db_session, role="user")
        session = await create_session(db_session, admin)
        assert (
            await roles_app.get(
                "/role-guarded", headers={"Authorization": f"Bearer {session.token}"}
            )
        ).status_code == 200
        assert (
            await roles_app.get("/role-guarded", headers=await key_headers(db_session, admin))
        ).status_code == 200
        for headers in (
            await key_headers(db_session, admin, {"user": ["list"]}),
            await key_headers(db_session, admin, {}),
            await key_headers(db_session, user),
        ):
            response = await roles_app.get("/role-guarded", headers=headers)
            assert code(response) == (403, "INSUFFICIENT_ROLE")

    async def test_permission_queries_answer_for_the_key(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        user = await create_user(db_session, role="user")
        ask = f"{USERS}/has-permission"

        async def has(headers: dict[str, str], permissions: dict[str, list[str]]) -> bool:
            response = await client.post(ask, json={"permissions": permissions}, headers=headers)
            assert response.status_code == 200, response.text
            success: bool = response.json()["success"]
            return success

        scoped_user = await key_headers(db_session, user, ADMIN_POWERS)
        assert not await has(scoped_user, {"user": ["list"]})
        scoped_admin = await key_headers(db_session, admin, {"user": ["list"]})
        assert await has(scoped_admin, {"user": ["list"]})
        assert not await has(scoped_admin, {"user": ["ban"]})
        full_admin = await key_headers(db_session, admin)
        assert await has(full_admin, {"user": ["ban"]})

        mine = (await client.get("/api/v1/auth/permissions", headers=scoped_admin)).json()
        assert mine["permissions"] == {"user": ["list"], "session": []}
        assert mine["roles"] == ["admin"]
        theirs = (await client.get("/api/v1/auth/permissions", headers=scoped_user)).json()
        assert theirs["permissions"] == {"user": [], "session": []}


class TestStoredPermissions:
    async def test_unreadable_permissions_grant_nothing(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        """A column the plugin cannot parse either: an empty scope, not the owner's roles."""
        admin = await create_user(db_session, role="admin")
        for stored in ("not json", "[]", '{"user": "list"}', '"user"'):
            key = new_key()
            await create_api_key(db_session, admin, key, permissions=stored)
            response = await client.get(USERS, headers={"x-api-key": key})
            assert code(response) == (403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS"), stored
        # The JSON null update-api-key writes to clear them: no scope, the owner's roles.
        key = new_key()
        await create_api_key(db_session, admin, key, permissions="null")
        assert (await client.get(USERS, headers={"x-api-key": key})).status_code == 200

    def test_parse(self) -> None:
        assert parse_permissions(None) is None
        assert parse_permissions("") is None
        assert parse_permissions("null") is None  # update-api-key's permissions: null
        assert parse_permissions("{}") == {}
        assert parse_permissions('{"user": ["list"]}') == {"user": ["list"]}
        for unreadable in ("{", "[]", "1", '{"user": "list"}', '{"user": [1]}'):
            assert parse_permissions(unreadable) == {}, unreadable

    def test_scope_rule(self) -> None:
        assert scope_grants(None, {"user": ["ban"]})
        assert not scope_grants({}, {"user": ["ban"]})
        assert scope_grants({"user": ["ban", "list"]}, {"user": ["ban"]})
        assert not scope_grants({"user": ["list"]}, {"user": ["ban", "list"]})
        granted = {"user": ["list", "ban"], "session": ["list"]}
        assert narrow(granted, None) == granted
        assert narrow(granted, {"user": ["ban"], "project": ["read"]}) == {
            "user": ["ban"],
            "session": [],
        }
