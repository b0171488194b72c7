"""Admin actions under the shared access-control file: a custom role may do through the API
exactly what its statements allow, and Better-Auth's admin plugin, configured from the same file,
allows and refuses the same actions with the same codes. Users created and passwords set here
sign in on the real Better-Auth."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.access import insert_user
from tests.e2e.better_auth import PASSWORD, error_code, unique_email
from tests.e2e.stack import Environment, Stack
from tests.support.access import CONFIG_FILE

pytestmark = pytest.mark.e2e

USERS = "/api/v1/users"
ROOT_ID = "access-root-000000000000000000000"[:32]


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    shared = {"ACCESS_CONTROL_FILE": str(CONFIG_FILE), "ADMIN_USER_IDS": ROOT_ID}
    with e2e.stack(auth_env=shared, api_env=shared) as running:
        yield running


def signed_in(stack: Stack, role: str | None, user_id: str | None = None) -> str:
    """A Better-Auth session token (bearer) of a new user holding ``role``."""
    email = insert_user(stack.database, user_id or _new_id(), role)
    return stack.better_auth.sign_in(email).session_token


def _new_id() -> str:
    return secrets.token_hex(16)


def _target(stack: Stack) -> str:
    user_id = _new_id()
    insert_user(stack.database, user_id, "user", password=None)
    return user_id


@dataclass(frozen=True)
class Action:
    name: str
    api: Callable[[Stack, str, str], httpx.Response]  # (stack, token, target id)
    better_auth: Callable[[Stack, str, str], httpx.Response]
    code: str  # Better-Auth's code when the permission is missing


def _api(
    method: str, path: str, body: object = None
) -> Callable[[Stack, str, str], httpx.Response]:
    def call(stack: Stack, token: str, target: str) -> httpx.Response:
        resolved = body(target) if callable(body) else body
        return stack.api_request(
            method, path.format(target=target), token=token, json_body=resolved
        )

    return call


def _ba(method: str, path: str, body: object = None) -> Callable[[Stack, str, str], httpx.Response]:
    def call(stack: Stack, token: str, target: str) -> httpx.Response:
        resolved = body(target) if callable(body) else body
        return stack.better_auth.request(
            method, path.format(target=target), token=token, json_body=resolved
        )

    return call


def _new_user(_: str) -> dict[str, str]:
    return {"email": unique_email("made"), "password": PASSWORD, "name": "Made"}


ACTIONS = [
    Action(
        "list users",
        _api("GET", USERS),
        _ba("GET", "/api/auth/admin/list-users"),
        "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS",
    ),
    Action(
        "get a user",
        _api("GET", USERS + "/{target}"),
        _ba("GET", "/api/auth/admin/get-user?id={target}"),
        "YOU_ARE_NOT_ALLOWED_TO_GET_USER",
    ),
    Action(
        "create a user",
        _api("POST", USERS, _new_user),
        _ba("POST", "/api/auth/admin/create-user", _new_user),
        "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS",
    ),
    Action(
        "update a user",
        _api("PATCH", USERS + "/{target}", {"name": "Renamed"}),
        _ba(
            "POST",
            "/api/auth/admin/update-user",
            lambda t: {"userId": t, "data": {"name": "Renamed"}},
        ),
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS",
    ),
    Action(
        "set a role",
        _api("PUT", USERS + "/{target}/role", {"role": "support"}),
        _ba("POST", "/api/auth/admin/set-role", lambda t: {"userId": t, "role": "support"}),
        "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE",
    ),
    Action(
        "ban",
        _api("POST", USERS + "/{target}/ban", {"banReason": "x"}),
        _ba("POST", "/api/auth/admin/ban-user", lambda t: {"userId": t, "banReason": "x"}),
        "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS",
    ),
    Action(
        "unban",
        _api("POST", USERS + "/{target}/unban"),
        _ba("POST", "/api/auth/admin/unban-user", lambda t: {"userId": t}),
        "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS",
    ),
    Action(
        "list a user's sessions",
        _api("GET", USERS + "/{target}/sessions"),
        _ba("POST", "/api/auth/admin/list-user-sessions", lambda t: {"userId": t}),
        "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS",
    ),
    Action(
        "revoke a user's sessions",
        _api("DELETE", USERS + "/{target}/sessions"),
        _ba("POST", "/api/auth/admin/revoke-user-sessions", lambda t: {"userId": t}),
        "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS",
    ),
    Action(
        "set a password",
        _api("PUT", USERS + "/{target}/password", {"newPassword": "another-passphrase"}),
        _ba(
            "POST",
            "/api/auth/admin/set-user-password",
            lambda t: {"userId": t, "newPassword": "another-passphrase"},
        ),
        "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD",
    ),
    Action(
        "remove a user",
        _api("DELETE", USERS + "/{target}"),
        _ba("POST", "/api/auth/admin/remove-user", lambda t: {"userId": t}),
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS",
    ),
]

# What the file (tests/support/access/access-control.json) lets each role do.
ALLOWED = {
    "admin": {a.name for a in ACTIONS},
    "moderator": {
        "list users",
        "get a user",
        "ban",
        "unban",
        "list a user's sessions",
        "revoke a user's sessions",
    },
    "support": {"get a user", "set a password", "list a user's sessions"},
    "user": set(),
    "ghost": set(),
    "moderator,support": {
        "list users",
        "get a user",
        "ban",
        "unban",
        "list a user's sessions",
        "revoke a user's sessions",
        "set a password",
    },
}


def _outcome(response: httpx.Response) -> str:
    if response.status_code < 300:
        return "allowed"
    return f"{response.status_code} {error_code(response)}"


@pytest.mark.parametrize("role", list(ALLOWED))
def test_a_role_does_exactly_what_its_statements_allow_on_both_servers(
    stack: Stack, role: str
) -> None:
    token = signed_in(stack, role)
    problems = []
    for action in ACTIONS:
        expected = "allowed" if action.name in ALLOWED[role] else f"403 {action.code}"
        api = _outcome(action.api(stack, token, _target(stack)))
        better_auth = _outcome(action.better_auth(stack, token, _target(stack)))
        if (api, better_auth) != (expected, expected):
            problems.append(f"{action.name}: API {api}, Better-Auth {better_auth}, want {expected}")
    assert not problems, "\n".join(problems)


def test_admin_user_ids_may_do_everything(stack: Stack) -> None:
    token = signed_in(stack, "ghost", ROOT_ID)
    for action in ACTIONS:
        assert _outcome(action.api(stack, token, _target(stack))) == "allowed", action.name


class TestCreateAndSetPassword:
    def test_created_user_signs_in_on_better_auth(self, stack: Stack) -> None:
        admin = signed_in(stack, "admin")
        email = unique_email("created")
        body = {
            "email": email.upper(),
            "password": "a-long-passphrase",
            "name": "Grace",
            "role": ["support", "user"],
        }
        response = stack.api_request("POST", USERS, token=admin, json_body=body)
        assert response.status_code == 201, response.text
        created = response.json()
        assert (created["email"], created["role"]) == (email, "support,user")
        assert "password" not in response.text
        assert "a-long-passphrase" not in response.text

        signed = stack.better_auth.sign_in(email, "a-long-passphrase")
        assert signed.user_id == created["id"]
        assert stack.better_auth.sign_in_response(email, "wrong-passphrase").status_code == 401

        again = stack.api_request("POST", USERS, token=admin, json_body=body)
        assert again.status_code == 409, again.text
        assert error_code(again) == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"

        (row,) = stack.database.fetch(
            """SELECT action, detail::text AS detail FROM audit_event
               WHERE "targetId" = $1 AND action = 'user.create'""",
            created["id"],
        )
        assert "a-long-passphrase" not in row["detail"]

    def test_password_set_here_signs_in_on_better_auth(self, stack: Stack) -> None:
        admin = signed_in(stack, "admin")
        user = stack.better_auth.sign_up()
        response = stack.api_request(
            "PUT",
            f"{USERS}/{user.user_id}/password",
            token=admin,
            json_body={"newPassword": "ünïcode-pässphrase"},
        )
        assert response.status_code == 204, response.text
        assert stack.better_auth.sign_in(user.email, "ünïcode-pässphrase").user_id == user.user_id
        assert stack.better_auth.sign_in_response(user.email, PASSWORD).status_code == 401

        # A user without any credential account gets one.
        bare = _target(stack)
        response = stack.api_request(
            "PUT",
            f"{USERS}/{bare}/password",
            token=admin,
            json_body={"newPassword": "first-passphrase"},
        )
        assert response.status_code == 204, response.text
        (row,) = stack.database.fetch('SELECT email FROM "user" WHERE id = $1', bare)
        assert stack.better_auth.sign_in(row["email"], "first-passphrase").user_id == bare

        short = stack.api_request(
            "PUT", f"{USERS}/{bare}/password", token=admin, json_body={"newPassword": "short"}
        )
        assert (short.status_code, error_code(short)) == (400, "PASSWORD_TOO_SHORT")
        audit = stack.database.fetch(
            """SELECT detail::text AS detail FROM audit_event
               WHERE "targetId" = $1 AND action = 'user.password.set'""",
            user.user_id,
        )
        assert len(audit) == 1
        assert "pässphrase" not in audit[0]["detail"]


def test_impersonation_made_by_better_auth(stack: Stack) -> None:
    """Better-Auth's impersonate-user session acts as the user on the API, says who
    impersonates, is recorded in the audit rows, and is hidden from the user's own list on both
    servers (the admin's view shows it); a JWT of that session does the same."""
    admin_id, moderator_id = _new_id(), _new_id()
    admin_token = signed_in(stack, "admin", admin_id)
    moderator_token = signed_in(stack, "moderator", moderator_id)

    response = stack.better_auth.request(
        "POST",
        "/api/auth/admin/impersonate-user",
        token=admin_token,
        json_body={"userId": moderator_id},
    )
    assert response.status_code == 200, response.text
    assert response.json()["session"]["impersonatedBy"] == admin_id
    impersonating = response.headers["set-auth-token"]

    info = stack.api_get("/api/v1/auth/session", token=impersonating)
    assert info.status_code == 200, info.text
    assert (info.json()["userId"], info.json()["impersonatedBy"]) == (moderator_id, admin_id)
    assert (
        stack.api_get("/api/v1/auth/session", token=moderator_token).json()["impersonatedBy"]
        is None
    )

    own_on_better_auth = stack.better_auth.request(
        "GET", "/api/auth/list-sessions", token=moderator_token
    )
    assert [s["impersonatedBy"] for s in own_on_better_auth.json()] == [None]
    own_on_api = stack.api_get(f"{USERS}/{moderator_id}/sessions", token=moderator_token)
    assert [s["impersonatedBy"] for s in own_on_api.json()["sessions"]] == [None]
    admins_view = stack.api_get(f"{USERS}/{moderator_id}/sessions", token=admin_token)
    assert {s["impersonatedBy"] for s in admins_view.json()["sessions"]} == {None, admin_id}

    target = _target(stack)
    banned = stack.api_request(
        "POST", f"{USERS}/{target}/ban", token=impersonating, json_body={"banReason": "x"}
    )
    assert banned.status_code == 200, banned.text
    (row,) = stack.database.fetch(
        """SELECT "actorId", detail->>'impersonatedBy' AS by FROM audit_event
           WHERE "targetId" = $1 AND action = 'user.ban'""",
        target,
    )
    assert (row["actorId"], row["by"]) == (moderator_id, admin_id)

    # The same session's JWT (Better-Auth's /token; its sid names the session): the same
    # answer, and the same audit rows (issue 22).
    jwt = stack.better_auth.token(impersonating)
    info = stack.api_get("/api/v1/auth/session", token=jwt)
    assert info.status_code == 200, info.text
    assert (info.json()["tokenType"], info.json()["impersonatedBy"]) == ("jwt", admin_id)
    other = _target(stack)
    banned = stack.api_request(
        "POST", f"{USERS}/{other}/ban", token=jwt, json_body={"banReason": "x"}
    )
    assert banned.status_code == 200, banned.text
    (row,) = stack.database.fetch(
        """SELECT "actorId", detail->>'impersonatedBy' AS by FROM audit_event
           WHERE "targetId" = $1 AND action = 'user.ban'""",
        other,
    )
    assert (row["actorId"], row["by"]) == (moderator_id, admin_id)
