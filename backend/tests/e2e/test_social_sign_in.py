"""Sign-in with OAuth providers, end to end and offline: the bundled auth server (Better-Auth
1.7.29's ``genericOAuth`` plugin, configured from discovery) against a real OpenID Connect
provider on 127.0.0.1 (the certified ``oidc-provider``, tests/support/oidc_provider), driven the
way a browser drives it: Better-Auth's ``/sign-in/social``, the provider's sign-in and consent
forms, the redirect back to ``/callback/<providerId>`` (1.6: ``/oauth2/callback/<providerId>``),
with each origin's cookies kept apart. Then the Better-Auth session gives a JWT, and the API
answers ``/users/me`` for that user and shows admins the linked account, never its tokens.
Google and GitHub are checked as far as they go offline: the sign-in starts at their
authorization endpoints with the configured client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devstack.processes import started
from tests.e2e.better_auth import SESSION_COOKIE, BetterAuthClient, error_code, unique_email
from tests.e2e.oauth_browser import Browser, form_posting_to
from tests.e2e.stack import Environment, Stack
from tests.e2e.versions import before, generic_oauth_callback
from tests.support.oidc import OidcAccount, OidcClient, OidcProvider, oidc_provider_problem

pytestmark = pytest.mark.e2e

PROVIDER_ID = "local-oidc"
FRONTEND = "http://app.test"  # the browser app: never loaded, the browser stops before it
SIGNED_IN = f"{FRONTEND}/signed-in"
SIGN_IN_FAILED = f"{FRONTEND}/sign-in-failed"
ME = "/api/v1/users/me"
GOOGLE = {"GOOGLE_CLIENT_ID": "google-client.apps.example", "GOOGLE_CLIENT_SECRET": "g-secret"}
GITHUB = {"GITHUB_CLIENT_ID": "Iv1.github-client", "GITHUB_CLIENT_SECRET": "gh-secret"}

NEWCOMER = OidcAccount(email=unique_email("oidc-new"), name="Grace Hopper")
RETURNING = OidcAccount(email=unique_email("oidc-link"), name="Linked User")
OTHERS = tuple(OidcAccount(email=unique_email(f"oidc-{n}")) for n in range(3))
# RFC 8252: a native client's loopback redirect URI matches on any port, so the client is
# registered before the auth server has one.
CLIENT = OidcClient(redirect_uris=(f"http://127.0.0.1{generic_oauth_callback(PROVIDER_ID)}",))


@pytest.fixture(scope="module")
def provider(e2e: Environment) -> Iterator[OidcProvider]:
    problem = oidc_provider_problem()
    if problem is not None:
        pytest.fail(problem)  # the e2e prerequisites hold, so `make test-e2e` installs it too
    server = OidcProvider(
        log_dir=e2e.log_dir, clients=(CLIENT,), accounts=(NEWCOMER, RETURNING, *OTHERS)
    )
    with started(server):
        yield server


@pytest.fixture(scope="module")
def stack(e2e: Environment, provider: OidcProvider) -> Iterator[Stack]:
    auth_env = {
        "TRUSTED_ORIGINS": FRONTEND,
        "OIDC_DISCOVERY_URL": provider.discovery_url,
        "OIDC_CLIENT_ID": CLIENT.client_id,
        "OIDC_CLIENT_SECRET": CLIENT.client_secret,
        "OIDC_PROVIDER_ID": PROVIDER_ID,
        **GOOGLE,
        **GITHUB,
    }
    with e2e.stack(auth_env=auth_env) as running:
        yield running


_browsers: list[Browser] = []


def new_browser() -> Browser:
    """A browser that stops before the frontend; closed after the test."""
    browser = Browser(stop_at=is_frontend)
    _browsers.append(browser)
    return browser


@pytest.fixture(autouse=True)
def _close_browsers() -> Iterator[None]:
    yield
    while _browsers:
        _browsers.pop().close()


@pytest.fixture(scope="module")
def admin_jwt(stack: Stack) -> str:
    user = stack.better_auth.sign_up(unique_email("oidc-admin"))
    stack.database.execute("""UPDATE "user" SET role = 'admin' WHERE id = $1""", user.user_id)
    return stack.better_auth.token(user.session_token)


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def is_callback(url: str) -> bool:
    return urlsplit(url).path == generic_oauth_callback(PROVIDER_ID)


def is_frontend(url: str) -> bool:
    return url.startswith(f"{FRONTEND}/")


@dataclass
class Flow:
    """One sign-in, as far as a test drove it."""

    browser: Browser
    authorize_url: str
    callback_url: str = ""
    landed: str = ""

    def session_token(self, auth_url: str) -> str | None:
        return self.browser.cookie(auth_url, SESSION_COOKIE)


def start(stack: Stack, browser: Browser, provider: str = PROVIDER_ID) -> str:
    """The frontend's call to Better-Auth's ``/sign-in/social``: the provider's authorize URL."""
    response = browser.request(
        "POST",
        f"{stack.auth.url}/api/auth/sign-in/social",
        json={"provider": provider, "callbackURL": SIGNED_IN, "errorCallbackURL": SIGN_IN_FAILED},
        headers={"Origin": FRONTEND},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["redirect"] is True
    return str(body["url"])


def to_callback(stack: Stack, account: OidcAccount, *, consent: str = "/confirm") -> Flow:
    """Start, sign in at the provider and answer its consent page; stops before the browser
    loads Better-Auth's callback (``Flow.callback_url``)."""
    browser = new_browser()
    flow = Flow(browser, start(stack, browser))
    page = browser.open("GET", flow.authorize_url)
    assert page.status_code == 200, page.text
    page = browser.submit(
        form_posting_to(page, "/login"), login=account.email, password=account.password
    )
    assert page.status_code == 200, page.text  # the consent page
    browser.submit(form_posting_to(page, consent), stop_at=is_callback)
    flow.callback_url = browser.last_url or ""
    assert is_callback(flow.callback_url), browser.hops
    return flow


def follow(flow: Flow) -> Flow:
    """The browser loads Better-Auth's callback and follows it wherever it leads."""
    flow.browser.open("GET", flow.callback_url)
    flow.landed = flow.browser.last_url or ""
    return flow


def finish(flow: Flow) -> Flow:
    """The browser loads Better-Auth's callback and follows it to the frontend."""
    follow(flow)
    assert is_frontend(flow.landed), flow.browser.hops
    return flow


def sign_in(stack: Stack, account: OidcAccount) -> tuple[Flow, str]:
    flow = finish(to_callback(stack, account))
    assert flow.landed == SIGNED_IN, flow.browser.hops
    token = flow.session_token(stack.auth.url)
    assert token, "Better-Auth set no session cookie"
    return flow, token


def read_user(stack: Stack, admin_jwt: str, user_id: str) -> httpx.Response:
    response = stack.api_get(f"/api/v1/users/{user_id}", token=admin_jwt)
    assert response.status_code == 200, response.text
    return response


def account_rows(stack: Stack, user_id: str) -> list[dict[str, Any]]:
    return stack.database.fetch(
        """SELECT "providerId", "accountId", "accessToken", "refreshToken", "idToken", password
           FROM account WHERE "userId" = $1""",
        user_id,
    )


def assert_no_secret(body: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        for column in ("accessToken", "refreshToken", "idToken", "password"):
            if row[column]:
                assert row[column] not in body, column
            assert f'"{column}"' not in body


def test_sign_in_through_the_provider_reaches_the_api(
    stack: Stack, provider: OidcProvider, admin_jwt: str
) -> None:
    flow, session_token = sign_in(stack, NEWCOMER)

    # What Better-Auth asked the provider for: the code flow with PKCE (S256), state and nonce.
    asked = query(flow.authorize_url)
    assert flow.authorize_url.startswith(f"{provider.url}/auth?")
    assert asked["client_id"] == CLIENT.client_id
    assert asked["redirect_uri"] == f"{stack.auth.url}{generic_oauth_callback(PROVIDER_ID)}"
    assert asked["response_type"] == "code"
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43
    assert asked["state"]
    # Better-Auth 1.6's genericOAuth sends no nonce (nor verifies the ID token); 1.7 does both.
    assert bool(asked.get("nonce")) is not before(1, 7)
    assert {"openid", "email", "profile"} <= set(asked["scope"].split())
    # ... and what the provider answered (RFC 9207: its issuer identifies the response).
    answered = query(flow.callback_url)
    assert answered["state"] == asked["state"]
    assert answered["iss"] == provider.issuer
    assert answered["code"]

    session = stack.better_auth.get_session(session_token)
    assert session is not None
    user = session["user"]
    assert (user["email"], user["name"], user["emailVerified"]) == (
        NEWCOMER.email,
        NEWCOMER.name,
        True,
    )
    jwt = stack.better_auth.token(session_token)
    me = stack.api_get(ME, token=jwt)
    assert me.status_code == 200, me.text
    assert (me.json()["id"], me.json()["email"]) == (user["id"], NEWCOMER.email)

    # Better-Auth stored the provider's tokens; admins see the account, never them.
    rows = account_rows(stack, user["id"])
    assert [(row["providerId"], row["accountId"]) for row in rows] == [(PROVIDER_ID, NEWCOMER.sub)]
    assert rows[0]["accessToken"]
    assert rows[0]["idToken"]
    detail = read_user(stack, admin_jwt, user["id"])
    accounts = detail.json()["accounts"]
    assert [(a["providerId"], a["accountId"]) for a in accounts] == [(PROVIDER_ID, NEWCOMER.sub)]
    assert set(accounts[0]) == {"providerId", "accountId", "createdAt"}
    assert_no_secret(detail.text, rows)


def test_sign_in_links_the_provider_to_an_existing_email_user(stack: Stack, admin_jwt: str) -> None:
    """Better-Auth links implicitly when the provider vouches for the email and the local
    user's email is verified (``accountLinking.requireLocalEmailVerified``, on by default)."""
    existing = stack.better_auth.sign_up(RETURNING.email, name="Email First")
    stack.database.execute(
        """UPDATE "user" SET "emailVerified" = true WHERE id = $1""", existing.user_id
    )
    _flow, session_token = sign_in(stack, RETURNING)
    session = stack.better_auth.get_session(session_token)
    assert session is not None
    assert session["user"]["id"] == existing.user_id

    rows = account_rows(stack, existing.user_id)
    credential = next(row for row in rows if row["providerId"] == "credential")
    assert credential["password"]  # the email + password row holds the hash
    detail = read_user(stack, admin_jwt, existing.user_id)
    accounts = detail.json()["accounts"]
    assert [(a["providerId"], a["accountId"]) for a in accounts] == [
        ("credential", existing.user_id),
        (PROVIDER_ID, RETURNING.sub),
    ]
    assert_no_secret(detail.text, rows)
    # The user sees the same about themself.
    own = stack.api_get(
        f"/api/v1/users/{existing.user_id}", token=stack.better_auth.token(session_token)
    )
    assert own.status_code == 200
    assert own.json()["accounts"] == accounts


def test_unverified_local_email_is_not_taken_over(stack: Stack, admin_jwt: str) -> None:
    """Someone signed up with the email but never verified it: the provider's sign-in for that
    email is refused (``account_not_linked``) instead of joining their account."""
    account = OTHERS[2]
    existing = stack.better_auth.sign_up(account.email)
    flow = finish(to_callback(stack, account))
    assert flow.landed.startswith(f"{SIGN_IN_FAILED}?")
    assert query(flow.landed)["error"] == "account_not_linked"
    assert flow.session_token(stack.auth.url) is None
    accounts = read_user(stack, admin_jwt, existing.user_id).json()["accounts"]
    assert [a["providerId"] for a in accounts] == ["credential"]


def test_callback_only_completes_in_the_browser_that_started_it(stack: Stack) -> None:
    """Better-Auth's state cookie: a callback URL opened in another browser (login CSRF) signs
    nobody in; the right browser still can, once; a replay is refused."""
    account = OTHERS[0]
    flow = to_callback(stack, account)

    other = new_browser()
    other.open("GET", flow.callback_url)
    assert other.last_url is not None
    assert query(other.last_url)["error"] == "state_mismatch"
    assert other.last_url.startswith(SIGN_IN_FAILED)
    assert other.cookie(stack.auth.url, SESSION_COOKIE) is None

    finish(flow)
    assert flow.landed == SIGNED_IN
    token = flow.session_token(stack.auth.url)
    assert token is not None
    session = stack.better_auth.get_session(token)
    assert session is not None
    assert session["user"]["email"] == account.email

    # Used state: Better-Auth deleted it; loading the callback again gets its error page.
    flow.browser.open("GET", flow.callback_url)
    assert flow.browser.last_url is not None
    assert query(flow.browser.last_url)["error"] == "state_mismatch"


def test_denied_consent_signs_nobody_in(stack: Stack) -> None:
    account = OTHERS[1]
    flow = follow(to_callback(stack, account, consent="/abort"))
    if before(1, 7):  # 1.6 sends a refused sign-in to its own error page, not errorCallbackURL
        assert flow.landed.startswith(f"{stack.auth.url}/api/auth/error?"), flow.browser.hops
    else:
        assert flow.landed.startswith(f"{SIGN_IN_FAILED}?"), flow.browser.hops
    assert query(flow.landed)["error"] == "access_denied"
    assert flow.session_token(stack.auth.url) is None
    users = stack.database.fetch("""SELECT id FROM "user" WHERE email = $1""", account.email)
    assert users == []


@pytest.mark.parametrize(
    ("provider_id", "authorize", "client_id"),
    [
        ("google", "https://accounts.google.com/", GOOGLE["GOOGLE_CLIENT_ID"]),
        ("github", "https://github.com/login/oauth/authorize", GITHUB["GITHUB_CLIENT_ID"]),
    ],
)
def test_google_and_github_sign_in_start_at_their_providers(
    stack: Stack, provider_id: str, authorize: str, client_id: str
) -> None:
    url = start(stack, new_browser(), provider_id)
    assert url.startswith(authorize)
    asked = query(url)
    assert asked["client_id"] == client_id
    assert asked["redirect_uri"] == f"{stack.auth.url}/api/auth/callback/{provider_id}"
    assert asked["state"]


def test_unconfigured_provider_is_not_found_and_the_log_names_redirect_uris(
    stack: Stack,
) -> None:
    response = BetterAuthClient(stack.auth.url).request(
        "POST", "/api/auth/sign-in/social", json_body={"provider": "discord"}
    )
    assert response.status_code == 404
    assert error_code(response) == "PROVIDER_NOT_FOUND"
    callback = f"{stack.auth.url}/api/auth/callback"
    assert (
        f"OAuth sign-in: google (redirect URI {callback}/google), github (redirect URI "
        f"{callback}/github), {PROVIDER_ID} (redirect URI "
        f"{stack.auth.url}{generic_oauth_callback(PROVIDER_ID)})"
    ) in stack.auth.output()
