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
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from bench.procs import (
    AUTH_SERVER_DIR,
    BACKEND_DIR,
    BenchError,
    Server,
    free_port,
    run_command,
)
from bench.seed import SeededUser, Seeder

# Settings of the API that must not leak in from the environment running the benchmark.
_API_VARIABLES_PREFIXES = (
    "DATABASE_",
    "JWKS_",
    "JWT_",
    "BETTER_AUTH_",
    "RATE_LIMIT_",
    "REDIS_URL",
    "TOKEN_CACHE_",
    "IDENTITY_CACHE_",
    "LOG_",
    "ENVIRONMENT",
    "ADMIN_ROLES",
    "KNOWN_ROLES",
)
_AUTH_VARIABLES = {
    "DATABASE_URL",
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_URL",
    "BETTER_AUTH_RATE_LIMIT",
    "HOST",
    "PORT",
    "JWT_ALG",
    "JWT_ROTATION_INTERVAL",
    "JWT_GRACE_PERIOD",
    "TRUSTED_ORIGINS",
    "NODE_ENV",
}


def _clean_env(drop_prefixes: tuple[str, ...] = (), drop: set[str] | None = None) -> dict[str, str]:
    drop = drop or set()
    return {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in drop and not name.upper().startswith(drop_prefixes)
    }


def sign_session_token(token: str, secret: str) -> str:
    """``TOKEN.SIGNATURE`` as Better-Auth's bearer plugin hands it out (``set-auth-token``)."""
    mac = hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
    return f"{token}.{base64.b64encode(mac).decode()}"


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
    auth: Server | None = None
    api: Server | None = None
    api_workers: int = 1
    users: list[SeededUser] = field(default_factory=list)
    admin: SeededUser | None = None
    user_count: int = 0
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
        run_command(["npm", "run", "-s", "migrate"], cwd=AUTH_SERVER_DIR, env=self._auth_env())
        run_command(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=BACKEND_DIR,
            env=self._api_env(),
        )

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

    def postgres_version(self) -> str:
        async def version() -> str:
            connection = await self._admin_connection()
            try:
                return str(await connection.fetchval("SHOW server_version"))
            finally:
                await connection.close()

        return asyncio.run(version())

    # --- servers ---

    def _auth_env(self, port: int | None = None) -> dict[str, str]:
        env = _clean_env(drop=_AUTH_VARIABLES)
        env.update(
            DATABASE_URL=self.url,
            BETTER_AUTH_SECRET=self.secret,
            BETTER_AUTH_RATE_LIMIT="false",
            NODE_ENV="production",
        )
        if port is not None:
            env.update(HOST="127.0.0.1", PORT=str(port), BETTER_AUTH_URL=f"http://127.0.0.1:{port}")
        return env

    def _api_env(self) -> dict[str, str]:
        env = _clean_env(drop_prefixes=_API_VARIABLES_PREFIXES)
        env.update(
            DATABASE_URL=self.url,
            BETTER_AUTH_SECRET=self.secret,
            ENVIRONMENT="production",
            LOG_LEVEL="WARNING",
            RATE_LIMIT_ENABLED="false",
            PYTHONUNBUFFERED="1",
        )
        if self.auth is not None:
            env["BETTER_AUTH_URL"] = self.auth.url
        return env

    def start_auth(self) -> None:
        port = free_port()
        self.auth = Server(
            "auth-server",
            ["node", "--import", "tsx", "src/server.ts"],
            cwd=AUTH_SERVER_DIR,
            env=self._auth_env(port),
            port=port,
            health_path="/health",
            log_dir=self.work_dir,
        )
        self.auth.start()

    def start_api(self, workers: int) -> None:
        if self.api is not None:
            self.api.stop()
        port = free_port()
        self.api_workers = workers
        self.api = Server(
            f"api-w{workers}",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=BACKEND_DIR,
            env=self._api_env(),
            port=port,
            health_path="/health/live",
            log_dir=self.work_dir,
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
