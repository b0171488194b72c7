"""The libraries a user would pick instead of this API, and the ceiling, served for the benchmark.

Each module here is a minimal app with the library's recommended setup and one endpoint,
``GET /users/me``, answering the user its dependency returns; it runs against the same
Better-Auth server and database as the API, with the same uvicorn flags. Settings come from
the environment a Better-Auth deployment already has: ``BETTER_AUTH_URL``,
``BETTER_AUTH_SECRET`` and ``DATABASE_URL`` (``postgresql+asyncpg://``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.stack import START_TIMEOUT_SECONDS, UVICORN_FLAGS
from devstack.processes import ApiServer

ME_PATH = "/users/me"


@dataclass(frozen=True)
class Peer:
    """One row of the comparison. ``credential`` is the token file it is driven with: ``jwt``
    (Better-Auth's JWTs, as a bearer), ``cookie`` (Better-Auth's signed session cookie) or
    ``none``."""

    key: str
    module: str
    distribution: str | None
    mode: str
    credential: str

    @property
    def label(self) -> str:
        if self.distribution is None:
            return f"bare FastAPI {metadata.version('fastapi')} ({self.mode})"
        return f"{self.distribution} {metadata.version(self.distribution)} ({self.mode})"

    @property
    def wrk_mode(self) -> str:
        return {"jwt": "bearer", "cookie": "cookie", "none": "none"}[self.credential]


BARE = Peer("bare", "bare", None, "no auth, no middleware", "none")
# The ceiling of "your own endpoint" (bench.own): the handler of bench.own_app, bare.
BARE_OWN = Peer("own-bare", "bare_own", None, "same handler, no auth, no middleware", "none")
PEERS = (
    Peer("bridge-jwt", "bridge_jwt", "fastapi-better-auth-bridge", "JWT, JWKS", "jwt"),
    Peer(
        "bridge-cookie",
        "bridge_cookie",
        "fastapi-better-auth-bridge",
        "cookie + SQL",
        "cookie",
    ),
    Peer("betterauth-jwt", "betterauth_jwt", "fastapi-betterauth", "JWT, JWKS", "jwt"),
)


def peer_server(
    peer: Peer, *, log_dir: Path, settings: dict[str, str], workers: int = 1
) -> ApiServer:
    """``python -m uvicorn bench.peers.<module>:app`` with the API's flags and ``workers``;
    ``settings``: ``BETTER_AUTH_URL``, ``BETTER_AUTH_SECRET``, ``DATABASE_URL``."""
    return ApiServer(
        name=f"peer-{peer.key}",
        app=f"bench.peers.{peer.module}:app",
        health_path="/docs",  # FastAPI's own page: the apps keep their one endpoint
        log_dir=log_dir,
        database_url=settings["DATABASE_URL"],
        env={**settings, "NO_PROXY": "127.0.0.1,localhost"},
        extra_args=("--workers", str(workers), *UVICORN_FLAGS),
        start_timeout=START_TIMEOUT_SECONDS,
    )
