"""Micro-benchmark of the token check, in-process (no HTTP, no database).

- ``cached hit``: ``CachedTokenVerifier.verify`` on a token it has verified before (SHA-256 of
  the token, one dict lookup, one expiry comparison);
- ``cold``: ``TokenVerifier.verify`` (header parse, key by kid from an already-warm
  ``JwksCache`` over a ``StaticKeySource``, Ed25519 signature, iss/aud/sub and time claims);
- ``cached miss``: ``CachedTokenVerifier.verify`` on a token never seen (cold + digest + store);
- ``identity, JWT (all cached)``: ``IdentityService.authenticate`` with a warm token cache and a
  warm identity cache, i.e. everything ``/users/me`` does to authenticate, minus HTTP;
- ``session signature``: ``verify_session_token_signature`` on ``TOKEN.SIGNATURE`` (HMAC).

Tokens look like Better-Auth's (EdDSA/Ed25519, ``kid`` header, the whole user row as payload,
``iss``/``aud`` = the server origin, 15-minute lifetime). Each call is timed with
``time.perf_counter_ns`` inside a running event loop; medians and p99 are per call, in µs.

    cd backend && uv run python -m bench.micro_tokens [--iterations 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import hmac
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.services.auth.identity import IdentityService
from app.services.auth.identity_cache import IdentityCache
from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.sources import StaticKeySource
from app.services.auth.session_tokens import verify_session_token_signature
from app.services.auth.snapshots import UserSnapshot
from app.services.auth.token_cache import CachedTokenVerifier
from app.services.auth.verifier import TokenVerifier

ORIGIN = "http://127.0.0.1:3000"
KID = "bKJEmD1n3yJ6CUsgBdXCn9n1bCDKBWX1"
SECRET = "bench-secret-bench-secret-bench-secret"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Timing:
    name: str
    iterations: int
    median_us: float
    p99_us: float
    mean_us: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "iterations": self.iterations,
            "median_us": round(self.median_us, 2),
            "p99_us": round(self.p99_us, 2),
            "mean_us": round(self.mean_us, 2),
        }


class Issuer:
    """Signs tokens the way Better-Auth's jwt plugin does (EdDSA by default)."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.jwk = {"alg": "EdDSA", "crv": "Ed25519", "x": _b64url(public), "kty": "OKP"}
        self.jwk["kid"] = KID

    def token(self, user_id: str, index: int, now: float) -> str:
        header = {"alg": "EdDSA", "kid": KID}
        stamp = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        claims = {
            "id": user_id,
            "name": f"Bench User {index}",
            "email": f"user.{index:06d}@example.com",
            "emailVerified": True,
            "image": None,
            "createdAt": stamp,
            "updatedAt": stamp,
            "role": "user",
            "banned": False,
            "banReason": None,
            "banExpires": None,
            "iat": int(now),
            "iss": ORIGIN,
            "aud": ORIGIN,
            "exp": int(now) + 900,
            "sub": user_id,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self._key.sign(signing_input.encode("ascii"))
        return signing_input + "." + _b64url(signature)


def _user_id(index: int) -> str:
    return hashlib.sha256(str(index).encode()).hexdigest()[:32]


ROUNDS = 20


async def _time_interleaved(
    checks: list[tuple[str, Callable[[int], Awaitable[object]]]], iterations: int
) -> list[Timing]:
    """Each check runs ``iterations`` times, in ``ROUNDS`` interleaved rounds (a slice of every
    check per round), so that they all see the same machine: on a shared machine, timing them
    one after the other compares moments, not code."""
    for _name, call in checks:
        for index in range(200):
            await call(index)
    samples: dict[str, list[int]] = {name: [] for name, _call in checks}
    per_round = max(1, iterations // ROUNDS)
    clock = time.perf_counter_ns
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection landing in one sample would say nothing about the code
    try:
        for round_number in range(ROUNDS):
            for name, call in checks:
                bucket = samples[name]
                for index in range(round_number * per_round, (round_number + 1) * per_round):
                    started = clock()
                    await call(index)
                    bucket.append(clock() - started)
            gc.collect()  # between rounds, outside the timed calls
    finally:
        if gc_was_enabled:
            gc.enable()
    timings = []
    for name, _call in checks:
        values = sorted(samples[name])
        timings.append(
            Timing(
                name=name,
                iterations=len(values),
                median_us=statistics.median(values) / 1000,
                p99_us=values[min(len(values) - 1, int(len(values) * 0.99))] / 1000,
                mean_us=statistics.fmean(values) / 1000,
            )
        )
    return timings


def _verifier(issuer: Issuer) -> tuple[TokenVerifier, JwksCache]:
    cache = JwksCache(
        StaticKeySource([issuer.jwk]), ttl=3600, min_ttl=0, refetch_cooldown=10, max_stale=0
    )
    verifier = TokenVerifier(
        cache, issuer=ORIGIN, audience=ORIGIN, algorithms=["EdDSA", "Ed25519"], leeway_seconds=5
    )
    return verifier, cache


def _snapshot(user_id: str) -> UserSnapshot:
    now = datetime.now(UTC)
    return UserSnapshot(
        id=user_id,
        name="Bench User",
        email=f"{user_id}@example.com",
        email_verified=True,
        image=None,
        created_at=now,
        updated_at=now,
        role="user",
        banned=False,
        ban_reason=None,
        ban_expires=None,
    )


async def _run(iterations: int) -> list[Timing]:
    issuer = Issuer()
    verifier, keys = _verifier(issuer)
    await keys.warm()
    now = time.time()
    distinct = [issuer.token(_user_id(i), i, now) for i in range(iterations + 400)]
    one = distinct[0]

    # As the app wires it (state.build_verifier): each hit checks that its key is still held.
    cached = CachedTokenVerifier(
        verifier, max_entries=100_000, leeway_seconds=5, clock=time.time, keys=keys
    )
    await cached.verify(one)

    cache = IdentityCache(max_entries=100_000, fallback_ttl=0)
    cache.live = True  # as with the PostgreSQL invalidation feed up
    cache.put_user(_snapshot(_user_id(0)), cache.begin_read())
    identity = IdentityService(None, cached, secret=SECRET, cache=cache)  # type: ignore[arg-type]

    token = "ZUBl5vRNSz2IZrm2pFSlRg3hLJkDLR6Q"
    mac = hmac.new(SECRET.encode(), token.encode(), hashlib.sha256).digest()
    signed = f"{token}.{base64.b64encode(mac).decode()}"

    async def hit(_index: int) -> object:
        return await cached.verify(one)

    async def cold(_index: int) -> object:
        return await verifier.verify(one)

    miss_tokens = iter(distinct[1:])

    async def miss(_index: int) -> object:
        return await cached.verify(next(miss_tokens))

    async def authenticate(_index: int) -> object:
        return await identity.authenticate(one)

    async def session_signature(_index: int) -> object:
        return verify_session_token_signature(signed, SECRET)

    return await _time_interleaved(
        [
            ("cached hit (CachedTokenVerifier)", hit),
            ("cold (TokenVerifier, Ed25519)", cold),
            ("cached miss (new token)", miss),
            ("identity, JWT (all cached)", authenticate),
            ("session token signature (HMAC)", session_signature),
        ],
        iterations,
    )


def run(iterations: int = 20_000) -> list[Timing]:
    """Run every measurement; also used by ``bench.run`` for the report."""
    return asyncio.run(_run(iterations))


def format_table(timings: list[Timing]) -> str:
    lines = ["| check | median (µs) | p99 (µs) | mean (µs) | calls |", "|---|---:|---:|---:|---:|"]
    lines.extend(
        f"| {t.name} | {t.median_us:.2f} | {t.p99_us:.2f} | {t.mean_us:.2f} | {t.iterations} |"
        for t in timings
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args()
    print(format_table(run(args.iterations)))  # noqa: T201


if __name__ == "__main__":
    main()
