"""Replicas: two real API processes (uvicorn) on one PostgreSQL database.

A ban, a role change and a session revocation, made through process A or written straight to
the database as Better-Auth writes them, are enforced by process B within a second: B has the
user cached (it answered just before), so only the NOTIFY feed can tell it. Each kind is
measured over many rounds and the propagation delays are printed (p50/p99/max), with B's
``bab_invalidation_notice_lag_seconds`` (its heartbeats' COMMIT-to-NOTIFY time); the numbers
quoted in docs/benchmarks/replicas.md come from this test (``-s`` shows them).

Then the listener's connections are killed (``pg_terminate_backend``) mid-traffic: the cache
falls back to its TTL at once, a ban is enforced within that TTL, the listener comes back, and
no request gets a 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.models import User
from app.services.platform.metrics import NOTICE_LAG_METRIC
from devstack.processes import STANDALONE_API_SETTINGS, ApiServer, started
from tests.conftest import TEST_AUTH_URL, TEST_SECRET
from tests.faults.conftest import Seeded
from tests.support.factories import create_session
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, better_auth_claims, sign_token

pytestmark = pytest.mark.usefixtures("postgres")
# Two servers at once on a shared 2-core machine can take over the default 30 s to start.
START_TIMEOUT_SECONDS = 120.0


ROUNDS = 12  # per kind; 7 kinds: 84 measured propagations
PROPAGATION_LIMIT_SECONDS = 1.0
POLL_LIMIT_SECONDS = 5.0  # a round that takes longer fails the test anyway


@contextmanager
def two_apis(database_url: str, jwks_server: JwksServer, **extra: str) -> Iterator[list[ApiServer]]:
    env = {
        **STANDALONE_API_SETTINGS,
        "BETTER_AUTH_URL": TEST_AUTH_URL,
        "BETTER_AUTH_SECRET": TEST_SECRET,
        "JWKS_URL": jwks_server.url,
        "IDENTITY_CACHE_ENABLED": "true",
        "KNOWN_ROLES": "user,admin,editor",
        **extra,
    }
    with tempfile.TemporaryDirectory(prefix="replicas-") as log_dir:
        apis = [
            ApiServer(
                name=f"api-{name}",
                log_dir=Path(log_dir),
                database_url=database_url,
                env=env,
                extra_args=("--no-access-log",),
                start_timeout=START_TIMEOUT_SECONDS,
            )
            for name in ("a", "b")
        ]
        with started(apis[0]), started(apis[1]):
            yield apis


@contextlib.asynccontextmanager
async def clients(apis: list[ApiServer]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=api.url, timeout=10.0, trust_env=False)
            )
            for api in apis
        ]


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def jwt(key: TestKey, user_id: str, session_id: str) -> str:
    claims = better_auth_claims(
        TEST_AUTH_URL, iat=int(time.time()), user_id=user_id, sid=session_id
    )
    return sign_token(key, claims)


async def new_session(engine: AsyncEngine, user_id: str) -> tuple[str, str]:
    async with AsyncSession(engine, expire_on_commit=False) as db:
        user = await db.get(User, user_id)
        assert user is not None
        row = await create_session(db, user)
        await db.commit()
    return row.id, row.token


async def propagation(
    probe: Callable[[], Awaitable[httpx.Response]],
    done: Callable[[httpx.Response], bool],
    started: float,
    *,
    staleness: bool = False,
) -> float:
    """Seconds from ``started`` (the write's acknowledgement) until ``probe``, polled back to
    back, satisfies ``done``: until that answer arrived (what a client sees), or with
    ``staleness`` until its request was sent, i.e. how long after the write stale answers
    were still served, without the fresh answer's own latency."""
    while True:
        sent = time.perf_counter()
        response = await probe()
        assert response.status_code < 500, response.text
        if done(response):
            return (sent if staleness else time.perf_counter()) - started
        assert time.perf_counter() - started < POLL_LIMIT_SECONDS, response.text


def summarise(delays: dict[str, list[float]]) -> str:
    lines = []
    every = sorted(value for values in delays.values() for value in values)
    for kind, values in [*sorted(delays.items()), ("all", every)]:
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        lines.append(
            f"  {kind:<16} n {len(ordered):>3}  p50 {statistics.median(ordered) * 1000:7.1f} ms  "
            f"p99 {p99 * 1000:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"
        )
    return "\n".join(lines)


async def notice_lag(client: httpx.AsyncClient) -> str:
    """The process's ``bab_invalidation_notice_lag_seconds`` (one observation per heartbeat):
    count, mean, and the upper bound of the bucket that holds the p99."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples if family.name == NOTICE_LAG_METRIC else ():
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    assert count > 0, "no heartbeat was observed"
    p99 = next(le for le, seen in sorted(buckets) if seen >= 0.99 * count)
    return (
        f"  notice lag (B's heartbeats)  n {count:.0f}  mean {total / count * 1000:.1f} ms  "
        f"p99 <= {p99 * 1000:g} ms"
    )


async def test_writes_reach_the_other_process_within_a_second(
    settings: Settings,
    engine: AsyncEngine,
    seeded: Seeded,
    pg_admin: asyncpg.Connection,
    jwks_server: JwksServer,
    key_a: TestKey,
) -> None:
    admin, (admin_token,) = await seeded.user(role="admin", sessions=1)
    user, _ = await seeded.user(sessions=0)
    # A long TTL: whatever B stops serving, only a notice can have told it. Heartbeats every
    # 0.25 s, so that the run also samples the feed's per-notice lag a few dozen times.
    with two_apis(
        settings.database_url,
        jwks_server,
        IDENTITY_CACHE_FALLBACK_TTL_SECONDS="300",
        IDENTITY_FEED_HEARTBEAT_SECONDS="0.25",
    ) as apis:
        async with clients(apis) as (a, b):
            delays: dict[str, list[float]] = {}

            async def measure(
                kind: str,
                write: Callable[[], Awaitable[None]],
                probe: Callable[[], Awaitable[httpx.Response]],
                done: Callable[[httpx.Response], bool],
            ) -> None:
                await write()
                delays.setdefault(kind, []).append(
                    await propagation(probe, done, time.perf_counter())
                )

            as_admin = bearer(admin_token)
            for round_ in range(ROUNDS):
                session_id, _token = await new_session(engine, user.id)
                as_user = bearer(jwt(key_a, user.id, session_id))

                async def me(headers: dict[str, str] = as_user) -> httpx.Response:
                    return await b.get("/api/v1/users/me", headers=headers)

                assert (await me()).status_code == 200  # B has the user and session cached

                async def ban_via_a() -> None:
                    response = await a.post(
                        f"/api/v1/users/{user.id}/ban", json={"banReason": "r"}, headers=as_admin
                    )
                    assert response.status_code == 200, response.text

                async def unban_via_a() -> None:
                    response = await a.post(f"/api/v1/users/{user.id}/unban", headers=as_admin)
                    assert response.status_code == 200, response.text

                # A ban through the API also revokes the user's sessions (as Better-Auth does):
                # B refuses either way; a fresh session follows for the next kinds.
                await measure("ban via A", ban_via_a, me, lambda r: r.status_code in (401, 403))
                await unban_via_a()
                session_id, _token = await new_session(engine, user.id)
                as_user = bearer(jwt(key_a, user.id, session_id))
                assert (await me(as_user)).status_code == 200

                role = "editor" if round_ % 2 == 0 else "user"

                async def role_via_a(role: str = role) -> None:
                    response = await a.put(
                        f"/api/v1/users/{user.id}/role", json={"role": role}, headers=as_admin
                    )
                    assert response.status_code == 200, response.text

                await measure(
                    "role via A",
                    role_via_a,
                    lambda h=as_user: me(h),
                    lambda r, role=role: r.status_code == 200 and r.json()["role"] == role,
                )

                async def revoke_via_a(session_id: str = session_id) -> None:
                    response = await a.delete(
                        f"/api/v1/users/{user.id}/sessions/{session_id}", headers=as_admin
                    )
                    assert response.status_code == 204, response.text

                await measure(
                    "revoke via A",
                    revoke_via_a,
                    lambda h=as_user: me(h),
                    lambda r: r.status_code == 401,
                )

                # Straight to the database, as Better-Auth's admin plugin and sign-out write.
                session_id, _token = await new_session(engine, user.id)
                as_user = bearer(jwt(key_a, user.id, session_id))
                assert (await me(as_user)).status_code == 200

                async def sql(statement: str, *args: Any) -> None:
                    await pg_admin.execute(statement, *args)

                await measure(
                    "ban via SQL",
                    lambda: sql(
                        'UPDATE "user" SET banned = true, "banReason" = $2 WHERE id = $1',
                        user.id,
                        "spam",
                    ),
                    lambda h=as_user: me(h),
                    lambda r: r.status_code == 403,
                )
                await measure(
                    "unban via SQL",
                    lambda: sql(
                        'UPDATE "user" SET banned = false, "banReason" = NULL WHERE id = $1',
                        user.id,
                    ),
                    lambda h=as_user: me(h),
                    lambda r: r.status_code == 200,
                )
                await measure(
                    "role via SQL",
                    lambda: sql(
                        'UPDATE "user" SET role = $2 WHERE id = $1', user.id, "editor,user"
                    ),
                    lambda h=as_user: me(h),
                    lambda r: r.status_code == 200 and r.json()["role"] == "editor,user",
                )
                await measure(
                    "sign-out via SQL",
                    lambda s=session_id: sql('DELETE FROM "session" WHERE id = $1', s),
                    lambda h=as_user: me(h),
                    lambda r: r.status_code == 401,
                )
            del admin
            lag = await notice_lag(b)
    print(  # noqa: T201
        f"\nreplicas: propagation from process A / SQL to process B\n{summarise(delays)}\n{lag}"
    )
    slow = {
        kind: max(values)
        for kind, values in delays.items()
        if max(values) >= PROPAGATION_LIMIT_SECONDS
    }
    assert not slow, f"propagation over {PROPAGATION_LIMIT_SECONDS}s: {slow}"


async def listener_pids(pg_admin: asyncpg.Connection) -> list[int]:
    rows = await pg_admin.fetch(
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()"
    )
    return [row["pid"] for row in rows]


async def test_listener_killed_mid_traffic(
    settings: Settings,
    engine: AsyncEngine,
    seeded: Seeded,
    pg_admin: asyncpg.Connection,
    jwks_server: JwksServer,
    key_a: TestKey,
) -> None:
    ttl = 1.0
    user, _ = await seeded.user()
    with two_apis(
        settings.database_url,
        jwks_server,
        IDENTITY_CACHE_FALLBACK_TTL_SECONDS=str(ttl),
        IDENTITY_FEED_HEARTBEAT_SECONDS="0.5",
    ) as apis:
        async with clients(apis) as (a, b):
            session_id, _token = await new_session(engine, user.id)
            as_user = bearer(jwt(key_a, user.id, session_id))
            statuses: Counter[int] = Counter()
            stop = asyncio.Event()

            async def traffic(client: httpx.AsyncClient) -> None:
                while not stop.is_set():
                    response = await client.get("/api/v1/users/me", headers=as_user)
                    statuses[response.status_code] += 1
                    await asyncio.sleep(0.005)

            async def feed_live(client: httpx.AsyncClient) -> bool:
                response = await client.get("/health/ready")
                return bool(response.json()["checks"]["identityFeed"]["info"]["state"] == "live")

            async def until_live() -> None:
                deadline = time.monotonic() + 20.0
                while not (await feed_live(a) and await feed_live(b)):
                    assert time.monotonic() < deadline, "the listener did not come back"
                    await asyncio.sleep(0.1)

            await until_live()
            workers = [asyncio.create_task(traffic(client)) for client in (a, b, b)]
            try:
                await asyncio.sleep(0.5)
                pids = await listener_pids(pg_admin)
                assert len(pids) >= 2  # one per process (other runs' databases are excluded)
                await pg_admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids
                )
                await pg_admin.execute('UPDATE "user" SET banned = true WHERE id = $1', user.id)
                started = time.perf_counter()
                delay = await propagation(
                    lambda: b.get("/api/v1/users/me", headers=as_user),
                    lambda r: r.status_code == 403,
                    started,
                    staleness=True,
                )
                # Feed down: nothing cached for longer than the TTL is served.
                assert delay < ttl + 0.5, delay
                # Both processes LISTEN again on new connections, and have proven them.
                deadline = time.monotonic() + 20.0
                while len(set(await listener_pids(pg_admin)) - set(pids)) < 2:
                    assert time.monotonic() < deadline, "the listeners did not come back"
                    await asyncio.sleep(0.1)
                await until_live()
                await pg_admin.execute('UPDATE "user" SET banned = false WHERE id = $1', user.id)
                delay = await propagation(
                    lambda: b.get("/api/v1/users/me", headers=as_user),
                    lambda r: r.status_code == 200,
                    time.perf_counter(),
                    staleness=True,
                )
                # Live again: a notice, or (if a heartbeat came back late on a busy machine and
                # the feed stepped down once more) the TTL; never longer.
                ready = (await b.get("/health/ready")).json()["checks"]["identityFeed"]
                assert delay < ttl + 0.5, (delay, ready)
            finally:
                stop.set()
                await asyncio.gather(*workers)
    assert not [status for status in statuses if status >= 500], statuses
    assert set(statuses) <= {200, 403}, statuses
