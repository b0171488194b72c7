"""Issue 17.1 against the real Better-Auth server: its own session cookie, presented to the API
by a foreign page's write, is refused; from Better-Auth's origin it works; a bearer is not
affected. A banned user is answered as Better-Auth answers (issue 17.6)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.processes import wait_until
from tests.e2e.better_auth import SESSION_COOKIE
from tests.e2e.stack import Environment, Stack

pytestmark = pytest.mark.e2e

EVIL = "https://evil.example.net"


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    with e2e.stack() as running:
        yield running


def test_cookie_write_needs_a_trusted_origin(stack: Stack) -> None:
    user = stack.better_auth.sign_up(name="Csrf Target")
    cookie = {"Cookie": f"{SESSION_COOKIE}={user.cookie}"}
    stack.http.cookies.clear()

    foreign = stack.http.patch(
        "/api/v1/users/me", json={"name": "Pwned"}, headers={**cookie, "Origin": EVIL}
    )
    assert foreign.status_code == 403, foreign.text
    assert foreign.json()["code"] == "INVALID_ORIGIN"
    no_origin = stack.http.patch("/api/v1/users/me", json={"name": "Pwned"}, headers=cookie)
    assert no_origin.json()["code"] == "MISSING_OR_NULL_ORIGIN"
    assert stack.api_get("/api/v1/users/me", cookie=cookie["Cookie"]).json()["name"] == (
        "Csrf Target"
    )

    trusted = stack.http.patch(
        "/api/v1/users/me", json={"name": "Renamed"}, headers={**cookie, "Origin": stack.auth.url}
    )
    assert trusted.status_code == 200, trusted.text
    assert trusted.json()["name"] == "Renamed"

    bearer = stack.http.patch(
        "/api/v1/users/me",
        json={"name": "By Bearer"},
        headers={"Authorization": f"Bearer {user.session_token}", "Origin": EVIL},
    )
    assert bearer.status_code == 200, bearer.text


def test_banned_user_gets_better_auths_answer(stack: Stack) -> None:
    user = stack.better_auth.sign_up(name="Banned Later")
    stack.database.execute(
        'UPDATE "user" SET banned = true, "banReason" = $1 WHERE id = $2',
        "internal note: chargeback 77",
        user.user_id,
    )

    def refused() -> dict[str, object] | None:
        response = stack.api_get("/api/v1/users/me", token=user.session_token)
        return response.json() if response.status_code == 403 else None

    # The identity cache hears of the SQL change through NOTIFY.
    body = wait_until(refused, timeout=5, message="the ban did not reach the API")
    assert body["code"] == "BANNED_USER"
    assert body["detail"] == "You have been banned from this application"
    assert "chargeback" not in str(body)
