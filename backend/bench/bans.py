"""Does a ban stop a token? One user outside the loaded sample is banned through Better-Auth's
admin API while a server is up, and that user's credential is sent again until the server
refuses it or ``BAN_WAIT_SECONDS`` pass."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from bench.load import request_headers
from bench.seed import SeededUser
from bench.stack import Stack, session_cookie

# The API sees a ban through PostgreSQL's NOTIFY within milliseconds; a server that still
# answers 200 after this long will until the token expires (a JWT: 15 minutes).
BAN_WAIT_SECONDS = 3.0


@dataclass
class BanCheck:
    server: str
    credential: str  # "JWT" or "session cookie"
    before: int  # the status before the ban (200, or the check says nothing)
    after: int  # the last status seen after it
    waited_s: float

    @property
    def stops(self) -> bool | None:
        """``None`` when the credential was refused before the ban already."""
        return None if self.before != 200 else self.after != 200

    @property
    def verdict(self) -> str:
        if self.stops is None:
            return f"n/a (refused before the ban: {self.before})"
        return "yes" if self.stops else "no"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stops": self.stops}


def check_ban(stack: Stack, url: str, *, server: str, mode: str, user: SeededUser) -> BanCheck:
    """``mode``: ``bearer`` (a fresh JWT from Better-Auth) or ``cookie`` (the session cookie)."""
    if mode == "cookie":
        credential, name = session_cookie(user.session_token, stack.secret), "session cookie"
    else:
        credential, name = stack.fetch_jwts([user])[0], "JWT"
    headers = request_headers(mode, credential)
    with httpx.Client(timeout=10, trust_env=False) as client:
        before = client.get(url, headers=headers).status_code
        if before != 200:
            return BanCheck(server, name, before, before, 0.0)
        stack.ban(user)
        started = time.monotonic()
        while True:
            after = client.get(url, headers=headers).status_code
            waited = time.monotonic() - started
            if after != 200 or waited >= BAN_WAIT_SECONDS:
                return BanCheck(server, name, before, after, round(waited, 3))
            time.sleep(0.05)
