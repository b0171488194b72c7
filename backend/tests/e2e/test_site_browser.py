"""The documentation site (``make docs``) in a real browser, opened from disk with the network cut
off: it is built from this tree with ``--strict``, every request that is not a file of the site
is aborted and fails the test, and no page may raise a script error.

- navigation: the left-hand navigation leads from the home page to a page of each section;
- search: typing in the search box lists the runbook that matches, and following it opens it;
- code blocks: the tutorial shows the tested files themselves (highlighted, with a copy button),
  not the include lines;
- the request-path diagram is drawn (Mermaid, served with the site).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, Route

from devstack.processes import BACKEND_DIR
from tests.e2e.browser import BrowserPage, chromium_or_fail, open_page

pytestmark = pytest.mark.e2e

ROOT = BACKEND_DIR.parent


@pytest.fixture(scope="module")
def chromium() -> Path:
    return chromium_or_fail()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as ``make docs`` builds it, into a folder of its own."""
    uv = shutil.which(os.environ.get("UV", "uv"))
    if uv is None:
        pytest.fail("uv is not on PATH (make installs it)")
    target = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [
            uv,
            "run",
            "--frozen",
            "--project",
            "backend",
            "--only-group",
            "docs",
            "mkdocs",
            "build",
            "--strict",
            "--site-dir",
            str(target),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    return target


class Offline:
    """Aborts every request that is not a file of the site, and remembers it."""

    def __init__(self, site: Path) -> None:
        self.prefix = site.resolve().as_uri()
        self.refused: list[str] = []

    def __call__(self, route: Route, request: Request) -> None:
        if request.url.startswith(self.prefix):
            route.continue_()
        else:
            self.refused.append(request.url)
            route.abort()


@pytest.fixture
def browser(chromium: Path, site: Path, request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    with open_page(chromium, request.node.name) as opened:
        offline = Offline(site)
        opened.page.context.route("**/*", offline)
        yield opened
        assert offline.refused == [], "the site asked the network for these"
        assert opened.errors == [], "script errors"


def open_site(page: Page, site: Path, path: str = "index.html") -> None:
    page.goto((site / path).as_uri())


def wait_for_title(page: Page, title: str) -> None:
    """The page's own heading (Material adds a ¶ permalink to it)."""
    page.locator("article h1").filter(has_text=title).first.wait_for()


def test_navigation_leads_to_each_section(site: Path, browser: BrowserPage) -> None:
    with browser.evidence() as page:
        open_site(page, site)
        wait_for_title(page, "Better-Auth backend")
        navigation = page.locator("nav.md-nav--primary")
        for section, link, heading, path in [
            (None, "Getting started", "Getting started", "getting-started.html"),
            (None, "Caches and invalidation", "Caches and invalidation", "concepts/caches.html"),
            (
                None,
                "Tutorial: your own endpoint",
                "Tutorial: your own endpoint",
                "guides/your-own-endpoint.html",
            ),
            (None, "Settings", "Settings", "reference/settings.html"),
            (
                "Runbooks",  # a collapsed section: opened first
                "Database failover",
                "Runbook: database failover",
                "operations/runbooks/database-failover.html",
            ),
        ]:
            if section is not None:
                navigation.locator("label.md-nav__link", has_text=section).first.click()
            navigation.get_by_role("link", name=link, exact=True).first.click()
            page.wait_for_url(f"**/{path}")
            wait_for_title(page, heading)


def test_search_finds_a_runbook(site: Path, browser: BrowserPage) -> None:
    with browser.evidence() as page:
        open_site(page, site)
        search = page.get_by_placeholder("Search")
        search.click()
        search.press_sequentially("failover")  # as typed: Material searches on key events
        result = page.locator(".md-search-result__item a").filter(has_text="database failover")
        result.first.wait_for()
        result.first.click()
        page.wait_for_url("**/operations/runbooks/database-failover.html*")
        wait_for_title(page, "Runbook: database failover")


def test_code_blocks_show_the_tested_files(site: Path, browser: BrowserPage) -> None:
    model = (BACKEND_DIR / "tutorial" / "app" / "models" / "project.py").read_text()
    with browser.evidence() as page:
        open_site(page, site, "guides/your-own-endpoint.html")
        block = page.locator(".highlight", has_text="class Project(Base):").first
        block.wait_for()
        assert block.locator("code").inner_text().strip() == model.strip()
        assert block.locator("span.k").count() > 0, "not highlighted"
        assert block.locator(".filename").inner_text() == "backend/app/models/project.py"
        copy = page.locator("pre button[data-md-type='copy']")  # added by the page's script
        copy.first.wait_for()
        assert copy.count() >= 8
        assert "--8<--" not in page.locator("article").inner_text()


def test_the_request_path_diagram_is_drawn(site: Path, browser: BrowserPage) -> None:
    """Material swaps the Mermaid source for the drawing, in a closed shadow root: the source is
    gone and a drawing of the diagram's size took its place."""
    with browser.evidence() as page:
        open_site(page, site, "concepts/request-path.html")
        drawing = page.locator("div.mermaid").first
        drawing.wait_for()
        assert page.locator("pre.mermaid").count() == 0
        box = drawing.bounding_box()
        assert box is not None
        assert box["width"] > 400
        assert box["height"] > 100
