"""PostgreSQL restarted under two API processes, mid-traffic (issue 17, item 3).

The shared server is never touched: the test serves a private cluster of its own
(``tests/support/private_postgres.py``), migrated with the real Alembic revisions (revision 0001
creates Better-Auth's schema), and stops and removes it whatever happens.

Traffic: readers on both processes (a bystander's JWT) and a writer that changes one user through
process A (role changes, a session revocation, a ban and an unban) and then reads through
process B until B enforces each change. A stale answer from B later than the fallback TTL after
the write was acknowledged fails the test.

1. ``pg_ctl restart -m fast`` while that runs: every connection (pools, both listeners) is cut.
   Writes and reads get 503 ``DATABASE_UNAVAILABLE`` with ``Retry-After`` until the server is
   back, never another 5xx; both listeners reconnect (``bab_invalidation_connects_total``) and
   prove the feed again (readiness ``live``), and changes keep reaching B in time.
2. ``pg_ctl stop -m fast``, held until the fallback has shown, then ``start``: with the feed
   down, B stops serving its cached identities within the fallback TTL (while the feed was live
   they never expired), answers 503 instead, and readiness says ``fallback TTL``. After the
   start the feed is live again and a change reaches B.

The restart found 500s: a connection opened while the server shuts down or starts up gets
SQLSTATE 57P03, which asyncpg raises as a plain ``DBAPIError``. The last test makes that state
last (a smart shutdown held by one client), so that the 503 is checked every run, not only when
a request happens to fall into the restart's fraction of a second. "too many connections"
(53300) was the same kind of 500 and has its own test.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.database import create_engine
from app.models import User
from devstack.processes import ApiServer
from tests.conftest import build_test_app, make_settings
from tests.faults.conftest import asgi_client
from tests.faults.test_replicas import bearer, clients, jwt, two_apis
from tests.support.database import migrate
from tests.support.factories import create_session, create_user
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey
from tests.support.private_postgres import PrivateCluster, postgres_bin_dir, private_cluster

TTL_SECONDS = 1.0
# Scheduling slack on a busy 2-core machine: a stale answer later than TTL + this fails.
STALE_SLACK_SECONDS = 0.5
CHANGE_DEADLINE_SECONDS = 20.0  # a write (retried through the outage) and its arrival at B
FEED_DEADLINE_SECONDS = 20.0  # listener backoff (up to 10 s) + connect + one heartbeat
API_SETTINGS = {
    "IDENTITY_CACHE_FALLBACK_TTL_SECONDS": str(TTL_SECONDS),
    "IDENTITY_FEED_HEARTBEAT_SECONDS": "0.5",
    "IDENTITY_FEED_HEARTBEAT_TIMEOUT_SECONDS": "2",
}


@pytest.fixture
def cluster(dialect: str) -> Iterator[PrivateCluster]:
    if dialect != "postgresql":
        pytest.skip("the PostgreSQL suite runs it (on a private cluster); not the SQLite run")
    if postgres_bin_dir() is None:
        pytest.skip("initdb is not installed: this test serves a private PostgreSQL cluster")
    with private_cluster() as started:
        yield started


@pytest.fixture
async def cluster_engine(cluster: PrivateCluster) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(make_settings(cluster.url))
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()


@dataclass
class Observed:
    """Every answer the test got, and the 5xx among them that were not the documented 503."""

    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)  # write acknowledged -> B fresh
    took: dict[str, float] = field(default_factory=dict)  # phases, for the printed summary

    def summary(self) -> str:
        delays = sorted(self.delays)
        lines = [f"\n  {name:<34} {took * 1000:6.0f} ms" for name, took in self.took.items()]
        phases = "".join(lines)
        return (
            f"\npostgres restart: statuses {dict(sorted(self.statuses.items()))}{phases}\n"
            f"  propagation A -> B (n {len(delays)}, through both outages): "
            f"p50 {statistics.median(delays) * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
        )

    def record(self, where: str, response: httpx.Response) -> httpx.Response:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500 and not is_outage(response):
            self.unexpected.append(f"{where} {response.status_code} {response.text[:200]}")
        return response


def is_outage(response: httpx.Response) -> bool:
    """The documented 503: ``DATABASE_UNAVAILABLE`` with ``Retry-After``."""
    if response.status_code != 503 or not response.headers.get("retry-after", "").isdigit():
        return False
    with contextlib.suppress(ValueError):
        return bool(response.json().get("code") == "DATABASE_UNAVAILABLE")
    return False  # not even JSON


async def retried(action: Callable[[], Awaitable[bool]], what: str) -> None:
    """Run ``action`` until it reports success (False: the database was out), within the
    deadline."""
    deadline = time.monotonic() + CHANGE_DEADLINE_SECONDS
    while not await action():
        assert time.monotonic() < deadline, f"{what}: still failing after the outage"
        await asyncio.sleep(0.05)


async def arrives(
    observed: Observed,
    probe: Callable[[], Awaitable[httpx.Response]],
    fresh: Callable[[httpx.Response], bool],
    acknowledged: float,
    what: str,
) -> None:
    """Poll B until it answers ``fresh``; a stale (not 503) answer to a request sent later than
    the fallback TTL after the write's acknowledgement fails."""
    while True:
        sent = time.monotonic()
        response = observed.record("B", await probe())
        if fresh(response):
            observed.delays.append(time.monotonic() - acknowledged)
            return
        if response.status_code != 503:
            late = sent - acknowledged
            assert late < TTL_SECONDS + STALE_SLACK_SECONDS, (
                f"{what}: B still served a stale answer {late:.2f}s after the write: "
                f"{response.status_code} {response.text[:200]}"
            )
        assert sent - acknowledged < CHANGE_DEADLINE_SECONDS, f"{what}: never reached B"
        await asyncio.sleep(0.01)


