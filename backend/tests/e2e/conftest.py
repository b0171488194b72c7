"""End-to-end fixtures: real PostgreSQL databases, the real Better-Auth server (Node) and the API
(uvicorn) as subprocesses, talked to over HTTP only.

Skipped, with the reason, when the auth server's ``node_modules``, Node or PostgreSQL is
missing; with ``E2E_REQUIRED=1`` (CI, ``make test-e2e``) the same problem fails the run instead.
When a test fails, the end of every involved process's output is added to its report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterator

import pytest

from devstack.processes import REGISTRY
from tests.e2e.stack import Environment, admin_database_url, prerequisites_problem

_STARTED_AT = pytest.StashKey[float]()


def _required() -> bool:
    return os.environ.get("E2E_REQUIRED", "").strip().lower() in {"1", "true", "yes", "on"}


@pytest.fixture(scope="session", autouse=True)
def e2e_prerequisites() -> str:
    """The PostgreSQL server URL to create databases on; skips (or fails) the package."""
    admin_url = admin_database_url()
    problem = prerequisites_problem(admin_url)
    if problem is not None:
        if _required():
            pytest.fail(f"E2E_REQUIRED is set but the end-to-end tests cannot run: {problem}")
        pytest.skip(f"end-to-end tests skipped: {problem} (set E2E_REQUIRED=1 to fail instead)")
    return admin_url


@pytest.fixture(scope="session")
def e2e(e2e_prerequisites: str, tmp_path_factory: pytest.TempPathFactory) -> Environment:
    return Environment(log_dir=tmp_path_factory.mktemp("e2e-logs"), admin_url=e2e_prerequisites)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    item.stash[_STARTED_AT] = time.monotonic()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and "e2e" in item.keywords:
        since = item.stash.get(_STARTED_AT, 0.0)
        for process in REGISTRY.active_since(since):
            report.sections.append((process.describe(), process.tail()))
    return report
