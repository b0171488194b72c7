"""The admin console in a real browser: Debian's headless Chromium driven by Playwright, what
the page printed (console messages, uncaught errors), axe-core's accessibility check, and the
screenshots: kept in ``backend/test-artifacts/`` when a test fails, and written as the guide's
pictures (``docs/guides/img/``) with ``ADMIN_CONSOLE_SCREENSHOTS=docs``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from devstack.processes import PROJECT_DIR
from tests.e2e.browser import ARTIFACTS, CHROMIUM

DOCS_IMAGES = PROJECT_DIR / "docs" / "guides" / "img"
CONSOLE_DIR = PROJECT_DIR / "admin-console"
AXE = CONSOLE_DIR / "node_modules" / "axe-core" / "axe.min.js"
CONSOLE_PATH = "/admin/"
TIMEOUT_MS = 20_000
VIEWPORT = {"width": 1280, "height": 860}
# What Chromium prints for an answer that is not 2xx: expected where a test provokes a refusal.
REFUSED_RESOURCE = re.compile(
    r"^Failed to load resource: the server responded with a status of (\d+)"
)


def required() -> bool:
    return os.environ.get("E2E_REQUIRED", "").strip().lower() in {"1", "true", "yes", "on"}


def chromium_or_skip() -> Path:
    problems = []
    if not CHROMIUM.is_file() or shutil.which(str(CHROMIUM)) is None:
        problems.append(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    if not (CONSOLE_DIR / "dist" / "index.html").is_file() or not AXE.is_file():
        problems.append("the admin console is not built: make admin-console (make test-e2e does)")
    if problems:
        if required():
            pytest.fail("; ".join(problems))
        pytest.skip("; ".join(problems))
    return CHROMIUM


@dataclass
class ConsolePage:
    """One browser tab on the console, with every line it printed."""

    page: Page
    name: str
    # (type, text, the address of the page that printed it)
    messages: list[tuple[str, str, str]] = field(default_factory=list)

    def problems(self, allowed_statuses: frozenset[int] = frozenset()) -> list[str]:
        """Content-Security-Policy reports, uncaught errors and console errors of the console's
        pages, except the failed loads of refusals the test provoked on purpose
        (``allowed_statuses``). Other sites' pages the tab passes through (an OpenID provider's
        sign-in) are theirs: a missing favicon there is no fault of the console."""
        found = []
        for kind, text, url in self.messages:
            if not urlsplit(url).path.startswith(CONSOLE_PATH):
                continue
            if "Content Security Policy" in text or "Content-Security-Policy" in text:
                found.append(f"CSP: {text}")
            elif kind in {"error", "pageerror"}:
                match = REFUSED_RESOURCE.match(text)
                if match is None or int(match.group(1)) not in allowed_statuses:
                    found.append(f"{kind}: {text}")
        return found

    def accessibility_violations(self) -> list[str]:
        """axe-core's serious and critical findings on what the page shows now."""
        violations: list[dict[str, Any]] = self.page.evaluate(
            """async () => {
                const result = await window.axe.run(document, { resultTypes: ["violations"] });
                return result.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
                }));
            }"""
        )
        return [
            f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
            for v in violations
            if v["impact"] in {"serious", "critical"}
        ]

    def check(self, screen: str, allowed_statuses: frozenset[int] = frozenset()) -> None:
        """The screen as it is now: accessible, and nothing wrong printed so far; its picture
        for the guide when asked for."""
        violations = self.accessibility_violations()
        assert violations == [], f"axe on {screen}: {violations}"
        problems = self.problems(allowed_statuses)
        assert problems == [], f"browser console on {screen}: {problems}"
        if os.environ.get("ADMIN_CONSOLE_SCREENSHOTS") == "docs":
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            # The whole screen; with a dialog open, what the viewport shows (the dialog).
            dialog_open = self.page.locator("dialog[open]").count() > 0
            target = DOCS_IMAGES / f"admin-console-{screen}.png"
            self.page.screenshot(path=str(target), full_page=not dialog_open)

    def screenshot(self) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / f"{self.name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target

    # -- what an admin does --

    def sign_in(self, api_url: str, email: str, password: str) -> None:
        self.page.goto(f"{api_url}/admin/")
        self.page.get_by_role("heading", name="Sign in").wait_for()
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.get_by_role("navigation", name="Sections").wait_for()

    def open(self, api_url: str, route: str) -> None:
        """A bookmarked screen: the console at ``#/route``."""
        self.page.goto(f"{api_url}/admin/#/{route}")

    def heading(self, name: str) -> None:
        expect(self.page.get_by_role("heading", level=1, name=name)).to_be_visible()

    def notice(self, text: str) -> None:
        expect(self.page.get_by_role("status")).to_contain_text(text)

    def dialog(self, name: str) -> Any:
        dialog = self.page.get_by_role("dialog", name=name)
        expect(dialog).to_be_visible()
        return dialog


@contextmanager
def console_page(browser: Browser, name: str) -> Iterator[ConsolePage]:
    """A fresh browser context (no cookies) with axe-core injected; on failure a screenshot
    and the page's console are added to the report."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    # Injected by the browser before the page's own scripts: the console's policy does not
    # apply to it (an inline <script> would be refused), and the console never ships it.
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    console = ConsolePage(page, name)

    def on_message(message: ConsoleMessage) -> None:
        console.messages.append((message.type, message.text, page.url))

    def on_error(error: Exception) -> None:
        console.messages.append(("pageerror", str(error), page.url))

    page.on("console", on_message)
    page.on("pageerror", on_error)
    try:
        yield console
    except BaseException as error:
        target = console.screenshot()
        lines = "\n".join(f"[{kind}] {text} (on {url})" for kind, text, url in console.messages)
        error.add_note(f"screenshot: {target}\nbrowser console:\n{lines}")
        raise
    finally:
        context.close()