async def feed_state(client: httpx.AsyncClient) -> str:
    """Readiness's word on the invalidation feed (readiness answers 503 while the database
    is down, with the same document)."""
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        body = (await client.get("/health/ready")).json()
        return str(body["checks"]["identityFeed"]["info"]["state"])
    return "unknown"


async def until_feeds(clients_: list[httpx.AsyncClient], state: str) -> None:
    deadline = time.monotonic() + FEED_DEADLINE_SECONDS
    while [await feed_state(client) for client in clients_] != [state] * len(clients_):
        assert time.monotonic() < deadline, f"the feeds did not become {state!r}"
        await asyncio.sleep(0.05)


async def metric(client: httpx.AsyncClient, name: str) -> float:
    """One unlabelled sample of ``/metrics``, parsed with prometheus-client's own parser."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return sample.value
    raise AssertionError(f"no sample {name}")


@dataclass
class Target:
    """The user the writer changes, through process A, and how B sees them."""

    engine: AsyncEngine
    key: TestKey
    user: User
    admin: dict[str, str]
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    observed: Observed
    headers: dict[str, str] = field(default_factory=dict)
    session_id: str = ""

    async def me_on_b(self) -> httpx.Response:
        return await self.b.get("/api/v1/users/me", headers=self.headers)

    async def via_a(self, method: str, path: str, ok: set[int], json: object = None) -> float:
        """A write through A, retried through the outage; its acknowledgement time."""

        async def attempt() -> bool:
            response = await self.a.request(method, path, headers=self.admin, json=json)
            self.observed.record("A", response)
            if response.status_code == 503:
                return False
            # A retried write may find its first attempt committed (409/404 are then fine).
            assert response.status_code in ok, response.text
            return True

        await retried(attempt, f"{method} {path}")
        return time.monotonic()

    async def new_session(self) -> float:
        """A fresh session (written as Better-Auth signs in), and B's JWT for it."""

        async def attempt() -> bool:
            try:
                async with AsyncSession(self.engine, expire_on_commit=False) as db:
                    row = await create_session(db, self.user)
                    await db.commit()
            except Exception:  # the database is restarting: any driver error
                return False
            self.session_id = row.id
            self.headers = bearer(jwt(self.key, self.user.id, row.id))
            return True

        await retried(attempt, "new session")
        return time.monotonic()

    async def role(self, role: str) -> None:
        path = f"/api/v1/users/{self.user.id}/role"
        acked = await self.via_a("PUT", path, {200}, json={"role": role})
        await arrives(
            self.observed,
            self.me_on_b,
            lambda r: r.status_code == 200 and r.json()["role"] == role,
            acked,
            f"role {role}",
        )

    async def revoke(self) -> None:
        path = f"/api/v1/users/{self.user.id}/sessions/{self.session_id}"
        acked = await self.via_a("DELETE", path, {204, 404})
        await arrives(self.observed, self.me_on_b, lambda r: r.status_code == 401, acked, "revoke")

    async def ban_and_unban(self) -> None:
        path = f"/api/v1/users/{self.user.id}"
        acked = await self.via_a("POST", f"{path}/ban", {200}, json={"banReason": "r"})
        # A ban through the API also revokes the sessions: B refuses either way.
        await arrives(
            self.observed, self.me_on_b, lambda r: r.status_code in (401, 403), acked, "ban"
        )
        acked = await self.via_a("POST", f"{path}/unban", {200})
        acked = max(acked, await self.new_session())
        await arrives(self.observed, self.me_on_b, lambda r: r.status_code == 200, acked, "unban")

    async def cycle(self, round_: int) -> None:
        await self.role("editor" if round_ % 2 == 0 else "user")
        await self.revoke()
        acked = await self.new_session()
        await arrives(self.observed, self.me_on_b, lambda r: r.status_code == 200, acked, "login")
        await self.ban_and_unban()


