"""Issue 17.6, the review items that live in the authentication path, each with a test that failed
before its fix: Better-Auth's answer to a banned user, the ``__Secure-`` cookie on https, the
database key source dropping retired keys, and the cost of random bearer values (negative cache,
per-address limit on failed authentication). Real sessions on the test database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Jwks
from app.services.auth.failures import UnknownTokenCache
from app.services.auth.keys.database import DatabaseKeySource
from tests.conftest import TEST_SECRET, AppFactory
from tests.support.clock import ManualClock
from tests.support.factories import create_session, create_user, sign_session_token
from tests.support.keys import generate_key

COOKIE = "better-auth.session_token"
SECURE_COOKIE = f"__Secure-{COOKIE}"


def client_for(app: FastAPI, *, base_url: str = "http://test", ip: str = "127.0.0.1") -> Any:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
def session_queries(engine: AsyncEngine) -> Iterator[list[str]]:
    """Statements that look a session token up, as the database receives them."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if 'FROM session JOIN "user"' in statement or "FROM session JOIN user" in statement:
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def signed_cookie(db: AsyncSession, **user: Any) -> str:
    session = await create_session(db, await create_user(db, **user))
    return quote(sign_session_token(session.token, TEST_SECRET), safe="")


class TestBannedUser:
    async def test_better_auth_answer_without_the_ban_reason(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session, banned=True, ban_reason="internal: fraud case 1234")
        session = await create_session(db_session, user)
        async with client_for(await app_factory(rate_limit_enabled=False)) as http:
            response = await http.get(
                "/api/v1/auth/me", headers={"Authorization": f"Bearer {session.token}"}
            )
        assert response.status_code == 403
        body = response.json()
        assert body["code"] == "BANNED_USER"
        assert body["detail"] == "You have been banned from this application"
        assert "fraud" not in response.text


