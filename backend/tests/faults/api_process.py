"""The API as a real ``python -m uvicorn app.main:app`` process on a free port.

Used where only a real server shows the behaviour: HTTP parsing limits, SIGTERM draining, load.
Every wait has a deadline; ``stop`` escalates to SIGKILL, so a test never leaves a process
behind or hangs on one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.config import Settings

BACKEND_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0

# Every setting is an upper-case variable: none may leak in from the environment of the run.
_SETTINGS_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api_environment(database_url: str, **settings: str) -> dict[str, str]:
    """A clean environment for the API: the run's own settings removed, these pinned."""
    base = {k: v for k, v in os.environ.items() if k.upper() not in _SETTINGS_VARIABLES}
    return {
        **base,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "BETTER_AUTH_URL": "http://127.0.0.1:9",  # nothing listens there unless overridden
        "JWKS_SOURCE": "http",
        "REDIS_URL": "",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


class ApiProcess:
    """One uvicorn process; ``url`` once started."""

    def __init__(self, env: Mapping[str, str], *, extra_args: tuple[str, ...] = ()) -> None:
        self.env = dict(env)
        self.extra_args = extra_args
        self.port = 0
        handle, name = tempfile.mkstemp(prefix="api-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, attempts: int = 3) -> None:
        """Start on a free port and wait until it answers. A port taken between picking and
        binding is retried with another."""
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            self._spawn()
            try:
                self._wait_live()
                return
            except RuntimeError:
                lost_port = "address already in use" in self.output().lower()
                self.stop()
                if attempt == attempts or not lost_port:
                    raise

    def _spawn(self) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            *self.extra_args,
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=BACKEND_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_live(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.returncode is not None:
                    raise RuntimeError(f"uvicorn exited with {self.returncode}\n{self.output()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.url}/health/live").status_code == 200:
                        return
                time.sleep(0.05)
        raise RuntimeError(f"uvicorn did not answer within {START_TIMEOUT_SECONDS:g}s")

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def send_signal(self, sig: signal.Signals) -> None:
        assert self._process is not None
        self._process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit status, or ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        assert self._process is not None
        return self._process.wait(timeout=timeout)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period. Returns the exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        return process.returncode

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]

    def cleanup(self) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


@contextmanager
def running_api(
    database_url: str, *, extra_args: tuple[str, ...] = (), **settings: str
) -> Iterator[ApiProcess]:
    api = ApiProcess(api_environment(database_url, **settings), extra_args=extra_args)
    api.start()
    try:
        yield api
    finally:
        api.cleanup()