@contextlib.contextmanager
def logs_on_failure(apis: list[ApiServer]) -> Iterator[None]:
    """A failure carries the end of both processes' logs (a 500 is logged there)."""
    try:
        yield
    except AssertionError as failure:
        logs = "\n".join(f"--- {api.describe()}\n{api.tail(30)}" for api in apis)
        raise AssertionError(f"{failure}\n{logs}") from failure


async def seed(engine: AsyncEngine, key: TestKey) -> tuple[str, User, dict[str, str]]:
    """An admin's session token; the user the writer changes; a bystander's JWT headers."""
    async with AsyncSession(engine, expire_on_commit=False) as db:
        admin = await create_user(db, role="admin")
        admin_token = (await create_session(db, admin)).token
        user = await create_user(db)
        bystander = await create_user(db)
        bystander_session = await create_session(db, bystander)
        await db.commit()
    return admin_token, user, bearer(jwt(key, bystander.id, bystander_session.id))


async def served_until_the_ttl(
    observed: Observed, b: httpx.AsyncClient, headers: dict[str, str], stopped: float
) -> None:
    """With the database stopped, B answers from its cache (200) no later than the fallback
    TTL after the stop, then the documented 503."""
    while True:
        sent = time.monotonic()
        response = observed.record("B", await b.get("/api/v1/users/me", headers=headers))
        if response.status_code == 503:
            assert is_outage(response), response.text
            return
        assert response.status_code == 200, response.text
        late = sent - stopped
        assert late < TTL_SECONDS + STALE_SLACK_SECONDS, (
            f"B served a cached identity {late:.2f}s after the database stopped"
        )
        await asyncio.sleep(0.01)


