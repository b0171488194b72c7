"""Real processes for the end-to-end tests: the Better-Auth server (Node) and the API (uvicorn).

Each start gets a free port, logs stdout and stderr to its own file, and is awaited on its
health endpoint with a deadline. ``stop`` sends SIGTERM to the process group it created, then
SIGKILL if it is still there after a grace period. Nothing here sleeps without a deadline.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx

from app.config import Settings

BACKEND_DIR = Path(__file__).resolve().parents[2]
PROJECT_DIR = BACKEND_DIR.parent
AUTH_SERVER_DIR = PROJECT_DIR / "auth-server"

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
COMMAND_TIMEOUT_SECONDS = 120.0
TAIL_LINES = 40
_PORT_ATTEMPTS = 3
_PORT_IN_USE_MARKERS = ("EADDRINUSE", "address already in use")

# Auth-server settings that must never leak in from the environment running the tests.
_AUTH_SERVER_VARIABLES = frozenset(
    {
        "DATABASE_URL",
        "BETTER_AUTH_SECRET",
        "BETTER_AUTH_URL",
        "BETTER_AUTH_RATE_LIMIT",
        "HOST",
        "PORT",
        "JWT_ALG",
        "JWT_ROTATION_INTERVAL",
        "JWT_GRACE_PERIOD",
        "TRUSTED_ORIGINS",
        "NODE_ENV",
        "ACCESS_CONTROL_FILE",
        "ADMIN_USER_IDS",
    }
)

T = TypeVar("T")


class ProcessError(RuntimeError):
    """A process or command failed; the message carries the end of its output."""


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(
    check: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """Call ``check`` until it returns something truthy (returned) or the deadline passes
    (``TimeoutError``). Exceptions from ``check`` propagate."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} (after {timeout:g}s)")
        time.sleep(interval)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no output file)"
    kept = text.splitlines()[-lines:]
    return "\n".join(kept) if kept else "(no output)"


def clean_environment(drop: frozenset[str]) -> dict[str, str]:
    """The current environment without the variables a child process would read as settings."""
    return {name: value for name, value in os.environ.items() if name.upper() not in drop}


