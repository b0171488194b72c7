"""The documentation, checked where a machine can check it.

- every ``Settings`` field is in ``.env.example`` and in README's settings table (with its default);
- every route of the app is in the committed OpenAPI contract and in README's endpoint table;
- every relative link in the Markdown files resolves;
- every ``make`` target, environment variable, API path and Better-Auth endpoint the documents name
  exists (the quickstart's Better-Auth calls are the ones the E2E suite makes).

Files only: no database, no server (the conftest fixtures are lazy and none is requested here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined

from app.config import Settings
from app.main import create_app

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend"
README = ROOT / "README.md"
SPECS = ROOT / "specs" / "003-fastapi-better-auth"
QUICKSTART = SPECS / "quickstart.md"
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
_QUOTED_IDENTIFIER = re.compile(r"[\"']([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)[\"']")


# --- helpers ----------------------------------------------------------------------------------


def markdown_files() -> list[Path]:
    files = [README, ROOT / "SECURITY.md", ROOT / "auth-server" / "README.md"]
    files += sorted(SPECS.rglob("*.md")) + sorted((ROOT / "docs").rglob("*.md"))
    return [path for path in files if path.is_file()]


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
    assert match, f"README has no '## {title}' section"
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
    """A field's default as it is written in an environment variable."""
    field = Settings.model_fields[field_name]
    value: Any = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None:
        return ""  # unset, as an empty variable leaves it
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


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


def test_readme_settings_table_is_settings(readme: str) -> None:
    rows = table_rows(section(readme, "Settings"))
    documented: dict[str, list[str]] = {}
    for cells in rows:
        name = first_code_span(cells[0])
        if name and re.fullmatch(r"[A-Z][A-Z0-9_]*", name):  # not the URL tables' rows
            assert name not in documented, f"{name} is listed twice"
            documented[name] = cells
    names = env_names()
    assert sorted(set(names) - set(documented)) == [], "settings missing from README's table"
    assert sorted(set(documented) - set(names)) == [], "README's table lists unknown settings"
    for env_name, field_name in names.items():
        default = rendered_default(field_name)
        if not default:
            continue  # empty or derived: the cell explains it in words
        cell = documented[env_name][1]
        assert first_code_span(cell) == default, (
            f"README: default of {env_name} is `{default}`, the table says {cell!r}"
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


def test_readme_endpoint_table_lists_every_route(readme: str, routes: set[tuple[str, str]]) -> None:
    listed = set()
    for cells in table_rows(section(readme, "Endpoints")):
        method, path = cells[0].strip("` "), first_code_span(cells[1])
        if method in HTTP_METHODS and path:
            listed.add((method, path))
    assert sorted(routes - listed) == [], "routes missing from README's endpoint table"
    assert sorted(listed - routes) == [], "README's endpoint table lists routes the app lacks"


def test_api_paths_named_in_documents_exist(routes: set[tuple[str, str]]) -> None:
    patterns = [path_pattern(path) for _, path in routes]
    prefixes = [path for _, path in routes]
    bad = []
    for document in markdown_files():
        if document.parent == ROOT / "auth-server":
            continue
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


def known_identifiers() -> set[str]:
    """Environment variables some part of the repository reads, and the codes it emits."""
    known = set(env_names()) | env_example_names() | FOREIGN_IDENTIFIERS
    for path in ENV_READERS:
        if path.is_file():
            known |= set(_IDENTIFIER.findall(path.read_text()))
    for folder in ("app", "tests", "bench", "scripts", "alembic"):
        for source in (BACKEND / folder).rglob("*.py"):
            known |= set(_QUOTED_IDENTIFIER.findall(source.read_text()))
    return known


@pytest.mark.parametrize("document", [QUICKSTART, README], ids=lambda path: path.name)
def test_variables_and_codes_named_exist(document: Path) -> None:
    known = known_identifiers()
    unknown = sorted(set(_IDENTIFIER.findall(document.read_text())) - known)
    assert not unknown, f"{document.name} names what nothing in the repository knows: {unknown}"


def test_quickstart_better_auth_calls_are_made_by_the_e2e_suite() -> None:
    e2e = "\n".join(path.read_text() for path in (BACKEND / "tests" / "e2e").glob("*.py"))
    calls = set(re.findall(r"/api/auth/[a-z][a-z0-9/-]*", QUICKSTART.read_text()))
    assert {"/api/auth/sign-up/email", "/api/auth/token"} <= calls
    missing = sorted(call for call in calls if f'"{call}"' not in e2e)
    assert not missing, (
        f"quickstart calls Better-Auth endpoints the E2E suite never calls: {missing}"
    )
