"""Better-Auth with its sessions in Redis (``SECONDARY_STORAGE_URL``, @better-auth/redis-storage)
and the API reading the same Redis: the real auth server, the real shared Redis (a prefix of
this run's own, whose keys are deleted afterwards; never FLUSHDB).

- Better-Auth's migration creates no ``session`` table in this mode; ours runs after it.
- Session token, cookie and JWT with ``sid`` are accepted; a sign-out through Better-Auth is
  refused by the API within 1 s (the lag is measured and printed: docs/guides/secondary-storage.md).
- Revocations through the API are refused by Better-Auth too; the lists agree.
- With ``preserveSessionInDatabase``, the rows Better-Auth keeps authenticate no one.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx
import pytest
from redis import Redis

from devstack.processes import auth_server_migrate
from tests.e2e.better_auth import BetterAuthClient, SignedIn, jwt_claims, unique_email
from tests.e2e.stack import Environment, Stack, _migrate_in_process
from tests.e2e.versions import before
from tests.support.stored_sessions import REDIS_URL, unique_prefix

pytestmark = pytest.mark.e2e

# The promise: a session ended through Better-Auth is refused by the API within this long.
PROMISED_LAG_SECONDS = 1.0


@dataclass
class RedisStack:
    stack: Stack
    redis: Redis
    prefix: str
    tables_after_better_auth: set[str]

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"


def _tables(stack_database_fetch: list[dict[str, object]]) -> set[str]:
    return {str(row["tablename"]) for row in stack_database_fetch}


@contextmanager
def redis_stack(e2e: Environment, label: str, **modes: str) -> Iterator[RedisStack]:
    """Better-Auth's migration first (in this mode), then ours, then both servers."""
    prefix = unique_prefix(label)
    env = {"SECONDARY_STORAGE_URL": REDIS_URL, "SECONDARY_STORAGE_PREFIX": prefix, **modes}
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    with ExitStack() as resources:
        resources.callback(redis.close)
        resources.callback(_delete_prefix, redis, prefix)
        database = resources.enter_context(e2e.database("none"))
        auth_server_migrate(database.dsn, e2e.secret, **env)
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        after_better_auth = _tables(database.fetch(query))
        asyncio.run(_migrate_in_process(database.url))
        auth = resources.enter_context(e2e.auth_server(database, **env))
        api = resources.enter_context(e2e.api_server(database, auth, **env))
        http = resources.enter_context(httpx.Client(base_url=api.url, timeout=10.0))
        stack = Stack(database, auth, api, BetterAuthClient(auth.url), http)
        yield RedisStack(stack, redis, prefix, after_better_auth)


def _delete_prefix(redis: Redis, prefix: str) -> None:
    keys = list(redis.scan_iter(match=f"{prefix}*"))
    if keys:
        redis.delete(*keys)


@pytest.fixture(scope="module")
def running(e2e: Environment) -> Iterator[RedisStack]:
    with redis_stack(e2e, "e2e") as item:
        yield item


def _me(stack: Stack, token: str | None = None, cookie: str | None = None) -> int:
    return stack.api_get("/api/v1/auth/me", token=token, cookie=cookie).status_code


def _refused_after(stack: Stack, token: str, ended_at: float, deadline: float = 5.0) -> float:
    """Seconds from ``ended_at`` until the API first refuses ``token``; fails past the deadline."""
    while _me(stack, token) == 200:
        assert time.monotonic() - ended_at < deadline, "the API never refused the credential"
        time.sleep(0.005)
    return time.monotonic() - ended_at


def _admin(stack: Stack) -> SignedIn:
    """The first admin, made in SQL, then signed in again: the copy of the user that Better-Auth
    keeps with a session is taken at sign-in."""
    user = stack.better_auth.sign_up(unique_email("admin"))
    stack.database.execute("""UPDATE "user" SET role = 'admin' WHERE id = $1""", user.user_id)
    return stack.better_auth.sign_in(user.email)


def test_better_auth_creates_no_session_table_and_ours_adds_one(running: RedisStack) -> None:
    assert "user" in running.tables_after_better_auth
    assert "session" not in running.tables_after_better_auth
    user = running.stack.better_auth.sign_up()
    assert running.redis.get(running.key(user.bare_token)) is not None
    # Our migration's table stays empty: Better-Auth writes nothing to it in this mode.
    assert running.stack.database.fetch('SELECT id FROM "session"') == []


def test_every_credential_is_accepted(running: RedisStack) -> None:
    stack = running.stack
    user = stack.better_auth.sign_up()
    jwt = stack.better_auth.token(user.session_token)
    record = running.redis.get(running.key(user.bare_token))
    assert record is not None
    assert jwt_claims(jwt)["sid"] in record
    cookie = f"better-auth.session_token={user.cookie}"
    statuses = [_me(stack, token) for token in (user.session_token, user.bare_token, jwt)]
    assert [*statuses, _me(stack, cookie=cookie)] == [200, 200, 200, 200]


