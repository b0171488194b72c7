"""Organizations and members as Better-Auth's organization plugin shows them (field names,
date format, ``member.user``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from app.schemas.access import PermissionMap
from app.schemas.base import CamelModel, InputText, IsoDateTime, examples

ORGANIZATION_EXAMPLE: dict[str, Any] = {
    "id": "Qe6Xh0Y1bBKZr0Yd3y4m2T6dFvA9nW8c",
    "name": "Acme",
    "slug": "acme",
    "logo": None,
    "createdAt": "2026-11-27T09:12:03.120Z",
    "metadata": None,
    "role": "owner",
    "memberId": "m9R2c5kYp0LwQe7Tz3Xb8NvHs1JdUa4F",
}
MEMBER_EXAMPLE: dict[str, Any] = {
    "id": "m9R2c5kYp0LwQe7Tz3Xb8NvHs1JdUa4F",
    "organizationId": "Qe6Xh0Y1bBKZr0Yd3y4m2T6dFvA9nW8c",
    "userId": "7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs",
    "role": "admin",
    "createdAt": "2026-11-27T09:12:03.120Z",
}


class OrganizationRead(CamelModel):
    """An organization, with the caller's own membership (``role``, ``memberId``)."""

    model_config = examples(ORGANIZATION_EXAMPLE)

    id: str
    name: str
    slug: str
    logo: str | None
    created_at: IsoDateTime
    metadata: str | None = Field(description="As Better-Auth stores it: a JSON document as text")
    role: str = Field(description="The caller's role(s), comma-joined like `member.role`")
    member_id: str = Field(description="The caller's `member` row")


class OrganizationList(CamelModel):
    organizations: list[OrganizationRead]


class MemberRead(CamelModel):
    model_config = examples(MEMBER_EXAMPLE)

    id: str
    organization_id: str
    user_id: str
    role: str
    created_at: IsoDateTime


class MemberUserRead(CamelModel):
    id: str
    name: str
    email: str
    image: str | None


class MemberWithUserRead(MemberRead):
    user: MemberUserRead


class MemberPage(CamelModel):
    """A page of members, like Better-Auth's ``list-members`` (``members``, ``total``)."""

    members: list[MemberWithUserRead]
    total: int = Field(examples=[1])
    limit: int = Field(examples=[20])
    offset: int = Field(examples=[0])


class MemberRoleUpdate(CamelModel):
    """One role or several (stored comma-joined, trimmed: ``"admin,member"``)."""

    model_config = examples({"role": "admin"}, {"role": ["admin", "billing"]}, extra="forbid")

    role: (
        Annotated[InputText, Field(max_length=1000)]
        | list[Annotated[InputText, Field(max_length=200)]]
    ) = Field(min_length=1)


class OrgPermissionCheck(CamelModel):
    """``{"permissions": {resource: [action]}}``, as Better-Auth's
    ``/organization/has-permission`` (the organization is in the path, not the body)."""

    model_config = examples(
        {"permissions": {"member": ["update", "delete"]}},
        {"permissions": {"project": ["read"]}},
        extra="forbid",
    )

    permissions: PermissionMap = Field(
        description="Every action of every resource must be granted by one of the roles "
        "(an empty object or an empty action list is never granted)"
    )
