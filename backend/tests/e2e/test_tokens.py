"""Every credential Better-Auth hands out is accepted by the API: the jwt plugin's JWTs (from
``/token`` and the ``set-auth-jwt`` header), the bearer plugin's session token (signed and bare)
and the session cookie."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.processes import wait_until
from tests.e2e.better_auth import SESSION_COOKIE, SignedIn, jwt_claims, jwt_header
from tests.e2e.stack import Environment, Stack

pytestmark = pytest.mark.e2e

PROFILE_PATHS = ["/api/v1/auth/me", "/api/v1/users/me"]
# How long a change Better-Auth makes in the database may take to reach the API's caches.
PROPAGATION_SECONDS = 1.5


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    with e2e.stack() as running:
        yield running


@pytest.fixture(scope="module")
def signed_in(stack: Stack) -> SignedIn:
    """A user who signed up, then signed in again (a second session)."""
    signed_up = stack.better_auth.sign_up(name="Token Tester")
    return stack.better_auth.sign_in(signed_up.email)


def assert_is_user(stack: Stack, path: str, user: SignedIn, **credential: str) -> None:
    response = stack.api_get(path, **credential)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["email"]) == (user.user_id, user.email)


def test_sign_up_and_sign_in_hand_out_the_bearer_token_and_cookie(
    stack: Stack, signed_in: SignedIn
) -> None:
    token, dot, signature = signed_in.session_token.partition(".")
    assert dot, "set-auth-token is TOKEN.SIGNATURE"
    assert token == signed_in.bare_token
    assert len(token) == 32
    assert signature
    assert signed_in.cookie.startswith(f"{token}.")


@pytest.mark.parametrize("path", PROFILE_PATHS)
def test_jwt_from_token_endpoint_is_accepted(stack: Stack, signed_in: SignedIn, path: str) -> None:
    jwt = stack.better_auth.token(signed_in.session_token)
    assert_is_user(stack, path, signed_in, token=jwt)


@pytest.mark.parametrize("path", PROFILE_PATHS)
def test_jwt_from_get_session_header_is_accepted(
    stack: Stack, signed_in: SignedIn, path: str
) -> None:
    jwt = stack.better_auth.session_jwt(signed_in.session_token)
    assert_is_user(stack, path, signed_in, token=jwt)


def test_jwt_claims_are_better_auth_defaults(stack: Stack, signed_in: SignedIn) -> None:
    jwt = stack.better_auth.token(signed_in.session_token)
    header, claims = jwt_header(jwt), jwt_claims(jwt)
    assert header["alg"] == "EdDSA"
    assert header["kid"] in stack.better_auth.kids()
    assert claims["sub"] == signed_in.user_id
    assert claims["iss"] == claims["aud"] == stack.auth.url
    assert claims["exp"] - claims["iat"] == 900


def test_jwt_names_its_session(stack: Stack, signed_in: SignedIn) -> None:
    """The bundled server's definePayload adds ``sid`` and keeps the whole user row."""
    jwt = stack.better_auth.token(signed_in.session_token)
    claims = jwt_claims(jwt)
    session = stack.better_auth.get_session(signed_in.session_token)
    assert session is not None
    assert claims["sid"] == session["session"]["id"]
    assert claims["id"] == claims["sub"]
    assert {"email", "role", "banned", "banExpires"} <= claims.keys()


def test_jwt_session_info(stack: Stack, signed_in: SignedIn) -> None:
    jwt = stack.better_auth.token(signed_in.session_token)
    response = stack.api_get("/api/v1/auth/session", token=jwt)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["userId"] == signed_in.user_id
    assert body["tokenType"] == "jwt"
    assert body["roles"] == ["user"]


@pytest.mark.parametrize("form", ["signed", "bare"])
def test_session_token_is_accepted_as_bearer(stack: Stack, signed_in: SignedIn, form: str) -> None:
    credential = signed_in.session_token if form == "signed" else signed_in.bare_token
    assert_is_user(stack, "/api/v1/auth/me", signed_in, token=credential)

    response = stack.api_get("/api/v1/auth/session", token=credential)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tokenType"] == "session"
    assert body["userId"] == signed_in.user_id
    session = stack.better_auth.get_session(signed_in.session_token)
    assert session is not None
    assert body["sessionId"] == session["session"]["id"]


def test_session_cookie_is_accepted(stack: Stack, signed_in: SignedIn) -> None:
    assert_is_user(
        stack, "/api/v1/auth/me", signed_in, cookie=f"{SESSION_COOKIE}={signed_in.cookie}"
    )
    response = stack.api_get("/api/v1/auth/session", cookie=f"{SESSION_COOKIE}={signed_in.cookie}")
    assert response.status_code == 200, response.text
    assert response.json()["tokenType"] == "session"


def test_tampered_credentials_are_refused(stack: Stack, signed_in: SignedIn) -> None:
    jwt = stack.better_auth.token(signed_in.session_token)
    head, payload, signature = jwt.split(".")
    forged_signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    response = stack.api_get("/api/v1/auth/me", token=f"{head}.{payload}.{forged_signature}")
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"

    token = signed_in.bare_token
    response = stack.api_get("/api/v1/auth/me", token=f"{token}.{'A' * 43}=")
    assert response.status_code == 401
    assert response.json()["code"] == "SESSION_INVALID"


def test_signed_out_session_is_refused_and_so_is_its_jwt(stack: Stack) -> None:
    """Signing out on Better-Auth deletes the session row: the session token stops working on
    the API too (even though the API has just seen it), within the invalidation feed's
    latency; so does a JWT minted before, because it names that session (the bundled auth
    server's ``sid`` claim)."""
    signed_up = stack.better_auth.sign_up(name="Signing Out")
    jwt = stack.better_auth.token(signed_up.session_token)
    assert stack.api_get("/api/v1/auth/me", token=signed_up.session_token).status_code == 200

    stack.better_auth.sign_out(signed_up.session_token)

    response = wait_until(
        lambda: (
            answer
            if (
                answer := stack.api_get("/api/v1/auth/me", token=signed_up.session_token)
            ).status_code
            != 200
            else None
        ),
        timeout=PROPAGATION_SECONDS,
        message="the API still accepts a session Better-Auth signed out",
    )
    assert response.status_code == 401
    assert response.json()["code"] == "SESSION_INVALID"
    refused = stack.api_get("/api/v1/auth/me", token=jwt)
    assert refused.status_code == 401
    assert refused.json()["code"] == "SESSION_INVALID"


def test_no_credential_is_401(stack: Stack) -> None:
    response = stack.api_get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_MISSING"
