"""User representations. Never carries account secrets or session tokens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from app.schemas.base import CamelModel, EmailAddress, InputText, IsoDateTime, examples

MAX_BAN_SECONDS = 100 * 365 * 86400

USER_EXAMPLE: dict[str, Any] = {
    "id": "7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "emailVerified": True,
    "image": None,
    "createdAt": "2026-11-26T17:46:11.446Z",
    "updatedAt": "2026-11-26T17:46:11.446Z",
    "role": "user",
    "banned": False,
    "banReason": None,
    "banExpires": None,
}


class UserRead(CamelModel):
    """A user as Better-Auth's API shows it (field names and date format)."""

    model_config = examples(USER_EXAMPLE)

    id: str
    name: str
    email: str
    email_verified: bool
    image: str | None
    created_at: IsoDateTime
    updated_at: IsoDateTime
    role: str | None
    banned: bool | None
    ban_reason: str | None
    ban_expires: IsoDateTime | None


class LinkedAccountRead(CamelModel):
    """One way the user signs in: a row of Better-Auth's ``account`` table, never its tokens,
    secrets or password hash."""

    provider_id: str = Field(
        description="`credential` for email and password, else the OAuth provider's id "
        "(`google`, `github`, the OIDC provider's id)",
        examples=["google"],
    )
    account_id: str = Field(
        description="The user's id at the provider (OpenID Connect: `sub`); "
        "for `credential`, the user's own id",
        examples=["109876543210987654321"],
    )
    created_at: IsoDateTime = Field(description="When the account was linked")


class UserDetail(UserRead):
    """One user with the accounts they sign in with (the user list leaves them out)."""

    model_config = examples(
        {
            **USER_EXAMPLE,
            "accounts": [
                {
                    "providerId": "credential",
                    "accountId": USER_EXAMPLE["id"],
                    "createdAt": "2026-11-26T17:46:11.446Z",
                },
                {
                    "providerId": "google",
                    "accountId": "109876543210987654321",
                    "createdAt": "2026-11-28T09:12:40.031Z",
                },
            ],
        }
    )

    accounts: list[LinkedAccountRead]

    @classmethod
    def of(cls, user: object, accounts: Iterable[object]) -> UserDetail:
        """From a user row and its accounts (anything with the fields as attributes)."""
        linked = [LinkedAccountRead.model_validate(account) for account in accounts]
        return cls(**dict(UserRead.model_validate(user)), accounts=linked)


class UserPage(CamelModel):
    """A page of users, shaped like Better-Auth's ``listUsers`` answer."""

    users: list[UserRead]
    total: int = Field(examples=[1])
    limit: int = Field(examples=[20])
    offset: int = Field(examples=[0])


class ProfileUpdate(CamelModel):
    """What a user may change about themself."""

    model_config = examples({"name": "Ada"}, extra="forbid")

    # Absent = unchanged. An explicit null is refused for name (NOT NULL) and clears image.
    name: Annotated[InputText, Field(min_length=1, max_length=255)] | SkipJsonSchema[None] = None
    image: Annotated[InputText, Field(max_length=2048)] | None = None

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("name cannot be null")
        return value


class AdminUserUpdate(ProfileUpdate):
    """What may be changed about a user, with Better-Auth's update-user rules: beyond
    ``user:update``, ``role`` needs ``user:set-role``, the ban fields ``user:ban``, ``email`` and
    ``emailVerified`` ``user:set-email``. ``banned: true`` revokes the user's sessions."""

    model_config = examples(
        {"name": "Ada", "emailVerified": True},
        {"email": "ada@example.org"},
        {"banned": True, "banReason": "Spamming"},
        extra="forbid",
    )

    email: EmailAddress | SkipJsonSchema[None] = None
    email_verified: bool | SkipJsonSchema[None] = None
    role: InputText | list[InputText] | SkipJsonSchema[None] = None
    banned: bool | SkipJsonSchema[None] = None
    ban_reason: Annotated[InputText, Field(max_length=1000)] | None = None
    ban_expires: IsoDateTime | None = None

    @field_validator("email_verified", "email", "role", "banned")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class RoleUpdate(CamelModel):
    """One role or several; stored comma-joined without spaces (``"admin,user"``)."""

    model_config = examples({"role": "admin"}, {"role": ["admin", "user"]}, extra="forbid")

    role: InputText | list[InputText] = Field(min_length=1)


class BanRequest(CamelModel):
    model_config = examples({"banReason": "Spamming", "banExpiresIn": 86400}, {}, extra="forbid")

    ban_reason: Annotated[InputText, Field(max_length=1000)] | None = None
    ban_expires_in: int | None = Field(
        default=None, gt=0, le=MAX_BAN_SECONDS, description="Seconds until the ban lapses"
    )


class SessionRead(CamelModel):
    """A session as admins see it: never its token."""

    model_config = examples(
        {
            "id": "t0jWXveKa21rMukaYy7xwvwLYsEzku9n",
            "userId": "7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs",
            "createdAt": "2026-11-26T17:46:11.450Z",
            "updatedAt": "2026-11-26T17:46:11.450Z",
            "expiresAt": "2026-12-03T17:46:11.450Z",
            "ipAddress": "203.0.113.7",
            "userAgent": "Mozilla/5.0",
            "impersonatedBy": None,
            "current": True,
        }
    )

    id: str
    user_id: str
    created_at: IsoDateTime
    updated_at: IsoDateTime
    expires_at: IsoDateTime
    ip_address: str | None
    user_agent: str | None
    impersonated_by: str | None
    current: bool = False


class SessionList(CamelModel):
    sessions: list[SessionRead]
