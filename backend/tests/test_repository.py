"""What a team adopting the repository expects beside the code: a licence, a changelog, and a
pre-commit configuration that runs what ``make lint`` runs, at the locked versions."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.support.database import BACKEND_DIR

ROOT = BACKEND_DIR.parent


def _locked_version(package: str) -> str:
    lock = tomllib.loads((BACKEND_DIR / "uv.lock").read_text())
    (version,) = [entry["version"] for entry in lock["package"] if entry["name"] == package]
    return str(version)


def test_license_is_mit() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the fastapi-better-auth-backend authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "https://keepachangelog.com/" in text
    versions = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert versions[0] == "Unreleased"
    assert "0.1.0" in versions
    assert re.search(r"^## \[0\.1\.0\] - \d{4}-\d{2}-\d{2}$", text, re.M)
    kinds = set(re.findall(r"^### (\w+)$", text, re.M))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_pre_commit_runs_the_linters_of_make_lint() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: (repo, hook) for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "mypy"} <= set(hooks)
    ruff_repo, _ = hooks["ruff-check"]
    assert ruff_repo["repo"] == "https://github.com/astral-sh/ruff-pre-commit"
    # The hook's ruff is the one uv.lock pins, so a commit and CI agree.
    assert ruff_repo["rev"] == f"v{_locked_version('ruff')}"
    mypy_repo, mypy = hooks["mypy"]
    assert mypy_repo["repo"] == "local"
    assert mypy["language"] == "system"
    assert "cd backend" in mypy["entry"]
    assert "uv run --frozen mypy" in mypy["entry"]
    assert mypy["pass_filenames"] is False  # mypy checks app/ as configured, strict


def test_env_example_values_are_the_defaults() -> None:
    """Copying .env.example changes nothing: each setting's line holds its config.py default
    (empty where the default is derived or empty)."""
    from tests.test_docs import ENV_EXAMPLE, env_names, rendered_default

    lines = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE))
    wrong = {
        name: (lines.get(name), rendered_default(field))
        for name, field in env_names().items()
        if lines.get(name, "").strip() != rendered_default(field)
    }
    assert not wrong, f".env.example value -> config.py default: {wrong}"
