"""The replica stack (docker-compose.replicas.yml) and how fast a change reaches every replica.

Shared by tests/compose/test_replicas.py (4 replicas, asserted within 1 s) and
``bench.replicas_compose`` (1, 4 and 8 replicas, written to docs/benchmarks/replicas.md).

One round: every replica answers the user's JWT first (so each has the user and the session
cached), then the change is made through ONE replica's own port, and every replica is polled
back to back, concurrently, until it answers the new state. The delay runs from the write's
acknowledgement to each replica's first fresh answer (one HTTP round trip included). The
replicas' fallback TTL is 300 s: within the round only a NOTIFY can have told them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.services.platform.metrics import NOTICE_LAG_METRIC
from tests.compose.harness import API_PREFIX, Compose, bearer, stack_variables
from tests.e2e.better_auth import BetterAuthClient, jwt_claims

REPLICA_FILES = ("docker-compose.yml", "docker-compose.replicas.yml")
TEST_OVERLAY = Path(__file__).with_name("replicas-test.yml")
ME = f"{API_PREFIX}/users/me"
USERS = f"{API_PREFIX}/users"
POLL_LIMIT_SECONDS = 5.0


def replica_stack(checkout: Path, replicas: int, label: str = "replicas") -> Compose:
    variables = stack_variables(
        API_REPLICAS=str(replicas),
        # Only a NOTIFY may refresh a cached entry during a round.
        IDENTITY_CACHE_FALLBACK_TTL_SECONDS="300",
        # Small enough to be reached in a test.
        RATE_LIMIT_PER_USER="20/minute",
        # Every revocation round ends in one 401 per replica, all from this host's address: the
        # default 60 a minute would refuse the benchmark's later rounds.
        RATE_LIMIT_AUTH_FAILURES_PER_IP="10000/minute",
    )
    return Compose(checkout, [*REPLICA_FILES, str(TEST_OVERLAY)], label, variables)


@dataclass
class Replicas:
    """The replicas' own addresses, the auth server, an admin."""

    stack: Compose
    auth: BetterAuthClient
    lb: str
    urls: list[str]
    admin_jwt: str
    samples: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def of(cls, stack: Compose) -> Replicas:
        count = len(stack.containers("api"))
        urls = [
            f"http://127.0.0.1:{stack.port('api', 8000, index)}" for index in range(1, count + 1)
        ]
        auth = BetterAuthClient(f"http://127.0.0.1:{stack.variables['AUTH_PORT']}")
        admin = auth.sign_up(name="Replica Admin")
        stack.exec("api", "python", "-m", "app.cli", "grant-admin", admin.email)
        return cls(
            stack=stack,
            auth=auth,
            lb=f"http://127.0.0.1:{stack.variables['API_PORT']}",
            urls=urls,
            admin_jwt=auth.token(admin.session_token),
        )

    def user(self, label: str) -> tuple[str, str]:
        """A new user: (id, JWT with the session's ``sid``)."""
        signed = self.auth.sign_up(name=label)
        return signed.user_id, self.auth.token(signed.session_token)

    # --- one round ------------------------------------------------------------------------------

    async def round(
        self,
        http: httpx.AsyncClient,
        kind: str,
        *,
        writer: int,
        probe: Callable[[str], Awaitable[httpx.Response]],
        before: int,
        after: int,
        write: Callable[[str], Awaitable[httpx.Response]],
    ) -> list[float]:
        """Every replica answers ``before`` to ``probe``; ``write`` through replica ``writer``;
        the delay until each replica answers ``after``."""
        for url in self.urls:
            response = await probe(url)
            assert response.status_code == before, (kind, url, response.text)
        written = await write(self.urls[writer])
        assert written.is_success, (kind, written.status_code, written.text)
        acknowledged = time.perf_counter()

        async def until_fresh(url: str) -> float:
            deadline = acknowledged + POLL_LIMIT_SECONDS
            while True:
                response = await probe(url)
                if response.status_code == after:
                    return time.perf_counter() - acknowledged
                assert time.perf_counter() < deadline, (kind, url, response.status_code)

        delays = list(await asyncio.gather(*(until_fresh(url) for url in self.urls)))
        self.samples.setdefault(kind, []).extend(delays)
        return delays

    async def ban_round(self, http: httpx.AsyncClient, writer: int) -> list[float]:
        user_id, token = self.user("Ban Target")
        return await self.round(
            http,
            "ban",
            writer=writer,
            probe=lambda url: http.get(f"{url}{ME}", headers=bearer(token)),
            before=200,
            after=403,
            write=lambda url: http.post(
                f"{url}{USERS}/{user_id}/ban", headers=bearer(self.admin_jwt), json={}
            ),
        )

    async def role_round(self, http: httpx.AsyncClient, writer: int) -> list[float]:
        """A plain user may not list users (403) until made an admin (200)."""
        user_id, token = self.user("Role Target")
        return await self.round(
            http,
            "role change",
            writer=writer,
            probe=lambda url: http.get(f"{url}{USERS}?limit=1", headers=bearer(token)),
            before=403,
            after=200,
            write=lambda url: http.put(
                f"{url}{USERS}/{user_id}/role",
                headers=bearer(self.admin_jwt),
                json={"role": "admin"},
            ),
        )

    async def revoke_round(self, http: httpx.AsyncClient, writer: int) -> list[float]:
        """The session behind the JWT's ``sid`` revoked: the JWT is refused (401)."""
        user_id, token = self.user("Revoke Target")
        session_id = jwt_claims(token)["sid"]
        return await self.round(
            http,
            "session revocation",
            writer=writer,
            probe=lambda url: http.get(f"{url}{ME}", headers=bearer(token)),
            before=200,
            after=401,
            write=lambda url: http.delete(
                f"{url}{USERS}/{user_id}/sessions/{session_id}", headers=bearer(self.admin_jwt)
            ),
        )

    async def notice_lag(self, http: httpx.AsyncClient) -> tuple[int, float]:
        """(notices, mean seconds) of every replica's ``bab_invalidation_notice_lag_seconds``."""
        token = self.stack.variables["METRICS_TOKEN"]
        count, total = 0.0, 0.0
        for url in self.urls:
            text = (await http.get(f"{url}/metrics", headers=bearer(token))).text
            for family in text_string_to_metric_families(text):
                if family.name != NOTICE_LAG_METRIC:
                    continue
                for sample in family.samples:
                    if sample.name.endswith("_count"):
                        count += sample.value
                    elif sample.name.endswith("_sum"):
                        total += sample.value
        return int(count), (total / count if count else float("nan"))


def summary(delays: Sequence[float]) -> dict[str, float]:
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p99": p99,
        "max": ordered[-1],
    }
