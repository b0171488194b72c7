"""The lockfiles `make test-matrix` installs other Better-Auth versions from
(``auth-server/matrix-locks/``) still match the manifest ``scripts/test-matrix.sh`` writes for
their version: ``auth-server/package.json`` with that ``better-auth`` and the plugin packages of its
line. A stale one would only be found by the next matrix run, where ``npm ci`` refuses it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "test-matrix.sh"
AUTH_SERVER = ROOT / "auth-server"
LOCKS = AUTH_SERVER / "matrix-locks"


def default_versions() -> list[str]:
    found = re.search(r'MATRIX_VERSIONS="\$\{MATRIX_VERSIONS:-([^}]+)\}"', SCRIPT.read_text())
    assert found, "scripts/test-matrix.sh names no default MATRIX_VERSIONS"
    return found.group(1).split()


def companions(version: str) -> dict[str, str]:
    """The script's ``companions``: ``1.6.*) echo "@better-auth/api-key=1.6.33 ..."``."""
    line = ".".join(version.split(".")[:2])
    pattern = rf'^\s*{re.escape(line)}\.\*\) echo "([^"]+)"'
    found = re.search(pattern, SCRIPT.read_text(), re.MULTILINE)
    assert found, f"scripts/test-matrix.sh knows no companions for {version}"
    return dict(pin.split("=", 1) for pin in found.group(1).split())


def pinned_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((AUTH_SERVER / "package.json").read_text())
    return manifest


def variant_versions() -> list[str]:
    pinned = pinned_manifest()["dependencies"]["better-auth"]
    return [version for version in default_versions() if version != pinned]


def test_every_default_variant_has_a_lockfile() -> None:
    assert variant_versions(), "the matrix tests no version beside the pinned one"
    for version in variant_versions():
        assert (LOCKS / f"{version}.package-lock.json").is_file(), (
            f"no lockfile for better-auth {version}: run scripts/test-matrix.sh --lock"
        )


@pytest.mark.parametrize("lock", sorted(LOCKS.glob("*.package-lock.json")), ids=lambda p: p.name)
def test_lockfile_matches_the_variant_manifest(lock: Path) -> None:
    version = lock.name.removesuffix(".package-lock.json")
    manifest = pinned_manifest()
    root = json.loads(lock.read_text())["packages"][""]
    stale = "stale: run MATRIX_VERSIONS=" + version + " scripts/test-matrix.sh --lock"
    assert root["name"] == f"auth-server-better-auth-{version}", stale
    expected = {**manifest["dependencies"], "better-auth": version, **companions(version)}
    assert root["dependencies"] == expected, stale
    assert root.get("devDependencies", {}) == manifest.get("devDependencies", {}), stale
