"""Memory of one worker with full caches: RSS before and after 10k tokens and 10k identities.

    cd backend && uv run --group bench python -m bench.memory     # or: python -m bench.run --memory

1. creates a PostgreSQL database (dropped at the end, whatever happens), runs our migrations (they
   create Better-Auth's schema), seeds ``--users`` users with a session each (``bench.seed``),
   and stores one Ed25519 key, generated here, in Better-Auth's ``jwks`` table
   (``JWKS_SOURCE=database``: no auth server needed);
2. starts the real app in this process (``create_app`` and its lifespan: engine and pool, key
   cache, verified-token cache, identity cache, the ``LISTEN`` feed), caches sized ``--users``,
   rate limit off, and drives it over ASGI;
3. warms it up on a few users, collects garbage and reads RSS (the baseline);
4. ``GET /api/v1/users/me`` once per user with a JWT of its own: the token cache and the
   identity cache fill up to ``--users`` entries; RSS again (full);
5. ``--rounds`` times (5) the same again with a fresh JWT per user: every token is new, so the
   full token cache evicts one entry per request; RSS after each round (at capacity: it must
   level off);
6. writes ``docs/benchmarks/memory.md`` (``--out``) and prints it.

RSS is what the kernel charges the process (``VmRSS``); Python's allocator keeps freed memory for
reuse, so the number after evictions shows whether the caches stay bounded, not what a single
entry weighs to the byte. One worker: with ``--workers N``, each worker holds its own caches.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import os
import secrets
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FunctionType, ModuleType

import asyncpg
import httpx
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.routers.render import RENDERED_USERS
from bench import BenchError
from bench.micro_tokens import KID, ORIGIN, Issuer
from bench.seed import SeededUser, Seeder
from bench.stack import database_url
from devstack.processes import PROJECT_DIR, alembic_upgrade

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_OUT = PROJECT_DIR / "docs" / "benchmarks" / "memory.md"
ME = "/api/v1/users/me"
WARMUP_USERS = 200
CONCURRENCY = 16  # requests in flight: enough to keep the pool busy, not a load test
STALL_SECONDS = 60.0
SHUTDOWN_SECONDS = 30.0


def _log(message: str) -> None:
    print(f"[memory {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: T201


def deep_size(root: object) -> int:
    """Bytes of the objects reachable from ``root`` (each counted once), classes, modules and
    functions excluded: what a cache's entries hold, as Python accounts it."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | ModuleType | FunctionType):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def trimmed_rss_bytes() -> int:
    """RSS once glibc has handed its free pages back (``malloc_trim``): what the process holds,
    without the allocator's fragmentation."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes()


def rss_bytes() -> int:
    """This process's resident set (Linux ``/proc``), after a full collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError("VmRSS not found in /proc/self/status (Linux only)")


@dataclass(frozen=True)
class Snapshot:
    label: str
    rss: int
    trimmed_rss: int
    token_entries: int
    identity_users: int
    identity_sessions: int
    token_bytes: int  # deep_size of the token cache's table
    identity_bytes: int  # deep_size of the identity cache's tables
    rendered: int  # /me bodies cached, one per user (app.routers.render, bounded)
    blocks: int  # sys.getallocatedblocks(): live Python allocations, whatever RSS does
    gate_slots: int  # database gate slots taken at rest: must equal the connections out (0)
    checked_out: int


@dataclass(frozen=True)
class Result:
    users: int
    baseline: Snapshot
    full: Snapshot
    churned: list[Snapshot]  # after each round of fresh tokens
    fill_seconds: float
    churn_seconds: list[float]


# --- the database -------------------------------------------------------------------------


async def on_server(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def seed(url: str, users: int, issuer: Issuer) -> list[SeededUser]:
    connection = await asyncpg.connect(url)
    try:
        seeded = await Seeder().seed(connection, 0, users, with_admin=False, progress=_log)
        public = {key: value for key, value in issuer.jwk.items() if key not in {"kid", "alg"}}
        await connection.execute(
            'INSERT INTO jwks (id, "publicKey", "privateKey", "createdAt", alg, crv) '
            "VALUES ($1, $2, $3, $4, 'EdDSA', 'Ed25519')",
            KID,
            json.dumps(public),
            "not-used-by-the-api",  # Better-Auth's encrypted private key; the API never reads it
            datetime.now(UTC),
        )
        return seeded
    finally:
        await connection.close()


# --- the app ------------------------------------------------------------------------------


def app_settings(url: str, users: int) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        log_level="WARNING",
        log_format="json",
        better_auth_url=ORIGIN,
        jwks_source="database",  # type: ignore[arg-type]
        rate_limit_enabled=False,
        token_cache_size=users,
        identity_cache_size=users,
        metrics_enabled=False,
        # A heartbeat missed on a busy shared machine drops the feed, which flushes the identity
        # cache and reloads every user: churn this benchmark is not about.
        identity_feed_heartbeat_timeout_seconds=60,
    )


