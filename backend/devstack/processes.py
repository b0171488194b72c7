"""Real processes: the Better-Auth server (Node, ``auth-server/``), the API (uvicorn), and the
commands around them (migrations). The end-to-end and fault tests and the benchmarks all start
them from here.

Each start gets a free port, logs stdout and stderr to its own file, and is awaited on its health
endpoint with a deadline. A server leads its own process group: ``stop`` sends SIGTERM to the
group (uvicorn's workers go too), then SIGKILL if it is still there after a grace period. Every
child gets a clean environment: no setting leaks in from the environment of the run (a
developer's ``DATABASE_URL``, ``JWKS_SOURCE``, ``PORT`` ...). Nothing here sleeps without a
deadline. A failure raises ``ProcessError`` with the end of the child's output.
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
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from app.config import Settings

BACKEND_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = BACKEND_DIR.parent
# E2E_AUTH_SERVER_DIR: another installation of our auth server (another Better-Auth version,
# installed by `make test-matrix` under auth-server/.variants/); default: the bundled one.
AUTH_SERVER_DIR = Path(
    os.environ.get("E2E_AUTH_SERVER_DIR") or PROJECT_DIR / "auth-server"
).resolve()

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
COMMAND_TIMEOUT_SECONDS = 120.0
TAIL_LINES = 40
_COMMAND_OUTPUT_CHARS = 4000
_PORT_ATTEMPTS = 3
_PORT_IN_USE_MARKERS = ("eaddrinuse", "address already in use")

# What the auth server reads as settings (auth-server/src/config.ts).
AUTH_SERVER_VARIABLES = frozenset(
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
        "API_KEY_RATE_LIMIT_ENABLED",
        "ORGANIZATION_DYNAMIC_ROLES",
        # OAuth sign-in (auth-server/src/social.ts)
        "GOOGLE_CLIENT_ID",
        "GOOGLE_CLIENT_SECRET",
        "GITHUB_CLIENT_ID",
        "GITHUB_CLIENT_SECRET",
        "OIDC_DISCOVERY_URL",
        "OIDC_CLIENT_ID",
        "OIDC_CLIENT_SECRET",
        "OIDC_PROVIDER_ID",
        "OIDC_SCOPES",
        "AUTH_SECRET",
        "BETTER_AUTH_SECRETS",
        "SECONDARY_STORAGE_URL",
        "SECONDARY_STORAGE_PREFIX",
        "STORE_SESSION_IN_DATABASE",
        "PRESERVE_SESSION_IN_DATABASE",
    }
)
# The API reads every Settings field from an upper-case variable.
API_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)

# A standalone API (``running_api``): nothing listens on port 9, so without an auth server the
# API's key warm-up fails fast instead of reaching some developer's Better-Auth.
STANDALONE_API_SETTINGS = {
    "ENVIRONMENT": "test",
    "BETTER_AUTH_URL": "http://127.0.0.1:9",
    "RATE_LIMIT_ENABLED": "false",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "WARNING",
}

T = TypeVar("T")


class ProcessError(RuntimeError):
    """A server or command failed. ``output`` is the end of what it printed; the message carries
    it too, so that a traceback alone tells why."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(f"{message}\n{output}" if output else message)
        self.output = output


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
    """The last ``lines`` lines of a log file."""
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
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = COMMAND_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run a command that must succeed; a non-zero exit or the deadline raises ``ProcessError``
    with the end of both output streams."""
    command = " ".join(args)
    try:
        completed = subprocess.run(  # noqa: S603 - the project's own commands
            list(args),
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ProcessError(f"{command} did not finish within {timeout:g}s") from error
    if completed.returncode != 0:
        raise ProcessError(
            f"{command} exited with {completed.returncode}",
            f"--- stdout ---\n{completed.stdout[-_COMMAND_OUTPUT_CHARS:]}\n"
            f"--- stderr ---\n{completed.stderr[-_COMMAND_OUTPUT_CHARS:]}",
        )
    return completed


class ProcessRegistry:
    """Every server started by this interpreter, so that a failing test can show their output."""

    def __init__(self) -> None:
        self._processes: list[ManagedProcess] = []
        # Callers stop what they start; this only catches an interpreter exiting mid-way.
        atexit.register(self.stop_all)

    def add(self, process: ManagedProcess) -> None:
        if process not in self._processes:
            self._processes.append(process)

    def active_since(self, since: float) -> list[ManagedProcess]:
        """Servers running now, or that were running at some point after ``since``."""
        return [
            process
            for process in self._processes
            if process.running or (process.stopped_at is not None and process.stopped_at >= since)
        ]

    def stop_all(self) -> None:
        for process in self._processes:
            process.stop()


REGISTRY = ProcessRegistry()


@dataclass(eq=False, kw_only=True)
class ManagedProcess:
    """A long-running child with a port, a log file per start and a health URL. ``env`` is what
    the caller sets on top of the subclass's environment; ``restart`` changes it."""

    name: str = "process"
    health_path: str = "/health"
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = START_TIMEOUT_SECONDS
    stop_timeout: float = STOP_TIMEOUT_SECONDS  # the grace period between SIGTERM and SIGKILL
    port: int | None = None
    log_path: Path | None = None
    stopped_at: float | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _starts: int = field(default=0, init=False, repr=False)

    # -- what subclasses define --

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def cwd(self) -> Path:
        raise NotImplementedError

    def child_environment(self, port: int) -> dict[str, str]:
        raise NotImplementedError

    # -- state --

    @property
    def url(self) -> str:
        if self.port is None:
            raise ProcessError(f"{self.name} has no port: it was never started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status of the last start, ``None`` while it runs (or before any start)."""
        return None if self._process is None else self._process.poll()

    # -- lifecycle --

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
        """Stop, change ``env`` (``None`` removes a variable), start on the same port."""
        self.stop()
        for key, value in env_overrides.items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value
        self.start(keep_port=True)

    def stop(self) -> int | None:
        """SIGTERM to the process group, SIGKILL after a grace period; the exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            self._signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        if self.stopped_at is None:
            self.stopped_at = time.monotonic()
        return process.returncode

    def send_signal(self, sig: signal.Signals) -> None:
        """To the server process alone (not its group), as a supervisor would send it."""
        if self._process is None:
            raise ProcessError(f"{self.name} was never started")
        self._process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit status, or ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if self._process is None:
            raise ProcessError(f"{self.name} was never started")
        return self._process.wait(timeout=timeout)

    # -- output --

    def output(self) -> str:
        """Everything the last start printed."""
        if self.log_path is None:
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

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
            self._process = subprocess.Popen(  # noqa: S603 - the project's own servers
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
        url = f"{self.url}{self.health_path}"
        with httpx.Client(timeout=1.0, trust_env=False) as client:

            def healthy() -> bool:
                if not self.running:
                    raise ProcessError(
                        f"{self.name} exited with {self.returncode} before answering {url}",
                        self.tail(),
                    )
                try:
                    return client.get(url).status_code == httpx.codes.OK
                except httpx.TransportError:
                    return False

            try:
                wait_until(healthy, timeout=self.start_timeout)
            except TimeoutError as error:
                raise ProcessError(
                    f"{self.name} did not answer {url} within {self.start_timeout:g}s",
                    self.tail(),
                ) from error

    def _log_mentions(self, markers: tuple[str, ...]) -> bool:
        text = self.tail(200).lower()
        return any(marker in text for marker in markers)

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # the group this process leads (start_new_session)


P = TypeVar("P", bound=ManagedProcess)


@contextmanager
def started(process: P) -> Iterator[P]:
    """Start ``process`` (waiting for its health endpoint) and stop it on the way out."""
    try:
        process.start()
        yield process
    finally:
        process.stop()


# -- the auth server --


def auth_server_environment(database_url: str, secret: str, **env: str) -> dict[str, str]:
    """What every auth-server command (server, migrations) gets."""
    return {
        **clean_environment(AUTH_SERVER_VARIABLES),
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": secret,
        "BETTER_AUTH_RATE_LIMIT": "false",
        **env,
    }


@dataclass(eq=False, kw_only=True)
class AuthServer(ManagedProcess):
    """``node --import tsx src/server.ts`` in ``auth-server/``: Better-Auth with jwt, admin and
    bearer. ``BETTER_AUTH_URL`` follows the port, so the JWT issuer is this process's origin.
    ``database_url`` is a plain ``postgresql://`` URL."""

    name: str = "auth-server"
    health_path: str = "/health"
    database_url: str
    secret: str

    def command(self, port: int) -> list[str]:
        return ["node", "--import", "tsx", "src/server.ts"]  # PORT in the environment

    def cwd(self) -> Path:
        return AUTH_SERVER_DIR

    def child_environment(self, port: int) -> dict[str, str]:
        return auth_server_environment(
            self.database_url,
            self.secret,
            HOST="127.0.0.1",
            PORT=str(port),
            BETTER_AUTH_URL=f"http://127.0.0.1:{port}",
            **self.env,
        )


def auth_server_migrate(database_url: str, secret: str, **env: str) -> str:
    """``npm run migrate``: Better-Auth creates its schema. Returns what it printed."""
    completed = run_command(
        ["npm", "run", "-s", "migrate"],
        cwd=AUTH_SERVER_DIR,
        env=auth_server_environment(database_url, secret, **env),
    )
    return completed.stdout + completed.stderr


def auth_server_migration_plan(database_url: str, secret: str, **env: str) -> dict[str, Any]:
    """``npm run -s migrate:check``: what Better-Auth would still create or add."""
    completed = run_command(
        ["npm", "run", "-s", "migrate:check"],
        cwd=AUTH_SERVER_DIR,
        env=auth_server_environment(database_url, secret, **env),
    )
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ProcessError(f"migrate:check printed {len(lines)} lines", completed.stdout)
    plan: dict[str, Any] = json.loads(lines[0])
    return plan


# -- the API --


def api_environment(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of an API command (uvicorn, alembic). The settings a stray ``.env`` file
    could change in a way that breaks a run are pinned to their defaults."""
    return {
        **clean_environment(API_VARIABLES),
        "DATABASE_URL": database_url,
        "JWKS_SOURCE": "http",
        "JWKS_URL": "",
        "JWT_ISSUER": "",
        "JWT_AUDIENCE": "",
        "REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


def alembic_upgrade(database_url: str, **settings: str) -> str:
    """``alembic upgrade head`` with the backend's interpreter, as an operator runs it."""
    completed = run_command(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=BACKEND_DIR,
        env=api_environment(database_url, **settings),
    )
    return completed.stdout + completed.stderr


@dataclass(eq=False, kw_only=True)
class ApiServer(ManagedProcess):
    """``python -m uvicorn app.main:app`` from the backend's virtualenv; ``env`` holds its
    settings, ``extra_args`` more uvicorn options (``--workers``, ``--http`` ...). ``app``: another
    ASGI app of the backend, served the same way (the benchmark's peers, ``bench/peers``)."""

    name: str = "api"
    health_path: str = "/health/live"
    database_url: str
    extra_args: tuple[str, ...] = ()
    app: str = "app.main:app"

    def command(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *self.extra_args,
        ]

    def cwd(self) -> Path:
        return BACKEND_DIR

    def child_environment(self, port: int) -> dict[str, str]:
        return api_environment(self.database_url, **self.env)


@contextmanager
def running_api(
    database_url: str, *, extra_args: tuple[str, ...] = (), **settings: str
) -> Iterator[ApiServer]:
    """A standalone API (``STANDALONE_API_SETTINGS`` under ``settings``, no access log) on a
    free port, logging to a temporary directory that is removed with it."""
    with tempfile.TemporaryDirectory(prefix="api-") as log_dir:
        api = ApiServer(
            log_dir=Path(log_dir),
            database_url=database_url,
            env={**STANDALONE_API_SETTINGS, **settings},
            extra_args=("--no-access-log", *extra_args),
        )
        with started(api):
            yield api
