"""The system under test: a fresh PostgreSQL database with both schemas, the real Better-Auth
server and the API, started on free ports; credentials for both written to files."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx

from bench import BenchError
from bench.seed import SeededUser, Seeder
from devstack.processes import (
    AUTH_SERVER_DIR,
    ApiServer,
    AuthServer,
    alembic_upgrade,
    auth_server_migrate,
    run_command,
)

# The auth server as deployed (its rate limit is off in every devstack start).
_AUTH_SETTINGS = {"NODE_ENV": "production"}
# Two uvicorn workers on a loaded machine take longer than a test's single one.
START_TIMEOUT_SECONDS = 60.0
# How the API is served (as `make run-api`, quieter); the peers (bench/peers) the same way.
UVICORN_FLAGS = (
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
)
# The cookie Better-Auth sets on an http:// base URL (no __Secure- prefix).
SESSION_COOKIE = "better-auth.session_token"


def sign_session_token(token: str, secret: str) -> str:
    """``TOKEN.SIGNATURE`` as Better-Auth's bearer plugin hands it out (``set-auth-token``)."""
    mac = hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
    return f"{token}.{base64.b64encode(mac).decode()}"


def session_cookie(token: str, secret: str) -> str:
    """``Cookie`` header value as a browser sends Better-Auth's session cookie: the signed
    token, URL-encoded (better-call's ``setSignedCookie``)."""
    return f"{SESSION_COOKIE}={quote(sign_session_token(token, secret), safe='')}"


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


