"""The Markdown report, the latency chart and the raw results of a run."""

# ruff: noqa: S603 - lscpu and node --version, fixed arguments

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.load import LoadResult
from bench.micro_tokens import Timing, format_table
from devstack.processes import AUTH_SERVER_DIR

# Targets of the issue, on this 2-core machine with the load generator on it.
TARGET_ME_RATIO = 10.0
TARGET_ME_P99_MS = 50.0
TARGET_SEARCH_RATIO = 3.0
TARGET_CACHED_US = 5.0
TARGET_COLD_US = 150.0


@dataclass
class Measurement:
    key: str
    label: str
    server: str
    users: int
    workers: int
    connections: int
    result: LoadResult
    baseline: str | None = None
    load_before: float = 0.0
    runs: list[LoadResult] = field(default_factory=list)

    @property
    def rps_range(self) -> str:
        """``2,329`` or, with repeated runs, ``2,329 (2,115-2,794)``."""
        text = f"{self.result.rps:,.0f}"
        if len(self.runs) > 1:
            low = min(run.rps for run in self.runs)
            high = max(run.rps for run in self.runs)
            text += f" ({low:,.0f}-{high:,.0f})"
        return text

    @property
    def cpu_ms_per_request(self) -> float:
        """CPU the server spent per answered request: robust to a busy machine, unlike req/s."""
        rps = self.result.rps
        return 1000 * self.result.cpu_cores.get("server", 0.0) / rps if rps else 0.0

    def ms(self, percentile: str) -> float:
        return self.result.latency_us[percentile] / 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "server": self.server,
            "users": self.users,
            "workers": self.workers,
            "connections": self.connections,
            "baseline": self.baseline,
            "load_before": round(self.load_before, 2),
            "server_cpu_ms_per_request": round(self.cpu_ms_per_request, 3),
            "runs": [run.to_dict() for run in self.runs],
            **self.result.to_dict(),
        }


# --- machine --------------------------------------------------------------------------------


def _command(*args: str) -> str:
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (done.stdout or done.stderr).strip() or "unknown"


