"""The organization plugin's ``member`` table: a user's membership of an organization.

``role`` may hold several roles joined by ``","`` (e.g. ``"admin,member"``), like the admin
plugin's ``user.role``; the plugin's default roles are owner, admin and member.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, generate_id, utc_now
from app.models.types import UtcDateTime

if TYPE_CHECKING:
    from app.models.organization import Organization
    from app.models.user import User

DEFAULT_MEMBER_ROLE = "member"


class Member(Base):
    __tablename__ = "member"

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=generate_id)
    organization_id: Mapped[str] = mapped_column(
        "organizationId",
        Text,
        ForeignKey("organization.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    user_id: Mapped[str] = mapped_column(
        "userId", Text, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(Text, nullable=False, default=DEFAULT_MEMBER_ROLE)
    created_at: Mapped[datetime] = mapped_column(
        "createdAt", UtcDateTime, nullable=False, default=utc_now
    )

    organization: Mapped[Organization] = relationship(back_populates="members", lazy="raise")
    user: Mapped[User] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"Member(id={self.id!r}, organization_id={self.organization_id!r})"
