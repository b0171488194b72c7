"""Organization rows shaped the way Better-Auth's organization plugin writes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Member, Organization, User, generate_id


async def create_organization(
    db: AsyncSession, *, name: str = "Acme", slug: str | None = None
) -> Organization:
    organization_id = generate_id()
    organization = Organization(
        id=organization_id, name=name, slug=slug or f"org-{organization_id.lower()}"
    )
    db.add(organization)
    await db.flush()
    return organization


async def add_member(
    db: AsyncSession,
    organization: Organization,
    user: User,
    role: str = "member",
    *,
    joined_at: datetime | None = None,
) -> Member:
    member = Member(organization_id=organization.id, user_id=user.id, role=role)
    if joined_at is not None:
        member.created_at = joined_at
    db.add(member)
    await db.flush()
    return member