def _cpu_model() -> str:
    for line in _command("lscpu").splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _package_version(path: Path) -> str:
    try:
        return str(json.loads(path.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def machine_description(*, postgres: str, wrk: str) -> dict[str, str]:
    load1, load5, load15 = os.getloadavg()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus (nproc)": str(os.cpu_count()),
        "cpu model": _cpu_model(),
        "memory": _memory(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "uvicorn": metadata.version("uvicorn"),
        "node": _command("node", "--version"),
        "postgresql": postgres,
        "better-auth": _package_version(
            AUTH_SERVER_DIR / "node_modules" / "better-auth" / "package.json"
        ),
        "wrk": wrk,
        "load average at the end (1/5/15 min)": f"{load1:.2f} / {load5:.2f} / {load15:.2f}",
    }


# --- tables ---------------------------------------------------------------------------------


def _ratio(measurement: Measurement, by_key: dict[str, Measurement]) -> float | None:
    if measurement.baseline is None or measurement.baseline not in by_key:
        return None
    theirs = by_key[measurement.baseline].result.rps
    return measurement.result.rps / theirs if theirs else None


def results_table(measurements: list[Measurement]) -> str:
    by_key = {m.key: m for m in measurements}
    lines = [
        "| endpoint | server | users | workers | req/s | p50 ms | p95 ms | p99 ms "
        "| errors: non-2xx / >5 s / socket "
        "| ours/theirs | CPU cores: server / PostgreSQL / wrk | server CPU ms/req | load avg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for m in measurements:
        ratio = _ratio(m, by_key)
        cpu = m.result.cpu_cores
        lines.append(
            f"| `{m.label}` | {m.server} | {m.users:,} | {m.workers} | {m.rps_range} "
            f"| {m.ms('p50'):.2f} | {m.ms('p95'):.2f} | {m.ms('p99'):.2f} "
            f"| {m.result.error_breakdown} | {'' if ratio is None else f'{ratio:.1f}x'} "
            f"| {cpu.get('server', 0):.2f} / {cpu.get('postgres', 0):.2f} "
            f"/ {cpu.get('wrk', 0):.2f} "
            f"| {m.cpu_ms_per_request:.2f} | {m.load_before:.2f} |"
        )
    return "\n".join(lines)


@dataclass
class TargetCheck:
    target: str
    measured: str
    met: bool


def _best(measurements: list[Measurement], prefix: str, users: int) -> Measurement | None:
    found = [m for m in measurements if m.key.startswith(prefix) and m.users == users]
    return max(found, key=lambda m: m.result.rps, default=None)


def check_targets(
    measurements: list[Measurement], micro: list[Timing], users: int
) -> list[TargetCheck]:
    by_key = {m.key: m for m in measurements}
    checks: list[TargetCheck] = []
    for m in [m for m in measurements if m.key.startswith("me-jwt@")]:
        ratio = _ratio(m, by_key) or 0.0
        checks.append(
            TargetCheck(
                f"`/users/me` (JWT) >= {TARGET_ME_RATIO:g}x `get-session` req/s "
                f"({m.users:,} users, {m.workers} worker{'s' if m.workers > 1 else ''})",
                f"{ratio:.1f}x ({m.result.rps:,.0f} vs "
                f"{by_key[m.baseline].result.rps if m.baseline in by_key else 0:,.0f})",
                ratio >= TARGET_ME_RATIO,
            )
        )
        checks.append(
            TargetCheck(
                f"`/users/me` (JWT) p99 < {TARGET_ME_P99_MS:g} ms, zero errors "
                f"({m.workers} worker{'s' if m.workers > 1 else ''})",
                f"p99 {m.ms('p99'):.2f} ms, {m.result.error_count} errors",
                m.ms("p99") < TARGET_ME_P99_MS and m.result.error_count == 0,
            )
        )
    for m in [m for m in measurements if m.key.startswith("search@")]:
        ratio = _ratio(m, by_key) or 0.0
        checks.append(
            TargetCheck(
                f"admin search >= {TARGET_SEARCH_RATIO:g}x `list-users` "
                f"({m.users:,} users, {m.workers} worker{'s' if m.workers > 1 else ''})",
                f"{ratio:.1f}x ({m.result.rps:,.0f} vs "
                f"{by_key[m.baseline].result.rps if m.baseline in by_key else 0:,.0f} req/s)",
                ratio >= TARGET_SEARCH_RATIO,
            )
        )
    timings = {t.name: t for t in micro}
    hit = next((t for name, t in timings.items() if name.startswith("cached hit")), None)
    cold = next((t for name, t in timings.items() if name.startswith("cold")), None)
    if hit is not None:
        checks.append(
            TargetCheck(
                f"cached token check < {TARGET_CACHED_US:g} µs",
                f"median {hit.median_us:.2f} µs (p99 {hit.p99_us:.2f})",
                hit.median_us < TARGET_CACHED_US,
            )
        )
    if cold is not None:
        checks.append(
            TargetCheck(
                f"cold token check < {TARGET_COLD_US:g} µs",
                f"median {cold.median_us:.1f} µs (p99 {cold.p99_us:.1f})",
                cold.median_us < TARGET_COLD_US,
            )
        )
    return checks


def targets_table(checks: list[TargetCheck]) -> str:
    lines = ["| target | measured | met |", "|---|---|:---:|"]
    lines.extend(f"| {c.target} | {c.measured} | {'yes' if c.met else '**no**'} |" for c in checks)
    return "\n".join(lines)


def micro_table(micro: list[Timing]) -> str:
    return format_table(micro)


# --- chart ----------------------------------------------------------------------------------


_SHORT_NAMES = {
    "me-jwt": "/users/me, JWT",
    "me-session": "/users/me, session token",
    "verify": "/auth/verify, JWT",
    "search": "/users?search= (admin)",
    "get-session": "get-session",
    "list-users": "admin/list-users?searchValue=",
    "prime": "prime",
}


def _short_label(m: Measurement) -> str:
    name = _SHORT_NAMES.get(m.key.split("@")[0], m.label)
    who = f"API w{m.workers}" if m.server == "API" else "Better-Auth"
    return f"{who}: {name}, {m.users // 1000}k users"


def prime_chart() -> None:
    """Draw a throw-away chart now. matplotlib imports its backend and much else lazily, and a
    concurrent ``uv sync`` without the bench group can remove the package from the shared
    virtualenv while a run goes on; once drawn, everything the chart needs is in memory."""
    dummy = Measurement(
        key="prime",
        label="GET /users/me (JWT)",
        server="API",
        users=1000,
        workers=1,
        connections=1,
        result=LoadResult(
            duration_s=1.0,
            requests=1,
            errors={},
            latency_us={"p50": 1000.0, "p95": 2000.0, "p99": 3000.0},
        ),
    )
    write_chart(io.BytesIO(), [dummy, dummy])


def write_chart(path: Path | BinaryIO, measurements: list[Measurement]) -> None:
    labels = [_short_label(m) for m in measurements]
    height = 0.26
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(measurements) + 1.6))
    colors = {"p50": "#4c78a8", "p95": "#f58518", "p99": "#e45756"}
    for offset, percentile in enumerate(("p50", "p95", "p99")):
        values = [max(m.ms(percentile), 0.01) for m in measurements]
        positions = [i + (offset - 1) * height for i in range(len(measurements))]
        ax.barh(positions, values, height=height, label=percentile, color=colors[percentile])
    ax.set_yticks(range(len(measurements)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.axvline(
        TARGET_ME_P99_MS,
        color="grey",
        linestyle="--",
        linewidth=0.8,
        label=f"{TARGET_ME_P99_MS:g} ms (p99 target, /users/me)",
    )
    ax.set_title(
        f"Latency at {measurements[0].connections} connections (wrk), API vs Better-Auth"
        if measurements
        else "Latency"
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=4, frameon=False)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


# --- report ---------------------------------------------------------------------------------

METHOD = """\
- One fresh PostgreSQL database per run. Better-Auth's own migration runs first (`npm run migrate`
  in `auth-server/`), then ours (`alembic upgrade head`: indexes, audit table, NOTIFY triggers).
- Users are seeded as Better-Auth writes them (`bench/seed.py`): 32-character ids, `role='user'`,
  `banned=false`, `emailVerified`, `createdAt`/`updatedAt`, a `credential` account with a scrypt
  password hash, and one session each (32-character token, `expiresAt` = now + 7 days). One extra
  user has `role='admin'`.
- Both servers run at the same time on the same database; only one endpoint is under load at a
  time. Better-Auth: `auth-server/` (Node, `pg` pool of 10, `NODE_ENV=production`, rate limit
  off). The API: `uvicorn app.main:app --loop uvloop --http httptools --no-access-log`,
  `LOG_LEVEL=WARNING`, `RATE_LIMIT_ENABLED=false`, JWKS over HTTP from the auth server, caches on
  (defaults), with `--workers 1` and `--workers 2`.
- Load: `wrk` (one thread, on the same 2 cores as both servers and PostgreSQL) keeps
  {connections} connections busy for {duration:g} s after a {warmup:g} s warm-up (not counted),
  {repeat_text}
  rotating the credentials of {tokens} users (`bench/wrk_tokens.lua`): real JWTs from Better-Auth's
  `GET /api/auth/token`, and session tokens in the signed `TOKEN.SIGNATURE` form of the bearer
  plugin. Every credential is checked once against the endpoint before the run. Errors are
  wrk's counters: non-2xx answers, requests still unanswered after 5 s (a request answered non-2xx
  after 5 s is in both), and socket errors.
- `wrk` is a closed-loop generator: the latencies are those of requests issued as fast as the
  server answers (no coordinated-omission correction). p50/p95/p99 are wrk's own histogram.
- The admin search asks both servers for the same page: email contains `{search}`
  (`/api/v1/users?search=...&limit=20` vs `/api/auth/admin/list-users?searchValue=...&limit=20`),
  which matches {matches} users. Both servers read the same table and the same indexes (our
  migration adds `pg_trgm` GIN indexes that Better-Auth's query can use too).
- "ours/theirs" divides our req/s by Better-Auth's on the comparable endpoint: `get-session` for
  `/users/me` and `/auth/verify`, `list-users` at the same size for the search.
- "CPU cores" is CPU time used during the measured run divided by its length: the server's
  process tree, every PostgreSQL process (this includes anything else the database was doing),
  and wrk. The sum cannot exceed 2. "server CPU ms/req" divides the server's CPU time by the
  requests it answered: unlike req/s it hardly depends on what else the machine is doing.
"""


def write_report(
    out: Path | None,
    *,
    measurements: list[Measurement],
    micro: list[Timing],
    machine: dict[str, str],
    settings: dict[str, Any],
) -> str:
    """Write README.md, latency.png and results.json to ``out`` (unless None); return the
    text printed on the console (the tables)."""
    checks = check_targets(measurements, micro, settings["users"])
    table = results_table(measurements)
    targets = targets_table(checks)
    console = f"{table}\n\n{targets}\n\n{micro_table(micro) if micro else ''}"
    if out is None:
        return console
    out.mkdir(parents=True, exist_ok=True)
    matches = ", ".join(
        f"{total} of {users:,}" for users, total in sorted(settings["search_matches"].items())
    )
    machine_rows = "\n".join(f"| {name} | {value} |" for name, value in machine.items())
    profile_files = sorted(out.glob("profile-*.txt"))
    # Named, not linked: the profiles are regenerated by every run and not committed, and a
    # link to a file that is not in the repository would not resolve.
    profiles = (
        "\nSampled with py-spy under the same load (after the measured runs): "
        + " and ".join(f"`{path.name}`" for path in profile_files)
        + ", written next to this file by `make bench` (`--profile`), not committed; their hot "
        "spots are summarised in [analysis.md](analysis.md)."
        if profile_files
        else ""
    )
    loads = [m.load_before for m in measurements]
    load_line = (
        f"1-minute load average just before each measured run: {min(loads):.2f} to "
        f"{max(loads):.2f} (column 'load avg'; 2 cores)."
        if loads
        else ""
    )
    if settings.get("nice"):
        load_line += (
            f" The run and everything it started (servers, wrk) ran at nice {settings['nice']}, "
            "ahead of other work on the machine; PostgreSQL ran at its normal priority."
        )
    document = f"""# Benchmark: the API vs Better-Auth

Measured {machine["date"]} with one command:

```sh
{settings["command"]}
```

(`make bench` runs the same; `--skip-100k` skips the 100k-user round; `--help` lists the rest.)
Everything below, this file included, is written by `backend/bench/run.py`; the analysis of the
numbers is in [analysis.md](analysis.md).

## Results

{table}

{load_line}

![p50/p95/p99 latency per endpoint](latency.png)

## Targets

{targets}

Why a target is missed, and where the API's time goes: [analysis.md](analysis.md).{profiles}

## Token check micro-benchmark

`backend/bench/micro_tokens.py`, in-process, {micro[0].iterations if micro else 0} calls each,
timed one by one with `time.perf_counter_ns`, the checks interleaved in 20 rounds so that all see
the same machine (garbage collector off while timing):

{micro_table(micro) if micro else "(not run)"}

## Machine

| | |
|---|---|
{machine_rows}

## Method

{
        METHOD.format(
            connections=settings["connections"],
            duration=settings["duration"],
            warmup=settings["warmup"],
            tokens=settings["tokens"],
            repeat_text=(
                f"{settings['repeat']} times back to back (req/s shows the median run, with the "
                "range of all runs in brackets; latencies are the median run's),"
                if settings.get("repeat", 1) > 1
                else "once,"
            ),
            search=settings["search"],
            matches=matches or "?",
        )
    }
Raw numbers: [results.json](results.json). The run took {settings["elapsed_s"]} s.
"""
    (out / "README.md").write_text(document, encoding="utf-8")
    (out / "results.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "settings": {k: v for k, v in settings.items() if k != "search_matches"}
                | {"search_matches": {str(k): v for k, v in settings["search_matches"].items()}},
                "measurements": [m.to_dict() for m in measurements],
                "micro": [t.to_dict() for t in micro],
                "targets": [c.__dict__ for c in checks],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    if measurements:
        write_chart(out / "latency.png", measurements)
    return console
