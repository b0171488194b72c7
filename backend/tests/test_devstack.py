"""devstack.processes on a small real server (a Python HTTP server with a child of its own):
start on a free port, health wait, the whole process group stopped, SIGKILL after the grace
period, failures that carry the child's output, and the clean environment."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.processes import (
    BACKEND_DIR,
    ManagedProcess,
    ProcessError,
    api_environment,
    auth_server_environment,
    clean_environment,
    run_command,
    started,
    wait_until,
)

_SERVER = r"""
import http.server, os, signal, subprocess, sys
if os.environ.get("IGNORE_TERM") == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(f"child {child.pid}", flush=True)

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Health).serve_forever()
"""


@dataclass(eq=False, kw_only=True)
class PythonServer(ManagedProcess):
    name: str = "python-server"
    script: str = _SERVER

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-c", self.script]

    def cwd(self) -> Path:
        return BACKEND_DIR

    def child_environment(self, port: int) -> dict[str, str]:
        return {**clean_environment(frozenset({"PORT"})), "PORT": str(port), **self.env}


def _child_pid(server: ManagedProcess) -> int:
    line = wait_until(
        lambda: next((x for x in server.output().splitlines() if x.startswith("child ")), ""),
        timeout=10,
    )
    return int(line.split()[1])


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_start_answers_health_and_stop_ends_the_whole_group(tmp_path: Path) -> None:
    server = PythonServer(log_dir=tmp_path)
    with started(server):
        assert server.running
        assert httpx.get(f"{server.url}/health", trust_env=False).status_code == 200
        child = _child_pid(server)
        assert _alive(child)
    assert not server.running
    assert server.returncode == -signal.SIGTERM
    assert server.stopped_at is not None
    assert wait_until(lambda: not _alive(child), timeout=10)
    assert server.log_path is not None
    assert server.log_path.parent == tmp_path


def test_a_server_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    server = PythonServer(log_dir=tmp_path, env={"IGNORE_TERM": "1"}, stop_timeout=0.5)
    server.start()
    assert server.stop() == -signal.SIGKILL
    assert server.stop() == -signal.SIGKILL  # a second stop changes nothing


def test_restart_keeps_the_port_and_applies_the_environment(tmp_path: Path) -> None:
    server = PythonServer(log_dir=tmp_path, env={"IGNORE_TERM": "1"}, stop_timeout=0.5)
    with started(server):
        port = server.port
        server.restart(IGNORE_TERM=None)
        assert server.port == port
        assert "IGNORE_TERM" not in server.env
    assert server.returncode == -signal.SIGTERM


def test_a_server_that_exits_during_start_up_raises_with_its_output(tmp_path: Path) -> None:
    server = PythonServer(log_dir=tmp_path, script="print('no config here'); raise SystemExit(3)")
    with pytest.raises(ProcessError, match="exited with 3") as raised:
        server.start()
    assert "no config here" in raised.value.output
    assert "no config here" in str(raised.value)
    assert not server.running


def test_a_failing_command_raises_with_both_streams() -> None:
    script = "import sys; print('to stdout'); sys.exit('to stderr')"
    with pytest.raises(ProcessError, match="exited with 1") as raised:
        run_command([sys.executable, "-c", script], cwd=BACKEND_DIR, env=os.environ)
    assert "to stdout" in raised.value.output
    assert "to stderr" in raised.value.output


def test_children_get_no_settings_from_the_environment_of_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWKS_SOURCE", "database")
    monkeypatch.setenv("KNOWN_ROLES", "stray")
    monkeypatch.setenv("JWT_ALG", "RS256")
    monkeypatch.setenv("NODE_ENV", "development")

    api = api_environment("sqlite+aiosqlite:///x.db", LOG_LEVEL="DEBUG")
    assert api["JWKS_SOURCE"] == "http"
    assert "KNOWN_ROLES" not in api
    assert api["DATABASE_URL"] == "sqlite+aiosqlite:///x.db"
    assert api["LOG_LEVEL"] == "DEBUG"

    auth = auth_server_environment("postgresql://db", "secret", NODE_ENV="production")
    assert "JWT_ALG" not in auth
    assert auth["NODE_ENV"] == "production"
    assert auth["BETTER_AUTH_RATE_LIMIT"] == "false"
