"""Create a user and set a user's password, as Better-Auth's admin plugin does.

Both write the ``credential`` account row (``providerId = "credential"``, ``accountId`` = the
user id) with a hash in Better-Auth's scrypt format, so its email sign-in accepts it. The
password is never logged, audited or returned; the audit event says only that one was set.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.account import Account
from app.models.base import generate_id, utc_now
from app.models.user import User
from app.services.access.requirements import USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL
from app.services.audit.service import AuditContext, AuditService
from app.services.users.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    js_length,
)
from app.services.users.roles import join_roles
from app.utils.errors import BadRequest, Conflict, NotFound, invalid_field

CREDENTIAL_PROVIDER = "credential"


def _too_long(password: str) -> None:
    if js_length(password) > MAX_PASSWORD_LENGTH:
        raise BadRequest("Password too long", code="PASSWORD_TOO_LONG")


def _duplicate_email() -> Conflict:
    code, message = USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL
    return Conflict(message, code=code)


class CredentialService:
    def __init__(
        self,
        db: AsyncSession,
        *,
        known_roles: Collection[str],
        default_role: str = "user",
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = db
        self._known_roles = known_roles
        self._default_role = default_role
        self._now = now
        self._audit = AuditService(db)

    def validate_roles(self, requested: str | list[str]) -> str:
        """The stored form of the requested role(s); every one must be known (422)."""
        roles = requested.split(",") if isinstance(requested, str) else list(requested)
        bad = sorted({role for role in roles if role not in self._known_roles})
        if not roles or bad:
            message = f"unknown role(s): {', '.join(bad) or '(none given)'}"
            raise invalid_field(["body", "role"], message, code="UNKNOWN_ROLE")
        return join_roles(roles)

    async def create_user(
        self,
        context: AuditContext,
        *,
        email: str,
        name: str,
        password: str | None,
        role: str | list[str] | None,
        fields: dict[str, Any],
    ) -> User:
        """``email`` already lower-cased and checked; ``fields`` are ``data``'s columns."""
        stored_role = self.validate_roles(role) if role is not None else self._default_role
        if password:
            _too_long(password)
        if await self._db.scalar(select(User.id).where(User.email == email)) is not None:
            raise _duplicate_email()
        # Hash before the transaction holds any lock: it takes tens of milliseconds.
        hashed = await hash_password(password) if password else None
        now = self._now()
        user = User(
            id=generate_id(),
            email=email,
            name=name,
            email_verified=bool(fields.get("email_verified", False)),
            image=fields.get("image"),
            role=stored_role,
            banned=bool(fields.get("banned") or False),
            ban_reason=fields.get("ban_reason"),
            ban_expires=fields.get("ban_expires"),
            created_at=now,
            updated_at=now,
        )
        self._db.add(user)
        if hashed is not None:
            self._db.add(self._credential(user.id, hashed, now))
        self._audit.record(
            context,
            "user.create",
            user.id,
            {
                "after": {"email": email, "name": name, "role": stored_role},
                "passwordSet": hashed is not None,
            },
        )
        try:
            await self._db.commit()
        except IntegrityError:
            # Created concurrently with the same e-mail (the unique index decides).
            await self._db.rollback()
            raise _duplicate_email() from None
        return user

    async def set_password(self, context: AuditContext, user_id: str, new_password: str) -> None:
        if js_length(new_password) < MIN_PASSWORD_LENGTH:
            raise BadRequest("Password too short", code="PASSWORD_TOO_SHORT")
        _too_long(new_password)
        if await self._db.scalar(select(User.id).where(User.id == user_id)) is None:
            raise NotFound("User not found", code="USER_NOT_FOUND")
        hashed = await hash_password(new_password)
        now = self._now()
        account = await self._db.scalar(
            select(Account)
            .where(Account.user_id == user_id, Account.provider_id == CREDENTIAL_PROVIDER)
            .limit(1)
        )
        if account is None:
            self._db.add(self._credential(user_id, hashed, now))
        else:
            account.password = hashed
            account.updated_at = now
        self._audit.record(
            context, "user.password.set", user_id, {"credentialCreated": account is None}
        )
        await self._db.commit()

    @staticmethod
    def _credential(user_id: str, hashed: str, now: datetime) -> Account:
        return Account(
            id=generate_id(),
            account_id=user_id,
            provider_id=CREDENTIAL_PROVIDER,
            user_id=user_id,
            password=hashed,
            created_at=now,
            updated_at=now,
        )
