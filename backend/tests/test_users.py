"""/api/v1/users and /api/v1/audit-events: every endpoint as admin, self, another user and
anonymous; every rule; the audit trail. Callers authenticate with real session tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, AuditEvent, AuthSession, User
from tests.conftest import AppFactory
from tests.support.factories import create_session, create_user

CREATE_BODY = {"email": "new@example.com", "password": "long-enough", "name": "New"}


@asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def login(db: AsyncSession, user: User) -> dict[str, str]:
    session = await create_session(db, user)
    return {"Authorization": f"Bearer {session.token}"}


@pytest.fixture
async def admin(db_session: AsyncSession) -> User:
    return await create_user(db_session, role="admin", name="Admin", email="admin@example.com")


@pytest.fixture
async def admin_headers(db_session: AsyncSession, admin: User) -> dict[str, str]:
    return await login(db_session, admin)


@pytest.fixture
async def alice(db_session: AsyncSession) -> User:
    return await create_user(db_session, name="Alice", email="alice@example.com")


@pytest.fixture
async def alice_headers(db_session: AsyncSession, alice: User) -> dict[str, str]:
    return await login(db_session, alice)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def audit_rows(db: AsyncSession, target_id: str) -> list[AuditEvent]:
    result = await db.scalars(
        select(AuditEvent).where(AuditEvent.target_id == target_id).order_by(AuditEvent.created_at)
    )
    return list(result.all())


class TestAccessMatrix:
    @pytest.mark.parametrize(
        ("method", "path", "body", "code"),
        [
            ("GET", "/api/v1/users", None, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS"),
            ("POST", "/api/v1/users", CREATE_BODY, "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS"),
            (
                "PATCH",
                "/api/v1/users/{other}",
                {"name": "X"},
                "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS",
            ),
            (
                "PUT",
                "/api/v1/users/{other}/role",
                {"role": "admin"},
                "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE",
            ),
            ("POST", "/api/v1/users/{other}/ban", {}, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
            ("POST", "/api/v1/users/{other}/unban", None, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
            ("DELETE", "/api/v1/users/{other}", None, "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS"),
            (
                "PUT",
                "/api/v1/users/{other}/password",
                {"newPassword": "long-enough"},
                "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD",
            ),
            ("GET", "/api/v1/audit-events", None, "INSUFFICIENT_ROLE"),
            ("GET", "/api/v1/users/{other}", None, "YOU_ARE_NOT_ALLOWED_TO_GET_USER"),
            (
                "GET",
                "/api/v1/users/{other}/sessions",
                None,
                "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS",
            ),
            (
                "DELETE",
                "/api/v1/users/{other}/sessions",
                None,
                "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS",
            ),
            (
                "DELETE",
                "/api/v1/users/{other}/sessions/xyz",
                None,
                "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS",
            ),
        ],
    )
    async def test_other_user_is_refused_and_anonymous_is_401(
        self,
        client: httpx.AsyncClient,
        alice_headers: dict[str, str],
        admin: User,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        code: str,
    ) -> None:
        url = path.format(other=admin.id)
        refused = await client.request(method, url, json=body, headers=alice_headers)
        problem(refused, 403, code)
        anonymous = await client.request(method, url, json=body)
        problem(anonymous, 401, "TOKEN_MISSING")

    async def test_self_may_read_own_record_and_sessions(
        self, client: httpx.AsyncClient, alice: User, alice_headers: dict[str, str]
    ) -> None:
        own = await client.get(f"/api/v1/users/{alice.id}", headers=alice_headers)
        assert own.status_code == 200
        sessions = await client.get(f"/api/v1/users/{alice.id}/sessions", headers=alice_headers)
        assert sessions.status_code == 200
        assert len(sessions.json()["sessions"]) == 1

    async def test_admin_reads_anyone(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], alice: User
    ) -> None:
        response = await client.get(f"/api/v1/users/{alice.id}", headers=admin_headers)
        assert response.json()["email"] == "alice@example.com"

    async def test_unknown_user_is_404(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        for method, path in [
            ("GET", "/api/v1/users/nope"),
            ("PATCH", "/api/v1/users/nope"),
            ("PUT", "/api/v1/users/nope/role"),
            ("POST", "/api/v1/users/nope/ban"),
            ("POST", "/api/v1/users/nope/unban"),
            ("GET", "/api/v1/users/nope/sessions"),
            ("DELETE", "/api/v1/users/nope/sessions"),
            ("DELETE", "/api/v1/users/nope/sessions/s1"),
            ("DELETE", "/api/v1/users/nope"),
        ]:
            body = {"role": "user"} if path.endswith("role") else {}
            body = {"name": "X"} if method == "PATCH" else body
            response = await client.request(method, path, json=body, headers=admin_headers)
            problem(response, 404, "USER_NOT_FOUND")


class TestMe:
    async def test_read_and_update_me(
        self, client: httpx.AsyncClient, alice_headers: dict[str, str]
    ) -> None:
        me = await client.get("/api/v1/users/me", headers=alice_headers)
        assert me.json()["name"] == "Alice"
        updated = await client.patch(
            "/api/v1/users/me",
            json={"name": "Alice L.", "image": "https://img.example.com/a.png"},
            headers=alice_headers,
        )
        assert updated.status_code == 200
        assert updated.json()["name"] == "Alice L."
        assert updated.json()["image"] == "https://img.example.com/a.png"
        cleared = await client.patch(
            "/api/v1/users/me", json={"image": None}, headers=alice_headers
        )
        assert cleared.json()["image"] is None
        assert cleared.json()["name"] == "Alice L."

    @pytest.mark.parametrize(
        "body",
        [
            {"emailVerified": True},
            {"role": "admin"},
            {"email": "x@example.com"},
            {"name": ""},
            {"name": "x" * 300},
            {"banned": False},
        ],
    )
    async def test_cannot_change_anything_else(
        self, client: httpx.AsyncClient, alice_headers: dict[str, str], body: dict[str, Any]
    ) -> None:
        response = await client.patch("/api/v1/users/me", json=body, headers=alice_headers)
        errors = problem(response, 422, "VALIDATION_ERROR")["errors"]
        assert errors


class TestAdminUpdate:
    async def test_update_with_audit(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        alice: User,
        db_session: AsyncSession,
        admin: User,
    ) -> None:
        response = await client.patch(
            f"/api/v1/users/{alice.id}",
            json={"name": "Alice B", "emailVerified": True},
            headers={**admin_headers, "X-Request-ID": "req-update-1"},
        )
        assert response.status_code == 200
        assert response.json()["emailVerified"] is True
        [event] = await audit_rows(db_session, alice.id)
        assert event.action == "user.update"
        assert event.actor_id == admin.id
        assert event.request_id == "req-update-1"
        assert event.ip_address == "127.0.0.1"
        assert event.detail == {
            "before": {"name": "Alice", "emailVerified": False},
            "after": {"name": "Alice B", "emailVerified": True},
        }

    async def test_no_change_writes_no_audit(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        alice: User,
        db_session: AsyncSession,
    ) -> None:
        await client.patch(
            f"/api/v1/users/{alice.id}", json={"name": "Alice"}, headers=admin_headers
        )
        assert await audit_rows(db_session, alice.id) == []


class TestRoles:
    @pytest.mark.parametrize(
        ("body", "stored"),
        [
            ({"role": "admin"}, "admin"),
            ({"role": ["admin", "user"]}, "admin,user"),
            ({"role": ["user", "user"]}, "user"),
            ({"role": "user,admin"}, "user,admin"),
        ],
    )
    async def test_set_role(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        alice: User,
        db_session: AsyncSession,
        body: dict[str, Any],
        stored: str,
    ) -> None:
        response = await client.put(
            f"/api/v1/users/{alice.id}/role", json=body, headers=admin_headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["role"] == stored
        [event] = await audit_rows(db_session, alice.id)
        assert event.detail == {"before": {"role": "user"}, "after": {"role": stored}}

    @pytest.mark.parametrize(
        "body",
        [
            {"role": "superuser"},
            {"role": ["admin", "root"]},
            {"role": []},
            {"role": ""},
            {"role": "admin, user"},
            {"role": 7},
            {},
        ],
    )
    async def test_unknown_or_malformed_role_is_422(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        alice: User,
        body: dict[str, Any],
    ) -> None:
        response = await client.put(
            f"/api/v1/users/{alice.id}/role", json=body, headers=admin_headers
        )
        assert response.status_code == 422
        assert response.json()["code"] in {"UNKNOWN_ROLE", "VALIDATION_ERROR"}
        assert response.json()["errors"]

    async def test_admin_cannot_demote_self(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        admin: User,
        db_session: AsyncSession,
    ) -> None:
        await create_user(db_session, role="admin")
        response = await client.put(
            f"/api/v1/users/{admin.id}/role", json={"role": "user"}, headers=admin_headers
        )
        problem(response, 403, "CANNOT_DEMOTE_SELF")
        keep = await client.put(
            f"/api/v1/users/{admin.id}/role",
            json={"role": ["user", "admin"]},
            headers=admin_headers,
        )
        assert keep.status_code == 200

    async def test_last_admin_cannot_be_demoted(
        self, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        # A second admin, banned: does not count. The acting admin demotes the other admin
        # only when someone else remains.
        other = await create_user(db_session, role="admin")
        other_headers = await login(db_session, other)
        ok = await client.put(
            f"/api/v1/users/{admin.id}/role", json={"role": "user"}, headers=other_headers
        )
        assert ok.status_code == 200
        # Now `other` is the only admin; the ex-admin cannot act any more.
        admin_headers = await login(db_session, admin)
        refused = await client.put(
            f"/api/v1/users/{other.id}/role", json={"role": "user"}, headers=admin_headers
        )
        problem(refused, 403, "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")


class TestBan:
    async def test_ban_revokes_sessions_and_blocks_next_request(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        alice: User,
        alice_headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        await create_session(db_session, alice)
        assert (await client.get("/api/v1/users/me", headers=alice_headers)).status_code == 200
        response = await client.post(
            f"/api/v1/users/{alice.id}/ban", json={"banReason": "spam"}, headers=admin_headers
        )
        body = response.json()
        assert body["banned"] is True
        assert body["banReason"] == "spam"
        assert body["banExpires"] is None
        remaining = await db_session.scalar(
            select(func.count()).select_from(AuthSession).where(AuthSession.user_id == alice.id)
        )
        assert remaining == 0
        next_call = await client.get("/api/v1/users/me", headers=alice_headers)
        assert next_call.status_code == 401
        [event] = await audit_rows(db_session, alice.id)
        assert event.action == "user.ban"
        assert event.detail["sessionsRevoked"] == 2
        assert event.detail["before"]["banned"] is False
        assert event.detail["after"]["banReason"] == "spam"

    async def test_ban_default_reason_and_expiry(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], alice: User
    ) -> None:
        before = datetime.now(UTC)
        response = await client.post(
            f"/api/v1/users/{alice.id}/ban", json={"banExpiresIn": 3600}, headers=admin_headers
        )
        after = datetime.now(UTC)
        body = response.json()
        assert body["banReason"] == "No reason"
        expires = datetime.fromisoformat(body["banExpires"])
        # Bounded by the request's own start and end (milliseconds truncated), not by a fixed
        # window that a loaded machine can overrun.
        lower = before + timedelta(seconds=3600) - timedelta(milliseconds=1)
        assert lower <= expires <= after + timedelta(seconds=3600)

    async def test_banned_jwt_user_with_expired_ban_passes(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(
            db_session, banned=True, ban_expires=datetime.now(UTC) - timedelta(minutes=1)
        )
        headers = await login(db_session, user)
        assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200

    @pytest.mark.parametrize(
        "body",
        [
            {"banExpiresIn": 0},
            {"banExpiresIn": -5},
            {"banExpiresIn": "soon"},
            {"banReason": "x" * 2000},
            {"unknown": 1},
        ],
    )
    async def test_invalid_ban_body(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        alice: User,
        body: dict[str, Any],
    ) -> None:
        response = await client.post(
            f"/api/v1/users/{alice.id}/ban", json=body, headers=admin_headers
        )
        problem(response, 422, "VALIDATION_ERROR")

    async def test_cannot_ban_self(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        admin: User,
        db_session: AsyncSession,
    ) -> None:
        await create_user(db_session, role="admin")  # not the last admin
        response = await client.post(
            f"/api/v1/users/{admin.id}/ban", json={}, headers=admin_headers
        )
        problem(response, 403, "YOU_CANNOT_BAN_YOURSELF")

    async def test_unban(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        user = await create_user(
            db_session,
            banned=True,
            ban_reason="x",
            ban_expires=datetime.now(UTC) + timedelta(days=1),
        )
        response = await client.post(f"/api/v1/users/{user.id}/unban", headers=admin_headers)
        body = response.json()
        assert (body["banned"], body["banReason"], body["banExpires"]) == (False, None, None)
        [event] = await audit_rows(db_session, user.id)
        assert event.action == "user.unban"
        assert event.detail["before"]["banned"] is True


class TestSessions:
    async def test_list_marks_current_and_hides_token(
        self, client: httpx.AsyncClient, alice: User, db_session: AsyncSession
    ) -> None:
        current = await create_session(db_session, alice)
        other = await create_session(db_session, alice)
        response = await client.get(
            f"/api/v1/users/{alice.id}/sessions",
            headers={"Authorization": f"Bearer {current.token}"},
        )
        sessions = {item["id"]: item for item in response.json()["sessions"]}
        assert sessions[current.id]["current"] is True
        assert sessions[other.id]["current"] is False
        assert current.token not in response.text
        assert other.token not in response.text
        assert set(sessions[current.id]) == {
            "id",
            "userId",
            "createdAt",
            "updatedAt",
            "expiresAt",
            "ipAddress",
            "userAgent",
            "impersonatedBy",
            "current",
        }

    async def test_self_revokes_one(
        self,
        client: httpx.AsyncClient,
        alice: User,
        alice_headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        other = await create_session(db_session, alice)
        response = await client.delete(
            f"/api/v1/users/{alice.id}/sessions/{other.id}", headers=alice_headers
        )
        assert response.status_code == 204
        assert response.content == b""
        assert await db_session.get(AuthSession, other.id) is None
        assert await audit_rows(db_session, alice.id) == []

    async def test_session_of_another_user_is_404(
        self,
        client: httpx.AsyncClient,
        alice: User,
        alice_headers: dict[str, str],
        db_session: AsyncSession,
        admin_headers: dict[str, str],
    ) -> None:
        bob = await create_user(db_session)
        bobs = await create_session(db_session, bob)
        for headers in (alice_headers, admin_headers):
            response = await client.delete(
                f"/api/v1/users/{alice.id}/sessions/{bobs.id}", headers=headers
            )
            problem(response, 404, "SESSION_NOT_FOUND")
        assert await db_session.get(AuthSession, bobs.id) is not None

    async def test_admin_revokes_all_with_audit(
        self,
        client: httpx.AsyncClient,
        alice: User,
        alice_headers: dict[str, str],
        admin_headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        await create_session(db_session, alice)
        response = await client.delete(f"/api/v1/users/{alice.id}/sessions", headers=admin_headers)
        assert response.status_code == 204
        assert (await client.get("/api/v1/users/me", headers=alice_headers)).status_code == 401
        [event] = await audit_rows(db_session, alice.id)
        assert event.action == "session.revoke_all"
        assert event.detail == {"sessionsRevoked": 2}

    async def test_admin_revokes_one_with_audit(
        self,
        client: httpx.AsyncClient,
        alice: User,
        admin_headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        session = await create_session(db_session, alice)
        response = await client.delete(
            f"/api/v1/users/{alice.id}/sessions/{session.id}", headers=admin_headers
        )
        assert response.status_code == 204
        [event] = await audit_rows(db_session, alice.id)
        assert event.detail == {"sessionId": session.id}


class TestRemove:
    async def test_remove_cascades_and_keeps_audit(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        alice: User,
        alice_headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        db_session.add(
            Account(
                user_id=alice.id,
                account_id=alice.id,
                provider_id="credential",
                password="salt:hash",
            )
        )
        await db_session.flush()
        response = await client.delete(f"/api/v1/users/{alice.id}", headers=admin_headers)
        assert response.status_code == 204
        db_session.expunge_all()
        assert await db_session.get(User, alice.id) is None
        for model in (AuthSession, Account):
            count = await db_session.scalar(
                select(func.count()).select_from(model).where(model.user_id == alice.id)
            )
            assert count == 0
        [event] = await audit_rows(db_session, alice.id)
        assert event.action == "user.remove"
        assert event.detail["before"]["email"] == "alice@example.com"
        assert "salt" not in str(event.detail)
        assert (await client.get("/api/v1/users/me", headers=alice_headers)).status_code == 401

    async def test_cannot_remove_self(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        admin: User,
        db_session: AsyncSession,
    ) -> None:
        await create_user(db_session, role="admin")  # not the last admin
        response = await client.delete(f"/api/v1/users/{admin.id}", headers=admin_headers)
        problem(response, 403, "YOU_CANNOT_REMOVE_YOURSELF")


class TestLastAdmin:
    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [("PUT", "/role", {"role": "user"}), ("POST", "/ban", {}), ("DELETE", "", None)],
    )
    async def test_sole_admin_cannot_lose_admin_power(
        self,
        app_factory: AppFactory,
        admin: User,
        db_session: AsyncSession,
        method: str,
        suffix: str,
        body: dict[str, Any] | None,
    ) -> None:
        # A banned admin does not count as an admin. The actor is not an admin by role: a user
        # id in ADMIN_USER_IDS (Better-Auth's adminUserIds) holds every permission anyway.
        await create_user(db_session, role="admin", banned=True)
        root = await create_user(db_session, role="user")
        app = await app_factory(admin_user_ids=[root.id])
        async with asgi_client(app) as client:
            response = await client.request(
                method,
                f"/api/v1/users/{admin.id}{suffix}",
                json=body,
                headers=await login(db_session, root),
            )
        problem(response, 409, "LAST_ADMIN")

    @pytest.mark.parametrize(
        ("method", "suffix", "body", "code"),
        [
            ("PUT", "/role", {"role": "user"}, "CANNOT_DEMOTE_SELF"),
            ("POST", "/ban", {}, "YOU_CANNOT_BAN_YOURSELF"),
            ("PATCH", "", {"banned": True}, "YOU_CANNOT_BAN_YOURSELF"),
            ("DELETE", "", None, "YOU_CANNOT_REMOVE_YOURSELF"),
        ],
    )
    async def test_sole_admin_acting_on_themself_gets_the_self_code_first(
        self,
        client: httpx.AsyncClient,
        admin: User,
        admin_headers: dict[str, str],
        method: str,
        suffix: str,
        body: dict[str, Any] | None,
        code: str,
    ) -> None:
        response = await client.request(
            method, f"/api/v1/users/{admin.id}{suffix}", json=body, headers=admin_headers
        )
        problem(response, 403, code)

    async def test_actor_demoted_meanwhile_is_refused(self, db_session: AsyncSession) -> None:
        """What the losing side of a race sees: its admin role is gone under the lock."""
        from app.services.audit.service import AuditContext
        from app.services.users.service import UserService
        from app.utils.errors import Forbidden

        service = UserService(db_session, admin_roles=["admin"], known_roles=["user", "admin"])
        first = await create_user(db_session, role="admin")
        second = await create_user(db_session, role="admin")
        await service.set_role(AuditContext(actor_id=first.id), second.id, "user")
        with pytest.raises(Forbidden) as caught:
            await service.set_role(AuditContext(actor_id=second.id), first.id, "user")
        assert caught.value.code == "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE"

    async def test_expired_ban_counts_as_admin(
        self,
        client: httpx.AsyncClient,
        admin: User,
        admin_headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        await create_user(
            db_session,
            role="user,admin",
            banned=True,
            ban_expires=datetime.now(UTC) - timedelta(seconds=5),
        )
        response = await client.put(
            f"/api/v1/users/{admin.id}/role", json={"role": "user"}, headers=admin_headers
        )
        problem(response, 403, "CANNOT_DEMOTE_SELF")