def run_command(
    args: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = COMMAND_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run to completion; a non-zero exit raises with both output streams in the message."""
    try:
        completed = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ProcessError(f"{' '.join(args)} did not finish within {timeout:g}s") from error
    if completed.returncode != 0:
        raise ProcessError(
            f"{' '.join(args)} exited with {completed.returncode}\n"
            f"--- stdout ---\n{completed.stdout[-4000:]}\n"
            f"--- stderr ---\n{completed.stderr[-4000:]}"
        )
    return completed


class ProcessRegistry:
    """Every process started in this run, so that a failing test can show their output."""

    def __init__(self) -> None:
        self._processes: list[ManagedProcess] = []
        # Fixtures stop what they start; this only catches an interpreter exiting mid-test.
        atexit.register(self.stop_all)

    def add(self, process: ManagedProcess) -> None:
        if process not in self._processes:
            self._processes.append(process)

    def active_since(self, since: float) -> list[ManagedProcess]:
        """Processes running now, or that were running at some point after ``since``."""
        return [
            process
            for process in self._processes
            if process.running or (process.stopped_at is not None and process.stopped_at >= since)
        ]

    def stop_all(self) -> None:
        for process in self._processes:
            process.stop()


REGISTRY = ProcessRegistry()


@dataclass(eq=False)
class ManagedProcess:
    """A long-running child with a port, a log file per start and a health URL."""

    name: ClassVar[str] = "process"
    health_path: ClassVar[str] = "/health"

    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    log_path: Path | None = None
    stopped_at: float | None = None
    _process: subprocess.Popen[bytes] | None = None
    _starts: int = 0

    # -- what subclasses define --

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def cwd(self) -> Path:
        raise NotImplementedError

    def child_environment(self, port: int) -> dict[str, str]:
        raise NotImplementedError

    # -- lifecycle --

    @property
    def url(self) -> str:
        if self.port is None:
            raise ProcessError(f"{self.name} has no port: it was never started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, keep_port: bool = False) -> None:
        """Start and wait for the health endpoint. A port taken between picking and binding
        is retried with another one, unless ``keep_port`` (a restart must keep its URL)."""
        if self.running:
            raise ProcessError(f"{self.name} is already running")
        attempts = 1 if keep_port else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self.port if keep_port and self.port is not None else free_port()
            try:
                self._spawn(port)
                self._wait_healthy()
                return
            except ProcessError:
                lost_port = not self.running and self._log_mentions(_PORT_IN_USE_MARKERS)
                self.stop()
                if attempt == attempts or not lost_port:
                    raise

    def restart(self, **env_overrides: str | None) -> None:
        """Stop, change the environment (``None`` removes a variable), start on the same port."""
        self.stop()
        for key, value in env_overrides.items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value
        self.start(keep_port=True)

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._process = None
        self.stopped_at = time.monotonic()

    def tail(self, lines: int = TAIL_LINES) -> str:
        if self.log_path is None:
            return "(never started)"
        return tail(self.log_path, lines)

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        port = self.port if self.port is not None else "-"
        return f"{self.name} on port {port} ({state}), log {self.log_path}"

    # -- internals --

    def _spawn(self, port: int) -> None:
        self._starts += 1
        self.port = port
        self.log_path = self.log_dir / f"{self.name}-{port}-{self._starts}.log"
        self.stopped_at = None
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.command(port),
                cwd=self.cwd(),
                env=self.child_environment(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() signals only its tree
            )
        REGISTRY.add(self)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        url = f"{self.url}{self.health_path}"
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                process = self._process
                if process is None or process.poll() is not None:
                    code = None if process is None else process.returncode
                    raise ProcessError(
                        f"{self.name} exited with {code} before answering {url}\n{self.tail()}"
                    )
                try:
                    if client.get(url).status_code == httpx.codes.OK:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise ProcessError(
            f"{self.name} did not answer {url} within {START_TIMEOUT_SECONDS:g}s\n{self.tail()}"
        )

    def _log_mentions(self, markers: tuple[str, ...]) -> bool:
        text = self.tail(200)
        return any(marker in text for marker in markers)

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # the group this process leads (start_new_session)


@dataclass(eq=False)
class AuthServer(ManagedProcess):
    """``node --import tsx src/server.ts`` in ``auth-server/``: Better-Auth with jwt, admin and
    bearer. ``BETTER_AUTH_URL`` follows the port, so the JWT issuer is this process's origin."""

    name: ClassVar[str] = "auth-server"
    health_path: ClassVar[str] = "/health"

    database_url: str = ""
    secret: str = ""

    def command(self, port: int) -> list[str]:
        return ["node", "--import", "tsx", "src/server.ts"]  # PORT in the environment

    def cwd(self) -> Path:
        return AUTH_SERVER_DIR

    def child_environment(self, port: int) -> dict[str, str]:
        return {
            **auth_server_environment(self.database_url, self.secret),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "BETTER_AUTH_URL": f"http://127.0.0.1:{port}",
            **self.env,
        }


def auth_server_environment(database_url: str, secret: str) -> dict[str, str]:
    """What every auth-server command (server, migrations) gets."""
    return {
        **clean_environment(_AUTH_SERVER_VARIABLES),
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": secret,
        "BETTER_AUTH_RATE_LIMIT": "false",
    }


def auth_server_migrate(database_url: str, secret: str) -> str:
    """``npm run migrate``: Better-Auth creates its schema. Returns what it printed."""
    completed = run_command(
        ["npm", "run", "-s", "migrate"],
        cwd=AUTH_SERVER_DIR,
        env=auth_server_environment(database_url, secret),
    )
    return completed.stdout + completed.stderr


def auth_server_migration_plan(database_url: str, secret: str) -> dict[str, Any]:
    """``npm run -s migrate:check``: what Better-Auth would still create or add."""
    completed = run_command(
        ["npm", "run", "-s", "migrate:check"],
        cwd=AUTH_SERVER_DIR,
        env=auth_server_environment(database_url, secret),
    )
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ProcessError(f"migrate:check printed {len(lines)} lines:\n{completed.stdout}")
    plan: dict[str, Any] = json.loads(lines[0])
    return plan


# The API reads every Settings field from an upper-case variable; none may leak in from the
# environment running the tests (a developer's JWKS_SOURCE, DATABASE_URL, TEST_* ...).
_API_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)


def api_environment(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of an API command (uvicorn, alembic). The settings a stray ``.env`` file
    could change in a way that breaks these tests are pinned explicitly."""
    return {
        **clean_environment(_API_VARIABLES),
        "DATABASE_URL": database_url,
        "JWKS_SOURCE": "http",
        "JWKS_URL": "",
        "JWT_ISSUER": "",
        "JWT_AUDIENCE": "",
        "REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


def alembic_upgrade(database_url: str) -> str:
    """``alembic upgrade head`` with the backend's interpreter, as an operator runs it."""
    completed = run_command(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=BACKEND_DIR,
        env=api_environment(database_url),
    )
    return completed.stdout + completed.stderr


@dataclass(eq=False)
class ApiServer(ManagedProcess):
    """``python -m uvicorn app.main:app`` from the backend's virtualenv."""

    name: ClassVar[str] = "api"
    health_path: ClassVar[str] = "/health/live"

    database_url: str = ""
    better_auth_url: str = ""
    secret: str = ""

    def command(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]

    def cwd(self) -> Path:
        return BACKEND_DIR

    def child_environment(self, port: int) -> dict[str, str]:
        defaults = {
            "BETTER_AUTH_URL": self.better_auth_url,
            "BETTER_AUTH_SECRET": self.secret,
            "RATE_LIMIT_ENABLED": "false",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        }
        return api_environment(self.database_url, **{**defaults, **self.env})
