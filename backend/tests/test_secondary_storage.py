"""Sessions in Better-Auth's secondary storage (``SECONDARY_STORAGE_URL``), on the real Redis:
session tokens, cookies and JWTs with ``sid`` are checked there; admins' lists and revocations
read and write there exactly as Better-Auth does; role and ban state still come from the
``user`` table; ``session`` rows authenticate only in Better-Auth's database-fallback mode.

The records are written as Better-Auth's ``createSession`` writes them
(``tests/support/stored_sessions.py``). The end-to-end suite does the same against the real
auth server (``tests/e2e/test_secondary_storage.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuthSession
from app.routers.org_deps import OrgMember
from app.services.auth.secondary import SecondarySessions, SessionStorage, StorageMode
from tests.conftest import TEST_SECRET, AppFactory
from tests.support.factories import create_session, create_user, sign_session_token
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, better_auth_claims, generate_key, jwks, sign_token
from tests.support.org_factories import add_member, create_organization
from tests.support.stored_sessions import REDIS_URL, BetterAuthStorage, iso, open_storage

ORIGIN = "http://127.0.0.1:39999"
MODES: dict[str, dict[str, bool]] = {
    "storage only": {},
    "storeSessionInDatabase": {"store_session_in_database": True},
    "preserveSessionInDatabase": {
        "store_session_in_database": True,
        "preserve_session_in_database": True,
    },
}


@pytest.fixture
async def stored() -> AsyncIterator[BetterAuthStorage]:
    async with open_storage() as storage:
        yield storage


@pytest.fixture(scope="module")
def jwt_key() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture(scope="module")
def jwks_server(jwt_key: TestKey) -> Iterator[JwksServer]:
    with JwksServer(jwks(jwt_key)) as server:
        yield server


@pytest.fixture
def make_app(
    app_factory: AppFactory, stored: BetterAuthStorage, jwks_server: JwksServer
) -> AppFactory:
    async def factory(**overrides: object) -> FastAPI:
        settings: dict[str, object] = {
            "secondary_storage_url": REDIS_URL,
            "secondary_storage_prefix": stored.prefix,
            "jwks_url": jwks_server.url,
            "rate_limit_enabled": False,
            **overrides,
        }
        return await app_factory(**settings)

    return factory


@pytest.fixture
async def app(make_app: AppFactory) -> FastAPI:
    return await make_app()


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jwt(key: TestKey, user_id: str, **claims: Any) -> dict[str, str]:
    payload = better_auth_claims(ORIGIN, iat=int(time.time()), user_id=user_id, **claims)
    return bearer(sign_token(key, payload))


def code_of(response: httpx.Response) -> str | None:
    return response.json().get("code") if response.status_code >= 400 else None


async def me(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.get("/api/v1/auth/me", headers=headers)


class TestSessionTokens:
    async def test_bare_signed_and_cookie_forms_authenticate(
        self, http: httpx.AsyncClient, db_session: AsyncSession, stored: BetterAuthStorage
    ) -> None:
        user = await create_user(db_session)
        session = await stored.create_session(user.id)
        signed = sign_session_token(session["token"], TEST_SECRET)
        for headers in (
            bearer(session["token"]),
            bearer(signed),
            {"Cookie": f"better-auth.session_token={quote(signed, safe='')}"},
        ):
            response = await me(http, headers)
            assert response.status_code == 200, response.text
            assert response.json()["id"] == user.id
        described = (await http.get("/api/v1/auth/session", headers=bearer(signed))).json()
        assert described["sessionId"] == session["id"]

    @pytest.mark.parametrize("mode", ["storage only", "preserveSessionInDatabase"])
    async def test_session_rows_do_not_authenticate(
        self, make_app: AppFactory, db_session: AsyncSession, mode: str
    ) -> None:
        """Without the storage's record, a live ``session`` row (kept for audit, or left from
        before the move to Redis) is refused, as Better-Auth's findSession refuses it."""
        user = await create_user(db_session)
        row = await create_session(db_session, user)
        async with client_for(await make_app(**MODES[mode])) as http:
            response = await me(http, bearer(row.token))
        assert response.status_code == 401
        assert code_of(response) == "SESSION_INVALID"

    async def test_database_fallback_mode_reads_rows(
        self, make_app: AppFactory, db_session: AsyncSession
    ) -> None:
        """storeSessionInDatabase without preserve: Better-Auth's databaseSessionFallback."""
        user = await create_user(db_session)
        row = await create_session(db_session, user)
        async with client_for(await make_app(**MODES["storeSessionInDatabase"])) as http:
            assert (await me(http, bearer(row.token))).status_code == 200

    async def test_revoked_before_marker_refuses(
        self, http: httpx.AsyncClient, db_session: AsyncSession, stored: BetterAuthStorage
    ) -> None:
        user = await create_user(db_session)
        earlier = await stored.create_session(
            user.id, created_at=datetime.now(UTC) - timedelta(minutes=5)
        )
        marker = int((time.time() - 60) * 1000)
        await stored.client.set(f"{stored.prefix}revoked-sessions-before-{user.id}", str(marker))
        later = await stored.create_session(user.id)
        assert (await me(http, bearer(earlier["token"]))).status_code == 401
        assert (await me(http, bearer(later["token"]))).status_code == 200

    async def test_expired_record_is_refused(
        self, http: httpx.AsyncClient, db_session: AsyncSession, stored: BetterAuthStorage
    ) -> None:
        user = await create_user(db_session)
        session = await stored.create_session(user.id)
        record = await stored.get_json(session["token"])
        record["session"]["expiresAt"] = iso(datetime.now(UTC) - timedelta(seconds=1))
        await stored.client.set(stored.prefix + session["token"], _dump(record), ex=60)
        response = await me(http, bearer(session["token"]))
        assert code_of(response) == "SESSION_EXPIRED"

    async def test_ban_and_role_come_from_the_user_table(
        self, http: httpx.AsyncClient, db_session: AsyncSession, stored: BetterAuthStorage
    ) -> None:
        """The record's copy of the user says admin and not banned: it is never read."""
        stale = {"id": "x", "role": "admin", "banned": False}
        user = await create_user(db_session, role="user")
        session = await stored.create_session(user.id, user={**stale, "id": user.id})
        listing = await http.get("/api/v1/users", headers=bearer(session["token"]))
        assert listing.status_code == 403
        banned = await create_user(db_session, banned=True)
        theirs = await stored.create_session(banned.id, user={**stale, "id": banned.id})
        assert code_of(await me(http, bearer(theirs["token"]))) == "BANNED_USER"

    async def test_sign_out_reaches_the_api_within_the_cache_time(
        self, http: httpx.AsyncClient, db_session: AsyncSession, stored: BetterAuthStorage
    ) -> None:
        """Better-Auth's sign-out deletes the key; the cached record lives at most
        SECONDARY_STORAGE_CACHE_SECONDS (0.5 s)."""
        user = await create_user(db_session)
        session = await stored.create_session(user.id)
        assert (await me(http, bearer(session["token"]))).status_code == 200
        await stored.client.delete(stored.prefix + session["token"])
        deleted = time.monotonic()
        deadline = deleted + 5.0
        while (await me(http, bearer(session["token"]))).status_code == 200:
            assert time.monotonic() < deadline, "sign-out never reached the API"
            await asyncio.sleep(0.02)
        assert time.monotonic() - deleted < 5.0

    async def test_without_cache_a_deleted_key_is_refused_at_once(
        self, make_app: AppFactory, db_session: AsyncSession, stored: BetterAuthStorage
    ) -> None:
        user = await create_user(db_session)
        session = await stored.create_session(user.id)
        async with client_for(await make_app(secondary_storage_cache_seconds=0)) as http:
            assert (await me(http, bearer(session["token"]))).status_code == 200
            await stored.client.delete(stored.prefix + session["token"])
            assert (await me(http, bearer(session["token"]))).status_code == 401

    async def test_storage_down_is_503_not_401(
        self, make_app: AppFactory, db_session: AsyncSession, jwt_key: TestKey
    ) -> None:
        """Nothing listens on port 1: the API cannot tell whether the session stands."""
        user = await create_user(db_session)
        app = await make_app(secondary_storage_url="redis://127.0.0.1:1/0")
        async with client_for(app) as http:
            response = await me(http, bearer("A" * 32))
            assert response.status_code == 503
            assert code_of(response) == "SESSION_STORE_UNAVAILABLE"
            assert "retry-after" in response.headers
            # A JWT without sid never needs the storage.
            assert (await me(http, jwt(jwt_key, user.id))).status_code == 200


