"""The admin console (``/admin``) in headless Chromium against the real stack: Better-Auth (with
the console's page, on the API's origin, as a trusted origin) and the API, on PostgreSQL, with an
access-control file that adds a ``support`` and a ``moderator`` role.

Every screen is driven as an admin would: sign in, search, ban, roles, sessions, password,
create, remove, organizations, audit log, and what a ``support`` user is not shown. After each
screen: no Content-Security-Policy report, no console error (but the refusals a test provokes),
and no serious or critical axe-core finding. ``ADMIN_CONSOLE_SCREENSHOTS=docs`` writes each
screen's picture into ``docs/guides/img/`` (the guide's); on failure a screenshot is kept in
``backend/test-artifacts/``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.e2e.access import insert_user
from tests.e2e.better_auth import PASSWORD, error_code
from tests.e2e.console_browser import CHROMIUM_ARGS, ConsolePage, chromium_or_skip, console_page
from tests.e2e.stack import Environment, Stack
from tests.support.console import CONFIG_FILE

pytestmark = pytest.mark.e2e

USERS = "/api/v1/users"
T = TypeVar("T")


def off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run a database helper (``asyncio.run`` inside) in a thread of its own: sync Playwright
    runs an event loop in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


@dataclass(frozen=True)
class Account:
    id: str
    email: str

    @property
    def name(self) -> str:
        return f"Corpus {self.id}"  # what insert_user names them


def new_account(stack: Stack, role: str | None, user_id: str | None = None) -> Account:
    user_id = user_id or secrets.token_hex(16)
    return Account(user_id, off_loop(insert_user, stack.database, user_id, role))


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    shared = {"ACCESS_CONTROL_FILE": str(CONFIG_FILE)}
    with e2e.stack(auth_env=shared, api_env=shared) as running:
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
    return new_account(stack, "admin")


@pytest.fixture
def tab(browser: Browser, request: pytest.FixtureRequest) -> Iterator[ConsolePage]:
    with console_page(browser, f"admin-console-{request.node.name}") as page:
        yield page


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
    target = new_account(stack, "user")
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
    expect(page.get_by_text("Showing 1–1 of 1")).to_be_visible()
    page.get_by_role("link", name=target.name).click()
    tab.heading(target.name)
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

    page.get_by_role("button", name="Sign out").click()
    tab.heading("Sign in")
    page.reload()
    tab.heading("Sign in")
    assert tab.problems(frozenset({403})) == []


def test_the_jwt_is_renewed_before_it_expires(
    stack: Stack, tab: ConsolePage, admin: Account
) -> None:
    page = tab.page
    page.clock.install()
    tokens: list[str] = []
    page.on("request", lambda r: tokens.append(r.url) if r.url.endswith("/api/auth/token") else None)
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
