"""API keys made by the real Better-Auth server (@better-auth/api-key 1.7.21 beside better-auth
1.7.29, or another version under ``make test-matrix``) authenticate on the API, and what
Better-Auth changes bites here on the next request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.processes import AUTH_SERVER_DIR, auth_server_environment, run_command, wait_until
from tests.e2e.better_auth import SignedIn, error_code, unique_email
from tests.e2e.stack import Environment, Stack

pytestmark = pytest.mark.e2e

ME = "/api/v1/users/me"
PROPAGATION_SECONDS = 1.5

# Runs ``auth.api.<method>({ body })`` calls on the same Better-Auth configuration as the
# server (server-only properties such as ``remaining`` cannot be set over HTTP by a client).
SERVER_CALLS = """
import { loadConfig } from "./src/config.ts";
import { createAuth, openDatabase } from "./src/auth.ts";
const config = loadConfig();
const database = openDatabase(config);
const auth = createAuth(config, database);
const results = [];
for (const call of JSON.parse(process.env.BAB_CALLS)) {
  results.push(await auth.api[call.method]({ body: call.body }));
}
console.log(JSON.stringify(results));
await database.close();
"""


def server_calls(
    stack: Stack, secret: str, *calls: tuple[str, dict[str, Any]], **settings: str
) -> list[Any]:
    env = auth_server_environment(
        stack.database.dsn,
        secret,
        BETTER_AUTH_URL=stack.auth.url,
        BAB_CALLS=json.dumps([{"method": m, "body": b} for m, b in calls]),
        **settings,
    )
    completed = run_command(
        ["node", "--import", "tsx", "--input-type=module", "-e", SERVER_CALLS],
        cwd=AUTH_SERVER_DIR,
        env=env,
    )
    results: list[Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return results


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    with e2e.stack() as running:
        yield running


def create_key(stack: Stack, owner: SignedIn, **body: object) -> dict[str, Any]:
    """``POST /api/auth/api-key/create`` as the signed-in owner (a client request)."""
    response = stack.better_auth.request(
        "POST", "/api/auth/api-key/create", token=owner.session_token, json_body=body
    )
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def with_key(stack: Stack, key: str) -> httpx.Response:
    stack.http.cookies.clear()
    return stack.http.get(ME, headers={"x-api-key": key})


def refused_with(stack: Stack, key: str, status: int, code: str) -> bool:
    response = with_key(stack, key)
    return response.status_code == status and error_code(response) == code


def test_key_created_there_authenticates_here(stack: Stack) -> None:
    owner = stack.better_auth.sign_up()
    created = create_key(stack, owner, name="ci", prefix="bab_")
    key = created["key"]
    assert key.startswith("bab_")
    response = with_key(stack, key)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == owner.user_id
    assert key not in response.text
    # Stored as the plugin hashed it; the API read that row and counted the use.
    row = stack.database.fetch('SELECT "requestCount" FROM apikey WHERE id = $1', created["id"])
    assert row[0]["requestCount"] == 1


def test_unknown_key_is_refused(stack: Stack) -> None:
    assert refused_with(stack, "bab_" + "x" * 64, 401, "INVALID_API_KEY")


def test_disabled_through_better_auth(stack: Stack) -> None:
    owner = stack.better_auth.sign_up()
    created = create_key(stack, owner)
    assert with_key(stack, created["key"]).status_code == 200
    response = stack.better_auth.request(
        "POST",
        "/api/auth/api-key/update",
        token=owner.session_token,
        json_body={"keyId": created["id"], "enabled": False},
    )
    assert response.status_code == 200, response.text
    # The counters are checked in the same UPDATE: no propagation delay at all.
    assert refused_with(stack, created["key"], 401, "KEY_DISABLED")


def test_expired_key(stack: Stack) -> None:
    # Better-Auth refuses an expiresIn under one day (keyExpiration.minExpiresIn), so time
    # passing is played by SQL on the row it created.
    owner = stack.better_auth.sign_up()
    created = create_key(stack, owner, expiresIn=86_400)
    assert with_key(stack, created["key"]).status_code == 200
    stack.database.execute(
        """UPDATE apikey SET "expiresAt" = now() - interval '1 second' WHERE id = $1""",
        created["id"],
    )
    assert wait_until(
        lambda: refused_with(stack, created["key"], 401, "KEY_EXPIRED"),
        timeout=PROPAGATION_SECONDS,
    )


def test_banned_owner_through_better_auth(stack: Stack) -> None:
    admin = stack.better_auth.sign_up(unique_email("admin"))
    stack.database.execute("""UPDATE "user" SET role = 'admin' WHERE id = $1""", admin.user_id)
    admin = stack.better_auth.sign_in(admin.email)
    owner = stack.better_auth.sign_up()
    created = create_key(stack, owner)
    assert with_key(stack, created["key"]).status_code == 200
    stack.better_auth.admin("ban-user", admin.session_token, {"userId": owner.user_id})
    assert wait_until(
        lambda: refused_with(stack, created["key"], 403, "BANNED_USER"),
        timeout=PROPAGATION_SECONDS,
    )


def test_usage_counts_agree_and_exhaustion(stack: Stack, e2e: Environment) -> None:
    owner = stack.better_auth.sign_up()
    (created,) = server_calls(
        stack,
        e2e.secret,
        ("createApiKey", {"userId": owner.user_id, "remaining": 3, "rateLimitEnabled": False}),
    )
    key = created["key"]
    assert with_key(stack, key).status_code == 200  # 3 -> 2 here
    (verified,) = server_calls(stack, e2e.secret, ("verifyApiKey", {"key": key}))
    assert verified["valid"] is True
    assert verified["key"]["remaining"] == 1  # 2 -> 1 there
    assert with_key(stack, key).status_code == 200  # 1 -> 0 here
    rows = stack.database.fetch("SELECT remaining FROM apikey WHERE id = $1", created["id"])
    assert rows[0]["remaining"] == 0
    assert refused_with(stack, key, 429, "USAGE_EXCEEDED")
    (refused,) = server_calls(stack, e2e.secret, ("verifyApiKey", {"key": key}))
    assert refused["valid"] is False
    assert refused["error"]["code"] == "USAGE_EXCEEDED"


def test_rate_limit_agrees(stack: Stack, e2e: Environment) -> None:
    owner = stack.better_auth.sign_up()
    (created,) = server_calls(
        stack,
        e2e.secret,
        (
            "createApiKey",
            {"userId": owner.user_id, "rateLimitMax": 2, "rateLimitTimeWindow": 60_000},
        ),
    )
    key = created["key"]
    assert with_key(stack, key).status_code == 200  # 1 in the window, here
    (verified,) = server_calls(stack, e2e.secret, ("verifyApiKey", {"key": key}))
    assert verified["valid"] is True  # 2, there
    response = with_key(stack, key)
    assert (response.status_code, error_code(response)) == (429, "RATE_LIMITED")
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_rate_limit_setting_is_the_plugins(stack: Stack, e2e: Environment) -> None:
    """``API_KEY_RATE_LIMIT_ENABLED=false`` on the auth server is the plugin's
    ``rateLimit.enabled: false`` (keys it creates are not rate limited); the API's own
    setting of that name is tested in tests/test_api_keys.py."""
    owner = stack.better_auth.sign_up()
    (created,) = server_calls(
        stack,
        e2e.secret,
        ("createApiKey", {"userId": owner.user_id, "rateLimitMax": 1}),
        API_KEY_RATE_LIMIT_ENABLED="false",
    )
    assert created["rateLimitEnabled"] is False
    verified = server_calls(
        stack,
        e2e.secret,
        *[("verifyApiKey", {"key": created["key"]})] * 3,
        API_KEY_RATE_LIMIT_ENABLED="false",
    )
    assert [answer["valid"] for answer in verified] == [True, True, True]
    assert with_key(stack, created["key"]).status_code == 200


def on_better_auth(stack: Stack, method: str, path: str, **kw: Any) -> httpx.Response:
    with httpx.Client(base_url=stack.better_auth.base_url, timeout=10, trust_env=False) as http:
        return http.request(method, path, **kw)


def admin_owner(stack: Stack) -> SignedIn:
    owner = stack.better_auth.sign_up(unique_email("key-admin"))
    stack.database.execute("""UPDATE "user" SET role = 'admin' WHERE id = $1""", owner.user_id)
    return stack.better_auth.sign_in(owner.email)


def test_keys_never_pass_more_than_better_auth_gives_owner_and_key(
    stack: Stack, e2e: Environment
) -> None:
    """Issue 22, against Better-Auth's own answers for the same owners and keys:

    - its admin endpoints refuse every key (401: the admin middleware re-reads an authoritative
      session from the cookie, which a key request has none of), whatever the owner or scope;
    - so the API's rule is checked against its two halves: a key passes here exactly where the
      owner's own session passes there (``/admin/has-permission``, ``/admin/list-users``) and,
      for a key with permissions, ``verifyApiKey({key, permissions})`` is valid there.
    """
    owners = {"admin": admin_owner(stack), "user": stack.better_auth.sign_up()}
    scopes: dict[str, dict[str, list[str]] | None] = {
        "full": None,
        "list": {"user": ["list"]},
        "empty": {},
    }
    cases = [(owner, scope) for owner in owners for scope in scopes]
    created = server_calls(
        stack,
        e2e.secret,
        *(
            (
                "createApiKey",
                {"userId": owners[owner].user_id, "rateLimitEnabled": False}
                | ({} if scopes[scope] is None else {"permissions": scopes[scope]}),
            )
            for owner, scope in cases
        ),
    )
    keys = {case: row["key"] for case, row in zip(cases, created, strict=True)}
    checks = {"list": {"user": ["list"]}, "ban": {"user": ["ban"]}}
    verified = server_calls(
        stack,
        e2e.secret,
        *(
            ("verifyApiKey", {"key": keys[case], "permissions": permissions})
            for case in cases
            for permissions in checks.values()
        ),
    )
    key_valid = dict(
        zip(
            [(case, check) for case in cases for check in checks],
            [answer["valid"] for answer in verified],
            strict=True,
        )
    )
    for (owner, scope), key in keys.items():
        session = owners[owner].session_token
        there = on_better_auth(
            stack, "GET", "/api/auth/admin/list-users", headers={"x-api-key": key}
        )
        assert there.status_code == 401, there.text
        for check, permissions in checks.items():
            owner_has = stack.better_auth.request(
                "POST",
                "/api/auth/admin/has-permission",
                token=session,
                json_body={"permissions": permissions},
            ).json()["success"]
            expected = owner_has and (scopes[scope] is None or key_valid[((owner, scope), check)])
            answer = stack.http.post(
                "/api/v1/users/has-permission",
                json={"permissions": permissions},
                headers={"x-api-key": key},
            )
            assert answer.json()["success"] is expected, (owner, scope, check)
            if check == "list":
                owner_lists = stack.better_auth.request(
                    "GET", "/api/auth/admin/list-users", token=session
                ).is_success
                assert owner_lists is owner_has
                here = stack.http.get("/api/v1/users", headers={"x-api-key": key})
                assert here.status_code == (200 if expected else 403), (owner, scope, here.text)
