"""The load mix shared by the CI load test (``tests/load/test_load.py``) and the soak script
(``bench/soak.py``).

Population: users (``role=user``) and admins as committed rows. Admins authenticate with
session tokens (bearer); users with Better-Auth-shaped JWTs when a signing key is given (the API
must then trust the matching JWKS), else with session tokens too.

Clients are closed loops (each sends its next request when the previous one is answered):

- readers: ``GET /api/v1/users/me`` and ``/api/v1/auth/session`` as a user or an admin,
  ``GET /api/v1/users?search=...`` as an admin;
- writers: as an admin, ``PUT /users/{id}/role``, ``POST /users/{id}/ban`` and ``/unban`` on
  users only, never on admins. Each user belongs to exactly one writer, so the writes to a user
  are sequential and the order of their acknowledgements is the order of their commits.

Afterwards :func:`verify` checks against the database that no acknowledged write was lost: every
user's final role and ban state is the one of its last acknowledged write, and the audit log has
exactly one row per acknowledged write (matched by request id), no more, no fewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import AuditEvent, User
from tests.support.factories import create_session, create_user
from tests.support.keys import TestKey, better_auth_claims, sign_token

# Non-admin roles the writers cycle through (the API must know them: KNOWN_ROLES).
ROLE_CHOICES: tuple[str | list[str], ...] = ("user", "editor", "viewer", ["editor", "viewer"])
KNOWN_ROLES = "user,admin,editor,viewer"
# The default pool (10 + 10 connections, 5 s wait) sheds 100 closed-loop clients on one worker:
# on a busy 2-core runner, 0 to 8 of ~6000 requests got 503 DATABASE_UNAVAILABLE (pool wait over
# 5 s): the worker is CPU-bound, and the admin writes, serialised on the admin rows' FOR UPDATE,
# hold their connection while they wait. That is overload shedding, by design; the load test is
# about correctness under concurrency, so the pool is sized for it (40 connections: under
# PostgreSQL's default max_connections of 100) and may wait longer.
POOL_FOR_100_CLIENTS = {
    "DATABASE_POOL_SIZE": "20",
    "DATABASE_MAX_OVERFLOW": "20",
    "DATABASE_POOL_TIMEOUT_SECONDS": "30",
    "DATABASE_QUEUE_TIMEOUT_SECONDS": "30",
}
TOKEN_REFRESH_SECONDS = 600  # Better-Auth JWTs live 15 minutes
WRITE_ACTIONS = {"role": "user.role.set", "ban": "user.ban", "unban": "user.unban"}


@dataclass
class Population:
    prefix: str
    user_ids: list[str]
    admin_ids: list[str]
    admin_tokens: list[str]
    user_tokens: dict[str, str]  # session tokens (used when there is no signing key)

    @property
    def all_ids(self) -> list[str]:
        return [*self.user_ids, *self.admin_ids]


async def seed(engine: AsyncEngine, *, users: int, admins: int) -> Population:
    prefix = f"load{uuid.uuid4().hex[:8]}"
    async with AsyncSession(engine, expire_on_commit=False) as db:
        user_rows = [
            await create_user(db, role="user", email=f"{prefix}-{i:03d}@load.example.com")
            for i in range(users)
        ]
        admin_rows = [
            await create_user(db, role="admin", email=f"{prefix}-admin{i}@load.example.com")
            for i in range(admins)
        ]
        admin_tokens = [(await create_session(db, admin)).token for admin in admin_rows]
        user_tokens = {user.id: (await create_session(db, user)).token for user in user_rows}
        await db.commit()
    return Population(
        prefix=prefix,
        user_ids=[user.id for user in user_rows],
        admin_ids=[admin.id for admin in admin_rows],
        admin_tokens=admin_tokens,
        user_tokens=user_tokens,
    )


async def cleanup(engine: AsyncEngine, population: Population) -> None:
    ids = population.all_ids
    async with AsyncSession(engine) as db:
        await db.execute(delete(AuditEvent).where(AuditEvent.target_id.in_(ids)))
        await db.execute(delete(AuditEvent).where(AuditEvent.actor_id.in_(ids)))
        await db.execute(delete(User).where(User.id.in_(ids)))  # sessions cascade
        await db.commit()


class Credentials:
    """Authorization headers; JWTs are minted per user and re-minted before they expire."""

    def __init__(self, population: Population, signing_key: TestKey | None, issuer: str) -> None:
        self._population = population
        self._key = signing_key
        self._issuer = issuer
        self._jwts: dict[str, tuple[float, str]] = {}

    def admin(self, index: int) -> dict[str, str]:
        tokens = self._population.admin_tokens
        return {"Authorization": f"Bearer {tokens[index % len(tokens)]}"}

    def user(self, user_id: str) -> dict[str, str]:
        if self._key is None:
            return {"Authorization": f"Bearer {self._population.user_tokens[user_id]}"}
        minted = self._jwts.get(user_id)
        now = time.time()
        if minted is None or now - minted[0] > TOKEN_REFRESH_SECONDS:
            claims = better_auth_claims(self._issuer, iat=int(now), user_id=user_id)
            minted = (now, sign_token(self._key, claims))
            self._jwts[user_id] = minted
        return {"Authorization": f"Bearer {minted[1]}"}


@dataclass(frozen=True)
class Ack:
    kind: str  # "role" | "ban" | "unban"
    value: str | bool  # the stored role, or the banned flag, as the API answered it
    request_id: str


@dataclass
class Result:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    by_label: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    acks: dict[str, list[Ack]] = field(default_factory=lambda: defaultdict(list))

    @property
    def requests(self) -> int:
        return len(self.latencies) + len(self.transport_errors)

    @property
    def server_errors(self) -> int:
        return sum(count for (_, status), count in self.statuses.items() if status >= 500)

    def acked(self, kind: str) -> list[Ack]:
        return [ack for acks in self.acks.values() for ack in acks if ack.kind == kind]

    def per_label(self) -> str:
        """p50/p99/max per request kind (ms): which kind makes the tail."""
        lines = []
        for label, values in sorted(self.by_label.items()):
            ordered = sorted(values)
            p50 = ordered[len(ordered) // 2] * 1000
            p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000
            lines.append(
                f"{label}: n {len(ordered)}, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                f"max {ordered[-1] * 1000:.1f} ms"
            )
        return "; ".join(lines)

    def summary(self, label: str = "load") -> str:
        ordered = sorted(self.latencies) or [0.0]

        def percentile(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        rps = self.requests / self.seconds if self.seconds else 0.0
        writes = ", ".join(f"{kind} {len(self.acked(kind))}" for kind in WRITE_ACTIONS)
        return (
            f"{label}: {self.requests} requests in {self.seconds:.1f}s ({rps:.0f} rps), "
            f"p50 {percentile(0.50):.1f} ms, p95 {percentile(0.95):.1f} ms, "
            f"p99 {percentile(0.99):.1f} ms, mean {statistics.fmean(ordered) * 1000:.1f} ms; "
            f"acknowledged writes: {writes}; 5xx {self.server_errors}, "
            f"transport errors {len(self.transport_errors)}, other unexpected "
            f"{len(self.unexpected)}"
        )


Expect = Callable[[httpx.Response], bool]


class Mix:
    def __init__(
        self,
        base_url: str,
        population: Population,
        credentials: Credentials,
        *,
        clients: int,
        writers: int,
        roles: Sequence[str | list[str]] = ROLE_CHOICES,
        seed: int | None = None,
    ) -> None:
        if not 0 < writers < clients:
            raise ValueError("need at least one writer and one reader")
        self.base_url = base_url
        self.population = population
        self.credentials = credentials
        self.clients = clients
        self.writers = writers
        self.roles = list(roles)
        self.random = random.Random(seed)
        self.result = Result()

    async def run(self, seconds: float) -> Result:
        # One connection per client. The clients are made before the clock starts, sharing one
        # TLS context: httpx builds one per client otherwise, ~20 ms of CPU each.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        tls = ssl.create_default_context()
        async with contextlib.AsyncExitStack() as stack:
            # httpx logs every request at INFO: thousands of lines a second, on our CPU.
            httpx_logger = logging.getLogger("httpx")
            stack.callback(httpx_logger.setLevel, httpx_logger.level)
            httpx_logger.setLevel(logging.WARNING)
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=self.base_url,
                        timeout=30.0,
                        limits=limits,
                        trust_env=False,
                        verify=tls,
                    )
                )
                for _ in range(self.clients)
            ]
            started = time.monotonic()
            deadline = started + seconds
            await asyncio.gather(
                *(self._client(http, index, deadline) for index, http in enumerate(clients))
            )
            self.result.seconds = time.monotonic() - started
        return self.result

    async def _client(self, http: httpx.AsyncClient, index: int, deadline: float) -> None:
        if index < self.writers:
            owned = self.population.user_ids[index :: self.writers]
            while time.monotonic() < deadline and owned:
                await self._write(http, index, self.random.choice(owned))
        else:
            while time.monotonic() < deadline:
                await self._read(http, index)

    async def _send(
        self,
        http: httpx.AsyncClient,
        label: str,
        expect: Expect,
        method: str,
        url: str,
        **kwargs: Any,
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            self.result.transport_errors.append(f"{label}: {type(error).__name__}: {error}")
            return None
        elapsed = time.perf_counter() - started
        self.result.latencies.append(elapsed)
        self.result.by_label[label].append(elapsed)
        self.result.statuses[(label, response.status_code)] += 1
        if not expect(response):
            self.result.unexpected.append(f"{label} {response.status_code} {response.text[:200]}")
        return response

    async def _read(self, http: httpx.AsyncClient, index: int) -> None:
        population, pick = self.population, self.random.random()
        if pick < 0.3:
            search = f"{population.prefix}-{self.random.randrange(10)}"
            await self._send(
                http,
                "list",
                _ok,
                "GET",
                "/api/v1/users",
                params={"search": search, "limit": 20},
                headers=self.credentials.admin(index),
            )
            return
        path = "/api/v1/users/me" if pick < 0.65 else "/api/v1/auth/session"
        if self.random.random() < 0.2:
            await self._send(
                http, "admin-read", _ok, "GET", path, headers=self.credentials.admin(index)
            )
            return
        user_id = self.random.choice(population.user_ids)
        # A banned user is refused (403; 401 when a ban revoked its session token): expected.
        await self._send(
            http, "user-read", _ok_or_refused, "GET", path, headers=self.credentials.user(user_id)
        )

    async def _write(self, http: httpx.AsyncClient, index: int, user_id: str) -> None:
        pick = self.random.random()
        request_id = uuid.uuid4().hex
        headers = {**self.credentials.admin(index), "X-Request-ID": request_id}
        kind: str
        if pick < 0.5:
            kind, role = "role", self.random.choice(self.roles)
            response = await self._send(
                http, "role", _ok, "PUT", f"/api/v1/users/{user_id}/role",
                json={"role": role}, headers=headers,
            )  # fmt: skip
        elif pick < 0.75:
            kind = "ban"
            response = await self._send(
                http, "ban", _ok, "POST", f"/api/v1/users/{user_id}/ban",
                json={"banReason": "load test"}, headers=headers,
            )  # fmt: skip
        else:
            kind = "unban"
            response = await self._send(
                http, "unban", _ok, "POST", f"/api/v1/users/{user_id}/unban", headers=headers
            )
        if response is None or not response.is_success:
            return
        body = response.json()
        value: str | bool = body["role"] if kind == "role" else bool(body["banned"])
        self.result.acks[user_id].append(Ack(kind, value, request_id))


def _ok(response: httpx.Response) -> bool:
    return response.status_code == 200


def _ok_or_refused(response: httpx.Response) -> bool:
    if response.status_code == 200:
        return True
    code = (
        response.json().get("code")
        if response.headers.get("content-type", "").endswith("json")
        else None
    )
    return (response.status_code, code) in {(403, "BANNED_USER"), (401, "SESSION_INVALID")}


async def verify(engine: AsyncEngine, population: Population, result: Result) -> list[str]:
    """Differences between what the API acknowledged and what the database holds."""
    problems: list[str] = []
    async with AsyncSession(engine) as db:
        rows = (
            await db.execute(
                select(User.id, User.role, User.banned).where(User.id.in_(population.all_ids))
            )
        ).all()
        audit_rows = (
            await db.execute(
                select(AuditEvent.action, AuditEvent.request_id, AuditEvent.target_id).where(
                    AuditEvent.target_id.in_(population.user_ids)
                )
            )
        ).all()
    state = {row.id: (row.role, bool(row.banned)) for row in rows}
    for admin_id in population.admin_ids:
        if state.get(admin_id) != ("admin", False):
            problems.append(f"admin {admin_id} was changed: {state.get(admin_id)}")
    for user_id in population.user_ids:
        acks = result.acks.get(user_id, [])
        roles = [ack.value for ack in acks if ack.kind == "role"]
        bans = [ack.value for ack in acks if ack.kind in {"ban", "unban"}]
        expected = (roles[-1] if roles else "user", bans[-1] if bans else False)
        if state.get(user_id) != expected:
            problems.append(f"user {user_id}: database {state.get(user_id)}, last ack {expected}")
    for kind, action in WRITE_ACTIONS.items():
        acked = {ack.request_id for ack in result.acked(kind)}
        logged = [row.request_id for row in audit_rows if row.action == action]
        if len(logged) != len(acked) or set(logged) != acked:
            problems.append(
                f"{action}: {len(acked)} acknowledged, {len(logged)} audit rows "
                f"({len(acked - set(logged))} missing, {len(set(logged) - acked)} unexpected)"
            )
    return problems