class TestJwtSid:
    async def test_sid_is_checked_against_the_storage(
        self,
        make_app: AppFactory,
        db_session: AsyncSession,
        stored: BetterAuthStorage,
        jwt_key: TestKey,
    ) -> None:
        user = await create_user(db_session)
        session = await stored.create_session(user.id)
        other = await create_user(db_session)
        theirs = await stored.create_session(other.id)
        async with client_for(await make_app(secondary_storage_cache_seconds=0)) as http:
            assert (await me(http, jwt(jwt_key, user.id, sid=session["id"]))).status_code == 200
            # Another user's session id, and an id that never existed.
            for sid in (theirs["id"], "no-such-session"):
                response = await me(http, jwt(jwt_key, user.id, sid=sid))
                assert code_of(response) == "SESSION_INVALID"
            await stored.client.delete(stored.prefix + session["token"])
            response = await me(http, jwt(jwt_key, user.id, sid=session["id"]))
            assert code_of(response) == "SESSION_INVALID"

    async def test_strict_mode_needs_a_stored_session(
        self,
        make_app: AppFactory,
        db_session: AsyncSession,
        stored: BetterAuthStorage,
        jwt_key: TestKey,
    ) -> None:
        user = await create_user(db_session)
        await create_session(db_session, user)  # a row: not a session in this mode
        app = await make_app(jwt_require_live_session=True, secondary_storage_cache_seconds=0)
        async with client_for(app) as http:
            assert code_of(await me(http, jwt(jwt_key, user.id))) == "SESSION_INVALID"
            await stored.create_session(user.id)
            assert (await me(http, jwt(jwt_key, user.id))).status_code == 200


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