class TestSecureCookie:
    async def test_https_auth_server_ignores_the_plain_cookie(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        """Cookie tossing: a sibling subdomain sets a plain cookie on our host; on https only
        Better-Auth's ``__Secure-`` cookie is the session."""
        app = await app_factory(
            better_auth_url="https://auth.example.com", rate_limit_enabled=False
        )
        async with client_for(app) as http:
            http.cookies.set(COOKIE, await signed_cookie(db_session))
            response = await http.get("/api/v1/auth/me")
            assert response.status_code == 401
            assert response.json()["code"] == "TOKEN_MISSING"
            http.cookies.clear()
            http.cookies.set(SECURE_COOKIE, await signed_cookie(db_session))
            assert (await http.get("/api/v1/auth/me")).status_code == 200

    async def test_https_request_ignores_the_plain_cookie(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        app = await app_factory(rate_limit_enabled=False)  # BETTER_AUTH_URL is http
        async with client_for(app, base_url="https://test") as http:
            http.cookies.set(COOKIE, await signed_cookie(db_session))
            response = await http.get("/api/v1/auth/me")
        assert response.json()["code"] == "TOKEN_MISSING"

    async def test_empty_secure_cookie_never_falls_back(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        async with client_for(await app_factory(rate_limit_enabled=False)) as http:
            http.cookies.set(SECURE_COOKIE, "")
            http.cookies.set(COOKIE, await signed_cookie(db_session))
            response = await http.get("/api/v1/auth/me")
        assert response.status_code == 401
        assert response.json()["code"] == "SESSION_INVALID"

    async def test_plain_cookie_still_works_on_http(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        async with client_for(await app_factory(rate_limit_enabled=False)) as http:
            http.cookies.set(COOKIE, await signed_cookie(db_session))
            assert (await http.get("/api/v1/auth/me")).status_code == 200


class TestDatabaseKeyGracePeriod:
    async def test_retired_keys_are_dropped_like_better_auth_does(
        self, db_session: AsyncSession
    ) -> None:
        now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
        key = generate_key("EdDSA")
        public = json.dumps({k: v for k, v in key.public_jwk().items() if k not in {"kid", "alg"}})
        rows = {
            "live": None,
            "retiring": now - timedelta(days=10),  # expired, inside the 30-day grace
            "past-grace": now - timedelta(days=30, seconds=1),
            "at-grace": now - timedelta(days=30),  # Better-Auth: expiresAt + grace > now
        }
        for kid, expires in rows.items():
            db_session.add(
                Jwks(
                    id=f"grace-{kid}",
                    public_key=public,
                    private_key="enc",
                    alg="EdDSA",
                    crv="Ed25519",
                    expires_at=expires,
                )
            )
        await db_session.flush()

        @asynccontextmanager
        async def sessions() -> AsyncIterator[AsyncSession]:
            yield db_session

        async def kids(grace: float) -> set[str]:
            source = DatabaseKeySource(
                sessions,  # type: ignore[arg-type]
                grace_period_seconds=grace,
                now=lambda: now,
            )
            fetched = await source.fetch()
            return {k["kid"] for k in fetched.keys if str(k["kid"]).startswith("grace-")}

        assert await kids(30 * 86400) == {"grace-live", "grace-retiring"}
        assert await kids(0) == {"grace-live"}
        assert await kids(365 * 86400) == set(map("grace-{}".format, rows))


class TestRandomBearerFlood:
    async def test_an_unknown_session_token_costs_one_query(
        self, app_factory: AppFactory, session_queries: list[str]
    ) -> None:
        app = await app_factory(rate_limit_enabled=False)
        async with client_for(app) as http:
            for _ in range(5):
                response = await http.get(
                    "/api/v1/auth/me", headers={"Authorization": "Bearer " + "r" * 32}
                )
                assert response.json()["code"] == "SESSION_INVALID"
        assert len(session_queries) == 1

    async def test_failures_per_address_are_bounded(
        self, app_factory: AppFactory, db_session: AsyncSession, session_queries: list[str]
    ) -> None:
        app = await app_factory(rate_limit_auth_failures_per_ip="5/minute")
        good = await create_session(db_session, await create_user(db_session))
        async with client_for(app, ip="203.0.113.7") as attacker:
            statuses = []
            for n in range(20):
                response = await attacker.get(
                    "/api/v1/auth/me", headers={"Authorization": f"Bearer random{n:026d}"}
                )
                statuses.append(response.status_code)
            assert statuses[:6] == [401] * 6
            assert set(statuses[6:]) == {429}
            assert response.json()["code"] == "AUTH_FAILURES_RATE_LIMITED"
            assert int(response.headers["retry-after"]) >= 1
            # Once blocked, nothing from that address reaches the database.
            assert len(session_queries) == 6
            blocked = await attacker.get(
                "/api/v1/auth/me", headers={"Authorization": f"Bearer {good.token}"}
            )
            assert blocked.status_code == 429
        async with client_for(app, ip="198.51.100.1") as other:
            response = await other.get(
                "/api/v1/auth/me", headers={"Authorization": f"Bearer {good.token}"}
            )
            assert response.status_code == 200

    async def test_requests_without_credentials_are_not_failures(
        self, app_factory: AppFactory
    ) -> None:
        app = await app_factory(rate_limit_auth_failures_per_ip="2/minute")
        async with client_for(app) as http:
            codes = {(await http.get("/api/v1/auth/me")).status_code for _ in range(6)}
        assert codes == {401}


class TestUnknownTokenCache:
    def test_entries_expire_and_are_bounded(self) -> None:
        clock = ManualClock(0)
        cache = UnknownTokenCache(max_entries=2, ttl=60, clock=clock)
        cache.add(b"a")
        cache.add(b"b")
        cache.add(b"c")
        assert b"a" not in cache
        assert b"b" in cache
        assert b"c" in cache
        assert len(cache) == 2
        clock.advance(60)
        assert b"b" not in cache
