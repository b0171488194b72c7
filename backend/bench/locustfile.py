"""Locust load for the same endpoints as ``bench.run``, for those who prefer Locust's UI/stats.

The runner's numbers come from ``wrk``: on a 2-core machine Locust (Python, one core per
process) saturates its own CPU long before the API does, so use Locust for exploring behaviour
(mixes, ramp-ups, the web UI), and ``make bench`` for the figures in ``docs/benchmarks/``.

1. Seed a database and start both servers (Better-Auth and the API); Ctrl-C stops them and
   drops the database::

       cd backend && uv run --group bench python -m bench.run --serve [--users 10000]

   It prints ``BENCH_STACK=/tmp/bench-.../tokens/stack.json``: the two URLs and files with
   signed session tokens (``session.txt``, ``admin-session.txt``) and JWTs (``jwt.txt``,
   ``admin-jwt.txt``).

2. Run Locust against it, e.g. 100 users, 30 s, only ``/users/me`` with JWTs::

       cd backend && BENCH_STACK=/tmp/bench-.../tokens/stack.json \\
           uv run --group bench locust -f bench/locustfile.py --headless \\
           -u 100 -r 100 -t 30s --tags me-jwt

   Tags: ``me-jwt``, ``me-session``, ``verify``, ``search`` (the API, class ``ApiUser``) and
   ``get-session``, ``list-users`` (Better-Auth, class ``BetterAuthUser``). Without ``--tags``
   every task runs, both servers at once; name a class to load only one server.

Each simulated user takes one credential from the files (round robin). JWTs live 15 minutes:
a user whose JWT is older than 10 minutes fetches a new one from Better-Auth
(``GET /api/auth/token`` with its session token). Without ``BENCH_STACK`` the variables
``BENCH_API_URL``, ``BENCH_AUTH_URL`` and ``BENCH_TOKENS_DIR`` are read instead.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, tag, task

SEARCH = ".00012"
JWT_REFRESH_SECONDS = 600


def _stack() -> dict[str, Any]:
    path = os.environ.get("BENCH_STACK")
    if path:
        loaded: dict[str, Any] = json.loads(Path(path).read_text())
        return loaded
    tokens = Path(os.environ.get("BENCH_TOKENS_DIR", "."))
    return {
        "api_url": os.environ.get("BENCH_API_URL", "http://127.0.0.1:8000"),
        "auth_url": os.environ.get("BENCH_AUTH_URL", "http://127.0.0.1:3000"),
        "tokens": {
            name: str(tokens / f"{name}.txt")
            for name in ("jwt", "session", "admin-jwt", "admin-session")
        },
    }


def _lines(path: str) -> list[str]:
    try:
        return [line for line in Path(path).read_text().splitlines() if line]
    except FileNotFoundError:
        return []


STACK = _stack()
SESSIONS = _lines(STACK["tokens"]["session"])
ADMIN_SESSIONS = _lines(STACK["tokens"]["admin-session"])
_next_user = itertools.count()


class ApiUser(FastHttpUser):
    """The API: ``/api/v1/users/me`` (JWT or session token), ``/auth/verify``, admin search."""

    host = STACK["api_url"]
    wait_time = between(0, 0)

    def on_start(self) -> None:
        number = next(_next_user)
        self.session_token = SESSIONS[number % len(SESSIONS)]
        self.admin_session = ADMIN_SESSIONS[0] if ADMIN_SESSIONS else ""
        self.jwt = ""
        self.admin_jwt = ""
        self.jwt_at = 0.0
        self._refresh_jwts()

    def _jwt_for(self, session_token: str) -> str:
        response = self.client.get(
            f"{STACK['auth_url']}/api/auth/token",
            headers={"Authorization": f"Bearer {session_token}"},
            name="(setup) Better-Auth /api/auth/token",
        )
        return str(response.json()["token"]) if response.status_code == 200 else ""

    def _refresh_jwts(self) -> None:
        if time.monotonic() - self.jwt_at < JWT_REFRESH_SECONDS and self.jwt:
            return
        self.jwt = self._jwt_for(self.session_token)
        if self.admin_session:
            self.admin_jwt = self._jwt_for(self.admin_session)
        self.jwt_at = time.monotonic()

    @tag("me-jwt")
    @task
    def me_jwt(self) -> None:
        self._refresh_jwts()
        self.client.get(
            "/api/v1/users/me",
            headers={"Authorization": f"Bearer {self.jwt}"},
            name="API /users/me (JWT)",
        )

    @tag("me-session")
    @task
    def me_session(self) -> None:
        self.client.get(
            "/api/v1/users/me",
            headers={"Authorization": f"Bearer {self.session_token}"},
            name="API /users/me (session token)",
        )

    @tag("verify")
    @task
    def verify(self) -> None:
        self._refresh_jwts()
        with self.client.post(
            "/api/v1/auth/verify",
            json={"token": self.jwt},
            name="API /auth/verify (JWT)",
            catch_response=True,
        ) as response:
            if response.status_code == 200 and response.json().get("active") is not True:
                response.failure("token reported inactive")

    @tag("search")
    @task
    def search(self) -> None:
        self._refresh_jwts()
        self.client.get(
            f"/api/v1/users?search={SEARCH}&limit=20",
            headers={"Authorization": f"Bearer {self.admin_jwt}"},
            name="API /users?search= (admin)",
        )


class BetterAuthUser(FastHttpUser):
    """Better-Auth itself: ``get-session`` and the admin plugin's ``list-users``."""

    host = STACK["auth_url"]
    wait_time = between(0, 0)

    def on_start(self) -> None:
        number = next(_next_user)
        self.session_token = SESSIONS[number % len(SESSIONS)]
        self.admin_session = ADMIN_SESSIONS[0] if ADMIN_SESSIONS else ""

    @tag("get-session")
    @task
    def get_session(self) -> None:
        with self.client.get(
            "/api/auth/get-session",
            headers={"Authorization": f"Bearer {self.session_token}"},
            name="Better-Auth /get-session",
            catch_response=True,
        ) as response:
            if response.status_code == 200 and not response.json():
                response.failure("no session")

    @tag("list-users")
    @task
    def list_users(self) -> None:
        self.client.get(
            f"/api/auth/admin/list-users?searchValue={SEARCH}&limit=20",
            headers={"Authorization": f"Bearer {self.admin_session}"},
            name="Better-Auth /admin/list-users",
        )
