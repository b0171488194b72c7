"""Dynamic organization roles (``ORGANIZATION_DYNAMIC_ROLES``): the ``organizationRole`` rows of an
organization, merged with its static roles as Better-Auth 1.7.25's ``hasPermission`` merges them,
in every organization check (the dependencies, update-member-role, remove-member) and in the
has-permission routes. Real app, real database; rows written as Better-Auth writes them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Organization, OrganizationRole
from app.services.organizations.access import DEFAULT_ORG_ACCESS
from app.services.organizations.dynamic_roles import InvalidRolePermissions, parse_permission
from tests.conftest import AppFactory
from tests.support.api_keys import key_headers
from tests.test_organizations import BASE, Org, make_org, problem


@pytest.fixture
async def org(db_session: AsyncSession) -> Org:
    return await make_org(db_session)


async def add_role(
    db: AsyncSession, organization: Organization, role: str, permission: object
) -> OrganizationRole:
    """A row as create-role writes it: the name lower-cased, the statements as JSON text."""
    stored = permission if isinstance(permission, str) else json.dumps(permission)
    row = OrganizationRole(organization_id=organization.id, role=role, permission=stored)
    db.add(row)
    await db.flush()
    return row


@pytest.fixture
async def dynamic(app_factory: AppFactory) -> httpx.AsyncClient:
    app = await app_factory(organization_dynamic_roles=True)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def ask(
    client: httpx.AsyncClient, org: Org, who: str, permissions: Any, member: str | None = None
) -> httpx.Response:
    path = f"{BASE}/{org.id}"
    if member is not None:
        path += f"/members/{org.members[member].id}"
    return await client.post(
        f"{path}/has-permission", json={"permissions": permissions}, headers=org.headers(who)
    )


async def granted(
    client: httpx.AsyncClient, org: Org, who: str, permissions: Any, member: str | None = None
) -> bool:
    response = await ask(client, org, who, permissions, member)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["error"] is None
    return bool(body["success"])


async def set_role(db: AsyncSession, org: Org, who: str, role: str) -> None:
    org.members[who].role = role
    await db.flush()


class TestMerge:
    """``with_dynamic_roles`` against Better-Auth's loop in ``has-permission.ts``."""

    def test_union_with_the_static_role_of_the_same_name(self) -> None:
        access = DEFAULT_ORG_ACCESS.with_dynamic_roles([("member", {"member": ["delete"]})])
        assert access.has_permission("member", {"member": ["delete"]})
        assert access.has_permission("member", {"ac": ["read"]})  # the static role's
        assert not DEFAULT_ORG_ACCESS.has_permission("member", {"member": ["delete"]})

    def test_a_new_name_is_a_role_of_its_own(self) -> None:
        access = DEFAULT_ORG_ACCESS.with_dynamic_roles([("billing", {"invitation": ["create"]})])
        assert access.has_permission("billing", {"invitation": ["create"]})
        assert not access.has_permission("billing", {"ac": ["read"]})
        assert "billing" in access.role_names
        assert "billing" not in DEFAULT_ORG_ACCESS.role_names

    def test_rows_of_one_name_add_up(self) -> None:
        access = DEFAULT_ORG_ACCESS.with_dynamic_roles(
            [("x", {"team": ["create"]}), ("x", {"team": ["update"], "member": []})]
        )
        assert access.has_permission("x", {"team": ["create", "update"]})
        assert not access.has_permission("x", {"member": ["create"]})

    def test_one_role_must_grant_all_of_a_request(self) -> None:
        access = DEFAULT_ORG_ACCESS.with_dynamic_roles(
            [("a", {"team": ["create"]}), ("b", {"invitation": ["create"]})]
        )
        assert access.has_permission(" a , b ", {"team": ["create"]})  # trimmed, as Better-Auth
        assert not access.has_permission("a,b", {"team": ["create"], "invitation": ["create"]})
        assert not access.has_permission("a", {})
        assert not access.has_permission("a", {"team": []})

    def test_creator_shortcut_only_where_allowed(self) -> None:
        access = DEFAULT_ORG_ACCESS.with_dynamic_roles([("owner", {"project": ["read"]})])
        assert access.has_permission("owner", {"project": ["read"]})
        assert not access.has_permission("owner", {"other": ["x"]})
        assert access.has_permission("owner", {"other": ["x"]}, allow_creator_all=True)

    @pytest.mark.parametrize(
        "stored",
        ["not json", "null", "[]", '"x"', '{"member": "delete"}', '{"member": [1]}', "{"],
    )
    def test_invalid_permission_is_refused_like_better_auth(self, stored: str) -> None:
        with pytest.raises(InvalidRolePermissions, match="Invalid permissions for role r"):
            parse_permission("r", stored)

    def test_valid_permission(self) -> None:
        assert parse_permission("r", '{"a": [], "b": ["x"]}') == {"a": [], "b": ["x"]}


