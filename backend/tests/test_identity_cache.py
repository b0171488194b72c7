"""Zero-query authentication with instant revocation, against the real database.

Rows are committed (the NOTIFY feed only speaks at commit) through the real session factory,
the app's invalidation listener runs for real, and every test that could be fooled by a stale
cache changes state *behind the app's back* (plain SQL on another connection) and then asks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import AuditEvent, User
from app.state import AppState
from tests.conftest import build_test_app, make_settings
from tests.support.factories import create_session, create_user
from tests.support.jwks_server import JwksServer
from tests.support.keys import better_auth_claims, generate_key, jwks, sign_token

DEADLINE_SECONDS = 5.0


@dataclass
class Stack:
    app: FastAPI
    state: AppState
    client: httpx.AsyncClient
    engine: AsyncEngine
    created: list[str]

    async def user_with_session(self, **fields: Any) -> tuple[User, str]:
        async with AsyncSession(self.engine, expire_on_commit=False) as db:
            user = await create_user(db, **fields)
            session = await create_session(db, user)
            await db.commit()
        self.created.append(user.id)
        return user, session.token

    async def sql(self, statement: str, **params: Any) -> None:
        """A change made behind the app's back, as an operator or Better-Auth would."""
        async with self.engine.begin() as connection:
            await connection.execute(text(statement), params)

    async def me(self, token: str) -> httpx.Response:
        return await self.client.get(
            "/api/v1/auth/session", headers={"Authorization": f"Bearer {token}"}
        )

    async def until(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not condition():
            assert time.monotonic() < deadline, "condition not reached in time"
            await asyncio.sleep(0.005)

    async def settle(self, notices_before: int) -> None:
        """Wait until the feed delivered at least one notice since ``notices_before``."""
        listener = self.state.listener
        assert listener is not None
        await self.until(lambda: listener.notices > notices_before)


@contextmanager
def counting_queries(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


@pytest.fixture(scope="module")
def jwt_key():  # type: ignore[no-untyped-def]
    return generate_key("EdDSA")


@pytest.fixture(scope="module")
def jwks_server(jwt_key) -> Iterator[JwksServer]:  # type: ignore[no-untyped-def]
    with JwksServer(jwks(jwt_key)) as server:
        yield server


@asynccontextmanager
async def open_stack(
    engine: AsyncEngine, jwks_server: JwksServer, *, wait_for_feed: bool = True, **overrides: Any
) -> AsyncIterator[Stack]:
    settings = make_settings(
        engine.url.render_as_string(hide_password=False),
        identity_cache_enabled=True,
        rate_limit_enabled=False,
        jwks_url=jwks_server.url,
        **overrides,
    )
    app, state = build_test_app(settings, engine)
    state.start()
    if state.listener is not None and wait_for_feed:
        await asyncio.wait_for(state.listener.connected.wait(), DEADLINE_SECONDS)
    transport = httpx.ASGITransport(app=app)
    stack = Stack(
        app, state, httpx.AsyncClient(transport=transport, base_url="http://t"), engine, []
    )
    try:
        yield stack
    finally:
        await stack.client.aclose()
        await state.aclose()
        async with AsyncSession(engine) as db:
            await db.execute(delete(User).where(User.id.in_(stack.created)))
            await db.execute(delete(AuditEvent).where(AuditEvent.target_id.in_(stack.created)))
            await db.commit()


@pytest.fixture
async def stack(engine: AsyncEngine, jwks_server: JwksServer, dialect: str) -> AsyncIterator[Stack]:
    # A long fallback TTL: on PostgreSQL every pass below must come from invalidation.
    ttl = 60.0 if dialect == "postgresql" else 0.3
    async with open_stack(engine, jwks_server, identity_cache_fallback_ttl_seconds=ttl) as item:
        yield item


def pg_only(dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("the NOTIFY feed is PostgreSQL's")


class TestZeroQueries:
    async def test_session_token_steady_state(self, stack: Stack, engine: AsyncEngine) -> None:
        _user, token = await stack.user_with_session()
        assert (await stack.me(token)).status_code == 200
        with counting_queries(engine) as statements:
            for _ in range(5):
                assert (await stack.me(token)).status_code == 200
        assert statements == []

    async def test_jwt_steady_state(self, stack: Stack, engine: AsyncEngine, jwt_key) -> None:  # type: ignore[no-untyped-def]
        user, _token = await stack.user_with_session()
        claims = better_auth_claims(
            stack.state.settings.jwt_issuer, iat=int(time.time()), user_id=user.id
        )
        jwt = sign_token(jwt_key, claims)
        headers = {"Authorization": f"Bearer {jwt}"}
        assert (await stack.client.get("/api/v1/users/me", headers=headers)).status_code == 200
        with counting_queries(engine) as statements:
            response = await stack.client.get("/api/v1/users/me", headers=headers)
        assert response.status_code == 200
        assert response.json()["id"] == user.id
        assert statements == []


class TestInvalidation:
    async def test_ban_in_sql_by_hand(self, stack: Stack, dialect: str) -> None:
        pg_only(dialect)
        user, token = await stack.user_with_session()
        assert (await stack.me(token)).status_code == 200
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql('UPDATE "user" SET banned = true WHERE id = :id', id=user.id)
        await stack.settle(notices)
        response = await stack.me(token)
        assert response.status_code == 403
        assert response.json()["code"] == "BANNED_USER"

    async def test_role_change_in_sql(self, stack: Stack, dialect: str) -> None:
        pg_only(dialect)
        user, token = await stack.user_with_session()
        assert (await stack.me(token)).json()["roles"] == ["user"]
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql("UPDATE \"user\" SET role = 'admin,user' WHERE id = :id", id=user.id)
        await stack.settle(notices)
        assert (await stack.me(token)).json()["roles"] == ["admin", "user"]

    async def test_session_delete_in_sql(self, stack: Stack, dialect: str) -> None:
        pg_only(dialect)
        _user, token = await stack.user_with_session()
        assert (await stack.me(token)).status_code == 200
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql('DELETE FROM "session" WHERE token = :token', token=token)
        await stack.settle(notices)
        assert (await stack.me(token)).json()["code"] == "SESSION_INVALID"

    async def test_session_expiry_moved_in_sql(self, stack: Stack, dialect: str) -> None:
        pg_only(dialect)
        _user, token = await stack.user_with_session()
        assert (await stack.me(token)).status_code == 200
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql(
            'UPDATE "session" SET "expiresAt" = now() - interval \'1 second\' WHERE token = :token',
            token=token,
        )
        await stack.settle(notices)
        assert (await stack.me(token)).json()["code"] == "SESSION_EXPIRED"

    async def test_user_deleted_in_sql(self, stack: Stack, dialect: str) -> None:
        pg_only(dialect)
        user, token = await stack.user_with_session()
        assert (await stack.me(token)).status_code == 200
        notices = stack.state.listener.notices  # type: ignore[union-attr]
        await stack.sql('DELETE FROM "user" WHERE id = :id', id=user.id)
        await stack.settle(notices)
        assert (await stack.me(token)).status_code == 401

    async def test_own_write_bites_on_the_next_request(self, stack: Stack) -> None:
        """No waiting: this process evicts its own writes immediately (both dialects)."""
        admin, admin_token = await stack.user_with_session(role="admin")
        user, token = await stack.user_with_session()
        assert (await stack.me(token)).status_code == 200
        response = await stack.client.put(
            f"/api/v1/users/{user.id}/role",
            json={"role": "admin"},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert response.status_code == 200
        assert (await stack.me(token)).json()["roles"] == ["admin"]
        banned = await stack.client.post(
            f"/api/v1/users/{user.id}/ban",
            json={},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert banned.status_code == 200
        assert (await stack.me(token)).status_code == 401  # sessions revoked with the ban
        assert admin.id

    async def test_sqlite_falls_back_to_ttl(self, stack: Stack, dialect: str) -> None:
        if dialect != "sqlite":
            pytest.skip("SQLite: no feed, a short TTL")
        user, token = await stack.user_with_session()
        assert (await stack.me(token)).status_code == 200
        await stack.sql('UPDATE "user" SET banned = 1 WHERE id = :id', id=user.id)
        await asyncio.sleep(0.35)
        assert (await stack.me(token)).status_code == 403


class TestListenerFailure:
    async def test_listener_killed_stays_correct_and_recovers(
        self, engine: AsyncEngine, jwks_server: JwksServer, dialect: str
    ) -> None:
        pg_only(dialect)
        async with open_stack(engine, jwks_server, identity_cache_fallback_ttl_seconds=0) as stack:
            cache = stack.state.identity_cache
            listener = stack.state.listener
            assert listener is not None
            user, token = await stack.user_with_session()
            assert (await stack.me(token)).status_code == 200
            pid = listener.backend_pid
            await stack.sql("SELECT pg_terminate_backend(:pid)", pid=pid)
            await stack.until(lambda: not cache.live)
            # Feed down: nothing from before may be trusted.
            await stack.sql('UPDATE "user" SET banned = true WHERE id = :id', id=user.id)
            assert (await stack.me(token)).status_code == 403
            await stack.sql('UPDATE "user" SET banned = false WHERE id = :id', id=user.id)
            # The listener reconnects by itself, flushes, and invalidation works again.
            await asyncio.wait_for(listener.connected.wait(), DEADLINE_SECONDS)
            await stack.until(lambda: cache.live)
            assert listener.backend_pid != pid
            assert (await stack.me(token)).status_code == 200
            notices = listener.notices
            await stack.sql('UPDATE "user" SET banned = true WHERE id = :id', id=user.id)
            await stack.settle(notices)
            assert (await stack.me(token)).status_code == 403

    async def test_unreachable_listen_url_falls_back(
        self, engine: AsyncEngine, jwks_server: JwksServer, dialect: str
    ) -> None:
        pg_only(dialect)
        async with open_stack(
            engine,
            jwks_server,
            wait_for_feed=False,
            identity_cache_fallback_ttl_seconds=0,
            database_listen_url="postgresql://postgres@127.0.0.1:1/none",
        ) as stack:
            user, token = await stack.user_with_session()
            assert (await stack.me(token)).status_code == 200
            await stack.sql('UPDATE "user" SET banned = true WHERE id = :id', id=user.id)
            assert (await stack.me(token)).status_code == 403
            assert not stack.state.identity_cache.live