class TestAdminSessions:
    @pytest.fixture
    async def admin(self, db_session: AsyncSession, stored: BetterAuthStorage) -> dict[str, str]:
        admin = await create_user(db_session, role="admin", email="admin@example.com")
        return bearer((await stored.create_session(admin.id))["token"])

    async def test_list_shows_stored_sessions_without_tokens(
        self,
        http: httpx.AsyncClient,
        db_session: AsyncSession,
        stored: BetterAuthStorage,
        admin: dict[str, str],
    ) -> None:
        user = await create_user(db_session)
        first = await stored.create_session(
            user.id, created_at=datetime.now(UTC) - timedelta(hours=1)
        )
        second = await stored.create_session(user.id, impersonatedBy="some-admin")
        response = await http.get(f"/api/v1/users/{user.id}/sessions", headers=admin)
        assert response.status_code == 200
        sessions = response.json()["sessions"]
        assert [s["id"] for s in sessions] == [second["id"], first["id"]]
        assert sessions[0]["impersonatedBy"] == "some-admin"
        assert first["token"] not in response.text
        own = await http.get(f"/api/v1/users/{user.id}/sessions", headers=bearer(first["token"]))
        assert [s["id"] for s in own.json()["sessions"]] == [first["id"]]
        assert own.json()["sessions"][0]["current"] is True

    async def test_revoke_one_writes_what_better_auth_writes(
        self,
        http: httpx.AsyncClient,
        db_session: AsyncSession,
        stored: BetterAuthStorage,
        admin: dict[str, str],
    ) -> None:
        user = await create_user(db_session)
        kept = await stored.create_session(user.id, expires_in=timedelta(days=1))
        gone = await stored.create_session(user.id)
        response = await http.delete(
            f"/api/v1/users/{user.id}/sessions/{gone['id']}", headers=admin
        )
        assert response.status_code == 204
        assert await stored.get(gone["token"]) is None
        listed = await stored.get_json(f"active-sessions-{user.id}")
        assert [entry["token"] for entry in listed] == [kept["token"]]
        ttl = await stored.client.ttl(f"{stored.prefix}active-sessions-{user.id}")
        assert 86000 < ttl <= 86400  # the list lives as long as its last session
        assert (await me(http, bearer(gone["token"]))).status_code == 401
        again = await http.delete(f"/api/v1/users/{user.id}/sessions/{gone['id']}", headers=admin)
        assert code_of(again) == "SESSION_NOT_FOUND"

    async def test_revoke_all_sets_the_marker_and_clears_the_list(
        self,
        http: httpx.AsyncClient,
        db_session: AsyncSession,
        stored: BetterAuthStorage,
        admin: dict[str, str],
    ) -> None:
        user = await create_user(db_session)
        sessions = [await stored.create_session(user.id) for _ in range(2)]
        before = int(time.time() * 1000)
        response = await http.delete(f"/api/v1/users/{user.id}/sessions", headers=admin)
        assert response.status_code == 204
        marker = int(await stored.get(f"revoked-sessions-before-{user.id}") or 0)
        assert before <= marker <= int(time.time() * 1000)
        ttl = await stored.client.ttl(f"{stored.prefix}revoked-sessions-before-{user.id}")
        assert ttl > 7 * 86400 - 60
        for session in sessions:
            assert await stored.get(session["token"]) is None
        assert await stored.get(f"active-sessions-{user.id}") is None
        events = await http.get("/api/v1/audit-events", headers=admin)
        revoke = next(e for e in events.json()["events"] if e["action"] == "session.revoke_all")
        assert revoke["detail"]["sessionsRevoked"] == 2

    async def test_ban_revokes_stored_sessions(
        self,
        http: httpx.AsyncClient,
        db_session: AsyncSession,
        stored: BetterAuthStorage,
        admin: dict[str, str],
    ) -> None:
        user = await create_user(db_session)
        session = await stored.create_session(user.id)
        response = await http.post(f"/api/v1/users/{user.id}/ban", headers=admin, json={})
        assert response.status_code == 200, response.text
        assert await stored.get(session["token"]) is None
        assert await stored.get(f"revoked-sessions-before-{user.id}") is not None

    async def test_remove_user_revokes_stored_sessions(
        self,
        http: httpx.AsyncClient,
        db_session: AsyncSession,
        stored: BetterAuthStorage,
        admin: dict[str, str],
    ) -> None:
        user = await create_user(db_session)
        session = await stored.create_session(user.id)
        response = await http.delete(f"/api/v1/users/{user.id}", headers=admin)
        assert response.status_code == 204, response.text
        assert await stored.get(session["token"]) is None

    @pytest.mark.parametrize(
        ("mode", "row_kept"),
        [("storeSessionInDatabase", False), ("preserveSessionInDatabase", True)],
    )
    async def test_database_modes_end_the_row_too(
        self,
        make_app: AppFactory,
        db_session: AsyncSession,
        stored: BetterAuthStorage,
        admin: dict[str, str],
        mode: str,
        row_kept: bool,
    ) -> None:
        """Better-Auth deletes the row (storeSessionInDatabase) or sets its expiresAt to now
        (preserveSessionInDatabase, the row kept for audit)."""
        user = await create_user(db_session)
        session = await stored.create_session(user.id)
        row = await create_session(db_session, user, token=session["token"])
        row_id = row.id
        db_session.expunge(row)
        async with client_for(await make_app(**MODES[mode])) as http:
            response = await http.delete(f"/api/v1/users/{user.id}/sessions", headers=admin)
        assert response.status_code == 204
        assert await stored.get(session["token"]) is None
        found = await db_session.scalar(select(AuthSession).where(AuthSession.id == row_id))
        assert (found is not None) is row_kept
        if found is not None:
            assert found.expires_at <= datetime.now(UTC)


