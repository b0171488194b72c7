"""/api/v1/organizations and the organization dependencies: every endpoint as owner, admin,
member and outsider; Better-Auth's member rules; the audit trail; which refusals are 403 and
which 404. Callers authenticate with real session tokens; rows are Better-Auth-shaped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.models import (
    AuditEvent,
    AuthSession,
    Member,
    Organization,
    Team,
    TeamMember,
    User,
    utc_now,
)
from app.routers.org_deps import OrgMember, require_org_permission
from app.services.access import AccessControlError
from app.services.organizations.snapshots import Membership
from app.state import build_access_control, build_org_access
from tests.conftest import AppFactory, make_settings
from tests.support.factories import create_session, create_user
from tests.support.org_factories import add_member, create_organization
from tests.support.organizations import CONFIG_FILE

BASE = "/api/v1/organizations"


@dataclass
class Org:
    organization: Organization
    owner: User
    admin: User
    member: User
    outsider: User
    members: dict[str, Member]
    tokens: dict[str, str]
    sessions: dict[str, AuthSession]

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    @property
    def id(self) -> str:
        return self.organization.id


@pytest.fixture
async def org(db_session: AsyncSession) -> Org:
    return await make_org(db_session)


async def make_org(db_session: AsyncSession) -> Org:
    """Owner, admin and member of "Acme", and an outsider, each with a session."""
    organization = await create_organization(db_session, name="Acme")
    users = {
        who: await create_user(db_session, name=who.title(), email=f"{who}@acme.test")
        for who in ("owner", "admin", "member", "outsider")
    }
    # Members are listed by join time (then id): one second apart, so the order the tests
    # expect does not depend on rows inserted within the same millisecond and their random ids.
    joined = utc_now()
    members = {
        who: await add_member(
            db_session, organization, users[who], who, joined_at=joined + timedelta(seconds=i)
        )
        for i, who in enumerate(("owner", "admin", "member"))
    }
    sessions = {who: await create_session(db_session, user) for who, user in users.items()}
    return Org(
        organization,
        users["owner"],
        users["admin"],
        users["member"],
        users["outsider"],
        members,
        {who: session.token for who, session in sessions.items()},
        sessions,
    )


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def audit_rows(db: AsyncSession, target_id: str) -> list[AuditEvent]:
    rows = await db.scalars(
        select(AuditEvent).where(AuditEvent.target_id == target_id).order_by(AuditEvent.created_at)
    )
    return list(rows.all())


class TestListMine:
    async def test_each_organization_with_my_role(
        self, client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        other = await create_organization(db_session, name="Beta")
        await add_member(db_session, other, org.admin, "member,billing")
        response = await client.get(BASE, headers=org.headers("admin"))
        assert response.status_code == 200
        listed = {o["name"]: o for o in response.json()["organizations"]}
        assert set(listed) == {"Acme", "Beta"}
        assert listed["Acme"]["role"] == "admin"
        assert listed["Acme"]["memberId"] == org.members["admin"].id
        assert listed["Beta"]["role"] == "member,billing"
        assert set(listed["Acme"]) == {
            "id",
            "name",
            "slug",
            "logo",
            "createdAt",
            "metadata",
            "role",
            "memberId",
        }

    async def test_none(self, client: httpx.AsyncClient, org: Org) -> None:
        response = await client.get(BASE, headers=org.headers("outsider"))
        assert response.json() == {"organizations": []}

    async def test_anonymous(self, client: httpx.AsyncClient) -> None:
        problem(await client.get(BASE), 401, "TOKEN_MISSING")


class TestGetOne:
    async def test_member_sees_it(self, client: httpx.AsyncClient, org: Org) -> None:
        response = await client.get(f"{BASE}/{org.id}", headers=org.headers("member"))
        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["name"], body["role"]) == (org.id, "Acme", "member")

    async def test_outsider_cannot_tell_it_from_a_missing_one(
        self, client: httpx.AsyncClient, org: Org
    ) -> None:
        foreign = await client.get(f"{BASE}/{org.id}", headers=org.headers("outsider"))
        missing = await client.get(f"{BASE}/no-such-org", headers=org.headers("outsider"))
        problem(foreign, 404, "ORGANIZATION_NOT_FOUND")
        problem(missing, 404, "ORGANIZATION_NOT_FOUND")
        strip = ("instance", "requestId")
        assert {k: v for k, v in foreign.json().items() if k not in strip} == {
            k: v for k, v in missing.json().items() if k not in strip
        }


class TestListMembers:
    async def test_page_with_users(self, client: httpx.AsyncClient, org: Org) -> None:
        response = await client.get(
            f"{BASE}/{org.id}/members", params={"limit": 2}, headers=org.headers("member")
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["total"], body["limit"], body["offset"]) == (3, 2, 0)
        assert [m["role"] for m in body["members"]] == ["owner", "admin"]
        first = body["members"][0]
        assert first["user"] == {
            "id": org.owner.id,
            "name": "Owner",
            "email": "owner@acme.test",
            "image": None,
        }
        assert first["organizationId"] == org.id

    async def test_offset_and_search(self, client: httpx.AsyncClient, org: Org) -> None:
        page = await client.get(
            f"{BASE}/{org.id}/members", params={"offset": 2}, headers=org.headers("member")
        )
        assert [m["role"] for m in page.json()["members"]] == ["member"]
        found = await client.get(
            f"{BASE}/{org.id}/members", params={"search": "ADMIN@"}, headers=org.headers("member")
        )
        assert found.json()["total"] == 1
        assert found.json()["members"][0]["userId"] == org.admin.id
        by_name = await client.get(
            f"{BASE}/{org.id}/members", params={"search": "own"}, headers=org.headers("member")
        )
        assert [m["userId"] for m in by_name.json()["members"]] == [org.owner.id]
        wildcard = await client.get(
            f"{BASE}/{org.id}/members", params={"search": "%"}, headers=org.headers("member")
        )
        assert wildcard.json()["total"] == 0

    async def test_outsider(self, client: httpx.AsyncClient, org: Org) -> None:
        response = await client.get(f"{BASE}/{org.id}/members", headers=org.headers("outsider"))
        problem(response, 404, "ORGANIZATION_NOT_FOUND")

    async def test_bad_limit(self, client: httpx.AsyncClient, org: Org) -> None:
        response = await client.get(
            f"{BASE}/{org.id}/members", params={"limit": 0}, headers=org.headers("member")
        )
        problem(response, 422, "VALIDATION_ERROR")


class TestUpdateRole:
    async def patch(
        self, client: httpx.AsyncClient, org: Org, who: str, member: str, role: Any
    ) -> httpx.Response:
        return await client.patch(
            f"{BASE}/{org.id}/members/{org.members[member].id}",
            json={"role": role},
            headers=org.headers(who),
        )

    async def test_admin_promotes_a_member(
        self, client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        response = await self.patch(client, org, "admin", "member", ["admin", " member"])
        assert response.status_code == 200, response.text
        assert response.json()["role"] == "admin,member"
        row = await db_session.get(Member, org.members["member"].id)
        assert row is not None
        assert row.role == "admin,member"
        [event] = await audit_rows(db_session, org.member.id)
        assert event.action == "organization.member.role.set"
        assert event.actor_id == org.admin.id
        assert event.detail == {
            "organizationId": org.id,
            "memberId": org.members["member"].id,
            "before": {"role": "member"},
            "after": {"role": "admin,member"},
        }

    async def test_only_an_owner_makes_an_owner(self, client: httpx.AsyncClient, org: Org) -> None:
        refused = await self.patch(client, org, "admin", "member", "owner")
        problem(refused, 403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")
        allowed = await self.patch(client, org, "owner", "member", "owner")
        assert allowed.json()["role"] == "owner"

    async def test_admin_cannot_demote_an_owner(self, client: httpx.AsyncClient, org: Org) -> None:
        response = await self.patch(client, org, "admin", "owner", "member")
        problem(response, 403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")

    async def test_last_owner_cannot_step_down(self, client: httpx.AsyncClient, org: Org) -> None:
        response = await self.patch(client, org, "owner", "owner", "admin")
        problem(response, 409, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER")
        # With a second owner, they can.
        assert (await self.patch(client, org, "owner", "admin", "owner")).status_code == 200
        assert (await self.patch(client, org, "owner", "owner", "admin")).status_code == 200

    async def test_member_lacks_member_update(self, client: httpx.AsyncClient, org: Org) -> None:
        response = await self.patch(client, org, "member", "member", "admin")
        problem(response, 403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")

    async def test_unknown_role(self, client: httpx.AsyncClient, org: Org) -> None:
        body = problem(
            await self.patch(client, org, "admin", "member", "ghost"), 422, "ROLE_NOT_FOUND"
        )
        assert "ghost" in body["detail"]

    async def test_custom_role_from_the_file(self, app_factory: AppFactory, org: Org) -> None:
        app = await app_factory(access_control_file=str(CONFIG_FILE))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            response = await self.patch(client, org, "admin", "member", "billing")
        assert response.status_code == 200
        assert response.json()["role"] == "billing"

    async def test_empty_role(self, client: httpx.AsyncClient, org: Org) -> None:
        problem(await self.patch(client, org, "admin", "member", " , "), 422, "ROLE_REQUIRED")
        problem(await self.patch(client, org, "admin", "member", []), 422, "VALIDATION_ERROR")

    async def test_member_of_another_organization(
        self, client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        other = await create_organization(db_session, name="Beta")
        stranger = await add_member(db_session, other, org.outsider, "member")
        response = await client.patch(
            f"{BASE}/{org.id}/members/{stranger.id}",
            json={"role": "admin"},
            headers=org.headers("owner"),
        )
        problem(response, 404, "MEMBER_NOT_FOUND")

    async def test_outsider(self, client: httpx.AsyncClient, org: Org) -> None:
        problem(
            await self.patch(client, org, "outsider", "member", "admin"),
            404,
            "ORGANIZATION_NOT_FOUND",
        )

    async def test_unchanged_role_is_not_audited(
        self, client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        assert (await self.patch(client, org, "admin", "member", "member")).status_code == 200
        assert await audit_rows(db_session, org.member.id) == []


class TestRemove:
    async def delete(
        self, client: httpx.AsyncClient, org: Org, who: str, member: str
    ) -> httpx.Response:
        return await client.delete(
            f"{BASE}/{org.id}/members/{org.members[member].id}", headers=org.headers(who)
        )

    async def test_admin_removes_a_member_and_their_team_seats(
        self, client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        team = Team(name="Core", organization_id=org.id, member_count=2)
        db_session.add(team)
        await db_session.flush()
        db_session.add_all(
            [
                TeamMember(team_id=team.id, user_id=org.member.id),
                TeamMember(team_id=team.id, user_id=org.admin.id),
            ]
        )
        await db_session.flush()
        response = await self.delete(client, org, "admin", "member")
        assert response.status_code == 204, response.text
        assert await db_session.get(Member, org.members["member"].id) is None
        remaining = await db_session.scalars(
            select(TeamMember.user_id).where(TeamMember.team_id == team.id)
        )
        assert list(remaining) == [org.admin.id]
        await db_session.refresh(team)
        assert team.member_count == 1
        [event] = await audit_rows(db_session, org.member.id)
        assert event.action == "organization.member.remove"
        assert event.detail["teamsLeft"] == [team.id]

    async def test_member_cannot_remove(self, client: httpx.AsyncClient, org: Org) -> None:
        problem(
            await self.delete(client, org, "member", "admin"),
            403,
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        )

    async def test_admin_cannot_remove_an_owner(self, client: httpx.AsyncClient, org: Org) -> None:
        problem(
            await self.delete(client, org, "admin", "owner"),
            403,
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        )

    async def test_last_owner_cannot_be_removed(self, client: httpx.AsyncClient, org: Org) -> None:
        problem(
            await self.delete(client, org, "owner", "owner"),
            409,
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
        )

    async def test_removing_oneself_clears_the_active_organization(
        self, client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        session = org.sessions["admin"]
        session.active_organization_id = org.id
        await db_session.flush()
        assert (await self.delete(client, org, "admin", "admin")).status_code == 204
        await db_session.refresh(session)
        assert session.active_organization_id is None

    async def test_outsider_and_missing_member(self, client: httpx.AsyncClient, org: Org) -> None:
        problem(await self.delete(client, org, "outsider", "member"), 404, "ORGANIZATION_NOT_FOUND")
        response = await client.delete(
            f"{BASE}/{org.id}/members/nope", headers=org.headers("owner")
        )
        problem(response, 404, "MEMBER_NOT_FOUND")


# --- the dependencies on an app's own routes ---------------------------------------------------

probe = APIRouter()


@probe.get("/probe")
async def probe_member(membership: OrgMember) -> dict[str, str]:
    return {"organizationId": membership.organization.id, "role": membership.role}


@probe.get("/probe/{organizationId}/invite")
async def probe_permission(
    membership: Membership = Depends(require_org_permission({"invitation": ["create"]})),  # noqa: B008
) -> dict[str, str]:
    return {"organizationId": membership.organization.id}


@pytest.fixture
async def probe_client(app: FastAPI) -> httpx.AsyncClient:
    app.include_router(probe)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class TestDependencies:
    async def test_header(self, probe_client: httpx.AsyncClient, org: Org) -> None:
        headers = org.headers("admin", **{"X-Organization-Id": org.id})
        response = await probe_client.get("/probe", headers=headers)
        assert response.json() == {"organizationId": org.id, "role": "admin"}

    async def test_active_organization_of_the_session(
        self, probe_client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        problem(
            await probe_client.get("/probe", headers=org.headers("member")),
            400,
            "NO_ACTIVE_ORGANIZATION",
        )
        org.sessions["member"].active_organization_id = org.id
        await db_session.flush()
        response = await probe_client.get("/probe", headers=org.headers("member"))
        assert response.json() == {"organizationId": org.id, "role": "member"}

    async def test_header_wins_over_the_active_organization(
        self, probe_client: httpx.AsyncClient, org: Org, db_session: AsyncSession
    ) -> None:
        other = await create_organization(db_session, name="Beta")
        await add_member(db_session, other, org.member, "admin")
        org.sessions["member"].active_organization_id = org.id
        await db_session.flush()
        headers = org.headers("member", **{"X-Organization-Id": other.id})
        assert (await probe_client.get("/probe", headers=headers)).json()["role"] == "admin"

    async def test_non_member_by_header_gets_403_for_foreign_and_missing_alike(
        self, probe_client: httpx.AsyncClient, org: Org
    ) -> None:
        for organization_id in (org.id, "no-such-org"):
            headers = org.headers("outsider", **{"X-Organization-Id": organization_id})
            problem(
                await probe_client.get("/probe", headers=headers),
                403,
                "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION",
            )

    async def test_path_parameter_and_permission(
        self, probe_client: httpx.AsyncClient, org: Org
    ) -> None:
        url = f"/probe/{org.id}/invite"
        assert (await probe_client.get(url, headers=org.headers("admin"))).status_code == 200
        problem(
            await probe_client.get(url, headers=org.headers("member")),
            403,
            "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
        )
        problem(
            await probe_client.get(url, headers=org.headers("outsider")),
            404,
            "ORGANIZATION_NOT_FOUND",
        )

    async def test_several_headers(self, probe_client: httpx.AsyncClient, org: Org) -> None:
        headers = [
            ("Authorization", f"Bearer {org.tokens['admin']}"),
            ("X-Organization-Id", org.id),
            ("X-Organization-Id", "other"),
        ]
        problem(await probe_client.get("/probe", headers=headers), 400, "BAD_REQUEST")

    def test_factory_refuses_empty_requirements(self) -> None:
        with pytest.raises(ValueError):
            require_org_permission({})
        with pytest.raises(ValueError):
            require_org_permission({"member": []})


class TestConfiguration:
    def test_a_bad_organization_section_stops_the_start_naming_the_file(
        self, tmp_path: Path, settings: Settings
    ) -> None:
        path = tmp_path / "access-control.json"
        path.write_text('{"organization": {"roles": {"billing": {"invoices": ["pay"]}}}}')
        bad = make_settings(settings.database_url, access_control_file=str(path))
        with pytest.raises(AccessControlError) as raised:
            build_org_access(bad, build_access_control(bad))
        assert str(raised.value) == (
            f"{path}: organization.roles.billing.invoices: unknown resource (not in the statements)"
        )
