"""Admin actions taken through the API are what Better-Auth sees: roles, bans (and their expiry),
revoked sessions and removed users, on the shared database."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from devstack.processes import wait_until
from tests.e2e.better_auth import SignedIn, error_code, jwt_claims, unique_email
from tests.e2e.stack import Environment, Stack

pytestmark = pytest.mark.e2e

USERS = "/api/v1/users"
# How long a change Better-Auth makes in the database may take to reach the API's caches.
PROPAGATION_SECONDS = 1.5


@dataclass(frozen=True)
class Admin:
    user: SignedIn
    jwt: str


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    with e2e.stack() as running:
        yield running


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Admin:
    """The first admin is made in SQL, as an operator bootstraps one."""
    user = stack.better_auth.sign_up(unique_email("admin"), name="First Admin")
    status = stack.database.execute(
        """UPDATE "user" SET role = 'admin' WHERE email = $1""", user.email
    )
    assert status == "UPDATE 1"
    return Admin(user=user, jwt=stack.better_auth.token(user.session_token))


def as_admin(
    stack: Stack, admin: Admin, method: str, path: str, json_body: object = None, **params: str
) -> httpx.Response:
    return stack.api_request(
        method, path, token=admin.jwt, json_body=json_body, params=params or None
    )


def test_non_admins_cannot_list_users(stack: Stack) -> None:
    user = stack.better_auth.sign_up()
    response = stack.api_get(USERS, token=stack.better_auth.token(user.session_token))
    assert response.status_code == 403, response.text


def test_search_finds_users_created_on_better_auth(stack: Stack, admin: Admin) -> None:
    marker = f"find{secrets.token_hex(4)}"
    created = {stack.better_auth.sign_up(unique_email(marker)).user_id for _ in range(3)}

    response = as_admin(stack, admin, "GET", USERS, search=marker)
    assert response.status_code == 200, response.text
    page = response.json()
    assert {user["id"] for user in page["users"]} == created
    assert (page["total"], page["offset"]) == (3, 0)
    assert page["limit"] >= 3
    assert all(marker in user["email"] for user in page["users"])

    response = as_admin(stack, admin, "GET", USERS, search=marker, limit="2", offset="2")
    assert response.status_code == 200, response.text
    page = response.json()
    assert (len(page["users"]), page["total"], page["limit"], page["offset"]) == (1, 3, 2, 2)


def test_role_change_is_seen_by_better_auth(stack: Stack, admin: Admin) -> None:
    user = stack.better_auth.sign_up()

    response = as_admin(stack, admin, "PUT", f"{USERS}/{user.user_id}/role", {"role": "admin"})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"

    session = stack.better_auth.get_session(user.session_token)
    assert session is not None
    assert session["user"]["role"] == "admin"
    jwt = stack.better_auth.token(user.session_token)
    assert jwt_claims(jwt)["role"] == "admin"
    response = stack.api_get("/api/v1/auth/session", token=jwt)
    assert response.status_code == 200, response.text
    assert "admin" in response.json()["roles"]
    # ... and the promoted user can now use the admin API themself.
    assert stack.api_get(USERS, token=jwt).status_code == 200


def test_ban_revokes_sessions_and_blocks_sign_in_until_unbanned(stack: Stack, admin: Admin) -> None:
    user = stack.better_auth.sign_up()
    jwt = stack.better_auth.token(user.session_token)
    assert stack.api_get("/api/v1/auth/me", token=jwt).status_code == 200

    response = as_admin(stack, admin, "POST", f"{USERS}/{user.user_id}/ban", {"banReason": "x"})
    assert response.status_code == 200, response.text
    assert response.json()["banned"] is True
    assert response.json()["banReason"] == "x"

    # The JWT is still cryptographically valid (15 minutes): the API refuses it by the row.
    response = stack.api_get("/api/v1/auth/me", token=jwt)
    assert response.status_code == 403, response.text
    assert error_code(response) == "BANNED_USER"
    # The session itself is gone.
    response = stack.api_get("/api/v1/auth/me", token=user.session_token)
    assert response.status_code in {401, 403}, response.text
    assert error_code(response) in {"SESSION_INVALID", "BANNED_USER"}
    assert stack.better_auth.get_session(user.session_token) is None
    refused = stack.better_auth.sign_in_response(user.email)
    assert refused.status_code != 200
    assert error_code(refused) == "BANNED_USER"

    response = as_admin(stack, admin, "POST", f"{USERS}/{user.user_id}/unban")
    assert response.status_code == 200, response.text
    assert response.json()["banned"] is False

    again = stack.better_auth.sign_in(user.email)
    assert stack.api_get("/api/v1/auth/me", token=again.session_token).status_code == 200
    assert (
        stack.api_get(
            "/api/v1/auth/me", token=stack.better_auth.token(again.session_token)
        ).status_code
        == 200
    )
    # The old JWT names (sid) the session the ban revoked: it stays refused after the unban.
    assert error_code(stack.api_get("/api/v1/auth/me", token=jwt)) == "SESSION_INVALID"


def test_temporary_ban_lapses_by_itself(stack: Stack, admin: Admin) -> None:
    user = stack.better_auth.sign_up()
    jwt = stack.better_auth.token(user.session_token)

    response = as_admin(
        stack,
        admin,
        "POST",
        f"{USERS}/{user.user_id}/ban",
        {"banReason": "cool off", "banExpiresIn": 2},
    )
    assert response.status_code == 200, response.text
    assert response.json()["banExpires"] is not None
    assert error_code(stack.api_get("/api/v1/auth/me", token=jwt)) == "BANNED_USER"
    assert error_code(stack.better_auth.sign_in_response(user.email)) == "BANNED_USER"

    # Once banExpires has passed the ban no longer refuses the user, although the row still
    # says banned (Better-Auth clears it only at the next sign-in). The old JWT then meets the
    # next check: it names (sid) the session the ban revoked.
    wait_until(
        lambda: error_code(stack.api_get("/api/v1/auth/me", token=jwt)) == "SESSION_INVALID",
        timeout=10,
        interval=0.2,
        message="the API still refuses the user as banned after the ban expired",
    )
    (row,) = stack.database.fetch('SELECT banned FROM "user" WHERE id = $1', user.user_id)
    assert row["banned"] is True

    again = stack.better_auth.sign_in(user.email)
    (row,) = stack.database.fetch('SELECT banned FROM "user" WHERE id = $1', user.user_id)
    assert row["banned"] is False
    fresh_jwt = stack.better_auth.token(again.session_token)
    assert stack.api_get("/api/v1/auth/me", token=fresh_jwt).status_code == 200


def test_revoked_session_is_refused_by_better_auth(stack: Stack, admin: Admin) -> None:
    first = stack.better_auth.sign_up()
    second = stack.better_auth.sign_in(first.email)
    second_session = stack.better_auth.get_session(second.session_token)
    assert second_session is not None
    second_id = second_session["session"]["id"]

    response = as_admin(stack, admin, "GET", f"{USERS}/{first.user_id}/sessions")
    assert response.status_code == 200, response.text
    sessions = response.json()["sessions"]
    assert second_id in {session["id"] for session in sessions}
    assert len(sessions) == 2
    for session in sessions:
        assert "token" not in session, "session tokens must never be listed"
        assert first.bare_token not in str(session)

    response = as_admin(stack, admin, "DELETE", f"{USERS}/{first.user_id}/sessions/{second_id}")
    assert response.status_code == 204, response.text

    assert stack.better_auth.get_session(second.session_token) is None
    assert stack.better_auth.get_session(first.session_token) is not None
    response = stack.api_get("/api/v1/auth/me", token=second.session_token)
    assert response.status_code == 401
    assert error_code(response) == "SESSION_INVALID"
    response = as_admin(stack, admin, "GET", f"{USERS}/{first.user_id}/sessions")
    assert [session["id"] for session in response.json()["sessions"]] != [second_id]
    assert len(response.json()["sessions"]) == 1


def test_removed_user_is_gone_for_both(stack: Stack, admin: Admin) -> None:
    user = stack.better_auth.sign_up()
    jwt = stack.better_auth.token(user.session_token)

    response = as_admin(stack, admin, "DELETE", f"{USERS}/{user.user_id}")
    assert response.status_code == 204, response.text

    response = stack.api_get("/api/v1/auth/me", token=jwt)
    assert response.status_code == 401
    assert error_code(response) == "USER_NOT_FOUND"
    assert stack.better_auth.get_session(user.session_token) is None
    refused = stack.better_auth.sign_in_response(user.email)
    assert refused.status_code == 401
    assert error_code(refused) == "INVALID_EMAIL_OR_PASSWORD"
    assert as_admin(stack, admin, "GET", f"{USERS}/{user.user_id}").status_code == 404


def test_admin_cannot_ban_themself(stack: Stack, admin: Admin) -> None:
    response = as_admin(
        stack, admin, "POST", f"{USERS}/{admin.user.user_id}/ban", {"banReason": "oops"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert stack.api_get("/api/v1/auth/me", token=admin.jwt).status_code == 200


def test_admin_actions_taken_on_better_auth_reach_the_api(stack: Stack, admin: Admin) -> None:
    """The other direction: Better-Auth's own admin plugin changes the user while the API has
    them cached (JWT and session token just used); the API follows within moments."""
    user = stack.better_auth.sign_up()
    jwt = stack.better_auth.token(user.session_token)

    def status(token: str) -> int:
        return stack.api_get("/api/v1/auth/session", token=token).status_code

    def roles() -> list[str]:
        return list(stack.api_get("/api/v1/auth/session", token=jwt).json()["roles"])

    assert (status(jwt), status(user.session_token), roles()) == (200, 200, ["user"])

    stack.better_auth.admin(
        "set-role", admin.user.session_token, {"userId": user.user_id, "role": "admin"}
    )
    wait_until(
        lambda: "admin" in roles(),
        timeout=PROPAGATION_SECONDS,
        message="the API does not see a role Better-Auth set",
    )

    stack.better_auth.admin(
        "ban-user", admin.user.session_token, {"userId": user.user_id, "banReason": "ba"}
    )
    wait_until(
        lambda: status(jwt) == 403 and status(user.session_token) == 401,
        timeout=PROPAGATION_SECONDS,
        message="the API still accepts a user Better-Auth banned (and their revoked session)",
    )
    assert error_code(stack.api_get("/api/v1/auth/me", token=jwt)) == "BANNED_USER"

    stack.better_auth.admin("unban-user", admin.user.session_token, {"userId": user.user_id})
    # The ban revoked the JWT's session (sid): after the unban it is refused for that, not
    # for the ban any more.
    wait_until(
        lambda: error_code(stack.api_get("/api/v1/auth/me", token=jwt)) == "SESSION_INVALID",
        timeout=PROPAGATION_SECONDS,
        message="the API still refuses a user Better-Auth unbanned",
    )
