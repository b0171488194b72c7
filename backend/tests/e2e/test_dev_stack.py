"""``make run`` (scripts/dev.sh): the whole stack comes up, answers the banner's token recipe, and
stops completely whenever it is stopped.

Real processes: the script installs nothing new here (node_modules and the virtualenv are in
place), migrates a temporary SQLite file (the embedded default, as a newcomer gets it) and runs
the real Better-Auth server and uvicorn. It is stopped with SIGINT (what Ctrl-C sends) or SIGTERM,
once it is ready and at moments during start-up, with Ctrl-C on a real (pseudo-)terminal, and
after whoever read its output has gone away. Afterwards nothing it started may be left: every
process is found by a marker in its environment (``/proc/<pid>/environ``), whatever its process
group, and both ports must be free. Stops used to leave the servers running.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.database import BACKEND_DIR

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="finds processes through /proc"
    ),
]

ROOT = BACKEND_DIR.parent
DEV_SH = ROOT / "scripts" / "dev.sh"
READY = "[dev] ready"
START_TIMEOUT = 240  # a cold start on a loaded 2-core machine takes up to a minute
STOP_TIMEOUT = 30  # dev.sh SIGKILLs what is left after 10 s
FRONTEND = "http://localhost:5173"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _processes_with(marker: str) -> list[str]:
    """``pid command`` of every live process whose environment holds ``marker``."""
    needle = f"{marker}=1".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().split(") ")[-1].startswith("Z"):
                continue  # a zombie holds no port and ends with its parent
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        found.append(f"{entry.name} {command.strip()}")
    return found


@dataclass
class DevStack:
    process: subprocess.Popen[bytes]
    log: Path
    marker: str = ""
    auth_port: int = 0
    api_port: int = 0
    terminal: int | None = None  # the pseudo-terminal's master side, when there is one
    reader: _PipeReader | None = None  # what reads the output pipe, when there is one

    def close_output(self) -> None:
        """The reader of the script's output goes away (a harness stops reading)."""
        assert self.reader is not None
        self.reader.close()

    def ctrl_c(self) -> None:
        """What pressing Ctrl-C does: the terminal sends SIGINT to its foreground group."""
        assert self.terminal is not None
        os.write(self.terminal, b"\x03")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"dev.sh ended ({self.process.returncode}) before {text!r}:\n{self}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} after {timeout} s:\n{self}")
            time.sleep(0.1)

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"dev.sh still running {STOP_TIMEOUT} s after {sig.name}:\n{self}")

    def leftovers(self) -> list[str]:
        left = _processes_with(self.marker)
        ports = [port for port in (self.auth_port, self.api_port) if _listening(port)]
        return left + [f"port {port} still listening" for port in ports]

    def kill_leftovers(self) -> None:
        for line in _processes_with(self.marker):
            with contextlib.suppress(OSError):
                os.kill(int(line.split()[0]), signal.SIGKILL)

    def __str__(self) -> str:
        return "\n".join(self.output().splitlines()[-60:])


@pytest.fixture(scope="module", autouse=True)
def sigint_reaches_the_stack() -> Iterator[None]:
    """A test run started in the background (``make test &``, ``nohup``) has SIGINT ignored,
    and an ignored signal stays ignored in every child: bash could then not even trap the
    Ctrl-C these tests send. A handled one is reset to the default in a child, as a terminal's
    shell would start ``make run``."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def database_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file for the module: the first start migrates it, the others find it done."""
    return tmp_path_factory.mktemp("dev-stack") / "app.db"


Launch = Callable[..., DevStack]