async def get_all(client: httpx.AsyncClient, tokens: Iterable[str]) -> None:
    queue = list(tokens)
    failures: dict[int, int] = {}

    async def worker() -> None:
        while queue:
            token = queue.pop()
            response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 200:
                failures[response.status_code] = failures.get(response.status_code, 0) + 1

    workers = asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    left = len(queue)
    while not workers.done():
        # A round that stops making progress is a bug to see, not to wait out: show where.
        await asyncio.wait([workers], timeout=STALL_SECONDS)
        if not workers.done() and len(queue) == left:
            dump_tasks()
            workers.cancel()
            raise BenchError(f"no progress in {STALL_SECONDS:g} s, {len(queue)} requests left")
        left = len(queue)
    if failures:
        raise BenchError(f"{ME} answered non-200: {failures}")


def dump_tasks() -> None:
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=sys.stderr)


def tokens_for(issuer: Issuer, users: list[SeededUser]) -> list[str]:
    now = time.time()
    return [issuer.token(user.id, user.index, now) for user in users]


async def measure(url: str, users: list[SeededUser], issuer: Issuer, rounds: int) -> Result:
    app = create_app(app_settings(url, len(users)))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        return await fill_and_churn(app, users, issuer, rounds)
    finally:
        try:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await lifespan.__aexit__(None, None, None)
        except TimeoutError:
            # Seen now and then on this machine (after the invalidation feed dropped): report
            # it and go on, the measurements are taken.
            _log(f"the app did not shut down within {SHUTDOWN_SECONDS:g} s; tasks:")
            dump_tasks()


async def fill_and_churn(
    app: FastAPI, users: list[SeededUser], issuer: Issuer, rounds: int
) -> Result:
    state = app.state.services
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        def snapshot(label: str) -> Snapshot:
            identity = state.identity_cache
            stats = identity.stats()
            return Snapshot(
                label,
                rss_bytes(),
                trimmed_rss_bytes(),
                len(state.verifier),
                int(stats["users"]),
                int(stats["sessions"]),
                deep_size(state.verifier._entries),
                deep_size([identity._users.rows, identity._sessions.rows]),
                len(RENDERED_USERS),
                sys.getallocatedblocks(),
                state.engine.pool.gate.in_use,
                state.engine.pool.checkedout(),
            )

        _log(f"warming up on {WARMUP_USERS} users")
        await get_all(client, tokens_for(issuer, users[:WARMUP_USERS]) * 3)
        state.verifier.clear()
        state.identity_cache.flush()
        baseline = snapshot("baseline: warmed up, caches emptied")

        async def one_token_each(what: str) -> float:
            _log(f"{what}: {len(users):,} requests, a JWT of its own per user")
            tokens = tokens_for(issuer, users)
            started = time.perf_counter()
            await get_all(client, tokens)
            return time.perf_counter() - started

        fill_seconds = await one_token_each("filling")
        full = snapshot("full: one token and one identity per user")
        # Every token is new again: the full token cache evicts one entry per request.
        churned, churn_seconds = [], []
        for round_ in range(1, rounds + 1):
            churn_seconds.append(await one_token_each(f"churning {round_}/{rounds}"))
            evictions = f"{round_ * len(users):,} evictions"
            churned.append(snapshot(f"at capacity, fresh tokens round {round_}: {evictions}"))
    return Result(len(users), baseline, full, churned, fill_seconds, churn_seconds)


# --- the report ---------------------------------------------------------------------------


def mib(value: int) -> str:
    return f"{value / 1024 / 1024:.1f} MiB"


