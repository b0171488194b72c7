""" "Your own endpoint": a handler added to this app as the tutorial says, against the same handler
in a bare FastAPI app (issue 25), in one run. ``python -m bench.run --own`` (``make bench-own``)
runs only these phases; ``make bench`` runs them too. Writes ``own-endpoint.md`` and
``own-endpoint.json`` into the report folder.

For each worker count (``--workers``, 1 and 2):

1. the bare app (``bench.peers.bare_own``: no middleware, no authentication) with the same
   FastAPI, uvicorn and flags, and the same number of workers;
2. this app with the handler added (``bench.own_app``), metrics on as shipped: without
   authentication (its router included after all of the project's routes, and again before
   all of them), with ``user: CurrentUser`` (a JWT, then a session token), with
   ``require_permission({"user": ["list"]})`` (the admin's JWT, then session token);
3. ``GET /api/v1/users/me`` (JWT) answered by ``FastPaths``, then by its route (the same app
   restarted with ``BENCH_FAST_PATHS=off``): does the fast path still earn its place?

The phases run in rounds (``--repeat`` of them, for each worker count), each round measuring every
phase once: the bare app first and again last, the others in an order shifted by one each round.
A phase's median run over the rounds stands for it, and the shares are over the mean of the two
bare phases. A machine whose speed drifts during the run (another tenant on the host) then slows
every row alike instead of the few that ran at the wrong moment: one phase's consecutive runs
differed by up to 40% here.

Every share is this run's req/s over the bare app's req/s in the same run, same worker count;
"share by CPU" is the bare app's server CPU per request over the row's (what the share would be
with a core to itself: it hardly moves when other work shares the machine).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measurement import Measurement
from bench.phases import ME, Phase
from bench.stack import Stack

OWN_APP = "bench.own_app:app"
BARE_OWN_KEY = "own-bare"
BARE_AFTER_KEY = "own-bare-after"
BARE_KEYS = (BARE_OWN_KEY, BARE_AFTER_KEY)
OWN_PREFIX = "/api/v1/own"
# Issue 25's targets: share of the bare app's req/s, p99 at most twice bare's, no errors.
TARGET_SHARE = {
    "own-open": 0.85,
    "own-user-jwt": 0.75,
    "own-user-session": 0.75,
    "own-permitted-jwt": 0.70,
    "own-permitted-session": 0.70,
}
TARGET_P99_FACTOR = 2.0
# "A route added last costs no more than one added first": within the run-to-run noise.
TARGET_LAST_VS_FIRST = 0.95
# FastPaths stays only if the routed /users/me is more than 10% behind it.
FAST_PATH_MARGIN = 0.10


@dataclass(frozen=True)
class OwnPhase:
    name: str  # key without the suffix
    label: str
    path: str
    tokens: str  # file in the stack's token directory
    mode: str = "bearer"
    fast_paths: bool = True


OWN_PHASES = (
    OwnPhase("own-open", "added to this app, no auth", f"{OWN_PREFIX}/open", "none.txt", "none"),
    OwnPhase(
        "own-first",
        "the same, its router included before all others",
        f"{OWN_PREFIX}/first",
        "none.txt",
        "none",
    ),
    OwnPhase("own-user-jwt", "with `user: CurrentUser` (JWT)", f"{OWN_PREFIX}/user", "jwt.txt"),
    OwnPhase(
        "own-user-session",
        "with `user: CurrentUser` (session token)",
        f"{OWN_PREFIX}/user",
        "session.txt",
    ),
    OwnPhase(
        "own-permitted-jwt",
        '`require_permission({"user": ["list"]})` (JWT)',
        f"{OWN_PREFIX}/permitted",
        "admin-jwt.txt",
    ),
    OwnPhase(
        "own-permitted-session",
        '`require_permission({"user": ["list"]})` (session token)',
        f"{OWN_PREFIX}/permitted",
        "admin-session.txt",
    ),
    OwnPhase("me-fast", "`GET /api/v1/users/me` (JWT), `FastPaths`", ME, "jwt.txt"),
    OwnPhase(
        "me-routed",
        "`GET /api/v1/users/me` (JWT), routed (`BENCH_FAST_PATHS=off`)",
        ME,
        "jwt.txt",
        fast_paths=False,
    ),
)


OWN_KEYS = frozenset({*BARE_KEYS, *(own.name for own in OWN_PHASES)})


def is_own_key(key: str) -> bool:
    """Whether a phase's key (``name@users/wN``) is one of these phases."""
    return key.partition("@")[0] in OWN_KEYS


