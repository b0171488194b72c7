"""The documentation pages in a real browser (Debian's headless Chromium, driven by Playwright),
against the real stack: Swagger UI loads with no network but the API's, accepts a JWT from the
real Better-Auth in its "Authorize" dialog, and "Try it out" on ``GET /api/v1/users/me`` answers
200 with the user's e-mail; ReDoc renders the same contract. No page may report a Content
Security Policy violation.

On failure a screenshot of the page is kept in ``backend/test-artifacts/`` (``tests/e2e/browser``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e.better_auth import SignedIn
from tests.e2e.browser import BrowserPage, chromium_or_fail, open_page
from tests.e2e.stack import Environment, Stack

pytestmark = pytest.mark.e2e

# ReDoc's "API docs by Redocly" footer logo: an image from its CDN, which the policy refuses;
# ReDoc removes the image when it fails to load. Every other refusal fails the test.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def chromium() -> Path:
    return chromium_or_fail()


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    with e2e.stack() as running:
        yield running


@pytest.fixture(scope="module")
def user(stack: Stack) -> SignedIn:
    return stack.better_auth.sign_up(name="Docs Reader")


def csp_violations(browser: BrowserPage) -> list[str]:
    return [
        line
        for line in browser.console
        if "Content Security Policy" in line and REDOC_LOGO not in line
    ]


@pytest.fixture
def browser(chromium: Path, request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    with open_page(chromium, request.node.name) as opened:
        yield opened


def test_swagger_ui_authorizes_with_a_better_auth_jwt_and_calls_the_api(
    stack: Stack, user: SignedIn, browser: BrowserPage
) -> None:
    jwt = stack.better_auth.token(user.session_token)
    with browser.evidence() as page:
        swagger_ui_calls_users_me(stack.api.url, page, jwt, user.email)
    assert csp_violations(browser) == []


def swagger_ui_calls_users_me(api_url: str, page: Page, jwt: str, email: str) -> None:
    page.goto(f"{api_url}/docs")

    page.locator("button.authorize").first.click()
    bearer = page.locator(".auth-container", has_text="BetterAuthBearer")
    bearer.locator("input").fill(jwt)
    bearer.get_by_role("button", name="Apply credentials").click()
    bearer.get_by_role("button", name="Remove authorization").wait_for()
    bearer.locator("button.btn-done").click()

    operation = page.locator(
        ".opblock-get", has=page.locator('[data-path="/api/v1/users/me"]')
    ).first
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.execute").click()

    live = operation.locator(".live-responses-table")
    status = live.locator("tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    body = live.locator(".response-col_description pre").first.inner_text()
    assert email in body
    # The request Swagger UI sent carried the JWT (shown in its curl line), and persisted.
    assert "Authorization: Bearer" in operation.locator(".curl-command").inner_text()
    stored = page.evaluate("() => window.localStorage.getItem('authorized') || ''")
    assert "BetterAuthBearer" in stored


def test_redoc_renders_the_contract(stack: Stack, browser: BrowserPage) -> None:
    with browser.evidence() as page:
        page.goto(f"{stack.api.url}/redoc")
        page.get_by_role("heading", name="FastAPI Better-Auth backend").first.wait_for()
        page.get_by_text("/api/v1/users/me").first.wait_for(state="attached")
    assert csp_violations(browser) == []
