"""Headless Chromium for the end-to-end tests: Debian's ``chromium`` (``make test`` installs it,
``CHROMIUM_PATH`` names another), driven by Playwright. On failure a screenshot of the page is
kept in ``backend/test-artifacts/`` (git-ignored); with ``E2E_SCREENSHOTS=always`` on success too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from devstack.processes import BACKEND_DIR

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = BACKEND_DIR / "test-artifacts"
TIMEOUT_MS = 30_000


def chromium_or_fail() -> Path:
    """The browser, or the test's skip (fail with ``E2E_REQUIRED``) naming what to install."""
    if not CHROMIUM.is_file() or shutil.which(str(CHROMIUM)) is None:
        message = (
            f"{CHROMIUM} is missing: install Chromium (make test does: apt-get install chromium) "
            "or set CHROMIUM_PATH"
        )
        if os.environ.get("E2E_REQUIRED", "").strip().lower() in {"1", "true", "yes", "on"}:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@dataclass
class BrowserPage:
    """A fresh browser page, every line its console printed, and the page errors it raised."""

    page: Page
    console: list[str]
    name: str
    errors: list[str] = field(default_factory=list)

    def screenshot(self) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / f"{self.name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target

    @contextmanager
    def evidence(self) -> Iterator[Page]:
        """The page; when the block fails, a screenshot is kept and named in the failure."""
        try:
            yield self.page
        except BaseException as error:
            target = self.screenshot()
            error.add_note(f"screenshot: {target}\nbrowser console:\n" + "\n".join(self.console))
            raise
        if os.environ.get("E2E_SCREENSHOTS") == "always":
            self.screenshot()


@contextmanager
def open_page(chromium: Path, name: str) -> Iterator[BrowserPage]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        context = instance.new_context(viewport={"width": 1280, "height": 1600})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        opened = BrowserPage(page, [], name)
        page.on("console", lambda message: opened.console.append(message.text))
        page.on("pageerror", lambda error: opened.errors.append(str(error)))
        try:
            yield opened
        finally:
            context.close()
            instance.close()
