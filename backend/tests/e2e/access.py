"""Users made straight in the shared database with a chosen id and role string (the corpus
needs ids known before the auth server starts, and role strings Better-Auth's API would not
store, like ``""``), signed in on the real Better-Auth with a password hashed by the API's code."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from app.services.users.passwords import hash_password_sync
from tests.e2e.better_auth import PASSWORD
from tests.e2e.stack import Database


def insert_user(
    database: Database,
    user_id: str,
    role: str | None,
    *,
    password: str | None = PASSWORD,
    name: str | None = None,
    email: str | None = None,
) -> str:
    """A user, with a credential account unless ``password`` is ``None``; returns the e-mail."""
    email = email or f"{user_id.lower()}-{secrets.token_hex(3)}@example.com"
    now = datetime.now(UTC).replace(tzinfo=None)
    database.execute(
        """INSERT INTO "user" (id, name, email, "emailVerified", "createdAt", "updatedAt",
                               role, banned)
           VALUES ($1, $2, $3, false, $4, $4, $5, false)""",
        user_id,
        name or f"Corpus {user_id}",
        email,
        now,
        role,
    )
    if password is None:
        return email
    database.execute(
        """INSERT INTO account (id, "accountId", "providerId", "userId", password,
                                "createdAt", "updatedAt")
           VALUES ($1, $2, 'credential', $2, $3, $4, $4)""",
        secrets.token_hex(16),
        user_id,
        hash_password_sync(password),
        now,
    )
    return email
