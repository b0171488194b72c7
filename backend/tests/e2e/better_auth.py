"""A tiny HTTP client for the Better-Auth server, as a non-browser client uses it.

No cookie jar: a request that carries the session cookie but no ``Origin`` is refused by
Better-Auth (``MISSING_OR_NULL_ORIGIN``), so every call sends exactly the credential it is given,
as ``Authorization: Bearer`` (the bearer plugin). Cookies that Better-Auth sets are read from
the ``Set-Cookie`` headers of the response instead.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import httpx

SESSION_COOKIE = "better-auth.session_token"
PASSWORD = "correct-horse-battery-staple"


def unique_email(label: str = "user") -> str:
    return f"{label}-{secrets.token_hex(6)}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def jwt_header(token: str) -> dict[str, Any]:
    """The (unverified) JOSE header of a compact JWT."""
    return _segment(token, 0)


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a compact JWT."""
    return _segment(token, 1)


def with_kid(token: str, kid: str) -> str:
    """The same token with another ``kid`` in its header (and so an invalid signature)."""
    header = {**jwt_header(token), "kid": kid}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    _, payload, signature = token.split(".")
    return f"{encoded}.{payload}.{signature}"


@dataclass(frozen=True)
class SignedIn:
    """What a sign-up or sign-in hands out."""

    user: dict[str, Any]
    session_token: str  # set-auth-token: TOKEN.SIGNATURE (bearer plugin)
    bare_token: str  # the body's "token": TOKEN alone
    cookie: str  # better-auth.session_token cookie value, URL-encoded as Better-Auth sets it

    @property
    def user_id(self) -> str:
        return str(self.user["id"])

    @property
    def email(self) -> str:
        return str(self.user["email"])


class BetterAuthError(AssertionError):
    """Better-Auth answered something other than what the test expected."""


class BetterAuthClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    def request(
        self, method: str, path: str, *, token: str | None = None, json_body: object = None
    ) -> httpx.Response:
        """One request, no cookies; ``json_body`` is sent as ``application/json``."""
        headers = bearer(token) if token else {}
        with httpx.Client(base_url=self.base_url, timeout=self._timeout, trust_env=False) as http:
            if json_body is None:
                return http.request(method, path, headers=headers)
            return http.request(method, path, headers=headers, json=json_body)

    # -- email and password --

    def sign_up(self, email: str | None = None, *, name: str = "E2E User") -> SignedIn:
        email = email or unique_email()
        response = self.request(
            "POST",
            "/api/auth/sign-up/email",
            json_body={"email": email, "password": PASSWORD, "name": name},
        )
        return self._signed_in(response, "sign-up")

    def sign_in_response(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return self.request(
            "POST", "/api/auth/sign-in/email", json_body={"email": email, "password": password}
        )

    def sign_in(self, email: str, password: str = PASSWORD) -> SignedIn:
        return self._signed_in(self.sign_in_response(email, password), "sign-in")

    def sign_out(self, session_token: str) -> None:
        response = self.request("POST", "/api/auth/sign-out", token=session_token, json_body={})
        _expect_ok(response, "sign-out")

    def admin(self, action: str, session_token: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/auth/admin/<action>`` of the admin plugin, as an admin (bearer)."""
        response = self.request(
            "POST", f"/api/auth/admin/{action}", token=session_token, json_body=body
        )
        _expect_ok(response, f"admin/{action}")
        answer: dict[str, Any] = response.json()
        return answer

    # -- session and tokens --

    def token(self, session_token: str) -> str:
        """``GET /api/auth/token``: a JWT for the session."""
        response = self.request("GET", "/api/auth/token", token=session_token)
        _expect_ok(response, "token")
        return str(response.json()["token"])

    def get_session_response(self, session_token: str) -> httpx.Response:
        return self.request("GET", "/api/auth/get-session", token=session_token)

    def get_session(self, session_token: str) -> dict[str, Any] | None:
        """``{session, user}``, or ``None`` when Better-Auth does not know the session (it
        answers ``null``, or 401 for a revoked one)."""
        response = self.get_session_response(session_token)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            return None
        _expect_ok(response, "get-session")
        body: dict[str, Any] | None = response.json()
        return body

    def session_jwt(self, session_token: str) -> str:
        """The ``set-auth-jwt`` header of ``get-session``."""
        response = self.get_session_response(session_token)
        _expect_ok(response, "get-session")
        jwt = response.headers.get("set-auth-jwt")
        if not jwt:
            raise BetterAuthError(f"get-session sent no set-auth-jwt header: {response.headers}")
        return jwt

    def jwks(self) -> dict[str, Any]:
        response = self.request("GET", "/api/auth/jwks")
        _expect_ok(response, "jwks")
        body: dict[str, Any] = response.json()
        return body

    def kids(self) -> list[str]:
        return [str(key["kid"]) for key in self.jwks()["keys"]]

    # -- internals --

    @staticmethod
    def _signed_in(response: httpx.Response, what: str) -> SignedIn:
        _expect_ok(response, what)
        body = response.json()
        session_token = response.headers.get("set-auth-token")
        if not session_token:
            raise BetterAuthError(f"{what} sent no set-auth-token header")
        cookie = session_cookie(response)
        if cookie is None:
            raise BetterAuthError(f"{what} set no {SESSION_COOKIE} cookie")
        return SignedIn(
            user=body["user"], session_token=session_token, bare_token=body["token"], cookie=cookie
        )


def session_cookie(response: httpx.Response) -> str | None:
    """The raw value of Better-Auth's session cookie in the response's ``Set-Cookie`` headers."""
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        morsel = jar.get(SESSION_COOKIE)
        if morsel is not None:
            return morsel.coded_value
    return None


def error_code(response: httpx.Response) -> str | None:
    """The ``code`` of a JSON error answer (Better-Auth's and the API's both carry one)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _expect_ok(response: httpx.Response, what: str) -> None:
    if response.status_code != httpx.codes.OK:
        raise BetterAuthError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