@pytest.fixture
def launch(database_file: Path, tmp_path: Path) -> Iterator[Launch]:
    """``launch(**env)`` starts dev.sh; whatever it leaves behind is killed at teardown."""
    started: list[DevStack] = []

    def start(*, terminal: bool = False, piped: bool = False, **extra: str) -> DevStack:
        """dev.sh on its own (signals reach the script only, as `kill` sends them), or, with
        ``terminal``, `make run` on a pseudo-terminal of its own, where Ctrl-C is the
        terminal's: SIGINT to the whole foreground process group (make and the script)."""
        marker = f"DEV_STACK_TEST_{secrets.token_hex(6).upper()}"
        auth_port, api_port = _free_port(), _free_port()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "TEST_", "CORS_", "TRUSTED_", "FRONTEND_"))
        }
        env.update(
            AUTH_PORT=str(auth_port),
            API_PORT=str(api_port),
            DATABASE_URL=f"sqlite:///{database_file}",
            BETTER_AUTH_SECRET="dev-stack-test-secret-dev-stack-test-secret",
            **{marker: "1"},
            **extra,
        )
        log = tmp_path / f"dev-{len(started)}.log"
        if terminal:
            stack = _on_a_terminal(["make", "run"], env, log)
        elif piped:
            read_end, write_end = os.pipe()
            process = subprocess.Popen(
                ["bash", str(DEV_SH)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=write_end,
                stderr=write_end,
                start_new_session=True,
            )
            os.close(write_end)
            stack = DevStack(process, log, reader=_PipeReader(read_end, log))
        else:
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    ["bash", str(DEV_SH)],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            stack = DevStack(process, log)
        stack.marker, stack.auth_port, stack.api_port = marker, auth_port, api_port
        started.append(stack)
        return stack

    try:
        yield start
    finally:
        for stack in started:
            if stack.process.poll() is None:
                stack.process.kill()
                stack.process.wait()
            stack.kill_leftovers()
            if stack.terminal is not None:
                os.close(stack.terminal)
            if stack.reader is not None:
                stack.reader.close()


class _PipeReader:
    """Copies a pipe into a file until closed; then the pipe has no reader any more."""

    def __init__(self, fd: int, log: Path) -> None:
        self._fd = fd
        self._log = log
        self._stop = threading.Event()
        self._closed = False
        log.touch()
        self._thread = threading.Thread(target=self._copy, daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        with self._log.open("ab") as sink:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self._fd, 65536)
                if not data:
                    return
                sink.write(data)
                sink.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()
        os.close(self._fd)


def _set_controlling_terminal() -> None:  # pragma: no cover - runs in the child
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _on_a_terminal(command: list[str], env: dict[str, str], log: Path) -> DevStack:
    """``command`` as a session leader whose controlling terminal is a new pseudo-terminal;
    what it writes there is copied to ``log``."""
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_set_controlling_terminal,  # noqa: PLW1509 - no threads of ours yet
        )
    finally:
        os.close(slave)

    def copy() -> None:
        with log.open("ab") as sink:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the last process holding the terminal has ended
                    return
                if not data:
                    return
                sink.write(data)
                sink.flush()

    log.touch()
    threading.Thread(target=copy, daemon=True).start()
    return DevStack(process, log, terminal=master)


def _assert_stopped(stack: DevStack, status: int, sig: signal.Signals) -> None:
    assert status == 128 + sig.value, f"exit status {status}:\n{stack}"
    left = stack.leftovers()
    assert not left, f"left running after {sig.name}: {left}\n{stack}"


def banner(output: str) -> str:
    """What dev.sh prints once ready: from its first line to the closing rule."""
    after = output.split(READY, 1)[1]
    return after.split("\n-----", 1)[0]


def banner_recipe(output: str) -> str:
    """The shell lines the banner prints under "Get a token", up to the sign-in variant."""
    block = banner(output).split("Get a token", 1)[1].split("Signed up already?", 1)[0]
    return "\n".join(line for line in block.splitlines()[1:] if line.strip())


