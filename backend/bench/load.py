"""Driving load with wrk, and where the CPU went while it ran."""

# ruff: noqa: S603, S607 - runs wrk and apt-get with fixed arguments

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench import BenchError

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_tokens.lua"
_RESULT_PREFIX = "WRK_RESULT "


@dataclass
class LoadResult:
    """One measured wrk run. Latencies in microseconds."""

    duration_s: float
    requests: int
    errors: dict[str, int]
    latency_us: dict[str, float]
    cpu_cores: dict[str, float] = field(default_factory=dict)
    # Answers by HTTP status ("200": 45123, "401": 12), counted by wrk_tokens.lua.
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        """wrk's error counters added up. A request answered non-2xx after the timeout is in
        both ``status`` and ``timeout``: see ``error_breakdown``."""
        return sum(self.errors.values())

    @property
    def error_breakdown(self) -> str:
        """``non-2xx / timeouts / socket errors``."""
        e = self.errors
        socket = e.get("connect", 0) + e.get("read", 0) + e.get("write", 0)
        return f"{e.get('status', 0)} / {e.get('timeout', 0)} / {socket}"

    @property
    def status_text(self) -> str:
        """``200: 45,123, 401: 0``: every status seen, and 401 always (a refused token)."""
        counts = {"200": 0, "401": 0} | self.statuses
        return ", ".join(f"{status}: {counts[status]:,}" for status in sorted(counts))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": self.rps, "error_count": self.error_count}


def request_headers(mode: str, credential: str) -> dict[str, str]:
    """The headers wrk_tokens.lua sends for one credential in ``mode`` (a GET)."""
    if mode == "cookie":
        return {"Cookie": credential}
    if mode == "none":
        return {}
    return {"Authorization": f"Bearer {credential}"}


def ensure_wrk() -> str:
    """Path of wrk; installs Debian's package when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and _is_root():
        print("wrk is missing: apt-get install -y wrk")  # noqa: T201
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise BenchError("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu, as root)")


def _is_root() -> bool:
    return os.geteuid() == 0


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).splitlines()[0].strip()
    return first.split(" Copyright")[0]


class CpuMeter:
    """CPU seconds used by named process trees between ``start()`` and ``stop()``, as cores.

    Counted per process id: a process that started during the run counts in full, one that
    ended during the run is lost (short-lived processes are rare here)."""

    def __init__(self, roots: Mapping[str, Iterable[int]], *, postgres: bool = True) -> None:
        self._roots = {name: list(pids) for name, pids in roots.items()}
        self._postgres = postgres
        self._before: dict[str, dict[int, float]] = {}

    @staticmethod
    def _tree(pids: Iterable[int]) -> list[psutil.Process]:
        found: list[psutil.Process] = []
        for pid in pids:
            try:
                root = psutil.Process(pid)
                found.append(root)
                found.extend(root.children(recursive=True))
            except psutil.NoSuchProcess:
                continue
        return found

    @staticmethod
    def _postgres_processes() -> list[psutil.Process]:
        return [
            process
            for process in psutil.process_iter(["name"])
            if process.info["name"] in {"postgres", "postmaster"}
        ]

    @staticmethod
    def _cpu(processes: Iterable[psutil.Process]) -> dict[int, float]:
        used: dict[int, float] = {}
        for process in processes:
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            used[process.pid] = times.user + times.system
        return used

    def sample(self) -> dict[str, dict[int, float]]:
        sample = {name: self._cpu(self._tree(pids)) for name, pids in self._roots.items()}
        if self._postgres:
            sample["postgres"] = self._cpu(self._postgres_processes())
        return sample

    def start(self) -> None:
        self._before = self.sample()

    def stop(self, seconds: float) -> dict[str, float]:
        after = self.sample()
        cores: dict[str, float] = {}
        for name, used in after.items():
            before = self._before.get(name, {})
            spent = sum(max(0.0, value - before.get(pid, 0.0)) for pid, value in used.items())
            cores[name] = round(spent / seconds, 2) if seconds > 0 else 0.0
        return cores


def run_wrk(
    wrk: str,
    url: str,
    tokens_file: Path,
    *,
    mode: str = "bearer",
    duration: float,
    connections: int,
    threads: int,
    cpu_roots: Mapping[str, Iterable[int]] | None = None,
) -> LoadResult:
    """One wrk run; the CPU of ``cpu_roots`` (and wrk itself, and PostgreSQL) is measured.
    ``mode`` is how a line of ``tokens_file`` is sent: ``bearer``, ``verify``, ``cookie`` or
    ``none`` (see wrk_tokens.lua)."""
    args = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        str(tokens_file),
        mode,
    ]
    meter = CpuMeter(cpu_roots or {})
    meter.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=duration + 60, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError("wrk did not finish") from error
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stdout, stderr = done.stdout, done.stderr
    if done.returncode != 0:
        raise BenchError(f"wrk exited with {done.returncode}: {stderr.strip()[-2000:]}")
    line = next((ln for ln in stdout.splitlines() if ln.startswith(_RESULT_PREFIX)), None)
    if line is None:
        raise BenchError(f"wrk printed no result:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    data = json.loads(line.removeprefix(_RESULT_PREFIX))
    seconds = data["duration_us"] / 1e6
    cores = meter.stop(seconds)
    cores["wrk"] = round(wrk_cpu / seconds, 2) if seconds else 0.0
    return LoadResult(
        duration_s=seconds,
        requests=int(data["requests"]),
        errors={name: int(value) for name, value in data["errors"].items()},
        latency_us={name: float(value) for name, value in data["latency_us"].items()},
        cpu_cores=cores,
        statuses={status: int(value) for status, value in sorted(data["statuses"].items())},
    )
