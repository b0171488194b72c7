"""Memberships answered from the cache with zero queries, and forgotten the moment a member,
an organization or a session's active organization changes behind the app's back (plain SQL,
as Better-Auth or an operator would), through the real NOTIFY feed."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import AuthSession, Member, Organization
from app.services.organizations.cache import OrganizationCache
from app.services.organizations.snapshots import Membership, MemberSnapshot, OrganizationSnapshot
from tests.support.jwks_server import JwksServer
from tests.support.keys import better_auth_claims, sign_token
from tests.support.org_factories import add_member, create_organization
from tests.test_identity_cache import (  # noqa: F401 (fixtures)
    Stack,
    counting_queries,
    jwks_server,
    jwt_key,
    open_stack,
    pg_only,
)
from tests.test_organizations import probe

BASE = "/api/v1/organizations"


@pytest.fixture
async def stack(engine: AsyncEngine, jwks_server: JwksServer, dialect: str) -> AsyncIterator[Stack]:  # noqa: F811
    ttl = 60.0 if dialect == "postgresql" else 0.3
    organizations: list[str] = []
    async with open_stack(engine, jwks_server, identity_cache_fallback_ttl_seconds=ttl) as item:
        item.organizations = organizations  # type: ignore[attr-defined]
        yield item
    async with AsyncSession(engine) as db:
        await db.execute(delete(Organization).where(Organization.id.in_(organizations)))
        await db.commit()


async def organization_with(stack: Stack, role: str = "admin") -> tuple[str, str, str]:
    """(organization id, the member's user id, the member's session token), committed."""
    user, token = await stack.user_with_session()
    async with AsyncSession(stack.engine, expire_on_commit=False) as db:
        organization = await create_organization(db)
        await add_member(db, organization, user, role)
        await db.commit()
    stack.organizations.append(organization.id)  # type: ignore[attr-defined]
    return organization.id, user.id, token


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


class TestZeroQueries:
    async def test_org_guarded_endpoint(self, stack: Stack, engine: AsyncEngine) -> None:
        organization_id, _user_id, token = await organization_with(stack)
        url = f"{BASE}/{organization_id}"
        assert (await stack.client.get(url, headers=auth(token))).status_code == 200
        assert (await stack.client.get(BASE, headers=auth(token))).status_code == 200
        with counting_queries(engine) as statements:
            for _ in range(3):
                assert (await stack.client.get(url, headers=auth(token))).status_code == 200
                assert (await stack.client.get(BASE, headers=auth(token))).status_code == 200
        assert statements == []

    async def test_refusals_are_cached_too(self, stack: Stack, engine: AsyncEngine) -> None:
        organization_id, _user_id, _token = await organization_with(stack)
        _outsider, token = await stack.user_with_session()
        url = f"{BASE}/{organization_id}"
        assert (await stack.client.get(url, headers=auth(token))).status_code == 404
        with counting_queries(engine) as statements:
            assert (await stack.client.get(url, headers=auth(token))).status_code == 404
        assert statements == []


class TestInvalidation:
    async def test_member_removed_in_sql(self, stack: Stack, dialect: str) -> None:
        pg_only(dialect)
        organization_id, user_id, token = await organization_with(stack)
        url = f"{BASE}/{organization_id}"
        assert (await stack.client.get(url, headers=auth(token))).status_code == 200
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql('DELETE FROM "member" WHERE "userId" = :id', id=user_id)
        await stack.settle(notices)
        assert (await stack.client.get(url, headers=auth(token))).status_code == 404
        assert (await stack.client.get(BASE, headers=auth(token))).json()["organizations"] == []

    async def test_member_added_and_role_changed_in_sql(self, stack: Stack, dialect: str) -> None:
        pg_only(dialect)
        organization_id, _owner, _token = await organization_with(stack)
        user, token = await stack.user_with_session()
        url = f"{BASE}/{organization_id}"
        assert (await stack.client.get(url, headers=auth(token))).status_code == 404
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql(
            'INSERT INTO "member" (id, "organizationId", "userId", role, "createdAt") '
            "VALUES (:id, :org, :user, 'member', now())",
            id=f"m-{user.id}",
            org=organization_id,
            user=user.id,
        )
        await stack.settle(notices)
        assert (await stack.client.get(url, headers=auth(token))).json()["role"] == "member"
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql('UPDATE "member" SET role = \'admin\' WHERE "userId" = :id', id=user.id)
        await stack.settle(notices)
        assert (await stack.client.get(url, headers=auth(token))).json()["role"] == "admin"

    async def test_organization_renamed_and_deleted_in_sql(
        self, stack: Stack, dialect: str
    ) -> None:
        pg_only(dialect)
        organization_id, _user_id, token = await organization_with(stack)
        url = f"{BASE}/{organization_id}"
        assert (await stack.client.get(BASE, headers=auth(token))).status_code == 200
        assert (await stack.client.get(url, headers=auth(token))).status_code == 200
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql(
            "UPDATE organization SET name = 'Renamed' WHERE id = :id", id=organization_id
        )
        await stack.settle(notices)
        assert (await stack.client.get(url, headers=auth(token))).json()["name"] == "Renamed"
        listed = (await stack.client.get(BASE, headers=auth(token))).json()["organizations"]
        assert [o["name"] for o in listed] == ["Renamed"]
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql("DELETE FROM organization WHERE id = :id", id=organization_id)
        await stack.settle(notices)
        assert (await stack.client.get(url, headers=auth(token))).status_code == 404

    async def test_active_organization_changed_in_sql(self, stack: Stack, dialect: str) -> None:
        pg_only(dialect)
        organization_id, _user_id, token = await organization_with(stack)
        stack.app.include_router(probe)
        response = await stack.client.get("/probe", headers=auth(token))
        assert response.json()["code"] == "NO_ACTIVE_ORGANIZATION"
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql(
            'UPDATE "session" SET "activeOrganizationId" = :org WHERE token = :token',
            org=organization_id,
            token=token,
        )
        await stack.settle(notices)
        response = await stack.client.get("/probe", headers=auth(token))
        assert response.json()["organizationId"] == organization_id

    async def test_jwt_active_organization_through_its_sid_claim(  # type: ignore[no-untyped-def]
        self,
        stack: Stack,
        jwt_key,  # noqa: F811 (the fixture)
    ) -> None:
        organization_id, user_id, token = await organization_with(stack)
        stack.app.include_router(probe)
        async with AsyncSession(stack.engine) as db:
            session_id = await db.scalar(select(AuthSession.id).where(AuthSession.token == token))
        claims = better_auth_claims(
            stack.state.settings.jwt_issuer, iat=int(time.time()), user_id=user_id
        )
        with_sid = {"Authorization": f"Bearer {sign_token(jwt_key, {**claims, 'sid': session_id})}"}
        without = {"Authorization": f"Bearer {sign_token(jwt_key, claims)}"}
        response = await stack.client.get("/probe", headers=with_sid)
        assert response.json()["code"] == "NO_ACTIVE_ORGANIZATION"
        await stack.sql(
            'UPDATE "session" SET "activeOrganizationId" = :org WHERE id = :id',
            org=organization_id,
            id=session_id,
        )
        stack.state.org_cache.evict_session(str(session_id))  # SQLite has no feed
        response = await stack.client.get("/probe", headers=with_sid)
        assert response.json()["organizationId"] == organization_id
        response = await stack.client.get("/probe", headers=without)
        assert response.json()["code"] == "NO_ACTIVE_ORGANIZATION"

    async def test_own_write_is_seen_at_once(self, stack: Stack) -> None:
        organization_id, _owner_id, token = await organization_with(stack, role="owner")
        member, member_token = await stack.user_with_session()
        async with AsyncSession(stack.engine, expire_on_commit=False) as db:
            row = Member(organization_id=organization_id, user_id=member.id, role="member")
            db.add(row)
            await db.commit()
            member_id = row.id
        url = f"{BASE}/{organization_id}"
        stack.state.org_cache.evict_user(member.id)
        assert (await stack.client.get(url, headers=auth(member_token))).status_code == 200
        response = await stack.client.delete(f"{url}/members/{member_id}", headers=auth(token))
        assert response.status_code == 204, response.text
        # No waiting for the feed: this process evicted on commit.
        assert (await stack.client.get(url, headers=auth(member_token))).status_code == 404


def _membership(user_id: str, organization_id: str) -> Membership:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return Membership(
        OrganizationSnapshot(organization_id, "Acme", "acme", None, now, None),
        MemberSnapshot("m", organization_id, user_id, "member", now),
    )


class TestCacheUnit:
    def test_read_that_began_before_an_invalidation_is_not_stored(self) -> None:
        cache = OrganizationCache(max_entries=10, fallback_ttl=60)
        cache.feed_up()
        generation = cache.begin_read()
        cache.evict_user("u")
        cache.put_membership("u", "o", _membership("u", "o"), generation)
        assert cache.get_membership("u", "o") is None

    def test_fallback_ttl_while_the_feed_is_down(self) -> None:
        now = [0.0]
        cache = OrganizationCache(max_entries=10, fallback_ttl=2, clock=lambda: now[0])
        cache.put_active_organization("s", "o", cache.begin_read())
        entry = cache.get_active_organization("s")
        assert entry is not None
        assert entry.value == "o"
        now[0] = 2.0
        assert cache.get_active_organization("s") is None

    def test_notices(self) -> None:
        cache = OrganizationCache(max_entries=10, fallback_ttl=60)
        cache.feed_up()
        g = cache.begin_read()
        cache.put_membership("u", "o", _membership("u", "o"), g)
        cache.put_membership("v", "o", None, g)
        cache.put_memberships("u", (_membership("u", "o"),), g)
        cache.put_active_organization("s", "o", g)
        assert cache.notice("o", "o") is True
        assert cache.get_membership("u", "o") is None
        assert cache.get_membership("v", "o") is None
        assert cache.get_memberships("u") is None
        assert cache.notice("s", "s") is False  # the identity cache's, but seen here too
        assert cache.get_active_organization("s") is None
        assert cache.notice("x", "?") is False

    def test_size_bound_and_disabled(self) -> None:
        cache = OrganizationCache(max_entries=2, fallback_ttl=60)
        cache.feed_up()
        for name in "abc":
            cache.put_active_organization(name, None, cache.begin_read())
        assert cache.get_active_organization("a") is None
        assert cache.get_active_organization("c") is not None
        assert cache.stats()["activeOrganizations"] == 2
        off = OrganizationCache(max_entries=2, fallback_ttl=60, enabled=False)
        off.put_active_organization("a", None, off.begin_read())
        assert off.get_active_organization("a") is None


class TestDynamicRoles:
    """``ORGANIZATION_DYNAMIC_ROLES``: an organization's roles are cached like memberships, and
    a role created, changed or deleted behind the apps' backs (plain SQL, as Better-Auth's
    create-role, update-role and delete-role write) reaches two app instances through the feed."""

    @staticmethod
    async def ask(stack: Stack, organization_id: str, token: str) -> bool:
        response = await stack.client.post(
            f"{BASE}/{organization_id}/has-permission",
            json={"permissions": {"invitation": ["create"]}},
            headers=auth(token),
        )
        assert response.status_code == 200, response.text
        return bool(response.json()["success"])

    async def test_zero_queries_in_steady_state(
        self,
        engine: AsyncEngine,
        jwks_server: JwksServer,  # noqa: F811
        dialect: str,
    ) -> None:
        ttl = 60.0 if dialect == "postgresql" else 0.3
        async with open_stack(
            engine,
            jwks_server,
            identity_cache_fallback_ttl_seconds=ttl,
            organization_dynamic_roles=True,
        ) as stack:
            stack.organizations = []  # type: ignore[attr-defined]
            organization_id, _user_id, token = await organization_with(stack, role="member")
            try:
                assert not await self.ask(stack, organization_id, token)
                with counting_queries(engine) as statements:
                    for _ in range(3):
                        assert not await self.ask(stack, organization_id, token)
                if dialect == "postgresql":  # SQLite: the short fallback TTL may expire
                    assert statements == []
            finally:
                await stack.sql("DELETE FROM organization WHERE id = :id", id=organization_id)

    async def test_created_updated_deleted_reach_every_instance(
        self,
        engine: AsyncEngine,
        jwks_server: JwksServer,  # noqa: F811
        dialect: str,
    ) -> None:
        pg_only(dialect)
        settings: dict[str, Any] = {
            "identity_cache_fallback_ttl_seconds": 60.0,
            "organization_dynamic_roles": True,
        }
        async with (
            open_stack(engine, jwks_server, **settings) as first,
            open_stack(engine, jwks_server, **settings) as second,
        ):
            first.organizations = []  # type: ignore[attr-defined]
            organization_id, _user_id, token = await organization_with(first, role="billing")
            stacks = (first, second)
            try:
                for stack in stacks:  # cached: "billing" is no role yet
                    assert not await self.ask(stack, organization_id, token)

                async def change(statement: str, expected: bool, **params: Any) -> None:
                    before = [s.state.listener.notices for s in stacks]  # type: ignore[union-attr]
                    await first.sql(statement, org=organization_id, **params)
                    for stack, notices in zip(stacks, before, strict=True):
                        await stack.settle(notices)
                        assert await self.ask(stack, organization_id, token) is expected

                await change(
                    'INSERT INTO "organizationRole" (id, "organizationId", role, permission, '
                    "\"createdAt\") VALUES (:id, :org, 'billing', :permission, now())",
                    True,
                    id=f"r-{organization_id}",
                    permission=json.dumps({"invitation": ["create"]}),
                )
                await change(
                    'UPDATE "organizationRole" SET permission = :permission '
                    'WHERE "organizationId" = :org',
                    False,
                    permission=json.dumps({"invitation": ["cancel"]}),
                )
                await change(
                    'UPDATE "organizationRole" SET permission = :permission '
                    'WHERE "organizationId" = :org',
                    True,
                    permission=json.dumps({"invitation": ["create", "cancel"]}),
                )
                await change('DELETE FROM "organizationRole" WHERE "organizationId" = :org', False)
            finally:
                await first.sql("DELETE FROM organization WHERE id = :id", id=organization_id)

    def test_roles_notice_evicts_the_organization(self) -> None:
        from app.services.organizations.access import DEFAULT_ORG_ACCESS

        cache = OrganizationCache(max_entries=10, fallback_ttl=60)
        cache.feed_up()
        cache.put_roles("o", DEFAULT_ORG_ACCESS, cache.begin_read())
        cache.put_roles("p", DEFAULT_ORG_ACCESS, cache.begin_read())
        assert cache.notice("r", "o") is True
        assert cache.get_roles("o") is None
        assert cache.get_roles("p") is not None
        assert cache.notice("o", "p") is True  # a deleted organization takes its roles along
        assert cache.get_roles("p") is None
        assert cache.stats()["organizationRoles"] == 0