@dataclass
class Stack:
    """Database + servers of one run. ``close()`` always: it stops both and drops the database."""

    admin_url: str
    work_dir: Path
    token_count: int = 200
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    db_name: str = field(default_factory=lambda: f"bench_{os.getpid()}_{secrets.token_hex(4)}")
    auth: AuthServer | None = None
    api: ApiServer | None = None
    api_workers: int = 1
    users: list[SeededUser] = field(default_factory=list)
    admin: SeededUser | None = None
    user_count: int = 0
    organization_id: str | None = None
    _db_created: bool = False

    @property
    def url(self) -> str:
        return database_url(self.admin_url, self.db_name)

    @property
    def token_dir(self) -> Path:
        path = self.work_dir / "tokens"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- database ---

    async def _admin_connection(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_url)

    def create_database(self) -> None:
        async def create() -> None:
            connection = await self._admin_connection()
            try:
                await connection.execute(f'CREATE DATABASE "{self.db_name}"')
            finally:
                await connection.close()

        asyncio.run(create())
        self._db_created = True

    def drop_database(self) -> None:
        if not self._db_created:
            return

        async def drop() -> None:
            connection = await self._admin_connection()
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            finally:
                await connection.close()

        asyncio.run(drop())
        self._db_created = False

    def migrate(self) -> None:
        """Better-Auth's migration first (as a project adopting the API would have it), then
        ours; both must agree on the schema."""
        if not (AUTH_SERVER_DIR / "node_modules").is_dir():
            sys.stderr.write("auth-server/node_modules missing: npm ci (about 80 s)\n")
            run_command(
                ["npm", "ci", "--no-audit", "--no-fund"],
                cwd=AUTH_SERVER_DIR,
                env=os.environ,
                timeout=900,
            )
        auth_server_migrate(self.url, self.secret, **_AUTH_SETTINGS)
        alembic_upgrade(self.url, **self._api_settings())

    def seed(self, count: int, progress: Callable[[str], None] | None = None) -> float:
        """Seed users ``user_count .. count-1`` (the admin with the first batch); returns the
        seconds it took. ``progress`` gets a line per batch."""
        start = self.user_count
        if count <= start:
            return 0.0

        async def seed() -> list[SeededUser]:
            connection = await asyncpg.connect(self.url)
            try:
                seeder = Seeder()
                return await seeder.seed(
                    connection,
                    start,
                    count - start,
                    with_admin=self.admin is None,
                    progress=progress,
                )
            finally:
                await connection.close()

        started = time.perf_counter()
        seeded = asyncio.run(seed())
        seconds = time.perf_counter() - started
        for user in seeded:
            if user.role == "admin":
                self.admin = user
            else:
                self.users.append(user)
        self.user_count = count
        return seconds

    def seed_organization(self) -> str:
        """One organization whose members are the sampled users (the org-guarded phase)."""
        if self.organization_id is not None:
            return self.organization_id
        organization_id = secrets.token_hex(16)
        now = datetime.now(UTC)

        async def seed() -> None:
            connection = await asyncpg.connect(self.url)
            try:
                async with connection.transaction():
                    await connection.execute(
                        'INSERT INTO organization (id, name, slug, "createdAt") '
                        "VALUES ($1, 'Bench', 'bench', $2)",
                        organization_id,
                        now,
                    )
                    await connection.copy_records_to_table(
                        "member",
                        records=[
                            (secrets.token_hex(16), organization_id, user.id, "member", now)
                            for user in self.sample()
                        ],
                        columns=["id", "organizationId", "userId", "role", "createdAt"],
                    )
            finally:
                await connection.close()

        asyncio.run(seed())
        self.organization_id = organization_id
        return organization_id

    def postgres_version(self) -> str:
        async def version() -> str:
            connection = await self._admin_connection()
            try:
                return str(await connection.fetchval("SHOW server_version"))
            finally:
                await connection.close()

        return asyncio.run(version())

    # --- servers ---

    def _api_settings(self) -> dict[str, str]:
        settings = {
            "BETTER_AUTH_SECRET": self.secret,
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_ENABLED": "false",
        }
        if self.auth is not None:
            settings["BETTER_AUTH_URL"] = self.auth.url
        return settings

    def peer_settings(self) -> dict[str, str]:
        """What a peer (bench/peers) reads: the settings a Better-Auth deployment has."""
        assert self.auth is not None
        url = self.url.replace("postgresql://", "postgresql+asyncpg://", 1)
        return {
            "BETTER_AUTH_URL": self.auth.url,
            "BETTER_AUTH_SECRET": self.secret,
            "DATABASE_URL": url,
        }

    def start_auth(self) -> None:
        self.auth = AuthServer(
            log_dir=self.work_dir,
            env=dict(_AUTH_SETTINGS),
            database_url=self.url,
            secret=self.secret,
            start_timeout=START_TIMEOUT_SECONDS,
        )
        self.auth.start()

    def start_api(self, workers: int, *, app: str = "app.main:app", **settings: str) -> None:
        """The API with ``--workers``; ``settings`` on top of the bench's (``METRICS_ENABLED``);
        ``app``: the API with more routes (``bench.own_app``)."""
        if self.api is not None:
            self.api.stop()
        self.api_workers = workers
        self.api = ApiServer(
            name=f"api-w{workers}",
            app=app,
            log_dir=self.work_dir,
            env=self._api_settings() | settings,
            database_url=self.url,
            extra_args=("--workers", str(workers), *UVICORN_FLAGS),
            start_timeout=START_TIMEOUT_SECONDS,
        )
        self.api.start()
        # Every worker must have its JWKS and LISTEN connection up before load starts.
        self._wait_ready(self.api.url)

    def _wait_ready(self, url: str) -> None:
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            for _ in range(100):
                response = client.get(url + "/health/ready")
                if response.status_code == 200 and response.json().get("status") == "ok":
                    return
                time.sleep(0.1)
        raise BenchError(f"API not ready: {response.status_code} {response.text[:300]}")

    def close(self) -> None:
        for server in (self.api, self.auth):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
        self.drop_database()

    # --- credentials ---

    def sample(self) -> list[SeededUser]:
        return self.users[: self.token_count]

    def write_session_tokens(self) -> Path:
        path = self.token_dir / "session.txt"
        path.write_text(
            "".join(sign_session_token(u.session_token, self.secret) + "\n" for u in self.sample())
        )
        return path

    def write_cookies(self) -> Path:
        """The sampled users' session cookies; Better-Auth must accept the first one."""
        assert self.auth is not None
        cookies = [session_cookie(u.session_token, self.secret) for u in self.sample()]
        with httpx.Client(base_url=self.auth.url, timeout=30, trust_env=False) as client:
            response = client.get("/api/auth/get-session", headers={"Cookie": cookies[0]})
        if response.status_code != 200 or not response.json():
            raise BenchError(
                f"Better-Auth refuses the session cookie: {response.status_code} "
                f"{response.text[:300]}"
            )
        path = self.token_dir / "cookie.txt"
        path.write_text("".join(cookie + "\n" for cookie in cookies))
        return path

    def write_no_credential(self) -> Path:
        """A one-line file for wrk's ``none`` mode (the bare endpoint)."""
        path = self.token_dir / "none.txt"
        path.write_text("-\n")
        return path

    def spare_user(self, number: int) -> SeededUser:
        """A user outside the loaded sample, for a ban that must not touch the measured ones."""
        index = self.token_count + number
        if index >= len(self.users):
            raise BenchError(f"--users must exceed --tokens by at least {number + 1} (ban checks)")
        return self.users[index]

    def ban(self, user: SeededUser) -> None:
        """Ban ``user`` through Better-Auth's admin plugin (``POST /api/auth/admin/ban-user``,
        which also deletes their sessions), as the seeded admin."""
        assert self.auth is not None
        assert self.admin is not None
        bearer = sign_session_token(self.admin.session_token, self.secret)
        with httpx.Client(base_url=self.auth.url, timeout=30, trust_env=False) as client:
            response = client.post(
                "/api/auth/admin/ban-user",
                json={"userId": user.id, "banReason": "bench"},
                headers={"Authorization": f"Bearer {bearer}"},
            )
        if response.status_code != 200:
            raise BenchError(f"admin/ban-user: {response.status_code} {response.text[:300]}")

    def write_admin_session(self) -> Path:
        assert self.admin is not None
        path = self.token_dir / "admin-session.txt"
        path.write_text(sign_session_token(self.admin.session_token, self.secret) + "\n")
        return path

    def fetch_jwts(self, users: list[SeededUser]) -> list[str]:
        """Real JWTs from Better-Auth: ``GET /api/auth/token`` with each user's session."""
        assert self.auth is not None

        async def fetch_all() -> list[str]:
            assert self.auth is not None
            limits = httpx.Limits(max_connections=10)
            async with httpx.AsyncClient(
                base_url=self.auth.url, timeout=30, trust_env=False, limits=limits
            ) as client:

                async def one(user: SeededUser) -> str:
                    bearer = sign_session_token(user.session_token, self.secret)
                    response = await client.get(
                        "/api/auth/token", headers={"Authorization": f"Bearer {bearer}"}
                    )
                    if response.status_code != 200:
                        raise BenchError(
                            f"/api/auth/token: {response.status_code} {response.text[:300]}"
                        )
                    return str(response.json()["token"])

                return list(await asyncio.gather(*(one(user) for user in users)))

        return asyncio.run(fetch_all())

    def write_jwts(self) -> Path:
        path = self.token_dir / "jwt.txt"
        path.write_text("".join(token + "\n" for token in self.fetch_jwts(self.sample())))
        return path

    def write_admin_jwt(self) -> Path:
        assert self.admin is not None
        path = self.token_dir / "admin-jwt.txt"
        path.write_text(self.fetch_jwts([self.admin])[0] + "\n")
        return path

    def write_stack_file(self) -> Path:
        """Where everything is, for ``locustfile.py`` (``BENCH_STACK=<this file>``)."""
        assert self.api is not None
        assert self.auth is not None
        path = self.token_dir / "stack.json"
        path.write_text(
            json.dumps(
                {
                    "api_url": self.api.url,
                    "auth_url": self.auth.url,
                    "database_url": self.url,
                    "users": self.user_count,
                    "tokens": {
                        name: str(self.token_dir / f"{name}.txt")
                        for name in ("jwt", "session", "admin-jwt", "admin-session")
                    },
                },
                indent=2,
            )
        )
        return path
