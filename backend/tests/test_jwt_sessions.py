"""Sign-out reaches JWTs: a JWT naming its session (``sid``) is refused once that session is
gone, from the NOTIFY-invalidated cache, with no query in steady state; and, with
``JWT_REQUIRE_LIVE_SESSION``, a JWT without ``sid`` is refused once its user has no live session.

Sessions end behind the app's back, as Better-Auth ends them: sign-out DELETEs the row,
revoke-sessions DELETEs all of the user's rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import AuditEvent, User
from tests.conftest import make_settings
from tests.support.factories import create_session, create_user
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, better_auth_claims, generate_key, jwks, sign_token
from tests.test_identity_cache import Stack, counting_queries, open_stack


@pytest.fixture(scope="module")
def jwt_key() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture(scope="module")
def jwks_server(jwt_key: TestKey) -> Iterator[JwksServer]:
    with JwksServer(jwks(jwt_key)) as server:
        yield server


def ttl_for(dialect: str) -> float:
    # PostgreSQL: a long TTL, so every refusal below comes from invalidation.
    # SQLite (no feed): long enough that a loaded machine serves the six requests of a
    # steady-state check from the cache, short enough to wait out.
    return 60.0 if dialect == "postgresql" else 1.5


@pytest.fixture
async def stack(engine: AsyncEngine, jwks_server: JwksServer, dialect: str) -> AsyncIterator[Stack]:
    async with open_stack(
        engine, jwks_server, identity_cache_fallback_ttl_seconds=ttl_for(dialect)
    ) as item:
        yield item


@pytest.fixture
async def strict(
    engine: AsyncEngine, jwks_server: JwksServer, dialect: str
) -> AsyncIterator[Stack]:
    async with open_stack(
        engine,
        jwks_server,
        identity_cache_fallback_ttl_seconds=ttl_for(dialect),
        jwt_require_live_session=True,
    ) as item:
        yield item


async def user_and_session(stack: Stack, **session: Any) -> tuple[User, str]:
    """A committed user with one session; returns the user and the session's id."""
    async with AsyncSession(stack.engine, expire_on_commit=False) as db:
        user = await create_user(db)
        row = await create_session(db, user, **session)
        await db.commit()
    stack.created.append(user.id)
    return user, row.id


def jwt_for(stack: Stack, key: TestKey, user_id: str, **claims: Any) -> dict[str, str]:
    payload = better_auth_claims(
        stack.state.settings.jwt_issuer, iat=int(time.time()), user_id=user_id, **claims
    )
    return {"Authorization": f"Bearer {sign_token(key, payload)}"}


async def me(stack: Stack, headers: dict[str, str]) -> httpx.Response:
    return await stack.client.get("/api/v1/auth/session", headers=headers)


async def until_refused(stack: Stack, headers: dict[str, str], notices: int) -> httpx.Response:
    """On PostgreSQL, wait for the session's notice; on SQLite, for the fallback TTL."""
    if stack.state.listener is not None:
        await stack.settle(notices)
        return await me(stack, headers)
    # No feed: the cached answer stands until the fallback TTL runs out; poll until then.
    deadline = asyncio.get_running_loop().time() + ttl_for("sqlite") + 2.0
    response = await me(stack, headers)
    while response.status_code == 200 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        response = await me(stack, headers)
    return response


def notices_of(stack: Stack) -> int:
    return stack.state.listener.notices if stack.state.listener is not None else 0


