"""The admin console (``/admin``) in headless Chromium against the real stack: Better-Auth (with
the console's page, on the API's origin, as a trusted origin, and a real OpenID Connect provider,
tests/support/oidc_provider, as its genericOAuth provider) and the API, on PostgreSQL, with an
access-control file that adds a ``support`` and a ``moderator`` role, and dynamic organization
roles (``ORGANIZATION_DYNAMIC_ROLES``) on both servers.

Every screen is driven as an admin would: sign in (email and password, and through the OpenID
provider), search, ban, roles, sessions, password, create, remove, organizations, audit log, the
refusals (self-ban, self-demotion, self-removal, the last admin), what a ``support`` user is not
shown, and the member controls a dynamic organization role grants. After each screen: no
Content-Security-Policy report, no console error (but the refusals a test provokes), and no
serious or critical axe-core finding. ``ADMIN_CONSOLE_SCREENSHOTS=docs`` writes each screen's
picture into ``docs/guides/img/`` (the guide's); on failure a screenshot is kept in
``backend/test-artifacts/``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from devstack.processes import started
from tests.e2e.access import insert_user
from tests.e2e.better_auth import PASSWORD, error_code, unique_email
from tests.e2e.browser import CHROMIUM_ARGS
from tests.e2e.console_browser import ConsolePage, chromium_or_skip, console_page
from tests.e2e.stack import Environment, Stack
from tests.e2e.versions import before, generic_oauth_callback
from tests.support.console import CONFIG_FILE
from tests.support.oidc import OidcAccount, OidcClient, OidcProvider, oidc_provider_problem

pytestmark = pytest.mark.e2e

USERS = "/api/v1/users"
T = TypeVar("T")
# The auth server's genericOAuth provider, and its button on the console's sign-in screen.
PROVIDER_ID = "local-oidc"
PROVIDER_BUTTON = "Continue with Local OIDC"
# Ada, the module's admin, also has an account at the provider, with the same (verified) email:
# signing in there links it to her user (Better-Auth's implicit account linking).
ADMIN_AT_PROVIDER = OidcAccount(email=unique_email("ada-admin"), name="Ada at the provider")
# RFC 8252: a native client's loopback redirect URI matches on any port.
OIDC_CLIENT = OidcClient(redirect_uris=(f"http://127.0.0.1{generic_oauth_callback(PROVIDER_ID)}",))


def off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run a database helper (``asyncio.run`` inside) in a thread of its own: sync Playwright
    runs an event loop in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    name: str


def new_account(stack: Stack, role: str | None, name: str, email: str | None = None) -> Account:
    """A user with a password (PASSWORD), named ``name``, with a unique e-mail made of it."""
    user_id = secrets.token_hex(16)
    email = email or f"{name.lower().replace(' ', '.')}-{secrets.token_hex(3)}@example.com"
    off_loop(partial(insert_user, name=name, email=email), stack.database, user_id, role)
    return Account(user_id, email, name)


@pytest.fixture(scope="module")
def provider(e2e: Environment) -> Iterator[OidcProvider]:
    problem = oidc_provider_problem()
    if problem is not None:
        pytest.fail(problem)  # the e2e prerequisites hold, so `make test-e2e` installs it too
    server = OidcProvider(
        log_dir=e2e.log_dir, clients=(OIDC_CLIENT,), accounts=(ADMIN_AT_PROVIDER,)
    )
    with started(server):
        yield server


@pytest.fixture(scope="module")
def stack(e2e: Environment, provider: OidcProvider) -> Iterator[Stack]:
    # Dynamic organization roles on (both servers), for the member controls' test.
    shared = {"ACCESS_CONTROL_FILE": str(CONFIG_FILE), "ORGANIZATION_DYNAMIC_ROLES": "true"}
    oidc = {
        "OIDC_DISCOVERY_URL": provider.discovery_url,
        "OIDC_CLIENT_ID": OIDC_CLIENT.client_id,
        "OIDC_CLIENT_SECRET": OIDC_CLIENT.client_secret,
        "OIDC_PROVIDER_ID": PROVIDER_ID,
    }
    # What the auth server enables, told to the console (Better-Auth does not list it).
    console = {"ADMIN_CONSOLE_SIGN_IN_PROVIDERS": f"{PROVIDER_ID}=Local OIDC"}
    with e2e.stack(auth_env={**shared, **oidc}, api_env={**shared, **console}) as running:
        # The console's page runs on the API's origin and signs in on the auth server: that
        # origin must be trusted there (Origin check, CORS with credentials), as make run does.
        running.auth.restart(TRUSTED_ORIGINS=running.api.url)
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = chromium_or_skip()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Account:
    """The module's only admin (the last-admin test counts on it)."""
    ada = new_account(stack, "admin", "Ada Admin", email=ADMIN_AT_PROVIDER.email)
    off_loop(
        stack.database.execute,
        """UPDATE "user" SET "emailVerified" = true WHERE id = $1""",
        ada.id,
    )
    return ada


