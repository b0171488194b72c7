"""Seed users, credential accounts and sessions exactly as Better-Auth writes them.

What Better-Auth fills in application code (the database has no defaults for it) is filled here
the same way: 32-character ``[A-Za-z0-9]`` ids, ``role = 'user'``, ``banned = false``,
``emailVerified``, ``createdAt``/``updatedAt``; a ``credential`` account per user with a scrypt
``salt:hash`` password (N=16384, r=16, p=1, 64 bytes, salt = the hex string, as
``@better-auth/utils/password``); one session per user with a 32-character token,
``expiresAt = now + 7 days`` and ``updatedAt``. Rows go in with ``COPY`` in batches.

User ``i`` is ``<first>.<last>.<i:06d>@example.com``; ``SEARCH_FRAGMENT`` (``.00012``) matches
users 120-129 whatever the size, so the admin search returns the same page at 10k and 100k.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

ALPHABET = string.ascii_letters + string.digits
SESSION_LIFETIME = timedelta(days=7)
PASSWORD = "bench-password-1234"
SEARCH_FRAGMENT = ".00012"
ADMIN_EMAIL = "admin@bench.example.com"
BATCH = 10_000  # rows per COPY transaction; also one progress line each

_FIRST = (
    "ada",
    "alan",
    "grace",
    "linus",
    "barbara",
    "ken",
    "dennis",
    "margaret",
    "edsger",
    "donald",
    "john",
    "niklaus",
    "tim",
    "guido",
    "bjarne",
    "james",
    "frances",
    "radia",
    "hedy",
    "katherine",
    "annie",
    "shafi",
    "leslie",
    "robin",
    "sophie",
)
_LAST = (
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "liskov",
    "thompson",
    "ritchie",
    "hamilton",
    "dijkstra",
    "knuth",
    "backus",
    "wirth",
    "berners",
    "rossum",
    "stroustrup",
    "gosling",
    "allen",
    "perlman",
    "lamarr",
    "johnson",
    "easley",
    "goldwasser",
    "lamport",
    "milner",
    "wilson",
)

USER_COLUMNS = (
    "id",
    "name",
    "email",
    "emailVerified",
    "image",
    "createdAt",
    "updatedAt",
    "role",
    "banned",
    "banReason",
    "banExpires",
)
ACCOUNT_COLUMNS = (
    "id",
    "accountId",
    "providerId",
    "userId",
    "password",
    "createdAt",
    "updatedAt",
)
SESSION_COLUMNS = (
    "id",
    "expiresAt",
    "token",
    "createdAt",
    "updatedAt",
    "ipAddress",
    "userAgent",
    "userId",
)


@dataclass(frozen=True)
class SeededUser:
    index: int
    id: str
    email: str
    session_token: str
    role: str


def better_auth_password_hash(password: str) -> str:
    """``salt:key`` as Better-Auth's ``hashPassword`` (node:crypto scrypt) writes it."""
    salt = secrets.token_hex(16)
    key = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt.encode("ascii"),
        n=16384,
        r=16,
        p=1,
        dklen=64,
        maxmem=128 * 16384 * 16 * 2,
    )
    return f"{salt}:{key.hex()}"


def email_of(index: int) -> str:
    first = _FIRST[index % len(_FIRST)]
    last = _LAST[(index // len(_FIRST)) % len(_LAST)]
    return f"{first}.{last}.{index:06d}@example.com"


def name_of(index: int) -> str:
    first, last = email_of(index).split("@")[0].split(".")[:2]
    return f"{first.title()} {last.title()}"


class Seeder:
    """Generates rows with fresh random ids and tokens; one shared password hash (computing
    100k scrypt hashes would take minutes and measure nothing)."""

    def __init__(self) -> None:
        self._rng = random.Random(secrets.randbits(64))  # noqa: S311 - ids of a bench database
        self._password_hash = better_auth_password_hash(PASSWORD)
        self._now = datetime.now(UTC)

    def random_id(self) -> str:
        return "".join(self._rng.choices(ALPHABET, k=32))

    def _rows(
        self, index: int, email: str, name: str, role: str
    ) -> tuple[SeededUser, tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
        user_id = self.random_id()
        token = self.random_id()
        created = self._now - timedelta(minutes=index + 1)
        user_row = (user_id, name, email, True, None, created, created, role, False, None, None)
        account_row = (
            self.random_id(),
            user_id,
            "credential",
            user_id,
            self._password_hash,
            created,
            created,
        )
        session_row = (
            self.random_id(),
            self._now + SESSION_LIFETIME,
            token,
            self._now,
            self._now,
            "127.0.0.1",
            "bench",
            user_id,
        )
        return SeededUser(index, user_id, email, token, role), user_row, account_row, session_row

    async def seed(
        self,
        connection: asyncpg.Connection,
        start: int,
        count: int,
        *,
        with_admin: bool,
        progress: Callable[[str], None] | None = None,
    ) -> list[SeededUser]:
        """Users ``start .. start+count-1`` (plus the admin), then ``VACUUM ANALYZE``;
        ``progress`` gets a line after every batch and before the vacuum."""
        seeded: list[SeededUser] = []
        specs: list[tuple[int, str, str, str]] = []
        if with_admin:
            specs.append((-1, ADMIN_EMAIL, "Bench Admin", "admin"))
        specs.extend((i, email_of(i), name_of(i), "user") for i in range(start, start + count))
        for offset in range(0, len(specs), BATCH):
            users, accounts, sessions = [], [], []
            for index, email, name, role in specs[offset : offset + BATCH]:
                user, user_row, account_row, session_row = self._rows(index, email, name, role)
                seeded.append(user)
                users.append(user_row)
                accounts.append(account_row)
                sessions.append(session_row)
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "user", records=users, columns=list(USER_COLUMNS)
                )
                await connection.copy_records_to_table(
                    "account", records=accounts, columns=list(ACCOUNT_COLUMNS)
                )
                await connection.copy_records_to_table(
                    "session", records=sessions, columns=list(SESSION_COLUMNS)
                )
            if progress is not None:
                done = min(offset + BATCH, len(specs))
                progress(f"seeding: {done:,}/{len(specs):,} users with accounts and sessions")
        if progress is not None:
            progress("seeding: VACUUM ANALYZE")
        for table in ("user", "account", "session"):
            # One statement each: VACUUM cannot run inside the implicit transaction of a batch.
            await connection.execute(f'VACUUM ANALYZE "{table}"')
        return seeded
