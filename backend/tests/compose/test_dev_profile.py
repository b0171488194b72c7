"""docker-compose.dev.yml, the Windows developer's path (docs/guides/windows.md), run for real
from the checkout ``make test-compose`` made with ``core.autocrlf=true``.

The API serves the mounted source and reloads when it changes; the documented test command
(``run --rm tests``) runs the suite inside the stack, on its PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.compose.conftest import running
from tests.compose.harness import Compose, poll, stack_variables, urls, wait_ready

DEV_FILES = ["docker-compose.yml", "docker-compose.dev.yml"]
TITLE = 'title="FastAPI Better-Auth backend"'
# A selection of the suite that needs both of the stack's servers (database and Redis);
# COMPOSE_DEV_TESTS="" runs the whole non-e2e suite (10+ minutes on a 2-core machine).
DEFAULT_SELECTION = "tests/test_config.py tests/test_auth.py"


@pytest.fixture(scope="module")
def dev_stack(checkout: Path) -> Iterator[Compose]:
    # On Linux the mounted files are the checkout owner's: the tests write as that user.
    owner = checkout.stat()
    variables = stack_variables(DEV_USER=f"{owner.st_uid}:{owner.st_gid}")
    yield from running(Compose(checkout, DEV_FILES, "dev", variables))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        yield client


def test_the_checkout_has_lf_endings_despite_autocrlf(checkout: Path) -> None:
    """What a Windows clone holds: core.autocrlf=true, and still LF where containers read."""
    config = subprocess.run(
        ["git", "-C", str(checkout), "config", "core.autocrlf"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert config.stdout.strip() == "true"
    for path in (
        "backend/docker-entrypoint.sh",
        "backend/Dockerfile",
        "auth-server/Dockerfile",
        "deploy/pgbouncer/docker-entrypoint.sh",
        "scripts/dev.sh",
    ):
        assert b"\r\n" not in (checkout / path).read_bytes(), path


async def test_the_api_serves_the_mounted_source_and_reloads(
    dev_stack: Compose, checkout: Path, http: httpx.AsyncClient
) -> None:
    _, api = urls(dev_stack.variables)
    await wait_ready(http, api)
    main = checkout / "backend" / "app" / "main.py"
    original = main.read_text()
    assert TITLE in original
    main.write_text(original.replace(TITLE, 'title="Reloaded from the mounted source"'))
    try:

        async def reloaded() -> bool | None:
            response = await http.get(f"{api}/openapi.json")
            if response.status_code != 200:
                return None
            title = response.json()["info"]["title"]
            return True if title == "Reloaded from the mounted source" else None

        await poll(reloaded, within=90, interval=0.5)
    finally:
        main.write_text(original)
    await wait_ready(http, api)


def test_the_suite_runs_inside_with_the_documented_command(dev_stack: Compose) -> None:
    selection = os.environ.get("COMPOSE_DEV_TESTS", DEFAULT_SELECTION).split()
    argv = ["run", "--rm", "tests"]
    if selection:
        argv += ["pytest", "-m", "not e2e", "-q", "-p", "no:cacheprovider", *selection]
    completed = dev_stack.run(*argv, timeout=3600, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    summary = re.search(r"(\d+) passed", output)
    assert summary is not None, output[-2000:]
    assert int(summary.group(1)) > 0
    print(f"\n[dev profile] {summary.group(0)}: {' '.join(argv)}")  # noqa: T201
