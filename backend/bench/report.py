"""The Markdown report, the latency chart and the raw results of a run."""

# ruff: noqa: S603 - lscpu and node --version, fixed arguments

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench import own
from bench.bans import BAN_WAIT_SECONDS, BanCheck
from bench.load import LoadResult
from bench.measurement import Measurement
from bench.micro_tokens import Timing, format_table
from bench.targets import TARGET_ME_P99_MS, check_targets, ratio, targets_table
from devstack.processes import AUTH_SERVER_DIR

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


def results_table(measurements: list[Measurement]) -> str:
    by_key = {m.key: m for m in measurements}
    lines = [
        "| endpoint | server | users | workers | req/s | p50 ms | p95 ms | p99 ms "
        "| answers by status | errors: non-2xx / >5 s / socket "
        "| ours/theirs | CPU cores: server / PostgreSQL / wrk | server CPU ms/req | load avg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|",
    ]
    for m in measurements:
        times = ratio(m, by_key)
        cpu = m.result.cpu_cores
        lines.append(
            f"| `{m.label}` | {m.server} | {m.users:,} | {m.workers} | {m.rps_range} "
            f"| {m.ms('p50'):.2f} | {m.ms('p95'):.2f} | {m.ms('p99'):.2f} "
            f"| {m.result.status_text} "
            f"| {m.result.error_breakdown} | {'' if times is None else f'{times:.1f}x'} "
            f"| {cpu.get('server', 0):.2f} / {cpu.get('postgres', 0):.2f} "
            f"/ {cpu.get('wrk', 0):.2f} "
            f"| {m.cpu_ms_per_request:.2f} | {m.load_before:.2f} |"
        )
    return "\n".join(lines)


def bans_table(bans: list[BanCheck]) -> str:
    lines = [
        "| server | credential | status before the ban | status after it | ban stops the token |",
        "|---|---|---:|---:|:---:|",
    ]
    lines.extend(
        f"| {b.server} | {b.credential} | {b.before} | {b.after} "
        f"({b.waited_s:.2f} s after) | {b.verdict} |"
        for b in bans
    )
    return "\n".join(lines)


def metrics_cost(measurements: list[Measurement]) -> str:
    """``/users/me`` (JWT), 1 worker, with metrics off and on: what metrics cost on the hot
    path, in req/s and in server CPU per request."""
    off = next((m for m in measurements if m.key.startswith("me-jwt-nometrics@")), None)
    on = next((m for m in measurements if m.key.startswith("me-jwt@") and m.workers == 1), None)
    if off is None or on is None or not off.result.rps:
        return "(not measured)"
    change = on.result.rps / off.result.rps - 1
    return (
        f"`GET /api/v1/users/me` (JWT), 1 worker: {off.result.rps:,.0f} req/s and "
        f"{off.cpu_ms_per_request:.3f} server CPU ms/request with `METRICS_ENABLED=false`, "
        f"{on.result.rps:,.0f} req/s and {on.cpu_ms_per_request:.3f} ms/request with `true` "
        f"(the default): metrics change req/s by {change:+.1%}, p99 "
        f"{off.ms('p99'):.2f} -> {on.ms('p99'):.2f} ms."
    )


def micro_table(micro: list[Timing]) -> str:
    return format_table(micro)


# --- chart ----------------------------------------------------------------------------------


_SHORT_NAMES = {
    "me-jwt": "/users/me, JWT",
    "me-session": "/users/me, session token",
    "verify": "/auth/verify, JWT",
    "org-member": "/organizations/{id}, JWT (org member)",
    "search": "/users?search= (admin)",
    "get-session": "get-session",
    "list-users": "admin/list-users?searchValue=",
    "me-jwt-nometrics": "/users/me, JWT, metrics off",
    "bridge-jwt": "/users/me, JWT",
    "bridge-cookie": "/users/me, session cookie",
    "betterauth-jwt": "/users/me, JWT",
    "bare": "/users/me, no auth",
    "prime": "prime",
}