def render(result: Result, machine: dict[str, str], command: str) -> str:
    per_user = (result.full.rss - result.baseline.rss) / result.users
    first, last = result.churned[0], result.churned[-1]
    plateau = last.rss - first.rss
    blocks_change = (last.blocks - first.blocks) / max(1, first.blocks)
    rows = [
        "| state | RSS | RSS after `malloc_trim` | token cache: entries, bytes "
        "| identity cache: users / sessions, bytes "
        "| rendered `/me` bodies | Python blocks allocated | DB gate slots / connections out |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for snap in (result.baseline, result.full, *result.churned):
        rows.append(
            f"| {snap.label} | {mib(snap.rss)} | {mib(snap.trimmed_rss)} | {snap.token_entries:,}, "
            f"{mib(snap.token_bytes)} | {snap.identity_users:,} / "
            f"{snap.identity_sessions:,}, {mib(snap.identity_bytes)} | {snap.rendered:,} | "
            f"{snap.blocks:,} | {snap.gate_slots} / {snap.checked_out} |"
        )
    full = result.full
    token_entry = full.token_bytes / max(1, full.token_entries)
    identity_entry = full.identity_bytes / max(1, full.identity_users + full.identity_sessions)
    settled = (max(snap.rss for snap in result.churned) - result.baseline.rss) / result.users
    bound_1m = result.baseline.rss + settled * 1_000_000
    lines = [
        "# Memory of one worker with full caches",
        "",
        f"Command: `{command}`. Script: [`backend/bench/memory.py`](../../backend/bench/memory.py)"
        " (its docstring says what it does). The real app in one process on PostgreSQL, "
        f"{result.users:,} users, one real Ed25519 JWT per user, `TOKEN_CACHE_SIZE` = "
        f"`IDENTITY_CACHE_SIZE` = {result.users:,}.",
        "",
        *rows,
        "",
        f"- **Per user** (one verified token + one cached identity): "
        f"{per_user / 1024:.2f} KiB of RSS "
        f"({mib(result.full.rss - result.baseline.rss)} for {result.users:,}). Of that, the "
        f"entries themselves as Python counts them (every object reachable from the table, "
        f"`sys.getsizeof`): {token_entry / 1024:.2f} KiB per verified token (digest, claims "
        f"dict, strings), {identity_entry / 1024:.2f} KiB per cached identity; the rest is the "
        "allocator's overhead and the process's working memory at that load.",
        f"- **Bounded**: {len(result.churned)} rounds of {result.users:,} fresh tokens through "
        "the full cache (each request a miss that evicts exactly one entry): the caches stay at "
        f"{last.token_entries:,} and {last.identity_users:,} entries, and RSS moved by "
        f"{(first.rss - result.full.rss) / 1024 / 1024:+.1f} MiB in the first round (the "
        "allocator settling: freed entries' memory is reused, not returned) and by "
        f"{plateau / 1024 / 1024:+.1f} MiB over the rounds after it "
        f"({(last.trimmed_rss - first.trimmed_rss) / 1024 / 1024:+.1f} MiB once `malloc_trim` "
        "has returned the allocator's free pages), while the live Python "
        f"allocations moved by {last.blocks - first.blocks:+,} blocks "
        f"({blocks_change:+.2%}): "
        + (
            "what RSS gains is the allocator's fragmentation, not entries kept. "
            if abs(blocks_change) < 0.01
            else "live allocations changed by more than 1%: look for what grows. "
        )
        + f"**Bound**: {settled / 1024:.2f} KiB of RSS per cache entry pair once settled "
        "(after the last round), so a worker's RSS is about its baseline plus that times the "
        f"cache size: {mib(int(result.baseline.rss + settled * 10_000))} at the default "
        f"10,000, {bound_1m / 1024 / 1024 / 1024:.1f} GiB at the maximum 1,000,000.",
        f"- Requests over ASGI in the same process, {CONCURRENCY} in flight: filling took "
        f"{result.fill_seconds:.1f} s (every identity read from the database), a round of fresh "
        f"tokens {min(result.churn_seconds):.1f}-{max(result.churn_seconds):.1f} s (not a "
        "throughput "
        "figure: see README.md).",
        "- Also per identity: its `/me` body, rendered once per user and kept for its latest"
        " snapshot (`app.routers.render`, at most 16,384 users).",
        "- Each worker holds its own caches: with `--workers N`, multiply by N.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine.items()),
        "",
    ]
    return "\n".join(lines)


def postgres_version(admin_url: str) -> str:
    async def version() -> str:
        connection = await asyncpg.connect(admin_url)
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    return asyncio.run(version())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=10_000, help="users and cache size (10000)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL to create in")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of fresh tokens (5)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-report", action="store_true", help="print only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "cd backend && uv run --group bench python -m bench.memory " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    name = f"bench_memory_{os.getpid()}_{secrets.token_hex(4)}"
    url = database_url(args.admin_url, name)
    issuer = Issuer()
    asyncio.run(on_server(args.admin_url, f'CREATE DATABASE "{name}"'))
    try:
        _log(f"database {name}: migrating")
        alembic_upgrade(url)
        users = asyncio.run(seed(url, args.users, issuer))
        result = asyncio.run(measure(url, users, issuer, args.rounds))
    except BenchError as error:
        _log(f"failed: {error}")
        return 1
    finally:
        _log("dropping the database")
        asyncio.run(on_server(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    # Imported only now: it brings matplotlib, which would weigh on the measured RSS.
    from bench.report import machine_description  # noqa: PLC0415

    machine = machine_description(postgres=postgres_version(args.admin_url), wrk="not used")
    machine = {k: v for k, v in machine.items() if k not in {"wrk", "node", "better-auth"}}
    report = render(result, machine, command.strip())
    print(report, flush=True)  # noqa: T201
    if not args.no_report:
        args.out.write_text(report)
        _log(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
