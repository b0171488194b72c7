"""A secret rotation end to end, with the real auth server and the API restarted on the same
database at each step, as an operator rolls it out:

1. before: ``BETTER_AUTH_SECRET=old`` for both;
2. during: ``BETTER_AUTH_SECRETS="2:new,1:old"`` for both (``BETTER_AUTH_SECRET=old`` kept);
3. after: ``BETTER_AUTH_SECRETS="2:new"`` alone.

At every step each credential a user holds (the session token signed with the old or the new
secret, the bare token, the session cookie, a JWT) is presented to Better-Auth and to the API,
and the API must answer as Better-Auth does: only the current secret verifies a signed session
token or cookie (Better-Auth's ``ctx.context.secret``), so the old ones stop working the moment
the new secret becomes current. JWTs are signed by the JWKS keys, not the secret: they stand
until they expire. The private key stored in ``jwks`` was encrypted with the old secret: Better-
Auth still mints JWTs during the rotation, and no longer once the old secret is gone.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.better_auth import SESSION_COOKIE, SignedIn
from tests.e2e.stack import Environment, Stack

pytestmark = pytest.mark.e2e

OLD = secrets.token_urlsafe(32)
NEW = secrets.token_urlsafe(32)
PHASES: dict[str, dict[str, str]] = {
    "before": {"BETTER_AUTH_SECRET": OLD, "BETTER_AUTH_SECRETS": ""},
    "during": {"BETTER_AUTH_SECRET": OLD, "BETTER_AUTH_SECRETS": f"2:{NEW},1:{OLD}"},
    "after": {"BETTER_AUTH_SECRET": "", "BETTER_AUTH_SECRETS": f"2:{NEW}"},
}


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    phase = PHASES["before"]
    with e2e.stack(auth_env=phase, api_env=phase) as running:
        yield running


def switch(stack: Stack, phase: str) -> None:
    """Both servers restarted with the phase's secrets (same ports: same issuer)."""
    stack.api.stop()
    stack.auth.restart(**PHASES[phase])
    stack.api.restart(**PHASES[phase])


def better_auth_accepts(
    stack: Stack, *, token: str | None = None, cookie: str | None = None
) -> bool:
    """Better-Auth's session middleware takes the credential (``/list-sessions``: 200 or 401).
    Not ``/get-session``: once the old secret is gone, its jwt-plugin hook fails (500) for
    every session, valid or not (see ``get_session_status``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {"Cookie": cookie or ""}
    with httpx.Client(base_url=stack.auth.url, timeout=10.0, trust_env=False) as http:
        response = http.get("/api/auth/list-sessions", headers=headers)
    assert response.status_code in {200, 401}, response.text
    return response.status_code == 200


def get_session_status(stack: Stack, token: str) -> int:
    return stack.better_auth.get_session_response(token).status_code


def api_accepts(stack: Stack, *, token: str | None = None, cookie: str | None = None) -> bool:
    response = stack.api_get("/api/v1/auth/me", token=token, cookie=cookie)
    assert response.status_code in {200, 401}, response.text
    return response.status_code == 200


def verdicts(stack: Stack, user: SignedIn) -> dict[str, tuple[bool, bool]]:
    """Each session credential: (accepted by Better-Auth, accepted by the API)."""
    cookie = f"{SESSION_COOKIE}={user.cookie}"
    return {
        "signed token": (
            better_auth_accepts(stack, token=user.session_token),
            api_accepts(stack, token=user.session_token),
        ),
        "bare token": (
            better_auth_accepts(stack, token=user.bare_token),
            api_accepts(stack, token=user.bare_token),
        ),
        "cookie": (better_auth_accepts(stack, cookie=cookie), api_accepts(stack, cookie=cookie)),
    }


def mints_jwt(stack: Stack, user: SignedIn) -> bool:
    return (
        stack.better_auth.request("GET", "/api/auth/token", token=user.bare_token).status_code
        == 200
    )


def test_rotation(stack: Stack) -> None:
    # Before: one secret; the signing key in jwks is encrypted with it (no version envelope).
    early = stack.better_auth.sign_up()
    early_jwt = stack.better_auth.token(early.session_token)
    keys = stack.database.fetch('SELECT "privateKey" FROM jwks')
    assert keys
    assert all(not row["privateKey"].startswith('"$ba$') for row in keys)
    assert verdicts(stack, early) == dict.fromkeys(
        ("signed token", "bare token", "cookie"), (True, True)
    )
    assert api_accepts(stack, token=early_jwt)

    switch(stack, "during")
    seen = verdicts(stack, early)
    assert seen == {
        "signed token": (False, False),  # signed with the old secret: no longer current
        "bare token": (True, True),  # the bearer plugin signs it with the current secret
        "cookie": (False, False),
    }
    assert api_accepts(stack, token=early_jwt)  # JWTs are not signed with the secret
    assert mints_jwt(stack, early)  # the old key still decrypts (BETTER_AUTH_SECRET=old)
    late = stack.better_auth.sign_in(early.email)
    late_jwt = stack.better_auth.token(late.session_token)
    assert verdicts(stack, late) == dict.fromkeys(
        ("signed token", "bare token", "cookie"), (True, True)
    )
    assert api_accepts(stack, token=late_jwt)

    switch(stack, "after")
    assert verdicts(stack, early) == seen  # as during
    assert verdicts(stack, late) == dict.fromkeys(
        ("signed token", "bare token", "cookie"), (True, True)
    )
    assert api_accepts(stack, token=late_jwt)  # until it expires
    # The signing key was encrypted with the old secret, which is gone: Better-Auth mints no
    # JWT any more, and its get-session (whose jwt-plugin hook mints one) fails with a 500
    # for a valid session. Rotate the JWKS key before dropping the old secret.
    assert not mints_jwt(stack, late)
    assert get_session_status(stack, late.session_token) == 500
