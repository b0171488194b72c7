"""Immutable copies of organization rows, safe to share across requests (the cache holds them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models.organization import Organization
from app.services.platform.snapshots import RowSnapshot, snapshot_of


@dataclass(frozen=True, slots=True)
class OrganizationSnapshot:
    id: str
    name: str
    slug: str
    logo: str | None
    created_at: datetime
    metadata: str | None

    @classmethod
    def of(cls, organization: Organization) -> OrganizationSnapshot:
        return snapshot_of(cls, organization, metadata=organization.metadata_json)


@dataclass(frozen=True, slots=True)
class MemberSnapshot(RowSnapshot):
    id: str
    organization_id: str
    user_id: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's membership of one organization: what the org dependencies hand to a route."""

    organization: OrganizationSnapshot
    member: MemberSnapshot

    @property
    def role(self) -> str:
        return self.member.role


@dataclass(frozen=True, slots=True)
class MemberUser:
    """The user fields Better-Auth's member listings carry (``member.user``)."""

    id: str
    name: str
    email: str
    image: str | None


@dataclass(frozen=True, slots=True)
class MemberWithUser:
    member: MemberSnapshot
    user: MemberUser
