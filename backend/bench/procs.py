"""Child processes of a benchmark run: commands that must succeed, and servers in their own
process groups (stopped with SIGTERM, then SIGKILL, group-wide, so uvicorn's workers and npm's
node go too)."""

# ruff: noqa: S603 - starts the project's own servers and commands

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
BACKEND_DIR = BENCH_DIR.parent
PROJECT_DIR = BACKEND_DIR.parent
AUTH_SERVER_DIR = PROJECT_DIR / "auth-server"

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and shows the output."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:])


def run_command(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 300.0
) -> str:
    """Run to completion; stdout + stderr are returned, a failure raises with both."""
    try:
        done = subprocess.run(
            list(args),
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{' '.join(args)}: no answer within {timeout:g}s") from error
    if done.returncode != 0:
        raise BenchError(
            f"{' '.join(args)} exited with {done.returncode}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout + done.stderr


class Server:
    """A long-running child in its own session (process group), logging to a file."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        port: int,
        health_path: str,
        log_dir: Path,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.cwd = cwd
        self.env = dict(env)
        self.port = port
        self.health_path = health_path
        self.log_path = log_dir / f"{name}-{port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        url = self.url + self.health_path
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise BenchError(f"{self.name} exited during start-up\n{tail(self.log_path)}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(url).status_code == 200:
                        return
                time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer {url}\n{tail(self.log_path)}")

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
