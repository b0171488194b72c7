"""How a user signs in: their rows of Better-Auth's ``account`` table, without the secrets.

Better-Auth keeps one ``account`` row per way in: ``providerId`` ``credential`` for email and
password (the row holds the password hash), or the OAuth provider's id (``google``, ``github``,
a generic OIDC provider's id), whose row holds the provider's access, refresh and ID tokens.
Only the three public columns are selected, so no token or hash ever leaves the database here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import run_read
from app.models.account import Account
from app.models.user import User
from app.utils.errors import NotFound


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    provider_id: str  # "credential" (email and password) or the OAuth provider's id
    account_id: str  # the provider's id for the user (OIDC: sub); the user's id for "credential"
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserWithAccounts:
    user: User
    accounts: list[LinkedAccount]


class UserAccountService:
    """The single-user read with its linked accounts (the user list stays without them)."""

    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def get_user_with_accounts(self, user_id: str) -> UserWithAccounts:
        """One statement (the user LEFT JOIN their accounts), oldest account first."""
        statement = (
            select(User, Account.provider_id, Account.account_id, Account.created_at)
            .outerjoin(Account, Account.user_id == User.id)
            .where(User.id == user_id)
            .order_by(Account.created_at, Account.id)
        )

        async def read(db: AsyncSession) -> UserWithAccounts:
            rows = (await db.execute(statement)).all()
            if not rows:
                raise NotFound("no such user", code="USER_NOT_FOUND")
            accounts = [
                LinkedAccount(provider_id, account_id, created_at)
                for _user, provider_id, account_id, created_at in rows
                if provider_id is not None
            ]
            return UserWithAccounts(rows[0][0], accounts)

        return await run_read(self._db, read)