class TestCacheTime:
    async def test_a_record_is_reused_for_the_cache_time_only(
        self, stored: BetterAuthStorage
    ) -> None:
        now = [1000.0]
        client = Redis.from_url(REDIS_URL, decode_responses=True)
        sessions = SecondarySessions(
            SessionStorage(client, stored.prefix), StorageMode(), ttl=0.5, clock=lambda: now[0]
        )
        try:
            session = await stored.create_session("some-user")
            assert await sessions.by_token(session["token"]) is not None
            await stored.client.delete(stored.prefix + session["token"])
            now[0] += 0.49
            assert await sessions.by_token(session["token"]) is not None  # cached
            now[0] += 0.01
            assert await sessions.by_token(session["token"]) is None  # read again: gone
        finally:
            await client.aclose()


class TestReadiness:
    async def test_readiness_reports_the_session_storage(self, make_app: AppFactory) -> None:
        async with client_for(await make_app()) as http:
            checks = (await http.get("/health/ready")).json()["checks"]
        assert checks["sessionStorage"]["status"] == "ok"
        down = await make_app(secondary_storage_url="redis://127.0.0.1:1/0")
        async with client_for(down) as http:
            response = await http.get("/health/ready")
        # Degraded, not unready: JWTs without sid are still verified.
        assert response.status_code == 200
        assert response.json()["checks"]["sessionStorage"]["status"] == "degraded"


