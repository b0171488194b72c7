"""The documentation, checked where a machine can check it.

- every ``Settings`` field has a description and is in ``.env.example``;
- the generated reference pages (docs/reference/: settings, endpoints, error codes) are what the
  code gives now (``make docs-reference``), and list every setting, route and expected code;
- every route of the app is in the committed OpenAPI contract;
- every relative link in the Markdown files resolves (the site's strict build checks anchors);
- every ``make`` target, environment variable, error code, API path and Better-Auth endpoint the
  documents name exists (the Better-Auth calls in their commands are ones the E2E suite makes).

Files only: no database, no server (the conftest fixtures are lazy and none is requested here).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.config import Settings
from app.main import create_app
from scripts.docs_reference import COMMAND, PAGES, REFERENCE
from scripts.reference.error_scan import scan
from scripts.reference.settings_page import rendered_default as default_of

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend"
README = ROOT / "README.md"
SPECS = ROOT / "specs" / "003-fastapi-better-auth"
QUICKSTART = SPECS / "quickstart.md"
DOCS = ROOT / "docs"
TUTORIAL_PAGE = DOCS / "guides" / "your-own-endpoint.md"
TUTORIAL_ROUTER = BACKEND / "tutorial" / "app" / "routers" / "projects.py"
CONTRACT = SPECS / "contracts" / "openapi.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
MAKEFILE = ROOT / "Makefile"

# Files other than Python that read environment variables (whole-word search).
ENV_READERS = (
    ROOT / "Makefile",
    ROOT / ".ci" / "run",
    ROOT / "docker-compose.yml",
    ROOT / "docker-compose.replicas.yml",
    ROOT / "docker-compose.dev.yml",
    ROOT / "scripts" / "dev.sh",
    ROOT / "scripts" / "test-compose.sh",
    ROOT / "scripts" / "test-matrix.sh",
    ROOT / "scripts" / "offline-images.sh",
    ROOT / "scripts" / "docker-engine.sh",
    BACKEND / "Dockerfile",
    BACKEND / "docker-entrypoint.sh",
    ROOT / "auth-server" / "Dockerfile",
    *sorted((ROOT / "auth-server" / "src").glob("*.ts")),
)
# Upper-case identifiers that are neither settings nor this repository's strings.
FOREIGN_IDENTIFIERS = {
    "BANNED_USER",  # Better-Auth's sign-in refusal code
    "MISSING_OR_NULL_ORIGIN",  # Better-Auth's origin check
    "INVALID_ORIGIN",
    "CURRENT_TIMESTAMP",  # SQL
}

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
_IDENTIFIER = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
# A code a test expects: body["code"] == "X", {"code": "X"}, code="X".
_EXPECTED_CODE = re.compile(r"code[\"']?\]?\s*(?:==|:|=)\s*[\"']([A-Z][A-Z0-9_]+)[\"']")
# A module-level constant of the app (API_PREFIX = ...), which a page may show in code.
_CONSTANT = re.compile(r"^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\s*(?::[^=\n]*)?=", re.MULTILINE)
_QUOTED_IDENTIFIER = re.compile(r"[\"']([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)[\"']")


# --- helpers ----------------------------------------------------------------------------------


def markdown_files() -> list[Path]:
    """Every Markdown file the documentation site shows (some through a page that includes it)."""
    files = [
        README,
        ROOT / "SECURITY.md",
        ROOT / "CHANGELOG.md",
        ROOT / "auth-server" / "README.md",
    ]
    files += [ROOT / "clients" / "typescript" / "README.md"]
    files += sorted(SPECS.rglob("*.md")) + sorted(DOCS.rglob("*.md"))
    return [path for path in files if path.is_file()]


def site_pages() -> list[Path]:
    """README and the pages written for the site (not the benchmark's generated reports)."""
    pages = [README, QUICKSTART, *sorted(DOCS.rglob("*.md"))]
    return [page for page in pages if DOCS / "benchmarks" not in page.parents]


def without_code(text: str) -> str:
    """Markdown prose: fenced blocks and inline code removed (links inside them are code)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def code_of(text: str) -> list[str]:
    """The fenced blocks and inline code spans of a Markdown text."""
    blocks = [match.group(0) for match in _FENCE.finditer(text)]
    spans = [match.group(2) for match in _CODE_SPAN.finditer(_FENCE.sub("", text))]
    return blocks + spans


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section (up to the next heading of level 1 or 2)."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^#{{1,2}} |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of the Markdown table rows in ``text`` (header and separator rows dropped)."""
    rows = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|"):
            continue
        cells = [cell.strip() for cell in stripped.strip("|").split("|")]
        if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
            continue
        rows.append(cells)
    return rows[1:] if rows else rows  # the first row is the header


def first_code_span(cell: str) -> str | None:
    match = _CODE_SPAN.search(cell)
    return match.group(2) if match else None


def env_names() -> dict[str, str]:
    """``ENV_NAME`` -> field name, for every setting."""
    return {name.upper(): name for name in Settings.model_fields}


def rendered_default(field_name: str) -> str:
    """A setting's default as written in an environment variable (empty: unset or derived)."""
    return default_of(Settings.model_fields[field_name])


def env_example_names() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def make_targets() -> set[str]:
    text = MAKEFILE.read_text()
    return set(re.findall(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:(?!=)", text, re.MULTILINE))


def route_table(app: FastAPI) -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every API route, however this FastAPI version nests routers
    (the documentation pages, kept out of the schema, are not API routes)."""

    def routes() -> Iterator[tuple[str, set[str]]]:
        try:
            from fastapi.routing import iter_route_contexts  # FastAPI >= 0.13x: lazy includes
        except ImportError:  # pragma: no cover - older FastAPI: flat route list
            for route in app.routes:
                if isinstance(route, APIRoute) and route.include_in_schema:
                    yield route.path, set(route.methods)
            return
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if isinstance(route, APIRoute) and route.include_in_schema:
                yield str(context.path), set(context.methods or ())

    return {(method, path) for path, methods in routes() for method in methods}


def path_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


@pytest.fixture(scope="module")
def routes() -> set[tuple[str, str]]:
    settings = Settings(_env_file=None, docs_enabled=True, log_level="WARNING")  # type: ignore[call-arg]
    table = route_table(create_app(settings))
    assert len(table) > 10
    return table


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


# --- settings --------------------------------------------------------------------------------


def test_every_setting_is_in_env_example() -> None:
    missing = sorted(set(env_names()) - env_example_names())
    assert not missing, f".env.example lacks {missing}"


def test_env_example_names_only_real_variables() -> None:
    readers = "\n".join(path.read_text() for path in ENV_READERS if path.is_file())
    unknown = sorted(
        name
        for name in env_example_names() - set(env_names())
        if not re.search(rf"\b{name}\b", readers)
    )
    assert not unknown, f".env.example names variables nothing reads: {unknown}"


def test_every_setting_has_a_description() -> None:
    missing = sorted(name.upper() for name, f in Settings.model_fields.items() if not f.description)
    assert not missing, (
        f"settings without a description: {missing}; write it as a docstring under the field in "
        f"backend/app/config.py, then run {COMMAND}"
    )


@pytest.mark.parametrize("page", sorted(PAGES), ids=str)
def test_reference_page_is_current(page: str) -> None:
    committed = REFERENCE / page
    assert committed.is_file(), f"docs/reference/{page} is missing: run {COMMAND}"
    assert committed.read_text() == PAGES[page](), (
        f"docs/reference/{page} is stale (the code changed since it was generated): run {COMMAND}"
    )


def test_settings_page_lists_every_setting_with_its_default() -> None:
    documented: dict[str, list[str]] = {}
    for cells in table_rows((REFERENCE / "settings.md").read_text()):
        name = first_code_span(cells[0])
        if name and re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            assert name not in documented, f"{name} is listed twice"
            documented[name] = cells
    names = env_names()
    assert sorted(set(names) - set(documented)) == [], f"settings missing: run {COMMAND}"
    assert sorted(set(documented) - set(names)) == [], f"unknown settings listed: run {COMMAND}"
    for env_name, field_name in names.items():
        default = rendered_default(field_name)
        cell = documented[env_name][2]
        assert (first_code_span(cell) or "") == default, (
            f"default of {env_name} is `{default}`, the page says {cell!r}: run {COMMAND}"
        )


# --- routes ----------------------------------------------------------------------------------


def test_every_route_is_in_the_contract(routes: set[tuple[str, str]]) -> None:
    document = yaml.safe_load(CONTRACT.read_text())
    contract = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method.upper() in HTTP_METHODS
    }
    assert sorted(routes - contract) == [], "routes missing from contracts/openapi.yaml"
    assert sorted(contract - routes) == [], "contracts/openapi.yaml lists routes the app lacks"


def test_endpoints_page_lists_every_route(routes: set[tuple[str, str]]) -> None:
    listed = set()
    for cells in table_rows((REFERENCE / "endpoints.md").read_text()):
        method, path = cells[0].strip("` "), first_code_span(cells[1])
        if method in HTTP_METHODS and path:
            listed.add((method, path))
    assert sorted(routes - listed) == [], f"routes missing from the endpoints page: run {COMMAND}"
    assert sorted(listed - routes) == [], f"the endpoints page lists unknown routes: run {COMMAND}"


def test_error_codes_page_names_every_code_the_tests_expect() -> None:
    """The page is read from the code; the tests say which codes the app really answers with."""
    page = (REFERENCE / "error-codes.md").read_text()
    listed = {first_code_span(cells[0]) for cells in table_rows(page)}
    expected = set()
    for source in (BACKEND / "tests").rglob("*.py"):
        expected |= set(
            re.findall(
                r"code[\"']?\]?\s*(?:==|:|=)\s*[\"']([A-Z][A-Z0-9_]+)[\"']", source.read_text()
            )
        )
    foreign = FOREIGN_IDENTIFIERS | {"PROJECT_NOT_FOUND"}  # Better-Auth's own; the tutorial's
    missing = sorted(expected - listed - foreign)
    assert not missing, f"codes the tests expect but the error-codes page lacks: {missing}"


def tutorial_paths() -> list[str]:
    """The tutorial's own routes: its page names them, the app (rightly) has none."""
    return [
        f"/api/v1{path}"
        for path in re.findall(r'@router\.\w+\(\s*"([^"]+)"', TUTORIAL_ROUTER.read_text())
    ]


def test_api_paths_named_in_documents_exist(routes: set[tuple[str, str]]) -> None:
    app_prefixes = [path for _, path in routes]
    bad = []
    for document in markdown_files():
        if document.parent == ROOT / "auth-server":
            continue
        prefixes = app_prefixes + (tutorial_paths() if document == TUTORIAL_PAGE else [])
        patterns = [path_pattern(path) for path in prefixes]
        for found in re.findall(r"(/api/v1/[^\s`'\")|?#,;]*|/health/\w+)", document.read_text()):
            path = found.rstrip(".:")
            path = re.sub(r"\$\{?\w+\}?|…", "x", path)
            if path.endswith("/") or path.endswith("*"):
                ok = any(prefix.startswith(path.rstrip("*")) for prefix in prefixes)
            else:
                ok = any(pattern.match(path) for pattern in patterns)
            if not ok:
                bad.append(f"{document.relative_to(ROOT)}: {found}")
    assert not bad, f"paths that are no route: {bad}"


# --- links -----------------------------------------------------------------------------------


def test_relative_links_resolve() -> None:
    broken = []
    for document in markdown_files():
        prose = without_code(document.read_text())
        for target in _LINK.findall(prose) + _REF_LINK.findall(prose):
            if re.match(r"^(https?:|mailto:|#)", target):
                continue
            relative = unquote(target.split("#", 1)[0].split("?", 1)[0])
            if not relative:
                continue
            base = ROOT if relative.startswith("/") else document.parent
            if not (base / relative.lstrip("/")).exists():
                broken.append(f"{document.relative_to(ROOT)}: {target}")
    assert not broken, f"broken relative links: {broken}"


def test_link_checker_sees_links() -> None:
    text = '[a](x.md) `[b](code.md)` ![c](img.png "t")\n```\n[d](fenced.md)\n```\n[e]: ref.md\n'
    prose = without_code(text)
    assert _LINK.findall(prose) == ["x.md", "img.png"]
    assert _REF_LINK.findall(prose) == ["ref.md"]


# --- commands, variables and endpoints the documents name --------------------------------------


def test_make_targets_named_in_documents_exist() -> None:
    targets = make_targets()
    assert {"run", "test", "dev", "admin"} <= targets
    missing = []
    for document in markdown_files():
        for code in code_of(document.read_text()):
            for target in re.findall(r"(?<![\w-])make\s+([a-z][a-z0-9_-]*)", code):
                if target not in targets:
                    missing.append(f"{document.relative_to(ROOT)}: make {target}")
    assert not missing, f"no such Makefile target: {missing}"


def test_readme_keeps_the_two_commands(readme: str) -> None:
    assert re.search(r"^make run\b", readme, re.MULTILINE)
    assert re.search(r"^make test\b", readme, re.MULTILINE)


def test_quickstart_api_settings_are_settings() -> None:
    rows = table_rows(section(QUICKSTART.read_text(), "4. Your Next.js + Better-Auth app, on Neon"))
    named = {name for cells in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])}
    assert "DATABASE_URL" in named
    assert sorted(named - set(env_names())) == [], "the API settings table names unknown settings"


@functools.cache
def known_identifiers() -> frozenset[str]:
    """Environment variables some part of the repository reads, and the codes it emits."""
    known = set(env_names()) | env_example_names() | FOREIGN_IDENTIFIERS
    for path in ENV_READERS:
        if path.is_file():
            known |= set(_IDENTIFIER.findall(path.read_text()))
    for folder in ("app", "tests", "bench", "scripts", "alembic", "tutorial"):
        for source in (BACKEND / folder).rglob("*.py"):
            text = source.read_text()
            known |= set(_QUOTED_IDENTIFIER.findall(text)) | set(_CONSTANT.findall(text))
    return frozenset(known | set(scan()))  # every code the app raises, however it spells it


@pytest.mark.parametrize("document", site_pages(), ids=lambda path: str(path.relative_to(ROOT)))
def test_variables_and_codes_named_exist(document: Path) -> None:
    known = known_identifiers()
    unknown = sorted(set(_IDENTIFIER.findall(document.read_text())) - known)
    assert not unknown, f"{document.name} names what nothing in the repository knows: {unknown}"


def test_better_auth_calls_in_commands_are_made_by_the_e2e_suite() -> None:
    """A Better-Auth endpoint a document tells the reader to call (a ``curl`` line of its code) is
    one the end-to-end suite calls on the real server, so the command works with the pinned
    version. (Redirect URIs and other mentions are not calls.)"""
    e2e = "\n".join(path.read_text() for path in (BACKEND / "tests" / "e2e").glob("*.py"))
    missing = []
    for document in site_pages():
        code = "\n".join(code_of(document.read_text()))
        commands = "\n".join(line for line in code.splitlines() if "curl " in line)
        for call in sorted(set(re.findall(r"/api/auth/[a-z][a-z0-9/-]*", commands))):
            if f'"{call}"' not in e2e:
                missing.append(f"{document.relative_to(ROOT)}: {call}")
    assert {"/api/auth/sign-up/email", "/api/auth/token"} <= set(
        re.findall(r"/api/auth/[a-z][a-z0-9/-]*", QUICKSTART.read_text())
    )
    assert not missing, f"documents call Better-Auth endpoints the E2E suite never calls: {missing}"
