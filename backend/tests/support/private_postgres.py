"""A private PostgreSQL cluster, for tests that stop or restart the server itself.

The shared server (127.0.0.1:5432) is never touched: ``initdb`` makes a throwaway cluster in a
temporary folder (data, unix socket and log), ``pg_ctl`` serves it on a free port of 127.0.0.1
with trust authentication, and :func:`private_cluster` always stops it and removes the folder,
whatever the test did. PostgreSQL refuses to run as root: as root, every command runs as the
``postgres`` OS user (``runuser``), which then owns the folder.

Durability is switched off (``fsync``, ``synchronous_commit``, ``full_page_writes``, ``initdb
--no-sync``): the cluster is thrown away, and a fast shutdown and start are what a restart test
wants to measure, not the disk.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.processes import free_port, tail

SEARCH_GLOB = "/usr/lib/postgresql/*/bin"
PG_CTL_TIMEOUT_SECONDS = 30
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off -c max_connections=60 -c shared_buffers=16MB"
)
_OS_USER = "postgres"
_START_ATTEMPTS = 3  # a free port may be taken between the probe and the bind


def postgres_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live: on the PATH, else Debian's newest
    ``/usr/lib/postgresql/<version>/bin``; None when PostgreSQL's server is not installed."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent  # Debian links them into /usr/local/bin

    def version(folder: Path) -> int:
        match = re.search(r"/(\d+)/bin$", str(folder))
        return int(match.group(1)) if match else 0

    found = [Path(p) for p in Path("/").glob(SEARCH_GLOB.lstrip("/"))]
    found = [folder for folder in found if (folder / "initdb").exists()]
    return max(found, key=version) if found else None


class ClusterError(RuntimeError):
    pass


@dataclass
class PrivateCluster:
    bin_dir: Path
    root: Path
    port: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database, over TCP (as the apps connect)."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _OS_USER, "--", *command]
        # Output to a file, not a pipe: a server that pg_ctl starts inherits it, and a pipe
        # would stay open (and the call blocked) for as long as the server runs.
        with tempfile.TemporaryFile() as output:
            completed = subprocess.run(
                command,
                cwd=self.root,  # readable by the postgres user, unlike the caller's folder
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=PG_CTL_TIMEOUT_SECONDS + 10,
                check=False,
            )
            output.seek(0)
            printed = output.read().decode(errors="replace")
        if completed.returncode != 0:
            raise ClusterError(
                f"{args[0]} failed ({completed.returncode}): {printed}\n{tail(self.log)}"
            )

    def init(self) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam(_OS_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        """Serve the cluster (on a new free port, the first time), waiting until it accepts."""
        for attempt in range(_START_ATTEMPTS):
            port = self.port or free_port()
            options = f"-p {port} -k {self.root} {SERVER_OPTIONS}"
            try:
                self._pg_ctl("start", "-l", str(self.log), "-o", options)
            except ClusterError:
                if self.port or attempt == _START_ATTEMPTS - 1:
                    raise
                continue
            self.port = port
            return

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m <mode>``: every connection is cut; same port and options."""
        self._pg_ctl("restart", "-m", mode, "-l", str(self.log))

    def stop(self, mode: str = "fast", *, wait: bool = True) -> None:
        """``wait=False`` returns at once: with ``smart``, the server then refuses new
        connections ("the database system is shutting down") until its clients have left."""
        self._pg_ctl("stop", "-m", mode, wait=wait)

    def _pg_ctl(self, action: str, *args: str, wait: bool = True) -> None:
        waiting = ["-w", "-t", str(PG_CTL_TIMEOUT_SECONDS)] if wait else ["-W"]
        self._run("pg_ctl", "-D", str(self.data), *waiting, *args, action)

    def destroy(self) -> None:
        """Stop the server whatever its state (``immediate``; a kill if pg_ctl cannot) and
        remove the folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
                self.stop("immediate")
            self._kill_postmaster()
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster; stopped and removed on exit, even when the test failed.
    Raises :class:`FileNotFoundError` when ``initdb`` is not installed."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("initdb (PostgreSQL's server binaries) is not installed")
    cluster = PrivateCluster(bin_dir, Path(tempfile.mkdtemp(prefix="bab-pg-")))
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