def bare_phase(stack: Stack, workers: int, *, after: bool = False) -> Phase:
    return Phase(
        f"{BARE_AFTER_KEY if after else BARE_OWN_KEY}@{stack.user_count}/w{workers}",
        "bare FastAPI app, same handler" + (", again after the others" if after else ""),
        "peer",
        f"{OWN_PREFIX}/open",
        stack.token_dir / "none.txt",
        mode="none",
    )


def own_phase(stack: Stack, workers: int, own: OwnPhase) -> Phase:
    return Phase(
        f"{own.name}@{stack.user_count}/w{workers}",
        own.label,
        "api",
        own.path,
        stack.token_dir / own.tokens,
        mode=own.mode,
    )


def run_own(
    stack: Stack,
    *,
    workers_list: list[int],
    rounds: int,
    measure: Callable[[Phase], Measurement],
    start_bare: Callable[[int], Any],
    stop_bare: Callable[[], None],
    refresh_jwts: Callable[[], None],
    log: Callable[[str], None],
) -> None:
    """Every phase above, per worker count, in ``rounds`` rounds (``measure`` records one run
    of a phase; ``merge_rounds`` makes each phase's runs one measurement)."""

    def bare(workers: int, *, after: bool) -> None:
        log(f"own endpoint: bare FastAPI app with --workers {workers}")
        start_bare(workers)
        try:
            measure(bare_phase(stack, workers, after=after))
        finally:
            stop_bare()

    for workers in workers_list:
        for number in range(1, rounds + 1):
            log(f"own endpoint: --workers {workers}, round {number} of {rounds}")
            bare(workers, after=False)
            for fast_paths in (True, False):
                settings = {} if fast_paths else {"BENCH_FAST_PATHS": "off"}
                log(f"own endpoint: this app with --workers {workers} {settings or ''}")
                stack.start_api(workers, app=OWN_APP, **settings)
                refresh_jwts()
                # Each round starts one phase later: no phase is always the first after a start.
                served = [own for own in OWN_PHASES if own.fast_paths == fast_paths]
                shift = (number - 1) % len(served)
                for own in served[shift:] + served[:shift]:
                    measure(own_phase(stack, workers, own))
            if stack.api is not None:
                stack.api.stop()  # its workers would compete with the bare app's
                stack.api = None
            bare(workers, after=True)