async def test_postgres_restarted_mid_traffic(
    cluster: PrivateCluster,
    cluster_engine: AsyncEngine,
    jwks_server: JwksServer,
    key_a: TestKey,
) -> None:
    admin_token, user, bystander = await seed(cluster_engine, key_a)
    observed = Observed()
    env = {"KNOWN_ROLES": "user,admin,editor", **API_SETTINGS}
    with two_apis(cluster.url, jwks_server, **env) as apis, logs_on_failure(apis):
        async with clients(apis) as (a, b):
            await until_feeds([a, b], "live")
            connects = [await metric(c, "bab_invalidation_connects_total") for c in (a, b)]
            target = Target(cluster_engine, key_a, user, bearer(admin_token), a, b, observed)
            acked = await target.new_session()
            await arrives(observed, target.me_on_b, lambda r: r.status_code == 200, acked, "login")
            stop = asyncio.Event()

            async def read(client: httpx.AsyncClient, where: str) -> None:
                while not stop.is_set():
                    response = await client.get("/api/v1/users/me", headers=bystander)
                    observed.record(where, response)
                    await asyncio.sleep(0.01)

            readers = [asyncio.create_task(read(a, "A")), asyncio.create_task(read(b, "B"))]
            try:
                await target.cycle(0)
                # 1. A restart under the writer and the readers.
                started = time.monotonic()
                restart = asyncio.create_task(asyncio.to_thread(cluster.restart, "fast"))
                round_ = 1
                while not restart.done():
                    await target.cycle(round_)
                    round_ += 1
                await restart
                observed.took["pg_ctl restart -m fast"] = time.monotonic() - started
                await until_feeds([a, b], "live")
                observed.took["restart: until both feeds live"] = time.monotonic() - started
                reconnects = [await metric(c, "bab_invalidation_connects_total") for c in (a, b)]
                assert all(
                    after > before for before, after in zip(connects, reconnects, strict=True)
                )
                await target.cycle(round_)

                # 2. The database stays down until B has shown the fallback.
                await asyncio.to_thread(cluster.stop, "fast")
                stopped = time.monotonic()
                await served_until_the_ttl(observed, b, bystander, stopped)
                observed.took["stop: B cached until its first 503"] = time.monotonic() - stopped
                assert await feed_state(b) == "fallback TTL"
                await asyncio.to_thread(cluster.start)
                started = time.monotonic()
                await until_feeds([a, b], "live")
                observed.took["start: until both feeds live"] = time.monotonic() - started
                await target.cycle(round_ + 1)
                lags = [
                    await metric(c, "bab_invalidation_notice_lag_seconds_count") for c in (a, b)
                ]
            finally:
                stop.set()
                await asyncio.gather(*readers, return_exceptions=True)
        assert not observed.unexpected, observed.unexpected
    print(observed.summary())  # noqa: T201
    assert set(observed.statuses) <= {200, 204, 401, 403, 404, 503}, observed.statuses
    assert observed.statuses[503] > 0  # the outage was seen (phase 2 makes sure of it)
    assert all(count > 0 for count in lags)  # each heartbeat's notice lag was measured


async def test_a_server_at_its_connection_limit_answers_503(cluster: PrivateCluster) -> None:
    """ "too many connections" (SQLSTATE 53300, here a role's CONNECTION LIMIT 0) is a full
    server, not a bug: a 503, where it was a 500 (a plain ``DBAPIError`` too)."""
    admin = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres")
    try:
        await admin.execute("CREATE ROLE limited LOGIN CONNECTION LIMIT 0")
    finally:
        await admin.close()
    settings = make_settings(cluster.url.replace("postgres@", "limited@", 1))
    engine = create_engine(settings)
    app, state = build_test_app(settings, engine)
    try:
        async with asgi_client(app) as client:
            response = await client.get("/api/v1/users/me", headers=bearer("a-session-token"))
    finally:
        await state.key_cache.aclose()
        await state.http_client.aclose()
        await engine.dispose()
    assert is_outage(response), response.text


async def test_a_server_shutting_down_answers_503(
    cluster: PrivateCluster, cluster_engine: AsyncEngine
) -> None:
    """While a server shuts down (or starts up) a new connection gets SQLSTATE 57P03, "the
    database system is shutting down", which asyncpg raises as a plain ``DBAPIError``: it was
    a 500. A smart shutdown held open by one client makes that state last."""
    async with AsyncSession(cluster_engine, expire_on_commit=False) as db:
        user = await create_user(db)
        token = (await create_session(db, user)).token
        await db.commit()
    await cluster_engine.dispose()  # its idle connections would hold the shutdown too

    def connect() -> Awaitable[asyncpg.Connection]:
        return asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres")

    held = await connect()
    try:
        await asyncio.to_thread(cluster.stop, "smart", wait=False)
        deadline = time.monotonic() + FEED_DEADLINE_SECONDS
        while True:
            try:
                await (await connect()).close()
            except asyncpg.CannotConnectNowError:
                break
            assert time.monotonic() < deadline, "the server kept accepting connections"
            await asyncio.sleep(0.05)
        settings = make_settings(cluster.url)
        engine = create_engine(settings)
        app, state = build_test_app(settings, engine)
        try:
            async with asgi_client(app) as client:
                response = await client.get("/api/v1/users/me", headers=bearer(token))
        finally:
            await state.key_cache.aclose()
            await state.http_client.aclose()
            await engine.dispose()
    finally:
        await held.close()
    assert is_outage(response), response.text
