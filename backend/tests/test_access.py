"""Authorization as Better-Auth's admin plugin decides it, through the API: custom roles from
ACCESS_CONTROL_FILE, ADMIN_USER_IDS, update-user field rules, the permission queries, create-user,
set-user-password and impersonation sessions. Real database, real session tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, AuditEvent, AuthSession, User
from app.services.users.passwords import verify_password_sync
from tests.conftest import AppFactory
from tests.support.access import CONFIG_FILE
from tests.support.factories import create_session, create_user

USERS = "/api/v1/users"


@asynccontextmanager
async def asgi(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def login(db: AsyncSession, user: User, **session: Any) -> dict[str, str]:
    created = await create_session(db, user)
    for name, value in session.items():
        setattr(created, name, value)
    await db.flush()
    return {"Authorization": f"Bearer {created.token}"}


def problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code, response.text


@pytest.fixture
async def custom(app_factory: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the shared test file (moderator, support, analyst, owner, ...)."""
    async with asgi(await app_factory(access_control_file=CONFIG_FILE)) as http:
        yield http


class TestCustomRole:
    async def test_moderator_does_exactly_what_its_statements_allow(
        self, custom: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        moderator = await create_user(db_session, role="moderator")
        headers = await login(db_session, moderator)
        target = await create_user(db_session)
        await create_session(db_session, target)
        base = f"{USERS}/{target.id}"

        assert (await custom.get(USERS, headers=headers)).status_code == 200
        assert (await custom.get(base, headers=headers)).status_code == 200
        assert (await custom.get(f"{base}/sessions", headers=headers)).status_code == 200
        banned = await custom.post(f"{base}/ban", json={}, headers=headers)
        assert banned.json()["banned"] is True
        assert (await custom.post(f"{base}/unban", headers=headers)).status_code == 200
        assert (await custom.delete(f"{base}/sessions", headers=headers)).status_code == 204

        refusals = [
            (
                custom.put(f"{base}/role", json={"role": "user"}, headers=headers),
                "CHANGE_USERS_ROLE",
            ),
            (custom.patch(base, json={"name": "X"}, headers=headers), "UPDATE_USERS"),
            (custom.delete(base, headers=headers), "DELETE_USERS"),
            (
                custom.post(USERS, json={"email": "n@example.com", "name": "N"}, headers=headers),
                "CREATE_USERS",
            ),
            (
                custom.put(f"{base}/password", json={"newPassword": "x" * 10}, headers=headers),
                "SET_USERS_PASSWORD",
            ),
        ]
        for call, suffix in refusals:
            problem(await call, 403, f"YOU_ARE_NOT_ALLOWED_TO_{suffix}")

    async def test_a_role_named_in_the_file_can_be_assigned(
        self, custom: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        target = await create_user(db_session)
        response = await custom.put(
            f"{USERS}/{target.id}/role",
            json={"role": ["moderator", "analyst"]},
            headers=await login(db_session, admin),
        )
        assert response.json()["role"] == "moderator,analyst"

    async def test_admin_user_ids_pass_with_any_role(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        root = await create_user(db_session, role="ghost")
        async with asgi(await app_factory(admin_user_ids=[root.id])) as http:
            response = await http.get(USERS, headers=await login(db_session, root))
        assert response.status_code == 200


class TestPermissionQueries:
    async def test_has_permission_answers_for_the_caller(
        self, custom: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        headers = await login(db_session, await create_user(db_session, role="moderator,analyst"))

        async def ask(permissions: object) -> httpx.Response:
            return await custom.post(
                f"{USERS}/has-permission", json={"permissions": permissions}, headers=headers
            )

        assert (await ask({"user": ["ban", "list"]})).json() == {"success": True, "error": None}
        assert (await ask({"report": ["export"]})).json()["success"] is True
        # Granted by two different roles: no single role grants all of it.
        assert (await ask({"user": ["ban"], "report": ["view"]})).json()["success"] is False
        assert (await ask({"user": ["set-role"]})).json()["success"] is False
        assert (await ask({"nowhere": ["x"]})).json()["success"] is False
        assert (await ask({})).json()["success"] is False
        problem(await ask(["user"]), 422, "VALIDATION_ERROR")
        problem(await custom.post(f"{USERS}/has-permission", json={}), 401, "TOKEN_MISSING")

    async def test_effective_permissions(
        self, custom: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        headers = await login(db_session, await create_user(db_session, role="support,ghost"))
        body = (await custom.get("/api/v1/auth/permissions", headers=headers)).json()
        assert body["roles"] == ["support", "ghost"]
        assert body["permissions"]["user"] == ["impersonate", "set-password", "get"]
        assert body["permissions"]["session"] == ["list"]
        assert body["permissions"]["project"] == []


@pytest.fixture
def editor_file(tmp_path: Path) -> Path:
    path = tmp_path / "editor.json"
    path.write_text(json.dumps({"roles": {"editor": {"user": ["update"]}}}), encoding="utf-8")
    return path


class TestUpdateFields:
    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"role": "user"}, "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE"),
            ({"banned": True}, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
            ({"banReason": "x"}, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
            ({"email": "e@example.com"}, "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL"),
            ({"emailVerified": True}, "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL"),
        ],
    )
    async def test_fields_need_their_own_permission(
        self,
        app_factory: AppFactory,
        db_session: AsyncSession,
        editor_file: Path,
        body: dict[str, Any],
        code: str,
    ) -> None:
        editor = await create_user(db_session, role="editor")
        target = await create_user(db_session)
        async with asgi(await app_factory(access_control_file=editor_file)) as http:
            headers = await login(db_session, editor)
            problem(await http.patch(f"{USERS}/{target.id}", json=body, headers=headers), 403, code)
            ok = await http.patch(f"{USERS}/{target.id}", json={"name": "N"}, headers=headers)
            assert ok.json()["name"] == "N"
            problem(
                await http.patch(f"{USERS}/{target.id}", json={}, headers=headers),
                400,
                "NO_DATA_TO_UPDATE",
            )

    async def test_admin_updates_email_role_and_ban(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        headers = await login(db_session, await create_user(db_session, role="admin"))
        await create_user(db_session, email="taken@example.com")
        target = await create_user(db_session)
        await create_session(db_session, target)
        url = f"{USERS}/{target.id}"
        problem(
            await client.patch(url, json={"email": "TAKEN@example.com"}, headers=headers),
            409,
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        )
        problem(
            await client.patch(url, json={"role": "ghost"}, headers=headers), 422, "UNKNOWN_ROLE"
        )
        updated = await client.patch(
            url,
            json={
                "email": "New@Example.com",
                "role": ["user", "admin"],
                "banned": True,
                "banReason": "spam",
            },
            headers=headers,
        )
        assert updated.status_code == 200, updated.text
        body = updated.json()
        assert (body["email"], body["role"], body["banned"], body["banReason"]) == (
            "new@example.com",
            "user,admin",
            True,
            "spam",
        )
        sessions = await db_session.scalars(
            select(AuthSession).where(AuthSession.user_id == target.id)
        )
        assert sessions.all() == []


class TestCreateUser:
    async def test_creates_user_and_credential(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        headers = await login(db_session, await create_user(db_session, role="admin"))
        response = await client.post(
            USERS,
            json={
                "email": "Grace@Example.com",
                "password": "pässwörd-long",
                "name": "Grace",
                "data": {"emailVerified": True},
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert (created["email"], created["role"], created["emailVerified"]) == (
            "grace@example.com",
            "user",
            True,
        )
        assert "pässwörd" not in response.text
        account = await db_session.scalar(select(Account).where(Account.user_id == created["id"]))
        assert account is not None
        assert (account.provider_id, account.account_id) == ("credential", created["id"])
        assert account.password is not None
        assert verify_password_sync(account.password, "pässwörd-long")
        event = await db_session.scalar(
            select(AuditEvent).where(AuditEvent.target_id == created["id"])
        )
        assert event is not None
        assert event.action == "user.create"
        assert "pässwörd" not in json.dumps(event.detail)

        again = await client.post(
            USERS, json={"email": "grace@example.com", "name": "G"}, headers=headers
        )
        problem(again, 409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")

    async def test_rules(self, client: httpx.AsyncClient, db_session: AsyncSession) -> None:
        headers = await login(db_session, await create_user(db_session, role="admin"))
        no_password = await client.post(
            USERS, json={"email": "sso@example.com", "name": "S", "role": "admin"}, headers=headers
        )
        assert no_password.json()["role"] == "admin"
        account = await db_session.scalar(
            select(Account).where(Account.user_id == no_password.json()["id"])
        )
        assert account is None
        problem(
            await client.post(USERS, json={"email": "nope", "name": "N"}, headers=headers),
            422,
            "VALIDATION_ERROR",
        )
        problem(
            await client.post(
                USERS,
                json={"email": "l@example.com", "name": "L", "password": "x" * 129},
                headers=headers,
            ),
            400,
            "PASSWORD_TOO_LONG",
        )

    async def test_role_and_ban_fields_need_their_permissions(
        self, app_factory: AppFactory, db_session: AsyncSession, tmp_path: Path
    ) -> None:
        path = tmp_path / "creator.json"
        path.write_text(json.dumps({"roles": {"creator": {"user": ["create"]}}}), "utf-8")
        creator = await create_user(db_session, role="creator")
        async with asgi(await app_factory(access_control_file=path)) as http:
            headers = await login(db_session, creator)
            problem(
                await http.post(
                    USERS,
                    json={"email": "a@example.com", "name": "A", "role": "user"},
                    headers=headers,
                ),
                403,
                "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE",
            )
            problem(
                await http.post(
                    USERS,
                    json={"email": "a@example.com", "name": "A", "data": {"banned": True}},
                    headers=headers,
                ),
                403,
                "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS",
            )
            ok = await http.post(
                USERS, json={"email": "a@example.com", "name": "A"}, headers=headers
            )
            assert ok.status_code == 201


class TestSetPassword:
    async def test_sets_and_creates_the_credential(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        headers = await login(db_session, await create_user(db_session, role="admin"))
        target = await create_user(db_session)
        url = f"{USERS}/{target.id}/password"
        assert (
            await client.put(url, json={"newPassword": "first-pass"}, headers=headers)
        ).status_code == 204
        assert (
            await client.put(url, json={"newPassword": "second-pass"}, headers=headers)
        ).status_code == 204
        accounts = (
            await db_session.scalars(select(Account).where(Account.user_id == target.id))
        ).all()
        assert len(accounts) == 1
        assert accounts[0].password is not None
        assert verify_password_sync(accounts[0].password, "second-pass")
        problem(
            await client.put(url, json={"newPassword": "short"}, headers=headers),
            400,
            "PASSWORD_TOO_SHORT",
        )
        problem(
            await client.put(
                f"{USERS}/nope/password", json={"newPassword": "long-enough"}, headers=headers
            ),
            404,
            "USER_NOT_FOUND",
        )
        events = (
            await db_session.scalars(
                select(AuditEvent).where(
                    AuditEvent.target_id == target.id, AuditEvent.action == "user.password.set"
                )
            )
        ).all()
        # One event per change (the query has no order: both rows share one transaction).
        assert sorted(event.detail["credentialCreated"] for event in events) == [False, True]


class TestImpersonation:
    async def test_impersonation_session_acts_as_the_user_and_is_recorded(
        self, custom: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        moderator = await create_user(db_session, role="moderator")
        own = await login(db_session, moderator)
        impersonating = await login(db_session, moderator, impersonated_by=admin.id)

        info = (await custom.get("/api/v1/auth/session", headers=impersonating)).json()
        assert (info["userId"], info["impersonatedBy"]) == (moderator.id, admin.id)
        assert (await custom.get("/api/v1/auth/session", headers=own)).json()[
            "impersonatedBy"
        ] is None

        mine = await custom.get(f"{USERS}/{moderator.id}/sessions", headers=own)
        assert [s["impersonatedBy"] for s in mine.json()["sessions"]] == [None]
        admin_view = await custom.get(
            f"{USERS}/{moderator.id}/sessions", headers=await login(db_session, admin)
        )
        assert {s["impersonatedBy"] for s in admin_view.json()["sessions"]} == {None, admin.id}

        target = await create_user(db_session)
        banned = await custom.post(f"{USERS}/{target.id}/ban", json={}, headers=impersonating)
        assert banned.status_code == 200
        event = await db_session.scalar(select(AuditEvent).where(AuditEvent.target_id == target.id))
        assert event is not None
        assert (event.actor_id, event.detail["impersonatedBy"]) == (moderator.id, admin.id)


class TestStartup:
    def test_bad_access_control_file_exits_with_one_line(self, tmp_path: Path) -> None:
        bad = tmp_path / "ac.json"
        bad.write_text(json.dumps({"roles": {"m": {"user": ["fly"]}}}), encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-c", "import app.main"],
            env={"ACCESS_CONTROL_FILE": str(bad), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode != 0
        last = result.stderr.strip().splitlines()[-1]
        assert last == (
            f"invalid setting ACCESS_CONTROL_FILE: {bad}: roles.m.user: unknown action(s) fly "
            "(not in the statements)"
        )
        assert "Traceback" not in result.stderr
