"""Under ``make test-matrix`` with a 1.6 release: that server, run again, still answers the origin
corpus as ``tests/fixtures/better-auth-1.6/origins.json`` says. The API's ``BETTER_AUTH_LINE=1.6``
is held to that file by tests/unit/test_origin_matching.py; this keeps the file true to 1.6."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.processes import AUTH_SERVER_DIR, auth_server_environment, run_command
from tests.e2e.stack import Environment
from tests.e2e.versions import before
from tests.support.vectors import load_origin_cases

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not before(1, 7), reason="runs under make test-matrix with a 1.6 release"),
]

VECTORS_TIMEOUT_SECONDS = 240.0


def test_one_six_answers_the_origin_corpus_as_committed(e2e: Environment, tmp_path: Path) -> None:
    run_command(
        ["npm", "run", "-s", "vectors", "--", "--out", str(tmp_path)],
        cwd=AUTH_SERVER_DIR,
        env=auth_server_environment(e2e.admin_url, e2e.secret),
        timeout=VECTORS_TIMEOUT_SECONDS,
    )
    fresh = json.loads((tmp_path / "origins.json").read_text())["cases"]
    assert [tuple(case) for case in fresh] == load_origin_cases("1.6")