class TestSidClaim:
    async def test_sign_out_refuses_the_jwt(
        self, stack: Stack, engine: AsyncEngine, jwt_key: TestKey
    ) -> None:
        user, session_id = await user_and_session(stack)
        headers = jwt_for(stack, jwt_key, user.id, sid=session_id)
        first = await me(stack, headers)
        assert first.status_code == 200
        assert first.json()["sessionId"] == session_id
        with counting_queries(engine) as statements:
            for _ in range(5):
                assert (await me(stack, headers)).status_code == 200
        assert statements == []  # steady state: the session's liveness comes from the cache
        notices = notices_of(stack)
        await stack.sql('DELETE FROM "session" WHERE id = :id', id=session_id)  # sign-out
        response = await until_refused(stack, headers, notices)
        assert response.status_code == 401
        assert response.json()["code"] == "SESSION_INVALID"

    async def test_without_sid_the_jwt_outlives_its_session(
        self, stack: Stack, jwt_key: TestKey
    ) -> None:
        """The documented limit: without ``sid`` (and without the strict setting) a JWT is
        good until ``exp`` although its session is gone; bans and role changes still bite."""
        user, session_id = await user_and_session(stack)
        headers = jwt_for(stack, jwt_key, user.id)
        assert (await me(stack, headers)).status_code == 200
        await stack.sql('DELETE FROM "session" WHERE id = :id', id=session_id)
        assert (await me(stack, headers)).status_code == 200

    async def test_unknown_session_is_refused(self, stack: Stack, jwt_key: TestKey) -> None:
        user, _session_id = await user_and_session(stack)
        response = await me(stack, jwt_for(stack, jwt_key, user.id, sid="no-such-session"))
        assert response.status_code == 401
        assert response.json()["code"] == "SESSION_INVALID"

    async def test_another_users_session_is_refused(self, stack: Stack, jwt_key: TestKey) -> None:
        user, _ = await user_and_session(stack)
        _other, others_session = await user_and_session(stack)
        response = await me(stack, jwt_for(stack, jwt_key, user.id, sid=others_session))
        assert response.status_code == 401
        assert response.json()["code"] == "SESSION_INVALID"

    async def test_expired_session_is_refused(self, stack: Stack, jwt_key: TestKey) -> None:
        user, session_id = await user_and_session(stack, expires_in=timedelta(seconds=-1))
        response = await me(stack, jwt_for(stack, jwt_key, user.id, sid=session_id))
        assert response.status_code == 401
        assert response.json()["code"] == "SESSION_EXPIRED"

    @pytest.mark.parametrize("sid", [123, "", ["a"], None])
    async def test_malformed_sid_is_refused(
        self, stack: Stack, jwt_key: TestKey, sid: object
    ) -> None:
        user, _ = await user_and_session(stack)
        response = await me(stack, jwt_for(stack, jwt_key, user.id, sid=sid))
        if sid is None:  # JSON null: no session named, as without the claim
            assert response.status_code == 200
            return
        assert response.status_code == 401
        assert response.json()["code"] == "TOKEN_INVALID"

    async def test_revoke_all_sessions_refuses_every_jwt(
        self, stack: Stack, jwt_key: TestKey
    ) -> None:
        user, first = await user_and_session(stack)
        async with AsyncSession(stack.engine, expire_on_commit=False) as db:
            row = await db.get(User, user.id)
            assert row is not None
            second = (await create_session(db, row)).id
            await db.commit()
        jwts = [jwt_for(stack, jwt_key, user.id, sid=sid) for sid in (first, second)]
        for headers in jwts:
            assert (await me(stack, headers)).status_code == 200
        notices = notices_of(stack)
        await stack.sql('DELETE FROM "session" WHERE "userId" = :id', id=user.id)
        if stack.state.listener is not None:
            await stack.until(lambda: notices_of(stack) >= notices + 2)
        for headers in jwts:
            assert (await until_refused(stack, headers, notices)).status_code == 401