@pytest.fixture
def tab(browser: Browser, request: pytest.FixtureRequest) -> Iterator[ConsolePage]:
    with console_page(browser, f"admin-console-{request.node.name}") as page:
        yield page


def showing(first: int, last: int, total: int) -> str:
    """The pagination's range line ("Showing 11-20 of 23", with an en dash)."""
    return f"Showing {first}\N{EN DASH}{last} of {total}"


def api_jwt(stack: Stack, email: str, password: str = PASSWORD) -> str:
    return stack.better_auth.token(stack.better_auth.sign_in(email, password).session_token)


def api_json(stack: Stack, path: str, token: str, **params: Any) -> Any:
    response = stack.api_request("GET", path, token=token, params=params or None)
    assert response.status_code == 200, response.text
    return response.json()


# --- sign in, find, ban -------------------------------------------------------------------------


def test_admin_signs_in_finds_a_user_bans_them_and_their_next_call_is_refused(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    target = new_account(stack, "user", "Tom Target")
    target_jwt = api_jwt(stack, target.email)
    assert stack.api_get(f"{USERS}/me", token=target_jwt).status_code == 200

    page = tab.page
    page.goto(f"{stack.api.url}/admin/")
    tab.heading("Sign in")
    tab.check("sign-in")
    tab.sign_in(stack.api.url, admin.email, PASSWORD)
    tab.heading("Users")
    # The JWT lives in the page's memory only.
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0

    page.get_by_label("Search", exact=True).fill(target.email)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"#/users\?search="))
    expect(page.get_by_text(showing(1, 1, 1))).to_be_visible()
    page.get_by_role("link", name=target.name).click()
    tab.heading(target.name)
    # The profile lists the linked accounts the API shows (here the password's).
    profile = page.get_by_role("region", name="Profile")
    expect(profile.get_by_text("Linked accounts")).to_be_visible()
    expect(profile.get_by_text(f"credential ({target.id})")).to_be_visible()
    tab.check("user")

    page.get_by_role("button", name="Ban user…").click()
    dialog = tab.dialog(f"Ban {target.email}?")
    dialog.get_by_label("Reason").fill("Spamming the forum")
    dialog.get_by_label("Ban ends").select_option(label="7 days")
    tab.check("ban-dialog")
    dialog.get_by_role("button", name="Ban user").click()
    tab.notice(f"{target.email} is banned.")
    expect(page.get_by_text("Spamming the forum")).to_be_visible()
    expect(page.get_by_role("button", name="Unban")).to_be_visible()
    tab.check("user-banned")

    # The ban revoked the user's sessions: their JWT is refused at the API, and Better-Auth
    # refuses their next sign-in.
    refused = stack.api_get(f"{USERS}/me", token=target_jwt)
    assert refused.status_code in {401, 403}, refused.text
    again = stack.better_auth.sign_in_response(target.email)
    assert (again.status_code, error_code(again)) == (403, "BANNED_USER")
    admin_jwt = api_jwt(stack, admin.email)
    banned = api_json(stack, f"{USERS}/{target.id}", admin_jwt)
    assert (banned["banned"], banned["banReason"]) == (True, "Spamming the forum")
    assert banned["banExpires"] is not None

    page.get_by_role("button", name="Unban").click()
    tab.notice("is no longer banned")
    expect(page.get_by_role("button", name="Ban user…")).to_be_visible()
    assert api_json(stack, f"{USERS}/{target.id}", admin_jwt)["banned"] is False


def at_the_provider(tab: ConsolePage, provider: OidcProvider, account: OidcAccount) -> Any:
    """The provider's own pages: its sign-in form (unless it remembers the browser), then its
    consent form, whose buttons are returned."""
    page = tab.page
    page.wait_for_url(f"{provider.url}/**")
    question = page.get_by_role("heading", level=1)
    expect(question).to_have_text(re.compile("^(Sign in|Authorize)$"))
    if question.inner_text() == "Sign in":
        page.get_by_label("Email").fill(account.email)
        page.get_by_label("Password").fill(account.password)
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Authorize")
    return page


