"""Permission queries and the admin plugin's create-user / set-user-password bodies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from app.schemas.base import CamelModel, EmailAddress, InputText, IsoDateTime, examples

ActionName = Annotated[InputText, Field(min_length=1, max_length=128)]
PermissionMap = Annotated[
    dict[Annotated[InputText, Field(min_length=1, max_length=128)], list[ActionName]],
    Field(max_length=64),
]


class PermissionCheck(CamelModel):
    """``{"permissions": {resource: [action]}}``, as Better-Auth's ``/admin/has-permission``."""

    model_config = examples(
        {"permissions": {"user": ["ban"]}}, {"permissions": {"project": ["read"]}}, extra="forbid"
    )

    permissions: PermissionMap


class PermissionResult(CamelModel):
    """``{"success": bool, "error": null}``: the shape Better-Auth answers."""

    model_config = examples({"success": True, "error": None})

    success: bool
    error: None = None


class EffectivePermissions(CamelModel):
    """Every action the caller may take, per resource (``[]`` when none)."""

    model_config = examples(
        {
            "permissions": {
                "user": ["list", "ban", "get"],
                "session": ["list", "revoke"],
            },
            "roles": ["moderator"],
        }
    )

    permissions: dict[str, list[str]]
    roles: list[str]


class UserCreateData(CamelModel):
    """``data`` of create-user: the user columns that may be set at creation."""

    model_config = ConfigDict(extra="forbid")

    email_verified: bool = False
    image: Annotated[InputText, Field(max_length=2048)] | None = None
    role: InputText | list[InputText] | None = None
    banned: bool | None = None
    ban_reason: Annotated[InputText, Field(max_length=1000)] | None = None
    ban_expires: IsoDateTime | None = None


class UserCreate(CamelModel):
    """Better-Auth's ``/admin/create-user`` body."""

    model_config = examples(
        {
            "email": "grace@example.com",
            "password": "a-long-passphrase",
            "name": "Grace Hopper",
            "role": "moderator",
        },
        {"email": "sso-only@example.com", "name": "No Password", "data": {"image": None}},
        extra="forbid",
    )

    email: EmailAddress
    # Optional: without one the user gets no credential account (social or magic-link only).
    password: Annotated[InputText, Field(max_length=4096)] | None = None
    name: Annotated[InputText, Field(max_length=255)]
    role: InputText | list[InputText] | None = None
    data: UserCreateData | None = None

    def fields(self) -> dict[str, Any]:
        """The ``data`` fields that were sent (absent ones are not set)."""
        return {} if self.data is None else self.data.model_dump(exclude_unset=True, by_alias=False)


class PasswordSet(CamelModel):
    """Better-Auth's ``/admin/set-user-password`` body, without the user id (in the path)."""

    model_config = examples({"newPassword": "a-long-passphrase"}, extra="forbid")

    new_password: Annotated[InputText, Field(min_length=1, max_length=4096)]