class TestRequireLiveSession:
    async def test_refused_without_a_live_session(self, strict: Stack, jwt_key: TestKey) -> None:
        async with AsyncSession(strict.engine, expire_on_commit=False) as db:
            user = await create_user(db)
            await db.commit()
        strict.created.append(user.id)
        response = await me(strict, jwt_for(strict, jwt_key, user.id))
        assert response.status_code == 401
        assert response.json()["code"] == "SESSION_INVALID"

    async def test_expired_sessions_do_not_count(self, strict: Stack, jwt_key: TestKey) -> None:
        user, _ = await user_and_session(strict, expires_in=timedelta(seconds=-1))
        assert (await me(strict, jwt_for(strict, jwt_key, user.id))).status_code == 401

    async def test_sign_out_of_the_last_session_refuses(
        self, strict: Stack, engine: AsyncEngine, jwt_key: TestKey
    ) -> None:
        user, session_id = await user_and_session(strict)
        headers = jwt_for(strict, jwt_key, user.id)
        assert (await me(strict, headers)).status_code == 200
        with counting_queries(engine) as statements:
            for _ in range(5):
                assert (await me(strict, headers)).status_code == 200
        assert statements == []
        notices = notices_of(strict)
        await strict.sql('DELETE FROM "session" WHERE id = :id', id=session_id)
        response = await until_refused(strict, headers, notices)
        assert response.status_code == 401
        assert response.json()["code"] == "SESSION_INVALID"

    async def test_another_live_session_keeps_it_working(
        self, strict: Stack, jwt_key: TestKey
    ) -> None:
        user, first = await user_and_session(strict)
        async with AsyncSession(strict.engine, expire_on_commit=False) as db:
            row = await db.get(User, user.id)
            assert row is not None
            await create_session(db, row)
            await db.commit()
        headers = jwt_for(strict, jwt_key, user.id)
        assert (await me(strict, headers)).status_code == 200
        notices = notices_of(strict)
        await strict.sql('DELETE FROM "session" WHERE id = :id', id=first)
        if strict.state.listener is not None:
            await strict.settle(notices)
        assert (await me(strict, headers)).status_code == 200

    async def test_a_jwt_with_sid_is_checked_against_its_own_session(
        self, strict: Stack, jwt_key: TestKey
    ) -> None:
        user, first = await user_and_session(strict)
        async with AsyncSession(strict.engine, expire_on_commit=False) as db:
            row = await db.get(User, user.id)
            assert row is not None
            await create_session(db, row, expires_in=timedelta(days=1))
            await db.commit()
        headers = jwt_for(strict, jwt_key, user.id, sid=first)
        assert (await me(strict, headers)).status_code == 200
        notices = notices_of(strict)
        await strict.sql('DELETE FROM "session" WHERE id = :id', id=first)
        # The user still has a live session, but not the one this JWT was issued for.
        assert (await until_refused(strict, headers, notices)).status_code == 401


class TestImpersonation:
    async def test_a_jwt_of_an_impersonation_session_acts_as_it(
        self, stack: Stack, engine: AsyncEngine, jwt_key: TestKey
    ) -> None:
        """Issue 22: the session a ``sid`` names says who impersonates; the JWT shows it,
        and a ban made with it is audited with the admin, at no query in steady state."""
        admin, _ = await user_and_session(stack)
        async with AsyncSession(stack.engine, expire_on_commit=False) as db:
            impersonated = await create_user(db, role="admin")
            session = await create_session(db, impersonated)
            session.impersonated_by = admin.id
            target = await create_user(db)
            await db.commit()
        stack.created += [impersonated.id, target.id]
        headers = jwt_for(stack, jwt_key, impersonated.id, sid=session.id)
        session_token = {"Authorization": f"Bearer {session.token}"}
        for credential in (session_token, headers):
            info = (await me(stack, credential)).json()
            assert (info["userId"], info["impersonatedBy"]) == (impersonated.id, admin.id)
        with counting_queries(engine) as statements:
            assert (await me(stack, headers)).json()["impersonatedBy"] == admin.id
        assert statements == []  # from the session cached for the sid check

        banned = await stack.client.post(f"/api/v1/users/{target.id}/ban", json={}, headers=headers)
        assert banned.status_code == 200, banned.text
        async with AsyncSession(stack.engine) as db:
            event = await db.scalar(select(AuditEvent).where(AuditEvent.target_id == target.id))
        assert event is not None
        assert (event.actor_id, event.detail["impersonatedBy"]) == (impersonated.id, admin.id)

        # Without ``sid`` nothing says which session the JWT came from.
        unnamed = jwt_for(stack, jwt_key, impersonated.id)
        assert (await me(stack, unnamed)).json()["impersonatedBy"] is None


def test_setting_defaults_off() -> None:
    settings = make_settings("sqlite+aiosqlite:///:memory:")
    assert settings.jwt_require_live_session is False
