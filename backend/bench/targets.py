"""The issues' targets, checked against a run's measurements (issues 8 and 15)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.measurement import Measurement
from bench.micro_tokens import Timing

# On this 2-core machine with the load generator on it.
TARGET_ME_RATIO = 10.0  # /users/me (JWT) vs Better-Auth's get-session, req/s
TARGET_ME_P99_MS = {1: 100.0, 2: 50.0}  # /users/me (JWT) p99 by worker count, 100 connections
TARGET_PEER_RATIO = 3.0  # /users/me (JWT), 1 worker, vs the best peer's JWT mode
TARGET_BARE_SHARE = 0.6  # /users/me (JWT), 1 worker, vs the bare FastAPI endpoint
TARGET_SEARCH_RATIO = 3.0
TARGET_CACHED_US = 5.0
TARGET_COLD_US = 150.0
# The peers verifying Better-Auth's JWTs (bench.peers.PEERS), and the ceiling.
PEER_JWT_KEYS = ("bridge-jwt", "betterauth-jwt")
BARE_KEY = "bare"


@dataclass
class TargetCheck:
    target: str
    measured: str
    met: bool


def ratio(measurement: Measurement, by_key: dict[str, Measurement]) -> float | None:
    """Our req/s over the baseline's (``measurement.baseline``), if measured."""
    if measurement.baseline is None or measurement.baseline not in by_key:
        return None
    theirs = by_key[measurement.baseline].result.rps
    return measurement.result.rps / theirs if theirs else None


def _name(m: Measurement) -> str:
    return m.key.split("@")[0]


def _workers(count: int) -> str:
    return f"{count} worker{'s' if count > 1 else ''}"


def _me_checks(m: Measurement, by_key: dict[str, Measurement]) -> list[TargetCheck]:
    mine = ratio(m, by_key) or 0.0
    theirs = by_key[m.baseline].result.rps if m.baseline in by_key else 0
    p99_target = TARGET_ME_P99_MS.get(m.workers, min(TARGET_ME_P99_MS.values()))
    return [
        TargetCheck(
            f"`/users/me` (JWT) >= {TARGET_ME_RATIO:g}x `get-session` req/s "
            f"({m.users:,} users, {_workers(m.workers)})",
            f"{mine:.1f}x ({m.result.rps:,.0f} vs {theirs:,.0f})",
            mine >= TARGET_ME_RATIO,
        ),
        TargetCheck(
            f"`/users/me` (JWT) p99 < {p99_target:g} ms, 0 errors ({_workers(m.workers)})",
            f"p99 {m.ms('p99'):.2f} ms, {m.result.error_count} errors ({m.result.status_text})",
            m.ms("p99") < p99_target and m.result.error_count == 0,
        ),
    ]


def _ceiling_checks(m: Measurement, measurements: list[Measurement]) -> list[TargetCheck]:
    """With 1 worker: against the best peer's JWT mode and the bare endpoint."""
    same = [other for other in measurements if other.users == m.users]
    peers = [other for other in same if _name(other) in PEER_JWT_KEYS]
    best = max(peers, key=lambda other: other.result.rps, default=None)
    bare = next((other for other in same if _name(other) == BARE_KEY), None)
    checks = []
    if best is not None:
        times = m.result.rps / best.result.rps if best.result.rps else 0.0
        checks.append(
            TargetCheck(
                f"`/users/me` (JWT) >= {TARGET_PEER_RATIO:g}x the best peer's JWT req/s (1 worker)",
                f"{times:.1f}x ({m.result.rps:,.0f} vs {best.result.rps:,.0f}, {best.server})",
                times >= TARGET_PEER_RATIO,
            )
        )
    if bare is not None:
        share = m.result.rps / bare.result.rps if bare.result.rps else 0.0
        checks.append(
            TargetCheck(
                f"`/users/me` (JWT) >= {TARGET_BARE_SHARE:.0%} of the bare endpoint's req/s "
                "(1 worker)",
                f"{share:.0%} ({m.result.rps:,.0f} vs {bare.result.rps:,.0f})",
                share >= TARGET_BARE_SHARE,
            )
        )
    return checks


def _micro_checks(micro: list[Timing]) -> list[TargetCheck]:
    hit = next((t for t in micro if t.name.startswith("cached hit")), None)
    cold = next((t for t in micro if t.name.startswith("cold")), None)
    checks = []
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


def check_targets(measurements: list[Measurement], micro: list[Timing]) -> list[TargetCheck]:
    by_key = {m.key: m for m in measurements}
    checks: list[TargetCheck] = []
    for m in [m for m in measurements if _name(m) == "me-jwt"]:
        checks += _me_checks(m, by_key)
        if m.workers == 1:
            checks += _ceiling_checks(m, measurements)
    for m in [m for m in measurements if _name(m) == "search"]:
        mine = ratio(m, by_key) or 0.0
        theirs = by_key[m.baseline].result.rps if m.baseline in by_key else 0
        checks.append(
            TargetCheck(
                f"admin search >= {TARGET_SEARCH_RATIO:g}x `list-users` "
                f"({m.users:,} users, {_workers(m.workers)})",
                f"{mine:.1f}x ({m.result.rps:,.0f} vs {theirs:,.0f} req/s)",
                mine >= TARGET_SEARCH_RATIO,
            )
        )
    return checks + _micro_checks(micro)


def targets_table(checks: list[TargetCheck]) -> str:
    lines = ["| target | measured | met |", "|---|---|:---:|"]
    lines.extend(f"| {c.target} | {c.measured} | {'yes' if c.met else '**no**'} |" for c in checks)
    return "\n".join(lines)