class TestHasPermission:
    async def test_caller_with_a_dynamic_role(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        await add_role(db_session, org.organization, "billing", {"invitation": ["create"]})
        await set_role(db_session, org, "member", "billing")
        assert await granted(dynamic, org, "member", {"invitation": ["create"]})
        assert not await granted(dynamic, org, "member", {"invitation": ["create", "cancel"]})
        assert not await granted(dynamic, org, "member", {"ac": ["read"]})

    async def test_static_roles_and_several_roles(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        assert await granted(dynamic, org, "owner", {"organization": ["delete"]})
        assert not await granted(dynamic, org, "admin", {"organization": ["delete"]})
        assert await granted(dynamic, org, "member", {"ac": ["read"]})
        await add_role(db_session, org.organization, "member", {"team": ["create"]})
        await set_role(db_session, org, "member", "member, billing")
        assert await granted(dynamic, org, "member", {"team": ["create"], "ac": ["read"]})
        assert not await granted(dynamic, org, "member", {})
        assert not await granted(dynamic, org, "member", {"team": []})

    async def test_rows_are_ignored_when_off(
        self, client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        """Better-Auth without dynamic access control never reads the table: nor do we."""
        await add_role(db_session, org.organization, "member", {"member": ["delete"]})
        assert not await granted(client, org, "member", {"member": ["delete"]})

    async def test_another_organizations_roles_do_not_count(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        from tests.support.org_factories import create_organization

        other = await create_organization(db_session, name="Other")
        await add_role(db_session, other, "member", {"member": ["delete"]})
        assert not await granted(dynamic, org, "member", {"member": ["delete"]})

    async def test_non_member_gets_404(self, dynamic: httpx.AsyncClient, org: Org) -> None:
        problem(
            await ask(dynamic, org, "outsider", {"ac": ["read"]}), 404, "ORGANIZATION_NOT_FOUND"
        )

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"permissions": {"member": "update"}},
            {"permissions": {"member": [1]}},
            {"permissions": ["member"]},
            {"permission": {"member": ["update"]}},
            {"permissions": {"member": ["update"]}, "organizationId": "x"},
        ],
    )
    async def test_bad_input(self, dynamic: httpx.AsyncClient, org: Org, body: Any) -> None:
        response = await dynamic.post(
            f"{BASE}/{org.id}/has-permission", json=body, headers=org.headers("member")
        )
        problem(response, 422, "VALIDATION_ERROR")

    async def test_invalid_stored_role_is_a_clean_500(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        await add_role(db_session, org.organization, "broken", "{not json")
        body = problem(
            await ask(dynamic, org, "member", {"ac": ["read"]}), 500, "INVALID_ROLE_PERMISSIONS"
        )
        assert body["detail"] == "Invalid permissions for role broken"

    async def test_api_key_narrows_the_answer(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        scoped = await key_headers(db_session, org.admin, {"member": ["update"]})
        url = f"{BASE}/{org.id}/has-permission"
        for wanted, expected in (({"member": ["update"]}, True), ({"member": ["delete"]}, False)):
            response = await dynamic.post(url, json={"permissions": wanted}, headers=scoped)
            assert response.json()["success"] is expected


class TestAboutAnotherMember:
    async def test_answers_for_the_member(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        await add_role(db_session, org.organization, "billing", {"invitation": ["create"]})
        await set_role(db_session, org, "member", "billing")
        for asker in ("owner", "admin"):
            assert await granted(dynamic, org, asker, {"invitation": ["create"]}, "member")
            assert not await granted(dynamic, org, asker, {"ac": ["read"]}, "member")
        # No creator shortcut in the answer: the owner holds what its statements grant.
        assert not await granted(dynamic, org, "admin", {"project": ["read"]}, "owner")

    async def test_who_may_ask(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        response = await ask(dynamic, org, "member", {"ac": ["read"]}, "admin")
        problem(response, 403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")
        # A dynamic role that grants member: update lets its holder ask.
        await add_role(db_session, org.organization, "member", {"member": ["update"]})
        assert await granted(dynamic, org, "member", {"member": ["update"]}, "admin")
        problem(
            await ask(dynamic, org, "outsider", {"ac": ["read"]}, "admin"),
            404,
            "ORGANIZATION_NOT_FOUND",
        )

    async def test_member_of_another_organization_is_not_found(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        from tests.support.org_factories import add_member, create_organization

        other = await create_organization(db_session, name="Other")
        foreign = await add_member(db_session, other, org.outsider, "owner")
        response = await dynamic.post(
            f"{BASE}/{org.id}/members/{foreign.id}/has-permission",
            json={"permissions": {"ac": ["read"]}},
            headers=org.headers("owner"),
        )
        problem(response, 404, "MEMBER_NOT_FOUND")

    async def test_bad_input(self, dynamic: httpx.AsyncClient, org: Org) -> None:
        response = await ask(dynamic, org, "owner", {"member": "update"}, "member")
        problem(response, 422, "VALIDATION_ERROR")


class TestMemberEndpoints:
    async def test_dynamic_grant_passes_the_dependency(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        url = f"{BASE}/{org.id}/members/{org.members['admin'].id}"
        await set_role(db_session, org, "admin", "member")  # the target: no owner rule applies
        problem(
            await dynamic.delete(url, headers=org.headers("member")),
            403,
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        )
        await add_role(db_session, org.organization, "member", {"member": ["delete"]})
        response = await dynamic.delete(url, headers=org.headers("member"))
        assert response.status_code == 204, response.text

    async def test_role_change_accepts_the_organizations_roles(
        self, dynamic: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        url = f"{BASE}/{org.id}/members/{org.members['member'].id}"
        response = await dynamic.patch(url, json={"role": "billing"}, headers=org.headers("admin"))
        body = problem(response, 422, "ROLE_NOT_FOUND")
        assert "billing" in json.dumps(body)
        await add_role(db_session, org.organization, "billing", {"invitation": ["create"]})
        response = await dynamic.patch(
            url, json={"role": ["billing", "member"]}, headers=org.headers("admin")
        )
        assert response.status_code == 200, response.text
        assert response.json()["role"] == "billing,member"

    async def test_role_change_ignores_rows_when_off(
        self, client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        await add_role(db_session, org.organization, "billing", {"invitation": ["create"]})
        url = f"{BASE}/{org.id}/members/{org.members['member'].id}"
        response = await client.patch(url, json={"role": "billing"}, headers=org.headers("admin"))
        problem(response, 422, "ROLE_NOT_FOUND")
