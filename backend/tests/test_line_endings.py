"""Line endings: a Windows checkout (``core.autocrlf=true``) keeps LF in everything a Linux
container reads, or the entry points die with ``/bin/sh^M: bad interpreter``.

``.gitattributes`` says so; these tests check what Git makes of it, in a real clone made with
``core.autocrlf=true``. ``make test-compose`` then builds and starts every stack from such a
clone of the whole repository (backend/tests/compose/test_dev_profile.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Read or run inside Linux containers: a CR in any of them breaks the image or the stack.
CONTAINER_FILES = [
    "backend/docker-entrypoint.sh",
    "backend/Dockerfile",
    "auth-server/Dockerfile",
    "scripts/dev.sh",
    "scripts/offline-images.sh",
    "scripts/test-compose.sh",
    ".ci/run",
    "docker-compose.yml",
    ".env.example",
    "deploy/haproxy/haproxy.cfg",
    "deploy/pgbouncer/docker-entrypoint.sh",
    "deploy/offline-images/postgres/docker-entrypoint.sh",
]
SCRIPT = "#!/bin/sh\necho hello\n"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(*args: str, cwd: Path) -> str:
    completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return completed.stdout


def test_gitattributes_keep_container_files_lf() -> None:
    output = git("check-attr", "text", "eol", "--", *CONTAINER_FILES, cwd=ROOT)
    attributes: dict[str, dict[str, str]] = {}
    for line in output.splitlines():
        path, name, value = (part.strip() for part in line.split(":"))
        attributes.setdefault(path, {})[name] = value
    assert set(attributes) == set(CONTAINER_FILES)
    for path, values in attributes.items():
        assert values["eol"] == "lf", path
        assert values["text"] in {"auto", "set"}, path


def _clone_with_autocrlf(tmp_path: Path, gitattributes: str | None) -> Path:
    """A repository holding a shell script (and ``gitattributes``), cloned as Git for Windows
    clones by default."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git("init", "--quiet", cwd=origin)
    (origin / "entrypoint.sh").write_text(SCRIPT)
    if gitattributes is not None:
        (origin / ".gitattributes").write_text(gitattributes)
    git("add", "--all", cwd=origin)
    git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@localhost",
        "commit",
        "--quiet",
        "-m",
        "x",
        cwd=origin,
    )
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--config", "core.autocrlf=true", str(origin), str(clone), cwd=tmp_path)
    return clone


def test_an_autocrlf_clone_keeps_lf(tmp_path: Path) -> None:
    clone = _clone_with_autocrlf(tmp_path, (ROOT / ".gitattributes").read_text())
    assert (clone / "entrypoint.sh").read_bytes() == SCRIPT.encode()


def test_without_the_attributes_the_clone_gets_crlf(tmp_path: Path) -> None:
    """The control: what the repository was exposed to before ``.gitattributes``."""
    clone = _clone_with_autocrlf(tmp_path, None)
    assert (clone / "entrypoint.sh").read_bytes() == SCRIPT.replace("\n", "\r\n").encode()


def test_no_committed_file_holds_crlf() -> None:
    """``git ls-files --eol``: every text file is stored with LF (``i/lf``)."""
    rows = git("ls-files", "--eol", cwd=ROOT).splitlines()
    crlf = [row.split("\t")[-1] for row in rows if row.split()[0] in {"i/crlf", "i/mixed"}]
    assert not crlf