class TestUserCopies:
    async def test_a_role_change_refreshes_the_copy_better_auth_reads(
        self, http: httpx.AsyncClient, db_session: AsyncSession, stored: BetterAuthStorage
    ) -> None:
        """Better-Auth's admin plugin takes the caller's role from the copy of the user kept
        with the session: a change through the API rewrites it, as Better-Auth's updateUser
        does, keeping fields the API does not know and the record's expiry."""
        admin = await create_user(db_session, role="admin", email="boss@example.com")
        headers = bearer((await stored.create_session(admin.id))["token"])
        user = await create_user(db_session, role="admin")
        copy = {"id": user.id, "role": "admin", "twoFactorEnabled": True}
        session = await stored.create_session(user.id, user=copy, expires_in=timedelta(hours=1))
        response = await http.put(
            f"/api/v1/users/{user.id}/role", headers=headers, json={"role": "user"}
        )
        assert response.status_code == 200, response.text
        record = await stored.get_json(session["token"])
        assert record["user"]["role"] == "user"
        assert record["user"]["twoFactorEnabled"] is True
        assert record["user"]["email"] == user.email
        assert record["session"] == session
        assert 3500 < await stored.client.ttl(stored.prefix + session["token"]) <= 3600


class TestActiveOrganization:
    async def test_read_from_the_record_and_cleared_when_leaving(
        self, app: FastAPI, db_session: AsyncSession, stored: BetterAuthStorage
    ) -> None:
        """The session's activeOrganizationId lives in its record; a member who removes
        themselves has it cleared there (Better-Auth's updateSession)."""
        probe = APIRouter()

        @probe.get("/probe")
        async def probe_member(membership: OrgMember) -> dict[str, str]:
            return {"organizationId": membership.organization.id}

        app.include_router(probe)
        user = await create_user(db_session)
        owner = await create_user(db_session)
        org = await create_organization(db_session)
        await add_member(db_session, org, owner, "owner")
        member = await add_member(db_session, org, user, "admin")
        session = await stored.create_session(user.id, activeOrganizationId=org.id)
        async with client_for(app) as http:
            response = await http.get("/probe", headers=bearer(session["token"]))
            assert response.json() == {"organizationId": org.id}
            path = f"/api/v1/organizations/{org.id}/members/{member.id}"
            response = await http.delete(path, headers=bearer(session["token"]))
            assert response.status_code == 204, response.text
        record = await stored.get_json(session["token"])
        assert record["session"]["activeOrganizationId"] is None
        assert record["session"]["id"] == session["id"]