def _short_label(m: Measurement) -> str:
    name = _SHORT_NAMES.get(m.key.split("@")[0], m.label)
    if m.server == "API":
        who = f"API w{m.workers}"
    elif m.server == "Better-Auth":
        who = "Better-Auth"
    else:
        who = m.server.split(" (")[0]  # the peer's distribution and version
        if m.workers > 1:  # the bare app of "your own endpoint" runs with each worker count
            who += f" w{m.workers}"
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
    for workers, target in sorted(TARGET_ME_P99_MS.items()):
        ax.axvline(
            target,
            color="grey",
            linestyle="--" if workers == 1 else ":",
            linewidth=0.8,
            label=f"{target:g} ms (p99 target, /users/me, {workers} worker{'s' * (workers > 1)})",
        )
    ax.set_title(
        f"Latency at {measurements[0].connections} connections (wrk): API, Better-Auth, peers"
        if measurements
        else "Latency"
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=4, frameon=False)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    # "tight" keeps the legend below the axes inside the picture.
    fig.savefig(path, dpi=110, format="png", bbox_inches="tight")
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
  (defaults), with `--workers 1` and `--workers 2`; with 1 worker once more with
  `METRICS_ENABLED=false` (the default is on), which prices `/metrics`'s counting on the hot
  path.
- Peers, with 1 worker and the same uvicorn flags, one at a time against the same Better-Auth
  server and database, each a minimal app with the library's recommended setup
  (`backend/bench/peers/`) answering `GET /users/me` with the user its dependency returns:
  `fastapi-better-auth-bridge` in its JWT mode (JWKS, Ed25519 verified on every request) and in
  its cookie + SQL mode (Better-Auth's signed session cookie, the session and user read from
  PostgreSQL with `SqlAlchemySessionStore`), and `fastapi-betterauth` (JWT, PyJWT's
  `PyJWKClient`). They get the same JWTs as the API, and the cookie mode the same sessions as a
  cookie. The ceiling: a bare FastAPI app (`bench/peers/bare.py`), one endpoint returning a
  small dict, no middleware, no authentication.
- Bans: after each server's load, one user outside the loaded sample is banned through
  Better-Auth's admin API (`POST /api/auth/admin/ban-user`, which also deletes the user's
  sessions), and the server is asked again with that user's JWT (session cookie for the cookie
  mode) until it refuses it or {ban_wait:g} s pass. "yes": it answered 200 before the ban and
  not after.
- Load: `wrk` (one thread, on the same 2 cores as both servers and PostgreSQL) keeps
  {connections} connections busy for {duration:g} s after a {warmup:g} s warm-up (not counted),
  {repeat_text}
  rotating the credentials of {tokens} users (`bench/wrk_tokens.lua`): real JWTs from Better-Auth's
  `GET /api/auth/token`, session tokens in the signed `TOKEN.SIGNATURE` form of the bearer
  plugin, and the same signed tokens URL-encoded in a `better-auth.session_token` cookie.
  Every credential is checked once against the endpoint before the run. "answers by status"
  counts every answer of the reported run by HTTP status (wrk's `response()` callback, per
  thread, added up in `done()`). Errors are wrk's counters: non-2xx answers, requests still
  unanswered after 5 s (a request answered non-2xx after 5 s is in both), and socket errors.
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
    bans: list[BanCheck],
    micro: list[Timing],
    machine: dict[str, str],
    settings: dict[str, Any],
) -> str:
    """Write README.md, latency.png and results.json to ``out`` (unless None); return the
    text printed on the console (the tables)."""
    checks = check_targets(measurements, micro)
    table = results_table(measurements)
    targets = targets_table(checks)
    revocation = bans_table(bans)
    metrics = metrics_cost(measurements)
    own_section = own.own_section(measurements, settings)
    console = (
        f"{table}\n\n{revocation}\n\n{metrics}\n\n{targets}\n\n"
        f"{micro_table(micro) if micro else ''}"
    )
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
    document = f"""# Benchmark: the API vs Better-Auth and the Python peers

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

The peers (rows named after their package) and the bare FastAPI endpoint (the ceiling) run with
1 worker, the API's flags, on the same token: see Method.

### Does a ban stop the token?

{revocation}

### Cost of metrics

{metrics}

## Your own endpoint

{own_section or "(not measured in this run)"}

What each row is, and the same phases alone (`make bench-own`): [own-endpoint.md](own-endpoint.md).

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
            ban_wait=BAN_WAIT_SECONDS,
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
                "bans": [b.to_dict() for b in bans],
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
