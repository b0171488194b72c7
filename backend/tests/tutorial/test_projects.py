"""Projects: who may list, create and delete them, over HTTP against the real app and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import TEST_SECRET, AppFactory
from tests.support.factories import create_session, create_user, sign_session_token
from tests.support.org_factories import add_member, create_organization

# The file ACCESS_CONTROL_FILE names: the "project" statements and the roles that grant them.
ACCESS_CONTROL_FILE = Path(__file__).resolve().parents[2] / "tutorial" / "access-control.json"


@dataclass
class Acme:
    """An organization, and a signed-in user for each part of the story."""

    organization_id: str
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
async def acme(db_session: AsyncSession) -> Acme:
    organization = await create_organization(db_session, name="Acme")
    tokens = {}
    # who: (their role in the app, their role in Acme or None)
    people = {
        "developer": ("user", "developer"),
        "member": ("user", "member"),
        "outsider": ("user", None),
        "support": ("support", None),
        "admin": ("admin", None),
    }
    for who, (role, org_role) in people.items():
        user = await create_user(db_session, role=role, name=who)
        if org_role is not None:
            await add_member(db_session, organization, user, org_role)
        session = await create_session(db_session, user)
        tokens[who] = sign_session_token(session.token, TEST_SECRET)
    return Acme(organization.id, tokens)


@pytest.fixture
async def client(app_factory: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = await app_factory(access_control_file=ACCESS_CONTROL_FILE)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def create(client: httpx.AsyncClient, acme: Acme, who: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/organizations/{acme.organization_id}/projects",
        json={"name": "Rocket"},
        headers=acme.headers(who),
    )


async def test_a_developer_creates_a_project_and_lists_it(
    client: httpx.AsyncClient, acme: Acme
) -> None:
    created = await create(client, acme, "developer")
    assert created.status_code == 201
    project = created.json()
    assert project["name"] == "Rocket"
    assert project["organizationId"] == acme.organization_id

    mine = await client.get("/api/v1/projects", headers=acme.headers("developer"))
    assert mine.status_code == 200
    assert [p["id"] for p in mine.json()["projects"]] == [project["id"]]


async def test_a_member_without_the_permission_is_refused(
    client: httpx.AsyncClient, acme: Acme
) -> None:
    refused = await create(client, acme, "member")
    assert refused.status_code == 403
    assert refused.json()["code"] == "INSUFFICIENT_PERMISSION"


async def test_an_outsider_cannot_tell_the_organization_exists(
    client: httpx.AsyncClient, acme: Acme
) -> None:
    refused = await create(client, acme, "outsider")
    assert refused.status_code == 404
    assert refused.json()["code"] == "ORGANIZATION_NOT_FOUND"


async def test_signing_in_is_required(client: httpx.AsyncClient) -> None:
    refused = await client.get("/api/v1/projects")
    assert refused.status_code == 401
    assert refused.json()["code"] == "TOKEN_MISSING"


async def test_support_deletes_any_project(client: httpx.AsyncClient, acme: Acme) -> None:
    project_id = (await create(client, acme, "developer")).json()["id"]

    deleted = await client.delete(f"/api/v1/projects/{project_id}", headers=acme.headers("support"))
    assert deleted.status_code == 204

    mine = await client.get("/api/v1/projects", headers=acme.headers("developer"))
    assert mine.json()["projects"] == []
    gone = await client.delete(f"/api/v1/projects/{project_id}", headers=acme.headers("support"))
    assert gone.status_code == 404
    assert gone.json()["code"] == "PROJECT_NOT_FOUND"


@pytest.mark.parametrize("who", ["developer", "admin"])
async def test_others_may_not_delete(client: httpx.AsyncClient, acme: Acme, who: str) -> None:
    project_id = (await create(client, acme, "developer")).json()["id"]

    refused = await client.delete(f"/api/v1/projects/{project_id}", headers=acme.headers(who))
    assert refused.status_code == 403
    assert refused.json()["code"] == "INSUFFICIENT_PERMISSION"
