"""Flood of random bearer values: what each one costs the database (issue 17.6).

    cd backend
    uv run python -m bench.auth_flood --requests 3000 --clients 20
    uv run python -m bench.auth_flood --spread     # every request from another (forwarded) address

A throwaway PostgreSQL database, migrated, served by a real uvicorn (one worker) with the given
``RATE_LIMIT_AUTH_FAILURES_PER_IP`` (``--limit``, empty = off). ``--clients`` closed-loop
clients send ``GET /api/v1/users/me`` with a fresh random 32-character session token each (what
an attacker guessing tokens sends). Printed: requests per second, the answers by status, and the
session-token lookups the database executed (``pg_stat_user_tables`` scans of ``session``, read
after the API has stopped, so every backend has flushed its counters).

``--spread`` sends each request with another ``X-Forwarded-For`` address through a trusted
proxy setting: the per-address limit then cannot help and only the query cost per guess remains.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import string
import sys
import time
from collections import Counter

import asyncpg
import httpx

from app.database import create_engine
from devstack.processes import running_api
from tests.conftest import TEST_AUTH_URL, TEST_SECRET, make_settings
from tests.support.database import DEFAULT_POSTGRES_URL, create_postgres_database, migrate

ALPHABET = string.ascii_letters + string.digits


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--limit", default="60/minute", help="RATE_LIMIT_AUTH_FAILURES_PER_IP")
    parser.add_argument("--spread", action="store_true", help="another address per request")
    return parser.parse_args(argv)


async def session_scans(database_url: str) -> int:
    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        row = await connection.fetchrow(
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS scans "
            "FROM pg_stat_user_tables WHERE relname = 'session'"
        )
        return int(row["scans"]) if row else 0
    finally:
        await connection.close()


async def flood(url: str, total: int, clients: int, spread: bool) -> tuple[Counter[int], float]:
    statuses: Counter[int] = Counter()
    sent = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < total:
            sent += 1
            token = "".join(secrets.choice(ALPHABET) for _ in range(32))
            headers = {"Authorization": f"Bearer {token}"}
            if spread:
                headers["X-Forwarded-For"] = (
                    f"10.{sent // 65536 % 256}.{sent // 256 % 256}.{sent % 256}"
                )
            response = await http.get("/api/v1/users/me", headers=headers)
            statuses[response.status_code] += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits, trust_env=False) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return statuses, time.perf_counter() - started


async def run(args: argparse.Namespace, database_url: str) -> None:
    engine = create_engine(make_settings(database_url))
    await migrate(engine)
    await engine.dispose()
    before = await session_scans(database_url)
    extra = ("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1") if args.spread else ()
    with running_api(
        database_url,
        extra_args=extra,
        BETTER_AUTH_URL=TEST_AUTH_URL,
        BETTER_AUTH_SECRET=TEST_SECRET,
        RATE_LIMIT_ENABLED="true",
        RATE_LIMIT_AUTH_FAILURES_PER_IP=args.limit,
    ) as api:
        statuses, seconds = await flood(api.url, args.requests, args.clients, args.spread)
    lookups = await session_scans(database_url) - before
    answers = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    sys.stdout.write(
        f"auth flood: {args.requests} random bearer tokens, {args.clients} clients, "
        f"{'one address per request' if args.spread else 'one address'}, "
        f"RATE_LIMIT_AUTH_FAILURES_PER_IP={args.limit or 'off'}: "
        f"{args.requests / seconds:.0f} req/s; answers {answers}; "
        f"session lookups in the database: {lookups} "
        f"({lookups / args.requests:.3f} per request)\n"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    provisioned = create_postgres_database(DEFAULT_POSTGRES_URL, prefix="bab_flood")
    try:
        asyncio.run(run(args, provisioned.url))
    finally:
        provisioned.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
