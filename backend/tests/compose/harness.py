"""Docker Compose stacks for the tests of ``make test-compose`` (and ``make bench-replicas``).

``scripts/test-compose.sh`` prepares the run: a Docker engine, the base images, and a checkout
of the repository made with ``core.autocrlf=true`` (what a Windows clone holds); it passes them
in the environment:

- ``COMPOSE_SOURCE_DIR``: the checkout the stacks are built and started from;
- ``COMPOSE_IMAGES_ENV``: a file of build arguments (``PYTHON_IMAGE=...``) or empty (official
  images).

Every stack is configured the way an operator does it: ``.env.example`` copied to ``.env`` with
the secrets set (fresh ones), here with free ports on 127.0.0.1 too. It gets its own project name
(``fbact-<label>-<pid>``: the script's trap removes whatever carries that prefix) and is taken
down with its volumes when the test module is done, passed or failed. Stacks run one at a time
(they share the checkout's ``.env``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

PROJECT_PREFIX = "fbact-"
API_PREFIX = "/api/v1"
# Generous: building is done before the tests, but a shared 2-core machine starts eight
# Python processes slowly.
UP_TIMEOUT_SECONDS = 600
COMMAND_TIMEOUT_SECONDS = 300

T = TypeVar("T")
# The tests print their measurements (-s); one log line per request would bury them.
logging.getLogger("httpx").setLevel(logging.WARNING)


def source_dir() -> Path | None:
    value = os.environ.get("COMPOSE_SOURCE_DIR")
    return Path(value) if value else None


def image_arguments() -> dict[str, str]:
    """The base images' build arguments (``scripts/offline-images.sh``), if any."""
    path = os.environ.get("COMPOSE_IMAGES_ENV")
    if not path:
        return {}
    values = {}
    for line in Path(path).read_text().splitlines():
        name, _, value = line.strip().partition("=")
        if name and not name.startswith("#"):
            values[name] = value
    return values


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ComposeError(AssertionError):
    """A ``docker compose`` command failed."""


@dataclass
class Compose:
    """One Compose project: ``files`` (relative to ``directory``) and its variables."""

    directory: Path
    files: Sequence[str]
    label: str
    variables: dict[str, str] = field(default_factory=dict)
    project: str = ""

    def __post_init__(self) -> None:
        if not self.project:
            self.project = f"{PROJECT_PREFIX}{self.label}-{os.getpid()}"

    # --- commands -----------------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        argv = ["docker", "compose", "--project-name", self.project]
        for name in self.files:
            argv += ["--file", str(self.directory / name)]
        return [*argv, *args]

    def environment(self) -> dict[str, str]:
        # Nothing from the test run's own environment reaches the interpolation (DATABASE_URL,
        # ...): the stack's settings are in its .env, as an operator's are.
        keep = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "LANG")
        return {name: os.environ[name] for name in keep if name in os.environ}

    def write_env(self) -> None:
        """``.env.example`` with this stack's values set: the operator's ``.env``."""
        lines = (self.directory / ".env.example").read_text().splitlines()
        given = dict(self.variables)
        out = []
        for line in lines:
            name = line.partition("=")[0].strip()
            given_here = not line.startswith("#") and name in given
            out.append(f"{name}={given.pop(name)}" if given_here else line)
        out += [f"{name}={value}" for name, value in given.items()]
        (self.directory / ".env").write_text("\n".join(out) + "\n")

    def run(
        self, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            self.command(*args),
            cwd=self.directory,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and completed.returncode != 0:
            raise ComposeError(
                f"docker compose {' '.join(args)} exited {completed.returncode}:\n"
                f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
            )
        return completed

    def up(self, *extra: str) -> None:
        """``up --wait`` on the images built beforehand; the logs of what failed on failure."""
        self.write_env()
        try:
            self.run("up", "--detach", "--wait", "--no-build", *extra, timeout=UP_TIMEOUT_SECONDS)
        except ComposeError as error:
            raise ComposeError(f"{error}\n--- logs ---\n{self.logs()}") from None

    def down(self) -> None:
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)

    def logs(self, *services: str, tail: int = 40) -> str:
        completed = self.run("logs", "--no-color", "--tail", str(tail), *services, check=False)
        return completed.stdout[-8000:] + completed.stderr[-2000:]

    def containers(self, service: str) -> list[dict[str, str]]:
        """The service's containers (``docker compose ps``), running or not, by replica number."""
        output = self.run("ps", "--all", "--format", "json", service).stdout
        rows = [json.loads(line) for line in output.splitlines() if line.strip().startswith("{")]
        if len(rows) == 1 and isinstance(rows[0], list):  # older Compose: one JSON array
            rows = rows[0]
        return sorted(rows, key=lambda row: str(row.get("Name", "")))

    def port(self, service: str, private: int, index: int = 1) -> int:
        output = self.run("port", "--index", str(index), service, str(private)).stdout.strip()
        return int(output.rsplit(":", 1)[1])

    def exec(self, service: str, *argv: str, index: int = 1) -> str:
        return self.run("exec", "--no-TTY", "--index", str(index), service, *argv).stdout


# --- HTTP helpers -----------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def poll(
    check: Callable[[], Awaitable[T | None]], *, within: float, interval: float = 0.05
) -> T:
    """``check()`` until it returns something other than None, or fail after ``within`` s."""
    deadline = time.monotonic() + within
    last_error: BaseException | None = None
    while True:
        try:
            result = await check()
            if result is not None:
                return result
        except (httpx.TransportError, ComposeError) as error:
            last_error = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"not reached within {within} s (last error: {last_error!r})")
        await asyncio.sleep(interval)


async def wait_ready(client: httpx.AsyncClient, base_url: str, *, within: float = 120) -> None:
    async def ready() -> bool | None:
        response = await client.get(f"{base_url}/health/ready")
        return True if response.status_code == 200 else None

    await poll(ready, within=within, interval=0.2)


def stack_variables(**extra: str) -> dict[str, str]:
    """What an operator's .env holds for a run, with free ports and fresh secrets."""
    auth_port, api_port = free_port(), free_port()
    return {
        **image_arguments(),
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(32),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "METRICS_TOKEN": secrets.token_urlsafe(24),
        "AUTH_PORT": str(auth_port),
        "API_PORT": str(api_port),
        "BETTER_AUTH_URL": f"http://localhost:{auth_port}",
        # Better-Auth's own limits (3 sign-ups per 10 s from one address) would refuse the
        # tests' users, who all come from this host.
        "BETTER_AUTH_RATE_LIMIT": "false",
        **extra,
    }


def urls(variables: Mapping[str, str]) -> tuple[str, str]:
    """(auth server, API) as the host reaches them."""
    return (
        f"http://127.0.0.1:{variables['AUTH_PORT']}",
        f"http://127.0.0.1:{variables['API_PORT']}",
    )
