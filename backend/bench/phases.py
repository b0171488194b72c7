"""What ``bench.run`` loads: one ``Phase`` per endpoint and server, with its credentials."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.peers import ME_PATH, Peer
from bench.seed import SEARCH_FRAGMENT
from bench.stack import Stack

ME = "/api/v1/users/me"
VERIFY = "/api/v1/auth/verify"
GET_SESSION = "/api/auth/get-session"
SEARCH_LIMIT = 20


def our_search_path() -> str:
    return "/api/v1/users?" + urlencode({"search": SEARCH_FRAGMENT, "limit": SEARCH_LIMIT})


def their_search_path() -> str:
    return "/api/auth/admin/list-users?" + urlencode(
        {"searchValue": SEARCH_FRAGMENT, "limit": SEARCH_LIMIT}
    )


@dataclass
class Phase:
    """One endpoint under load."""

    key: str
    label: str
    server: str  # "api", "better-auth" or "peer" (the one running: Runner.peer)
    path: str
    tokens: Path
    mode: str = "bearer"  # how wrk sends a credential: bearer, verify, cookie, none
    baseline: str | None = None  # key of the Better-Auth measurement to compare with


def api_phases(stack: Stack, workers: int, *, search_only: bool = False) -> list[Phase]:
    tokens = stack.token_dir
    suffix = f"@{stack.user_count}/w{workers}"
    phases = []
    if not search_only:
        phases += [
            Phase(
                f"me-jwt{suffix}",
                "GET /api/v1/users/me (JWT)",
                "api",
                ME,
                tokens / "jwt.txt",
                baseline=f"get-session@{stack.user_count}",
            ),
            Phase(
                f"me-session{suffix}",
                "GET /api/v1/users/me (session token)",
                "api",
                ME,
                tokens / "session.txt",
                baseline=f"get-session@{stack.user_count}",
            ),
            Phase(
                f"org-member{suffix}",
                "GET /api/v1/organizations/{id} (JWT, member)",
                "api",
                f"/api/v1/organizations/{stack.seed_organization()}",
                tokens / "jwt.txt",
                baseline=f"get-session@{stack.user_count}",
            ),
            Phase(
                f"verify{suffix}",
                "POST /api/v1/auth/verify (JWT)",
                "api",
                VERIFY,
                tokens / "jwt.txt",
                mode="verify",
                baseline=f"get-session@{stack.user_count}",
            ),
        ]
    phases.append(
        Phase(
            f"search{suffix}",
            f"GET /api/v1/users?search={SEARCH_FRAGMENT} (admin)",
            "api",
            our_search_path(),
            tokens / "admin-jwt.txt",
            baseline=f"list-users@{stack.user_count}",
        )
    )
    return phases


def better_auth_phases(stack: Stack, *, search_only: bool = False) -> list[Phase]:
    tokens = stack.token_dir
    users = stack.user_count
    phases = []
    if not search_only:
        phases.append(
            Phase(
                f"get-session@{users}",
                "GET /api/auth/get-session",
                "better-auth",
                GET_SESSION,
                tokens / "session.txt",
            )
        )
    phases.append(
        Phase(
            f"list-users@{users}",
            f"GET /api/auth/admin/list-users?searchValue={SEARCH_FRAGMENT}",
            "better-auth",
            their_search_path(),
            tokens / "admin-session.txt",
        )
    )
    return phases


def metrics_off_phase(stack: Stack) -> Phase:
    """``/users/me`` (JWT) with ``METRICS_ENABLED=false``: beside the default (on), the
    cost of metrics on the hot path."""
    users = stack.user_count
    return Phase(
        f"me-jwt-nometrics@{users}/w1",
        "GET /api/v1/users/me (JWT, METRICS_ENABLED=false)",
        "api",
        ME,
        stack.token_dir / "jwt.txt",
        baseline=f"get-session@{users}",
    )


def peer_phase(stack: Stack, peer: Peer) -> Phase:
    """No "ours/theirs" for a peer: the targets compare it with the API (bench.targets)."""
    users = stack.user_count
    tokens, what = {
        "jwt": ("jwt.txt", "JWT"),
        "cookie": ("cookie.txt", "session cookie"),
        "none": ("none.txt", "no credential"),
    }[peer.credential]
    return Phase(
        f"{peer.key}@{users}/w1",
        f"GET /users/me ({what})",
        "peer",
        ME_PATH,
        stack.token_dir / tokens,
        mode=peer.wrk_mode,
    )
