"""Key rotation and an auth server outage, as the API lives through them.

1. Better-Auth signs with key K1 (no rotation configured: such a key never expires).
2. Restarted with ``JWT_ROTATION_INTERVAL=2`` after K1 was marked expired (what rotation would
   have set), it mints K2 for the next token, and K3 two seconds later; old keys stay published
   for the grace period. The API picks each new ``kid`` up with one JWKS refetch.
3. The auth server stops: tokens signed with keys the API holds still verify, ``/health/ready``
   reports the key source as degraded (HTTP 200: the database is fine), and a token with an
   unknown ``kid`` is a 503 (the answer depends on the missing source), not a 401.
4. An API with ``JWKS_SOURCE=database`` verifies the same tokens without any auth server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from devstack.processes import wait_until
from tests.e2e.better_auth import bearer, jwt_header, with_kid
from tests.e2e.stack import Environment, Stack

pytestmark = pytest.mark.e2e

ROTATION_INTERVAL_SECONDS = 2

# Refetch at most every 0.5 s (default 10 s) and treat keys as fresh for 1 s only, so that a new
# kid and an outage both show within the test's deadlines.
API_SETTINGS = {
    "JWKS_REFETCH_COOLDOWN_SECONDS": "0.5",
    "JWKS_CACHE_TTL_SECONDS": "1",
    "JWKS_MIN_TTL_SECONDS": "0",
}


@dataclass(frozen=True)
class Rotation:
    user_id: str
    jwts: list[str]  # one per key, oldest first

    @property
    def kids(self) -> list[str]:
        return [jwt_header(jwt)["kid"] for jwt in self.jwts]


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    with e2e.stack(api_env=API_SETTINGS) as running:
        yield running


def accepted(stack: Stack, jwt: str) -> bool:
    return stack.api_get("/api/v1/auth/me", token=jwt).status_code == 200


def key_source_status(stack: Stack) -> str:
    return str(stack.api_get("/health/ready").json()["checks"]["keys"]["status"])


def wait_accepted(stack: Stack, jwt: str) -> None:
    """A new kid is accepted after at most one refetch cooldown."""
    wait_until(
        lambda: accepted(stack, jwt),
        timeout=5,
        interval=0.1,
        message=f"the API does not accept a token signed with kid {jwt_header(jwt)['kid']}",
    )


@pytest.fixture(scope="module")
def rotation(stack: Stack) -> Rotation:
    better_auth = stack.better_auth
    user = better_auth.sign_up(name="Rotating")
    first = better_auth.token(user.session_token)
    assert accepted(stack, first)
    first_kid = jwt_header(first)["kid"]

    stack.auth.stop()
    # Rotation only ever replaces keys that have an expiry; K1 was minted without one.
    status = stack.database.execute('UPDATE jwks SET "expiresAt" = now() WHERE id = $1', first_kid)
    assert status == "UPDATE 1"
    stack.auth.restart(JWT_ROTATION_INTERVAL=str(ROTATION_INTERVAL_SECONDS))

    second = better_auth.token(user.session_token)
    assert jwt_header(second)["kid"] != first_kid
    wait_accepted(stack, second)

    # K2 expires after the interval; the next token after that is signed with a new key.
    second_kid = jwt_header(second)["kid"]
    third = wait_until(
        lambda: (
            token
            if jwt_header(token := better_auth.token(user.session_token))["kid"] != second_kid
            else None
        ),
        timeout=ROTATION_INTERVAL_SECONDS + 5,
        interval=0.2,
        message="Better-Auth did not rotate its signing key",
    )
    wait_accepted(stack, third)
    return Rotation(user_id=user.user_id, jwts=[first, second, third])


@pytest.fixture(scope="module")
def auth_server_stopped(stack: Stack, rotation: Rotation) -> Rotation:
    stack.auth.stop()
    return rotation


def test_every_rotated_key_is_published_and_verifies(stack: Stack, rotation: Rotation) -> None:
    assert len(set(rotation.kids)) == 3
    assert set(rotation.kids) <= set(stack.better_auth.kids())  # grace period: all published
    for jwt in rotation.jwts:
        response = stack.api_get("/api/v1/auth/me", token=jwt)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == rotation.user_id


def test_known_keys_verify_while_the_auth_server_is_down(
    stack: Stack, auth_server_stopped: Rotation
) -> None:
    # Past the cache TTL, so the API tries (and fails) to refetch, and serves what it holds.
    wait_until(
        lambda: key_source_status(stack) != "ok",
        timeout=5,
        interval=0.1,
        message="the key cache never went stale",
    )
    for jwt in auth_server_stopped.jwts:
        response = stack.api_get("/api/v1/auth/me", token=jwt)
        assert response.status_code == 200, response.text


def test_readiness_reports_the_key_source(stack: Stack, auth_server_stopped: Rotation) -> None:
    # Make sure at least one refetch has failed since the stop.
    stack.api_get("/api/v1/auth/me", token=auth_server_stopped.jwts[-1])

    response = stack.api_get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
    keys = body["checks"]["keys"]
    assert keys["status"] in {"degraded", "unavailable"}
    assert keys["info"]["keys"] == 3


def test_unknown_kid_while_the_source_is_down_is_503(
    stack: Stack, auth_server_stopped: Rotation
) -> None:
    forged = with_kid(auth_server_stopped.jwts[-1], "k" * 32)
    response = wait_until(
        lambda: (
            answer
            if (answer := stack.api_get("/api/v1/auth/me", token=forged)).status_code == 503
            else None
        ),
        timeout=5,
        interval=0.2,
        message="an unknown kid with the key source down never answered 503",
    )
    assert response.json()["code"] == "KEY_SOURCE_UNAVAILABLE"
    assert response.headers.get("Retry-After")


def test_database_key_source_needs_no_auth_server(
    e2e: Environment, stack: Stack, auth_server_stopped: Rotation
) -> None:
    assert not stack.auth.running
    with (
        e2e.api_server(stack.database, stack.auth, JWKS_SOURCE="database") as api,
        httpx.Client(base_url=api.url, timeout=10, trust_env=False) as http,
    ):
        for jwt in auth_server_stopped.jwts:
            response = http.get("/api/v1/auth/me", headers=bearer(jwt))
            assert response.status_code == 200, response.text
            assert response.json()["id"] == auth_server_stopped.user_id
        ready = http.get("/health/ready").json()
        assert ready["checks"]["keys"]["status"] == "ok"
        assert ready["checks"]["keys"]["info"]["keys"] == 3
        # A kid that is in no row is refused as unknown (401), not as an outage.
        response = http.get(
            "/api/v1/auth/me", headers=bearer(with_kid(auth_server_stopped.jwts[-1], "k" * 32))
        )
        assert response.status_code == 401
        assert response.json()["code"] == "KEY_NOT_FOUND"
