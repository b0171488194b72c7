"""The TypeScript client in clients/typescript: generated from the committed contract (and still
the same when regenerated), type-checks, and works against the live stack with Better-Auth's own
client (``node --test``, see clients/typescript/test/live.test.ts).

Needs the client's ``node_modules`` (``make test-e2e`` installs them with ``npm ci``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.processes import PROJECT_DIR, clean_environment, run_command
from tests.e2e.stack import Environment, Stack

pytestmark = pytest.mark.e2e

CLIENT_DIR = PROJECT_DIR / "clients" / "typescript"
CONTRACT = PROJECT_DIR / "specs" / "003-fastapi-better-auth" / "contracts" / "openapi.yaml"
GENERATED = CLIENT_DIR / "src" / "schema.d.ts"
NODE_TIMEOUT_SECONDS = 300.0


@pytest.fixture(scope="module")
def node_env() -> dict[str, str]:
    if not (CLIENT_DIR / "node_modules").is_dir():
        message = f"{CLIENT_DIR / 'node_modules'} is missing: npm ci in clients/typescript"
        if os.environ.get("E2E_REQUIRED", "").strip().lower() in {"1", "true", "yes", "on"}:
            pytest.fail(message)
        pytest.skip(message)
    return clean_environment(frozenset({"BETTER_AUTH_URL", "API_URL", "NODE_OPTIONS"}))


@pytest.fixture(scope="module")
def stack(e2e: Environment) -> Iterator[Stack]:
    with e2e.stack() as running:
        yield running


def test_generated_client_matches_the_contract(node_env: dict[str, str], tmp_path: Path) -> None:
    regenerated = tmp_path / "schema.d.ts"
    run_command(
        [
            "node",
            "node_modules/openapi-typescript/bin/cli.js",
            str(CONTRACT),
            "--output",
            str(regenerated),
        ],
        cwd=CLIENT_DIR,
        env=node_env,
        timeout=NODE_TIMEOUT_SECONDS,
    )
    assert regenerated.read_text() == GENERATED.read_text(), (
        "clients/typescript/src/schema.d.ts is out of date: "
        "run `npm run generate` in clients/typescript (after `make openapi`)"
    )


def test_client_type_checks(node_env: dict[str, str]) -> None:
    run_command(
        ["node", "node_modules/typescript/bin/tsc", "--noEmit"],
        cwd=CLIENT_DIR,
        env=node_env,
        timeout=NODE_TIMEOUT_SECONDS,
    )


def test_node_client_against_the_live_stack(node_env: dict[str, str], stack: Stack) -> None:
    completed = run_command(
        ["node", "--import", "tsx", "--test", "test/live.test.ts"],
        cwd=CLIENT_DIR,
        env={**node_env, "BETTER_AUTH_URL": stack.auth.url, "API_URL": stack.api.url},
        timeout=NODE_TIMEOUT_SECONDS,
    )
    # node --test exits 0 when a test is skipped: the run must have passed one, skipped none.
    assert "# pass 1" in completed.stdout, completed.stdout
    assert "# skipped 0" in completed.stdout, completed.stdout
