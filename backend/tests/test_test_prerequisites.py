"""`make test`'s first step (scripts/test-prerequisites.sh): Chromium installed when it can be
without a prompt, else one line saying what to install, before anything runs.

The machine's own Chromium, apt-get and sudo are never touched: each case runs the script (and,
once, `make test`) with a PATH of its own, where ``id``, ``sudo``, ``apt-get`` and ``chromium``
are small stand-ins that record how they were called. This is a fake of the system's package
manager and privileges, which a test cannot change for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "test-prerequisites.sh"
# Real tools the script and make need, linked into the stand-in PATH.
TOOLS = ("bash", "env", "printf", "make", "cat", "chmod")


@dataclass
class System:
    bin: Path
    log: Path

    def tool(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f'#!/bin/bash\necho "{name} $*" >> {self.log}\n{body}\n')
        path.chmod(0o755)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def run(self, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            cwd=ROOT,
            env={"PATH": str(self.bin), "HOME": os.environ.get("HOME", "/tmp"), **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def system(tmp_path: Path) -> System:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        real = shutil.which(tool)
        assert real, f"{tool} is needed to run this test"
        (bin_dir / tool).symlink_to(real)
    fake = System(bin_dir, tmp_path / "calls.log")
    fake.tool("node", "")
    fake.tool("npm", "")
    fake.tool("id", 'echo "${FAKE_UID:-1000}"')
    return fake


def installs_chromium(system: System) -> str:
    """An apt-get that installs a chromium into the stand-in PATH."""
    return (
        f'if [ "$1" = install ]; then printf "#!/bin/bash\\n" > {system.bin}/chromium; '
        f"chmod +x {system.bin}/chromium; fi"
    )


def test_present_chromium_passes_and_is_named(system: System) -> None:
    system.tool("chromium", "")
    result = system.run(str(SCRIPT))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(system.bin / "chromium")
    assert result.stderr == ""


def test_chromium_option_names_another_one(system: System) -> None:
    system.tool("my-chromium", "")
    result = system.run(str(SCRIPT), CHROMIUM="my-chromium")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(system.bin / "my-chromium")


def test_root_installs_it_with_apt_get(system: System) -> None:
    system.tool("apt-get", installs_chromium(system))
    result = system.run(str(SCRIPT), FAKE_UID="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(system.bin / "chromium")
    apt = [call for call in system.calls() if call.startswith("apt-get")]
    assert apt == ["apt-get update -qq", "apt-get install -y -qq chromium"]


def test_sudo_without_a_password_installs_it(system: System) -> None:
    system.tool("sudo", '[ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; exec "$@"')
    system.tool("apt-get", installs_chromium(system))
    result = system.run(str(SCRIPT))
    assert result.returncode == 0, result.stderr
    assert "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium" in (
        system.calls()
    )


@pytest.mark.parametrize("sudo", ["none", "asks for a password"])
def test_cannot_install_says_what_to_install_in_one_line(system: System, sudo: str) -> None:
    if sudo != "none":
        system.tool("sudo", "exit 1")  # `sudo -n` fails: a password would be needed
    system.tool("apt-get", installs_chromium(system))
    result = system.run(str(SCRIPT))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Chromium" in lines[0]
    assert "apt-get install chromium" in lines[0]
    assert not any(call.startswith("apt-get") for call in system.calls())


def test_a_failed_install_says_so(system: System) -> None:
    system.tool("apt-get", "exit 100")
    result = system.run(str(SCRIPT), FAKE_UID="0")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("make test: the browser tests need Chromium")


def test_missing_node_is_one_line(system: System) -> None:
    system.tool("chromium", "")
    (system.bin / "node").unlink()
    result = system.run(str(SCRIPT))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "Node.js" in result.stderr


def test_make_test_stops_before_running_anything(system: System) -> None:
    """The README's second command on a machine without Chromium that it cannot install."""
    system.tool("uv", "")  # would run lint first, were the check not first
    result = system.run("make", "test")
    assert result.returncode != 0
    assert "Chromium" in result.stderr
    assert not any(call.startswith("uv") for call in system.calls()), system.calls()