def test_banner_recipe_answers_and_one_frontend_origin_reaches_both(
    launch: Launch,
) -> None:
    """The README's first command as a newcomer uses it: the banner points at localhost, its
    curl lines get a JWT from Better-Auth that the API accepts, FRONTEND_ORIGIN alone lets a
    browser app on another origin talk to both servers, and the admin console is served, with
    a sign-in button for the provider the auth server is given."""
    if shutil.which("curl") is None:
        pytest.skip("the banner's recipe uses curl")
    github = {"GITHUB_CLIENT_ID": "Iv1.dev-stack", "GITHUB_CLIENT_SECRET": "dev-stack-secret"}
    stack = launch(FRONTEND_ORIGIN=FRONTEND, **github)
    try:
        stack.wait_for(READY)
        output = stack.output()
        assert f"http://localhost:{stack.api_port}/docs" in output
        assert "127.0.0.1" not in banner(output)

        recipe = banner_recipe(output).replace("you@example.com", f"{secrets.token_hex(6)}@e.test")
        me = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", recipe],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert me.returncode == 0, me.stderr
        assert "@e.test" in me.stdout, me.stdout

        preflight = {"Origin": FRONTEND, "Access-Control-Request-Method": "GET"}
        api = httpx.options(f"http://127.0.0.1:{stack.api_port}/api/v1/users/me", headers=preflight)
        auth = httpx.options(
            f"http://127.0.0.1:{stack.auth_port}/api/auth/get-session", headers=preflight
        )
        for response in (api, auth):
            assert response.headers.get("access-control-allow-origin") == FRONTEND, response
            assert response.headers.get("access-control-allow-credentials") == "true"

        # The admin console: built, served at the address the banner prints, and its origin
        # (the API's) trusted by the auth server, where its page signs in.
        console = f"http://localhost:{stack.api_port}"
        assert f"{console}/admin/" in banner(output)
        page = httpx.get(f"http://127.0.0.1:{stack.api_port}/admin/")
        assert page.status_code == 200, page.text
        assert "<title>Admin console</title>" in page.text
        sign_in = httpx.options(
            f"http://127.0.0.1:{stack.auth_port}/api/auth/sign-in/email",
            headers={"Origin": console, "Access-Control-Request-Method": "POST"},
        )
        assert sign_in.headers.get("access-control-allow-origin") == console, sign_in
        config = httpx.get(f"http://127.0.0.1:{stack.api_port}/admin/config.json").json()
        assert config["signInProviders"] == [{"id": "github", "name": "GitHub"}]
    finally:
        _assert_stopped(stack, stack.stop(signal.SIGTERM), signal.SIGTERM)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda sig: sig.name)
def test_stops_everything_once_ready(launch: Launch, sig: signal.Signals) -> None:
    """With the banner test (SIGTERM) and the terminal test (Ctrl-C), four stops of a ready
    stack in a run, two during start-up: the race this guards against showed once in five."""
    stack = launch()
    stack.wait_for(READY)
    _assert_stopped(stack, stack.stop(sig), sig)
    assert "[dev] stopped" in stack.output()


@pytest.mark.parametrize(
    ("sig", "moment"),
    [
        (signal.SIGTERM, "[dev] migrate: Better-Auth"),  # a migration in the foreground
        (signal.SIGINT, "[auth-server] listening"),  # the API starting (the old race)
    ],
    ids=["SIGTERM-migrating", "SIGINT-api-starting"],
)
def test_stops_everything_during_start_up(launch: Launch, sig: signal.Signals, moment: str) -> None:
    stack = launch()
    stack.wait_for(moment)
    _assert_stopped(stack, stack.stop(sig), sig)
    assert READY not in stack.output()


def test_ctrl_c_in_a_terminal_stops_make_run(launch: Launch) -> None:
    """The README's command in a terminal: Ctrl-C reaches make and the script (the servers run
    in process groups of their own and are stopped by the script), and nothing is left."""
    if shutil.which("make") is None:
        pytest.skip("make is not on PATH")
    stack = launch(terminal=True)
    stack.wait_for(READY)
    stack.ctrl_c()
    try:
        status = stack.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make run still running {STOP_TIMEOUT} s after Ctrl-C:\n{stack}")
    # make re-raises the SIGINT its child ended with (or exits 2 saying "Interrupt").
    assert status in {-signal.SIGINT, 2, 130}, f"exit status {status}:\n{stack}"
    left = stack.leftovers()
    assert not left, f"left running after Ctrl-C: {left}\n{stack}"
    assert "[dev] stopped" in stack.output()


def test_stops_everything_when_nobody_reads_its_output(launch: Launch) -> None:
    """A harness that stops reading the output before stopping the stack: the old script died
    of SIGPIPE on its first "stopping" line, before it had signalled anything, and left both
    servers running."""
    stack = launch(piped=True)
    stack.wait_for(READY)
    stack.close_output()
    _assert_stopped(stack, stack.stop(signal.SIGTERM), signal.SIGTERM)
