"""Password hashes in Better-Auth 1.7.25's own format, so its email sign-in accepts them.

``@better-auth/utils/password`` (node): scrypt with N=16384, r=16, p=1, a 64-byte key, the
password NFKC-normalised, and a random 16-byte salt used as its 32-character hex *text* (the
hex string's bytes are the salt, not the decoded bytes). Stored as ``"<salt hex>:<key hex>"``.

Hashing costs ~32 MiB and tens of milliseconds of CPU: it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import unicodedata

SCRYPT_N = 16384
SCRYPT_R = 16
SCRYPT_P = 1
KEY_LENGTH = 64
# Better-Auth passes maxmem = 128 * N * r * 2; OpenSSL needs a little more than 128 * N * r.
MAX_MEMORY = 128 * SCRYPT_N * SCRYPT_R * 2

# emailAndPassword.minPasswordLength / maxPasswordLength defaults.
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


def js_length(password: str) -> int:
    """``password.length`` in JavaScript: UTF-16 code units (an emoji counts twice)."""
    return len(password.encode("utf-16-le")) // 2


def _derive(password: str, salt: str) -> bytes:
    return hashlib.scrypt(
        unicodedata.normalize("NFKC", password).encode(),
        salt=salt.encode(),
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=MAX_MEMORY,
        dklen=KEY_LENGTH,
    )


def hash_password_sync(password: str) -> str:
    salt = secrets.token_hex(16)
    return f"{salt}:{_derive(password, salt).hex()}"


def verify_password_sync(stored: str, password: str) -> bool:
    salt, _, key = stored.partition(":")
    if not salt or not key:
        return False
    return hmac.compare_digest(_derive(password, salt).hex(), key)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(stored: str, password: str) -> bool:
    return await asyncio.to_thread(verify_password_sync, stored, password)