@pytest.fixture
def unlinked_afterwards(stack: Stack, admin: Account) -> Iterator[None]:
    """Ada's provider account is taken off after the test: with it, each of her sign-outs in the
    other tests would go on to the provider's logout."""
    yield
    off_loop(
        stack.database.execute,
        """DELETE FROM account WHERE "userId" = $1 AND "providerId" = $2""",
        admin.id,
        PROVIDER_ID,
    )


@pytest.mark.usefixtures("unlinked_afterwards")
def test_an_admin_signs_in_through_the_oidc_provider_and_lands_in_the_console(
    stack: Stack, tab: ConsolePage, admin: Account, provider: OidcProvider
) -> None:
    """The button of the provider the API names (ADMIN_CONSOLE_SIGN_IN_PROVIDERS): Better-Auth's
    ``signIn.social``, the provider's sign-in and consent, Better-Auth's callback, and back to the
    console's screen the admin had open, signed in. A refusal on the way comes back in words."""
    page = tab.page
    # A link with Better-Auth's ?error= made by anyone: the console words the code itself and
    # never shows the description that came with it; the URL is cleaned.
    page.goto(f"{stack.api.url}/admin/?error=constructor&error_description=Call+0800+now#/users")
    tab.heading("Sign in")
    expect(page.get_by_role("alert")).to_have_text(
        "The auth server could not complete the sign-in (constructor). "
        "Try again, or use another way to sign in."
    )
    expect(page.get_by_text("0800")).to_have_count(0)
    expect(page).to_have_url(f"{stack.api.url}/admin/#/users")

    tab.open(stack.api.url, f"users/{admin.id}")
    tab.heading("Sign in")

    # Refused at the provider: back on the sign-in screen with the reason, the URL cleaned.
    # (Better-Auth 1.6 sends a refusal to its own /api/auth/error page, never to the console.)
    if not before(1, 7):
        page.get_by_role("button", name=PROVIDER_BUTTON).click()
        at_the_provider(tab, provider, ADMIN_AT_PROVIDER).get_by_role("button", name="Deny").click()
        page.wait_for_url(f"{stack.api.url}/admin/**")
        tab.heading("Sign in")
        expect(page.get_by_role("alert")).to_have_text("The sign-in was cancelled at the provider.")
        assert "error" not in page.url
        tab.check("sign-in-cancelled")

    # Allowed: signed in, on the bookmarked screen, with the provider's account linked to Ada's.
    tab.open(stack.api.url, f"users/{admin.id}")
    page.get_by_role("button", name=PROVIDER_BUTTON).click()
    at_the_provider(tab, provider, ADMIN_AT_PROVIDER).get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{stack.api.url}/admin/#/users/{admin.id}")
    tab.heading(admin.name)
    expect(page.get_by_role("navigation", name="Sections")).to_be_visible()
    expect(page.locator("#account")).to_contain_text(f"{admin.name} (admin)")
    profile = page.get_by_role("region", name="Profile")
    expect(profile.get_by_text(f"{PROVIDER_ID} ({ADMIN_AT_PROVIDER.sub})")).to_be_visible()
    expect(profile.get_by_text(f"credential ({admin.id})")).to_be_visible()
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    tab.check("signed-in-through-the-provider")

    # A reload keeps the Better-Auth session the provider's sign-in made.
    page.reload()
    tab.heading(admin.name)

    # Signing out ends it, and Better-Auth 1.7 sends the browser on to the provider's logout
    # (RP-initiated): on a shared computer the next person cannot walk back in through the
    # provider. After that, the provider asks for the password again.
    page.get_by_role("button", name="Sign out").click()
    if before(1, 7):  # 1.6 has no RP-initiated logout: its session ends, the provider's stays
        tab.heading("Sign in")
        assert tab.problems() == []
        return
    page.wait_for_url(f"{provider.url}/**")
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_load_state()
    tab.open(stack.api.url, "users")
    tab.heading("Sign in")
    page.get_by_role("button", name=PROVIDER_BUTTON).click()
    page.wait_for_url(f"{provider.url}/**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert tab.problems() == []


@pytest.fixture
def providers_only(stack: Stack) -> Iterator[None]:
    """The API restarted for an auth server without email and password, and with a button for
    a provider the auth server does not have (github); as it was afterwards."""
    before = stack.api.env["ADMIN_CONSOLE_SIGN_IN_PROVIDERS"]
    stack.api.restart(
        ADMIN_CONSOLE_PASSWORD_SIGN_IN="false",
        ADMIN_CONSOLE_SIGN_IN_PROVIDERS=f"{before},github",
    )
    yield
    stack.api.restart(ADMIN_CONSOLE_PASSWORD_SIGN_IN=None, ADMIN_CONSOLE_SIGN_IN_PROVIDERS=before)


@pytest.mark.usefixtures("providers_only")
def test_without_email_and_password_only_the_providers_are_offered(
    stack: Stack, tab: ConsolePage
) -> None:
    page = tab.page
    page.goto(f"{stack.api.url}/admin/")
    tab.heading("Sign in")
    expect(page.get_by_label("Email")).to_have_count(0)
    expect(page.get_by_role("button", name=PROVIDER_BUTTON)).to_be_focused()
    tab.check("sign-in-providers-only")
    # A provider the auth server does not have: Better-Auth's refusal, in its words.
    page.get_by_role("button", name="Continue with GitHub").click()
    expect(page.get_by_role("alert")).to_contain_text("Provider not found")
    expect(page).to_have_url(f"{stack.api.url}/admin/")
    assert tab.problems(frozenset({404})) == []


def test_refusals_show_better_auth_s_message_and_sign_out_ends_the_session(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    page = tab.page
    tab.sign_in(stack.api.url, admin.email, PASSWORD)
    tab.open(stack.api.url, f"users/{admin.id}")
    tab.heading(admin.name)
    page.get_by_role("button", name="Ban user…").click()
    dialog = tab.dialog(f"Ban {admin.email}?")
    dialog.get_by_role("button", name="Ban user").click()
    expect(dialog.get_by_role("alert")).to_contain_text("You cannot ban yourself")
    tab.check("refusal", allowed_statuses=frozenset({403}))
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    # An admin may not take their own admin role away: the API's guard, in its words.
    page.get_by_role("checkbox", name="admin").uncheck()
    page.get_by_role("checkbox", name="support").check()
    page.get_by_role("button", name="Save roles").click()
    expect(page.get_by_role("alert")).to_contain_text("an admin cannot be demoted by themself")
    expect(page.get_by_role("alert")).to_contain_text("CANNOT_DEMOTE_SELF")
    page.reload()
    tab.heading(admin.name)

    # Nor remove themself: Better-Auth's message, in the dialog, which stays open.
    page.get_by_role("button", name="Remove user…").click()
    dialog = tab.dialog(f"Remove {admin.email}?")
    dialog.get_by_label("Type the user's email to confirm").fill(admin.email)
    dialog.get_by_role("button", name="Remove user").click()
    expect(dialog.get_by_role("alert")).to_contain_text("You cannot remove yourself")
    expect(dialog.get_by_role("alert")).to_contain_text("YOU_CANNOT_REMOVE_YOURSELF")
    tab.check("self-removal-refusal", allowed_statuses=frozenset({403}))
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    tab.heading("Sign in")
    page.reload()
    tab.heading("Sign in")
    assert tab.problems(frozenset({403})) == []


def test_the_last_admin_cannot_be_banned_and_the_console_says_so(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    """A ``moderator`` (``user: ban`` from the access-control file, not in ADMIN_ROLES) may ban,
    but not Ada, the only admin: the API's guard, 409 ``LAST_ADMIN``, in the ban dialog."""
    moderator = new_account(stack, "moderator", "Max Moderator")
    page = tab.page
    tab.sign_in(stack.api.url, moderator.email, PASSWORD)
    tab.open(stack.api.url, f"users/{admin.id}")
    tab.heading(admin.name)
    page.get_by_role("button", name="Ban user…").click()
    dialog = tab.dialog(f"Ban {admin.email}?")
    dialog.get_by_label("Reason").fill("Testing the guard")
    dialog.get_by_role("button", name="Ban user").click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("the last admin cannot be banned")
    expect(alert).to_contain_text("Code: LAST_ADMIN (HTTP 409)")
    tab.check("last-admin-refusal", allowed_statuses=frozenset({409}))
    page.keyboard.press("Escape")
    admin_jwt = api_jwt(stack, admin.email)
    assert api_json(stack, f"{USERS}/{admin.id}", admin_jwt)["banned"] is False


def test_the_jwt_is_renewed_before_it_expires(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    page = tab.page
    page.clock.install()
    tokens: list[str] = []
    page.on("request", lambda r: tokens.append(r.url) if r.url.endswith("/auth/token") else None)
    tab.sign_in(stack.api.url, admin.email, PASSWORD)
    tab.heading("Users")
    assert len(tokens) == 1
    # Better-Auth's JWTs live 15 minutes; the console asks for the next one a minute before.
    page.clock.run_for("13:00")
    assert len(tokens) == 1
    with page.expect_request(lambda r: r.url.endswith("/api/auth/token")):
        page.clock.run_for("02:00")
    page.get_by_role("link", name="Users").click()
    tab.heading("Users")
    assert tab.problems() == []


# --- what a support user sees -------------------------------------------------------------------


def test_support_sees_no_ban_button_and_a_forced_call_gets_403(
    stack: Stack, tab: ConsolePage
) -> None:
    support = new_account(stack, "support", "Sam Support")
    target = new_account(stack, "user", "Uma User")
    page = tab.page
    tab.sign_in(stack.api.url, support.email, PASSWORD)
    tab.heading("Users")
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    expect(page.get_by_role("link", name="Create user")).to_have_count(0)

    tab.open(stack.api.url, f"users/{target.id}")
    tab.heading(target.name)
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()  # session: list
    changes = re.compile(r"^(Ban user…|Unban|Save roles|Set password…|Remove user…|Revoke.*)$")
    expect(page.get_by_role("button", name=changes)).to_have_count(0)
    tab.check("user-as-support")

    # The audit log is not in the menu; opened by its URL, the API's 403 is shown in words.
    tab.open(stack.api.url, "audit")
    expect(page.get_by_role("alert")).to_contain_text("requires an admin role")
    tab.check("audit-refused", allowed_statuses=frozenset({403}))

    # A ban forced past the console (its own JWT, straight to the API) is refused the same way.
    forced = stack.api_request(
        "POST", f"{USERS}/{target.id}/ban", token=api_jwt(stack, support.email), json_body={}
    )
    assert forced.status_code == 403, forced.text
    assert (forced.json()["code"], forced.json()["message"]) == (
        "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS",
        "You are not allowed to ban users",
    )


# --- create, roles, sessions, password, remove, and the audit log of it all ---------------------


def test_create_roles_sessions_password_remove_and_the_audit_log(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    page = tab.page
    email = f"grace-{secrets.token_hex(4)}@example.com"
    tab.sign_in(stack.api.url, admin.email, PASSWORD)
    page.get_by_role("link", name="Create user").click()
    tab.heading("Create user")
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password").fill("first-passphrase-2026")
    page.get_by_role("checkbox", name="support").check()
    tab.check("create-user")
    page.get_by_role("button", name="Create user").click()
    tab.notice(f"Created {email}.")
    tab.heading("Grace Hopper")
    user_id = page.url.rsplit("#/users/", 1)[1]
    admin_jwt = api_jwt(stack, admin.email)
    assert api_json(stack, f"{USERS}/{user_id}", admin_jwt)["role"] == "support,user"

    # Roles: several at once.
    page.get_by_role("checkbox", name="support").uncheck()
    page.get_by_role("checkbox", name="moderator").check()
    page.get_by_role("button", name="Save roles").click()
    tab.notice("Roles saved: moderator, user.")
    assert api_json(stack, f"{USERS}/{user_id}", admin_jwt)["role"] == "moderator,user"

    # Sessions: two devices sign in; revoke one, then all.
    for _ in range(2):
        stack.better_auth.sign_in(email, "first-passphrase-2026")
    page.reload()
    sessions = page.get_by_role("table", name=f"Sessions of {email}").locator("tbody tr")
    expect(sessions).to_have_count(2)
    sessions.first.get_by_role("button", name=re.compile("^Revoke session")).click()
    tab.dialog("Revoke this session?").get_by_role("button", name="Revoke session").click()
    tab.notice("Session revoked.")
    expect(sessions).to_have_count(1)
    page.get_by_role("button", name="Revoke all sessions…").click()
    tab.dialog(re.compile("^Revoke all 1 sessions")).get_by_role(
        "button", name="Revoke all sessions"
    ).click()
    tab.notice("All sessions revoked.")
    expect(page.get_by_text("No active sessions.")).to_be_visible()
    assert api_json(stack, f"{USERS}/{user_id}/sessions", admin_jwt)["sessions"] == []

    # Set password: the user signs in with the new one.
    page.get_by_role("button", name="Set password…").click()
    dialog = tab.dialog(f"Set a new password for {email}")
    dialog.get_by_label("New password").fill("second-passphrase-2026")
    dialog.get_by_role("button", name="Set password").click()
    tab.notice("Password set.")
    assert stack.better_auth.sign_in_response(email, "second-passphrase-2026").status_code == 200

    # Remove, with the email typed to confirm.
    page.get_by_role("button", name="Remove user…").click()
    dialog = tab.dialog(f"Remove {email}?")
    dialog.get_by_label("Type the user's email to confirm").fill(email)
    tab.check("remove-dialog")
    dialog.get_by_role("button", name="Remove user").click()
    tab.notice(f"Removed {email}.")
    tab.heading("Users")
    gone = stack.api_get(f"{USERS}/{user_id}", token=admin_jwt)
    assert gone.status_code == 404, gone.text

    # The audit log shows each of those actions against the user.
    page.get_by_role("link", name="Audit log").click()
    tab.heading("Audit log")
    page.get_by_label("Target (id)").fill(user_id)
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_role("table", name="Audit events, newest first").locator("tbody tr")
    expect(rows).to_have_count(6)
    actions = [text.strip() for text in rows.locator("td:nth-child(2)").all_inner_texts()]
    assert actions == [
        "user.remove",
        "user.password.set",
        "session.revoke_all",
        "session.revoke",
        "user.role.set",
        "user.create",
    ]
    expect(rows.first).to_contain_text(admin.id)
    tab.check("audit")


def test_the_audit_log_marks_impersonated_actions(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    moderator = new_account(stack, "moderator", "Mo Moderator")
    target = new_account(stack, "user", "Vic Victim")
    admin_session = stack.better_auth.sign_in(admin.email).session_token
    impersonation = stack.better_auth.request(
        "POST",
        "/api/auth/admin/impersonate-user",
        token=admin_session,
        json_body={"userId": moderator.id},
    )
    assert impersonation.status_code == 200, impersonation.text
    as_moderator = impersonation.headers["set-auth-token"]
    banned = stack.api_request(
        "POST", f"{USERS}/{target.id}/ban", token=as_moderator, json_body={"banReason": "x"}
    )
    assert banned.status_code == 200, banned.text

    page = tab.page
    tab.sign_in(stack.api.url, admin.email, PASSWORD)
    tab.open(stack.api.url, f"audit?actorId={moderator.id}&action=user.ban")
    tab.heading("Audit log")
    expect(page.get_by_label("Actor (user id)")).to_have_value(moderator.id)
    row = page.get_by_role("table", name="Audit events, newest first").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"Impersonated by {admin.id}")
    expect(row).to_contain_text(target.id)
    tab.check("audit-impersonated")


# --- pages and order agree with the API ---------------------------------------------------


def test_pagination_sorting_and_filters_agree_with_the_api(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    prefix = f"pg{secrets.token_hex(3)}"
    # 23 users in one statement, 6 of them support; e-mails in another order than creation.
    off_loop(
        stack.database.execute,
        """INSERT INTO "user" (id, name, email, "emailVerified", "createdAt", "updatedAt", role)
           SELECT $1 || '-' || n, 'Page ' || n, $1 || '-' || md5(n::text) || '@example.com',
                  false, now() + n * interval '1 second', now(),
                  CASE WHEN n % 4 = 0 THEN 'support' ELSE 'user' END
           FROM generate_series(0, 22) AS n""",
        prefix,
    )
    admin_jwt = api_jwt(stack, admin.email)

    def api_emails(**query: Any) -> tuple[int, list[str]]:
        page = api_json(stack, USERS, admin_jwt, search=prefix, **query)
        return page["total"], [user["email"] for user in page["users"]]

    def shown() -> list[str]:
        table = page.get_by_role("table", name="Users")
        return [text.strip() for text in table.locator("tbody td:nth-child(2)").all_inner_texts()]

    page = tab.page
    tab.sign_in(stack.api.url, admin.email, PASSWORD)
    tab.open(stack.api.url, f"users?search={prefix}&limit=10")
    tab.heading("Users")
    expect(page.get_by_text(showing(1, 10, 23))).to_be_visible()
    assert shown() == api_emails(limit=10)[1]
    tab.check("users")

    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_text(showing(11, 20, 23))).to_be_visible()
    assert shown() == api_emails(limit=10, offset=10)[1]

    # Sorting by a column header starts again at the first page.
    page.get_by_role("link", name="Sort by email, ascending").click()
    expect(page).to_have_url(re.compile("sortBy=email"))
    expect(page.get_by_text(showing(1, 10, 23))).to_be_visible()
    assert shown() == api_emails(limit=10, sortBy="email")[1]
    page.get_by_role("link", name="Sort by email, descending").click()
    expect(page.locator('th[aria-sort="descending"]')).to_have_text("Email ▼")
    total, expected = api_emails(limit=10, sortBy="email", sortDirection="desc")
    assert shown() == expected
    page.get_by_role("link", name="Next page").click()
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_text(showing(21, 23, 23))).to_be_visible()
    assert shown() == api_emails(limit=10, offset=20, sortBy="email", sortDirection="desc")[1]
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)

    # Filters: a role, banned or not; the URL holds the query, so a reload shows the same.
    page.get_by_label("Role").select_option("support")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text(showing(1, 6, 6))).to_be_visible()
    assert shown() == api_emails(limit=10, sortBy="email", sortDirection="desc", role="support")[1]
    page.reload()
    expect(page.get_by_text(showing(1, 6, 6))).to_be_visible()
    expect(page.get_by_label("Role")).to_have_value("support")
    page.get_by_label("Banned").select_option("true")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No users match this search.")).to_be_visible()
    assert total == 23
    assert tab.problems() == []


# --- organizations -------------------------------------------------------------------------------


def new_organization(stack: Stack, members: list[tuple[Account, str]]) -> tuple[str, str]:
    """An organization (its id and name) with these members and roles, written as Better-Auth
    writes them."""
    organization_id = secrets.token_hex(16)
    name = f"Acme {organization_id[:6]}"
    off_loop(
        stack.database.execute,
        """INSERT INTO organization (id, name, slug, "createdAt") VALUES ($1, $2, $3, now())""",
        organization_id,
        name,
        f"acme-{organization_id[:8]}",
    )
    for account, role in members:
        off_loop(
            stack.database.execute,
            """INSERT INTO member (id, "organizationId", "userId", role, "createdAt")
               VALUES ($1, $2, $3, $4, now())""",
            secrets.token_hex(16),
            organization_id,
            account.id,
            role,
        )
    return organization_id, name


def test_organization_members_change_role_and_remove_with_the_owner_rules(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    promoted = new_account(stack, "user", "Pat Promoted")
    removed = new_account(stack, "user", "Rita Removed")
    organization_id, name = new_organization(
        stack, [(admin, "owner"), (promoted, "member"), (removed, "member")]
    )

    page = tab.page
    tab.sign_in(stack.api.url, admin.email, PASSWORD)
    page.get_by_role("link", name="Organizations").click()
    tab.heading("Organizations")
    expect(page.get_by_role("table", name="Your organizations")).to_contain_text("owner")
    tab.check("organizations")
    page.get_by_role("link", name=name).click()
    tab.heading(name)
    members = page.get_by_role("table", name=f"Members of {name}").locator("tbody tr")
    expect(members).to_have_count(3)
    tab.check("organization")

    row = members.filter(has_text=promoted.email)
    row.get_by_label(f"Role of {promoted.email}").select_option("admin")
    row.get_by_role("button", name="Save").click()
    tab.notice(f"{promoted.email} is now admin in {name}.")
    expect(members.filter(has_text=promoted.email)).to_contain_text("admin")

    removing = members.filter(has_text=removed.email)
    removing.get_by_role("button", name=f"Remove {removed.email}").click()
    tab.dialog(f"Remove {removed.email} from {name}?").get_by_role(
        "button", name="Remove member"
    ).click()
    tab.notice(f"Removed {removed.email} from {name}.")
    expect(members).to_have_count(2)

    # The only owner may not step down: the API's (Better-Auth's) refusal, in its words.
    mine = members.filter(has_text=admin.email)
    mine.get_by_label(f"Role of {admin.email}").select_option("member")
    mine.get_by_role("button", name="Save").click()
    expect(mine.get_by_role("alert")).to_contain_text(
        "You cannot leave the organization without an owner"
    )
    tab.check("organization-refusal", allowed_statuses=frozenset({409}))

    admin_jwt = api_jwt(stack, admin.email)
    roles = {
        member["userId"]: member["role"]
        for member in api_json(
            stack, f"/api/v1/organizations/{organization_id}/members", admin_jwt
        )["members"]
    }
    assert roles == {admin.id: "owner", promoted.id: "admin"}


def test_member_controls_follow_the_api_s_answers_for_dynamic_and_plain_roles(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    """A member whose only role is a dynamic one granting ``member: update`` gets the role
    picker (with that role in it) and no remove button; a plain ``member`` gets neither. The
    console shows what ``/has-permission`` answers, never what role names suggest."""
    steward = new_account(stack, "support", "Stella Steward")
    plain = new_account(stack, "support", "Moe Member")
    other = new_account(stack, "user", "Otto Other")
    organization_id, name = new_organization(
        stack, [(admin, "owner"), (steward, "steward"), (plain, "member"), (other, "member")]
    )
    # The owner creates the role through Better-Auth (dynamic access control).
    owner = stack.better_auth.sign_in(admin.email, PASSWORD)
    created = stack.better_auth.request(
        "POST",
        "/api/auth/organization/create-role",
        token=owner.session_token,
        json_body={
            "organizationId": organization_id,
            "role": "steward",
            "permission": {"member": ["update"]},
        },
    )
    assert created.status_code == 200, created.text
    # The API honours a role Better-Auth created within a second (its NOTIFY feed).
    steward_jwt = api_jwt(stack, steward.email)
    asked = f"/api/v1/organizations/{organization_id}/has-permission"
    update = {"permissions": {"member": ["update"]}}
    deadline = time.monotonic() + 1.0
    while not stack.api_request("POST", asked, token=steward_jwt, json_body=update).json()[
        "success"
    ]:
        assert time.monotonic() < deadline, "the dynamic role was not honoured within a second"
        time.sleep(0.02)

    page = tab.page
    tab.sign_in(stack.api.url, steward.email, PASSWORD)
    tab.heading("Users")
    tab.open(stack.api.url, f"organizations/{organization_id}")
    tab.heading(name)
    table = page.get_by_role("table", name=f"Members of {name}")
    members = table.locator("tbody tr")
    expect(members).to_have_count(4)
    expect(table.get_by_role("columnheader", name="Change role")).to_be_visible()
    expect(table.get_by_role("columnheader", name="Remove")).to_have_count(0)
    expect(table.get_by_role("button", name=re.compile(r"^Remove "))).to_have_count(0)
    # Her own dynamic role is her current value; the owner's row is out of her reach.
    expect(page.get_by_label(f"Role of {steward.email}")).to_have_value("steward")
    expect(members.filter(has_text=admin.email)).to_contain_text(
        "Only an owner can change an owner"
    )
    expect(page.get_by_label(f"Role of {admin.email}")).to_have_count(0)
    tab.check("organization-dynamic-role")

    row = members.filter(has_text=other.email)
    picker = row.get_by_label(f"Role of {other.email}")
    expect(picker.locator("option")).to_have_text(["admin", "member", "steward"])
    picker.select_option("steward")
    row.get_by_role("button", name="Save").click()
    tab.notice(f"{other.email} is now steward in {name}.")
    expect(members.filter(has_text=other.email).locator("td").nth(2)).to_have_text("steward")
    tab.check("organization-dynamic-role-changed")

    page.get_by_role("button", name="Sign out").click()
    tab.sign_in(stack.api.url, plain.email, PASSWORD)
    tab.heading("Users")
    tab.open(stack.api.url, f"organizations/{organization_id}")
    tab.heading(name)
    table = page.get_by_role("table", name=f"Members of {name}")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table.get_by_role("columnheader")).to_have_text(["Name", "Email", "Role", "Joined"])
    expect(table.get_by_role("combobox")).to_have_count(0)
    expect(table.get_by_role("button")).to_have_count(0)
    tab.check("organization-as-member")

    roles = {
        member["userId"]: member["role"]
        for member in api_json(
            stack, f"/api/v1/organizations/{organization_id}/members", steward_jwt
        )["members"]
    }
    assert roles[other.id] == "steward"