def merge_rounds(measurements: list[Measurement]) -> list[Measurement]:
    """One measurement per key: every round's runs, the run with the median req/s standing for
    the phase (as within one phase's repeats)."""
    merged: dict[str, Measurement] = {}
    for measurement in measurements:
        known = merged.get(measurement.key)
        if known is None:
            merged[measurement.key] = measurement
            continue
        runs = [*known.runs, *measurement.runs]
        merged[measurement.key] = dataclasses.replace(
            known,
            runs=runs,
            result=sorted(runs, key=lambda run: run.rps)[len(runs) // 2],
            load_before=max(known.load_before, measurement.load_before),
        )
    return list(merged.values())


# --- the report ---


def _name(m: Measurement) -> str:
    return m.key.split("@")[0]


def _cpu_us(m: Measurement) -> str:
    return f"{m.cpu_ms_per_request * 1000:.0f}"


@dataclass(frozen=True)
class Bare:
    """The bare app's numbers a row is compared with: the mean of its measurements."""

    rps: float
    p99_ms: float
    cpu_ms: float

    @classmethod
    def of(cls, by_name: dict[str, Measurement]) -> Bare | None:
        runs = [by_name[key] for key in BARE_KEYS if key in by_name and by_name[key].result.rps]
        if not runs:
            return None
        return cls(
            rps=sum(m.result.rps for m in runs) / len(runs),
            p99_ms=sum(m.ms("p99") for m in runs) / len(runs),
            cpu_ms=sum(m.cpu_ms_per_request for m in runs) / len(runs),
        )

    def share(self, m: Measurement) -> float:
        return m.result.rps / self.rps

    def cpu_share(self, m: Measurement) -> float | None:
        return self.cpu_ms / m.cpu_ms_per_request if m.cpu_ms_per_request else None


@dataclass
class OwnCheck:
    target: str
    measured: str
    met: bool


def _checks(workers: int, by_name: dict[str, Measurement]) -> list[OwnCheck]:
    bare = Bare.of(by_name)
    checks: list[OwnCheck] = []
    if bare is None:
        return checks
    for name, share_target in TARGET_SHARE.items():
        m = by_name.get(name)
        if m is None:
            continue
        share = bare.share(m)
        cpu_share = bare.cpu_share(m)
        by_cpu = "" if cpu_share is None else f" (by CPU {cpu_share:.0%})"
        p99_limit = TARGET_P99_FACTOR * bare.p99_ms
        checks.append(
            OwnCheck(
                f"{m.label}: >= {share_target:.0%} of bare, p99 <= {p99_limit:.1f} ms "
                f"(2x bare), 0 errors ({workers} worker{'s' if workers > 1 else ''})",
                f"{share:.0%}{by_cpu}, p99 {m.ms('p99'):.1f} ms, {m.result.error_count} errors",
                share >= share_target and m.ms("p99") <= p99_limit and m.result.error_count == 0,
            )
        )
    first, last = by_name.get("own-first"), by_name.get("own-open")
    if first is not None and last is not None and first.result.rps:
        ratio = last.result.rps / first.result.rps
        cpu = (
            f"; CPU {_cpu_us(last)} vs {_cpu_us(first)} µs per request"
            if last.cpu_ms_per_request and first.cpu_ms_per_request
            else ""
        )
        checks.append(
            OwnCheck(
                f"a route added last costs no more than one added first (req/s within "
                f"{1 - TARGET_LAST_VS_FIRST:.0%}; {workers} worker{'s' if workers > 1 else ''})",
                f"last/first {ratio:.0%} ({last.result.rps:,.0f} vs {first.result.rps:,.0f}{cpu})",
                ratio >= TARGET_LAST_VS_FIRST,
            )
        )
    return checks


def _fast_path_line(by_name: dict[str, Measurement]) -> str:
    """Issue 25's rule: ``FastPaths`` goes if the routed ``/users/me`` comes within 10% of it.
    Judged on req/s and on server CPU per request; when the two disagree the machine was busy,
    and the line says so."""
    fast, routed = by_name.get("me-fast"), by_name.get("me-routed")
    if fast is None or routed is None or not fast.result.rps:
        return ""
    ratio = routed.result.rps / fast.result.rps
    by_cpu = (
        fast.cpu_ms_per_request / routed.cpu_ms_per_request
        if routed.cpu_ms_per_request and fast.cpu_ms_per_request
        else ratio
    )
    close = 1 - FAST_PATH_MARGIN
    if ratio >= close and by_cpu >= close:
        verdict = "within 10%: the fast path no longer earns its place"
    elif ratio < close and by_cpu < close:
        verdict = "more than 10% behind: the fast path stays (see analysis.md)"
    else:
        verdict = (
            "the two measures disagree, so other work competed for the cores during the run: "
            f"going by CPU, {'within' if by_cpu >= close else 'more than'} 10%"
        )
    return (
        f"`/users/me` routed vs `FastPaths`: {ratio:.0%} of its req/s, {by_cpu:.0%} by CPU "
        f"({routed.result.rps:,.0f} vs {fast.result.rps:,.0f} req/s; server CPU "
        f"{_cpu_us(routed)} vs {_cpu_us(fast)} µs per request): {verdict}."
    )


def own_table(workers: int, by_name: dict[str, Measurement]) -> str:
    bare = Bare.of(by_name)
    lines = [
        "| the handler | req/s | share of bare | share by CPU | p50 ms | p99 ms | p99 / bare's | "
        "errors | answers by status | server CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    order = [BARE_OWN_KEY, *(own.name for own in OWN_PHASES), BARE_AFTER_KEY]
    for name in order:
        m = by_name.get(name)
        if m is None:
            continue
        share = f"{bare.share(m):.0%}" if bare else "-"
        cpu_share = bare.cpu_share(m) if bare else None
        by_cpu = "-" if cpu_share is None else f"{cpu_share:.0%}"
        p99_factor = f"{m.ms('p99') / bare.p99_ms:.1f}x" if bare and bare.p99_ms else "-"
        lines.append(
            f"| {m.label} | {m.rps_range} | {share} | {by_cpu} | {m.ms('p50'):.2f} | "
            f"{m.ms('p99'):.2f} | {p99_factor} | {m.result.error_count} | "
            f"{m.result.status_text} | {_cpu_us(m)} |"
        )
    return "\n".join(lines)


def own_section(measurements: list[Measurement], settings: dict[str, Any]) -> str:
    """The "Your own endpoint" section: a table, the targets and the fast-path verdict per
    worker count. Empty when no own phase was measured."""
    own = [m for m in measurements if _name(m) in OWN_KEYS]
    if not own:
        return ""
    parts = []
    for workers in sorted({m.workers for m in own}):
        by_name = {_name(m): m for m in own if m.workers == workers}
        checks = _checks(workers, by_name)
        check_lines = "\n".join(
            f"| {c.target} | {c.measured} | {'yes' if c.met else '**no**'} |" for c in checks
        )
        parts.append(
            f"### {workers} worker{'s' if workers > 1 else ''}\n\n{own_table(workers, by_name)}\n\n"
            f"| target | measured | met |\n|---|---|:---:|\n{check_lines}\n\n"
            f"{_fast_path_line(by_name)}"
        )
    return "\n\n".join(parts)


def write_own_report(
    out: Path,
    *,
    measurements: list[Measurement],
    machine: dict[str, str],
    settings: dict[str, Any],
) -> str:
    section = own_section(measurements, settings)
    connections, duration = settings["connections"], settings["duration"]
    document = f"""# Your own endpoint

What this app puts around a handler of yours (issue 25): the handler
`return {{"id": ..., "items": [1, 2, 3]}}` added the way the
[tutorial](../guides/your-own-endpoint.md) adds one (an `APIRouter` included with the API's
prefix, metrics on as shipped), against the same handler in a bare FastAPI app with the same
FastAPI, uvicorn and flags. Measured {machine["date"]} with one command:

```sh
{settings["command"]}
```

(`make bench-own` runs the same; `make bench` runs these phases too.) This file is written by
`backend/bench/own.py`; what each dependency costs, and what to avoid, is in
[What your endpoint costs](../guides/endpoint-costs.md).

{section}

## How to read it

- **share of bare**: this row's req/s over the bare app's, same run, same worker count (the bare
  app is measured first and again last; the shares and "p99 / bare's" are over the mean of the
  two). The shares are what the targets are about; absolute req/s depend on the machine and on
  what else runs on it (the load average before each run is in `own-endpoint.json`).
- **share by CPU**: the bare app's server CPU per request over this row's: what the share would
  be with a core to itself. **server CPU µs/req** is the CPU the server processes spent per
  answered request (all workers). Unlike req/s these hardly move when other work competes for
  the cores: if the two shares disagree, the machine was busy, and the CPU one is the better
  guide.
- **added to this app, no auth** is included after every route of the project (health,
  metrics, documentation, admin console); **its router included before all others** is the
  same handler declared first. Equal numbers mean route matching does not depend on the number
  or the order of routes.
- **`require_permission`** runs as the seeded admin (the default `user` role holds no
  `user: list`); **`CurrentUser`** as {settings["tokens"]} rotating users. Both are cached
  authentications, as for any client that calls more than once.
- **`FastPaths`** answers `GET /users/me` ahead of FastAPI's routing; **routed** is the same
  app with that layer taken out. The verdict line under each table applies issue 25's rule.

## Method

wrk, {connections} connections, 1 thread, {settings["warmup"]:g} s of warm-up, then
{duration:g} s measured {settings["repeat"]} time(s) (the median run reported, the range in
brackets), on the same machine as the servers. Database: PostgreSQL, {settings["users"]:,}
users seeded as Better-Auth writes them; JWTs from the real Better-Auth server.

## Machine

| | |
|---|---|
{chr(10).join(f"| {name} | {value} |" for name, value in machine.items())}
"""
    out.mkdir(parents=True, exist_ok=True)
    (out / "own-endpoint.md").write_text(document, encoding="utf-8")
    (out / "own-endpoint.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "settings": {k: v for k, v in settings.items() if k != "search_matches"},
                "measurements": [m.to_dict() for m in measurements if _name(m) in OWN_KEYS],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return section