def test_sign_out_through_better_auth_is_refused_within_a_second(
    running: RedisStack, record_property: Callable[[str, object], None]
) -> None:
    """The lag is recorded (``--junitxml``) and reported in docs/guides/secondary-storage.md."""
    stack = running.stack
    token_lags: list[float] = []
    jwt_lags: list[float] = []
    for _ in range(10):
        user = stack.better_auth.sign_up()
        jwt = stack.better_auth.token(user.session_token)
        assert _me(stack, user.session_token) == _me(stack, jwt) == 200  # both cached now
        stack.better_auth.sign_out(user.session_token)
        ended = time.monotonic()
        token_lags.append(_refused_after(stack, user.session_token, ended))
        jwt_lags.append(_refused_after(stack, jwt, ended))
    for name, lags in (("session_token", token_lags), ("jwt_sid", jwt_lags)):
        record_property(f"{name}_lag_median", round(statistics.median(lags), 3))
        record_property(f"{name}_lag_max", round(max(lags), 3))
    assert max(token_lags + jwt_lags) < PROMISED_LAG_SECONDS


def test_revocation_through_the_api_is_refused_by_better_auth(running: RedisStack) -> None:
    stack = running.stack
    admin = _admin(stack)
    user = stack.better_auth.sign_up()
    second = stack.better_auth.sign_in(user.email)
    sessions = stack.api_get(f"/api/v1/users/{user.user_id}/sessions", token=admin.session_token)
    ours = {item["id"] for item in sessions.json()["sessions"]}
    theirs = stack.better_auth.admin(
        "list-user-sessions", admin.session_token, {"userId": user.user_id}
    )
    assert ours == {item["id"] for item in theirs["sessions"]}
    assert len(ours) == 2

    first_id = stack.better_auth.get_session(user.session_token)["session"]["id"]  # type: ignore[index]
    response = stack.api_request(
        "DELETE", f"/api/v1/users/{user.user_id}/sessions/{first_id}", token=admin.session_token
    )
    assert response.status_code == 204
    assert stack.better_auth.get_session(user.session_token) is None
    assert stack.better_auth.get_session(second.session_token) is not None

    response = stack.api_request(
        "DELETE", f"/api/v1/users/{user.user_id}/sessions", token=admin.session_token
    )
    assert response.status_code == 204
    assert stack.better_auth.get_session(second.session_token) is None
    assert _me(stack, second.session_token) == 401
    # A session signed in after the revocation stands, for both.
    third = stack.better_auth.sign_in(user.email)
    assert stack.better_auth.get_session(third.session_token) is not None
    assert _me(stack, third.session_token) == 200


def test_a_ban_through_the_api_ends_better_auths_sessions(running: RedisStack) -> None:
    stack = running.stack
    admin = _admin(stack)
    user = stack.better_auth.sign_up()
    response = stack.api_request(
        "POST", f"/api/v1/users/{user.user_id}/ban", token=admin.session_token, json_body={}
    )
    assert response.status_code == 200, response.text
    assert stack.better_auth.get_session(user.session_token) is None


def test_preserved_rows_do_not_authenticate(e2e: Environment) -> None:
    modes = {"STORE_SESSION_IN_DATABASE": "true", "PRESERVE_SESSION_IN_DATABASE": "true"}
    with redis_stack(e2e, "e2e-preserve", **modes) as running:
        stack = running.stack
        assert "session" in running.tables_after_better_auth
        user = stack.better_auth.sign_up()
        rows = stack.database.fetch('SELECT id FROM "session" WHERE "userId" = $1', user.user_id)
        assert len(rows) == 1
        assert _me(stack, user.session_token) == 200
        # Sign-out: Better-Auth keeps the row.
        stack.better_auth.sign_out(user.session_token)
        _refused_after(stack, user.session_token, time.monotonic())
        kept = stack.database.fetch(
            'SELECT "expiresAt" <= now() AS ended FROM "session" WHERE "userId" = $1',
            user.user_id,
        )
        # 1.7 ends the kept row (expiresAt = now); 1.6 leaves it as it was. Refused either way.
        assert kept == [{"ended": not before(1, 7)}]
        # A live row whose record is gone from Redis (lost, evicted): refused by both.
        again = stack.better_auth.sign_in(user.email)
        running.redis.delete(running.key(again.bare_token))
        live = stack.database.fetch(
            'SELECT id FROM "session" WHERE token = $1 AND "expiresAt" > now()', again.bare_token
        )
        assert len(live) == 1
        assert stack.better_auth.get_session(again.session_token) is None
        _refused_after(stack, again.session_token, time.monotonic())


def test_a_demotion_through_the_api_reaches_better_auth(running: RedisStack) -> None:
    """Better-Auth's admin plugin reads the caller's role from the copy of the user stored with
    the session; the API rewrites that copy as Better-Auth's own updateUser does."""
    stack = running.stack
    boss, other = _admin(stack), _admin(stack)

    def lists_users() -> int:
        path = "/api/auth/admin/list-users"
        return stack.better_auth.request("GET", path, token=other.session_token).status_code

    assert lists_users() == 200
    response = stack.api_request(
        "PUT",
        f"/api/v1/users/{other.user_id}/role",
        token=boss.session_token,
        json_body={"role": "user"},
    )
    assert response.status_code == 200, response.text
    assert lists_users() == 403
