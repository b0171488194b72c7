"""docker-compose.replicas.yml with 4 API replicas behind HAProxy, PgBouncer (transaction mode)
and Redis, built and run for real.

- A ban, a role change and a session revocation made through one replica are applied by every
  replica within 1 s (each had the user cached; their fallback TTL is 300 s, so only the
  listener on its direct connection, DATABASE_LISTEN_URL, can have told them).
- The per-user rate limit is one budget across the replicas (Redis), not one per replica.
- One replica killed (SIGKILL) under load through the load balancer: no request fails beyond
  those in flight at that moment (HAProxy retries the GETs the dead replica held on another).

The delays are printed (``-s``); ``make bench-replicas`` measures 1, 4 and 8 replicas for
docs/benchmarks/replicas.md.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.compose.conftest import running
from tests.compose.harness import API_PREFIX, Compose, bearer, wait_ready
from tests.compose.replicas import ME, Replicas, replica_stack, summary

REPLICAS = 4
PROPAGATION_LIMIT_SECONDS = 1.0


@pytest.fixture(scope="module")
def stack(checkout: Path) -> Iterator[Compose]:
    yield from running(replica_stack(checkout, REPLICAS))


@pytest.fixture(scope="module")
def replicas(stack: Compose) -> Replicas:
    found = Replicas.of(stack)
    assert len(found.urls) == REPLICAS
    return found


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=10, trust_env=False, limits=limits) as client:
        yield client


def test_the_replicas_sit_behind_pgbouncer_and_the_balancer(stack: Compose) -> None:
    for service in ("lb", "pgbouncer", "redis", "db", "auth"):
        (container,) = stack.containers(service)
        assert "(healthy)" in container["Status"], container
    replicas = stack.containers("api")
    assert len(replicas) == REPLICAS
    assert all("(healthy)" in replica["Status"] for replica in replicas)


async def test_a_change_through_one_replica_reaches_every_replica_within_a_second(
    replicas: Replicas, http: httpx.AsyncClient
) -> None:
    for writer in range(REPLICAS):
        await replicas.ban_round(http, writer)
        await replicas.role_round(http, writer)
        await replicas.revoke_round(http, writer)
    lines = []
    for kind, delays in replicas.samples.items():
        stats = summary(delays)
        lines.append(
            f"{kind}: n={stats['n']:.0f} p50={stats['p50'] * 1000:.1f} ms "
            f"max={stats['max'] * 1000:.1f} ms"
        )
        assert stats["max"] < PROPAGATION_LIMIT_SECONDS, (kind, delays)
    notices, mean = await replicas.notice_lag(http)
    print(f"\n[replicas x{REPLICAS}] " + "; ".join(lines))  # noqa: T201
    print(f"[replicas x{REPLICAS}] notice lag: {notices} notices, mean {mean * 1000:.1f} ms")  # noqa: T201
    assert notices > 0  # every replica's listener delivered its heartbeats


async def test_rate_limits_are_shared_across_replicas(
    replicas: Replicas, http: httpx.AsyncClient
) -> None:
    """RATE_LIMIT_PER_USER=20/minute: the 21st request through the balancer is refused, though
    every replica served only a few (in-process counters would allow 4 x 20)."""
    _, token = replicas.user("Rate Limited")
    served_by: Counter[str] = Counter()
    statuses = []
    for _ in range(21):
        response = await http.get(f"{replicas.lb}{API_PREFIX}/auth/me", headers=bearer(token))
        statuses.append(response.status_code)
        served_by[response.headers.get("x-served-by", "?")] += 1
    assert statuses == [200] * 20 + [429], statuses
    assert len(served_by) >= 3, served_by  # round robin: the budget was spent on several
    refused = await http.get(f"{replicas.lb}{API_PREFIX}/auth/me", headers=bearer(token))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0


@dataclass
class Outcome:
    started: float
    ended: float
    status: int | str


async def test_a_replica_killed_under_load_fails_only_what_it_held(
    stack: Compose, replicas: Replicas, http: httpx.AsyncClient
) -> None:
    _, token = replicas.user("Under Load")
    await wait_ready(http, replicas.lb)
    outcomes: list[Outcome] = []
    stop = asyncio.Event()

    async def worker() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                response = await http.get(f"{replicas.lb}{ME}", headers=bearer(token))
                status: int | str = response.status_code
            except httpx.TransportError as error:
                status = type(error).__name__
            outcomes.append(Outcome(started, time.perf_counter(), status))

    workers = [asyncio.create_task(worker()) for _ in range(12)]
    try:
        await asyncio.sleep(2.0)
        victim = stack.containers("api")[-1]["Name"]
        killed_at = time.perf_counter()
        await asyncio.to_thread(
            subprocess.run, ["docker", "kill", victim], check=True, capture_output=True
        )
        await asyncio.sleep(5.0)
    finally:
        stop.set()
        await asyncio.gather(*workers)

    held = [o for o in outcomes if o.started <= killed_at <= o.ended]
    failed = [o for o in outcomes if o.status != 200]
    after = [o for o in outcomes if o.started > killed_at + 3.0]
    print(  # noqa: T201
        f"\n[replica killed] {len(outcomes)} requests, {len(held)} in flight at the kill, "
        f"{len(failed)} failed: {Counter(str(o.status) for o in failed)}"
    )
    assert len(outcomes) > 100
    assert len(failed) <= len(held), Counter(str(o.status) for o in failed)
    assert after
    assert all(o.status == 200 for o in after)
