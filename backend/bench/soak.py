"""Soak test: the CI load mix (``tests/load/workload.py``), for minutes instead of seconds.

    cd backend
    uv run python -m bench.soak --seconds 600                 # self-started API, local PostgreSQL
    uv run python -m bench.soak --url http://127.0.0.1:8000 --database-url postgresql://...

Self-started (no ``--url``): a throwaway database is created on the local PostgreSQL (or
``--database-url`` is used), migrated, and a real uvicorn serves it, trusting a local JWKS server
whose key signs the users' JWTs. Against a running API (``--url``): its database must be given
(``--database-url``) to seed and check the rows; users then authenticate with session tokens
(their bans revoke them, so refused reads are expected) and role changes only set ``user``
unless ``--roles`` lists more roles that API knows (``KNOWN_ROLES``).

Seeds users and admins, runs ``--clients`` closed-loop clients (``--writers`` of them admin
writers), then prints the summary and the verification: no 5xx, no transport error, every
acknowledged write in the database and in the audit log. Exit status 1 when anything is off. The
seeded rows are removed afterwards. Progress goes to stderr: a line per step (database, seeding,
API start, verification, clean-up) and, while the load runs, one every ``--report-every`` seconds
(10); the result goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from app.database import create_engine
from devstack.processes import running_api
from tests.conftest import TEST_AUTH_URL, TEST_SECRET, make_settings
from tests.load.workload import (
    KNOWN_ROLES,
    POOL_FOR_100_CLIENTS,
    ROLE_CHOICES,
    Credentials,
    Mix,
    Result,
    cleanup,
    seed,
    verify,
)
from tests.support.database import DEFAULT_POSTGRES_URL, create_postgres_database, migrate
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, generate_key, jwks


def say(line: str) -> None:
    """The result, on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def progress(line: str) -> None:
    """Where the run is, on stderr."""
    sys.stderr.write(f"[soak {time.strftime('%H:%M:%S')}] {line}\n")
    sys.stderr.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=300.0, help="duration (default 300)")
    parser.add_argument("--clients", type=int, default=100, help="concurrent clients (100)")
    parser.add_argument("--writers", type=int, default=10, help="of which admin writers (10)")
    parser.add_argument("--users", type=int, default=50, help="seeded users (50)")
    parser.add_argument("--admins", type=int, default=3, help="seeded admins (3)")
    parser.add_argument("--url", help="a running API; default: start one")
    parser.add_argument(
        "--database-url",
        help="the API's database (required with --url); default: a throwaway database on "
        f"{DEFAULT_POSTGRES_URL}",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers when self-started")
    parser.add_argument(
        "--roles", help="comma-separated roles the writers set (default: all known)"
    )
    parser.add_argument(
        "--report-every", type=float, default=10.0, help="progress interval, seconds (10)"
    )
    args = parser.parse_args(argv)
    if args.url and not args.database_url:
        parser.error("--url needs --database-url (to seed and check the rows)")
    return args


@contextmanager
def database(url: str | None) -> Iterator[tuple[str, bool]]:
    """(database URL, whether it is ours to migrate)."""
    if url:
        yield url, False
        return
    progress("creating a throwaway database")
    provisioned = create_postgres_database(DEFAULT_POSTGRES_URL, prefix="bab_soak")
    try:
        yield provisioned.url, True
    finally:
        progress("dropping the throwaway database")
        provisioned.cleanup()


async def report(mix: Mix, every: float, seconds: float) -> None:
    """One line per interval: how far along, what was sent in it, what went wrong so far."""
    result, started = mix.result, time.monotonic()
    last_count, last_time = 0, started
    while True:
        await asyncio.sleep(every)
        now, count = time.monotonic(), result.requests
        rate = (count - last_count) / (now - last_time)
        elapsed = now - started
        progress(
            f"{elapsed:.0f}/{seconds:g}s: {count} requests, {rate:.0f} rps over the last "
            f"{now - last_time:.0f}s; 5xx {result.server_errors}, transport errors "
            f"{len(result.transport_errors)}, unexpected {len(result.unexpected)}"
        )
        last_count, last_time = count, now


async def soak(args: argparse.Namespace, database_url: str, migrate_it: bool) -> int:
    engine = create_engine(make_settings(database_url))
    if migrate_it:
        progress("migrating")
        await migrate(engine)
    progress(f"seeding {args.users} users and {args.admins} admins")
    population = await seed(engine, users=args.users, admins=args.admins)
    key: TestKey | None = None
    try:
        with ExitStack() as stack:
            if args.url:
                url, roles = args.url, ["user"]
            else:
                progress(f"starting the API (uvicorn, {args.workers} worker(s))")
                key = generate_key("EdDSA")
                jwks_server = stack.enter_context(JwksServer(jwks(key)))
                api = stack.enter_context(
                    running_api(
                        database_url,
                        extra_args=("--workers", str(args.workers)),
                        BETTER_AUTH_URL=TEST_AUTH_URL,
                        BETTER_AUTH_SECRET=TEST_SECRET,
                        JWKS_URL=jwks_server.url,
                        KNOWN_ROLES=KNOWN_ROLES,
                        **POOL_FOR_100_CLIENTS,
                    )
                )
                url, roles = api.url, list(ROLE_CHOICES)
            if args.roles:
                roles = [role.strip() for role in args.roles.split(",") if role.strip()]
            mix = Mix(
                url,
                population,
                Credentials(population, key, TEST_AUTH_URL),
                clients=args.clients,
                writers=args.writers,
                roles=roles,
            )
            progress(
                f"load: {args.clients} clients ({args.writers} writers) for {args.seconds:g}s "
                f"against {url}"
            )
            reporter = asyncio.ensure_future(report(mix, args.report_every, args.seconds))
            try:
                result: Result = await mix.run(args.seconds)
            finally:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
        progress("verifying every acknowledged write (database, audit log)")
        problems = await verify(engine, population, result)
    finally:
        progress("removing the seeded rows")
        await cleanup(engine, population)
        await engine.dispose()
    say(result.summary("soak"))
    for line in [*result.unexpected[:10], *result.transport_errors[:10], *problems[:20]]:
        say(f"  ! {line}")
    failed = result.server_errors or result.transport_errors or result.unexpected or problems
    say("soak: FAILED" if failed else "soak: OK (no 5xx, no transport error, no lost write)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with database(args.database_url) as (database_url, ours):
        return asyncio.run(soak(args, database_url, ours))


if __name__ == "__main__":
    raise SystemExit(main())
