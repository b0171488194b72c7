"""The organization plugin's ``member`` table: a user's membership of an organization.

``role`` may hold several roles joined by ``","`` (e.g. ``"admin,member"``), like the admin
plugin's ``user.role``; the plugin's default roles are owner, admin and member.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base
from app.models.columns import created_at_column, id_column, organization_id_fk, user_id_fk

if TYPE_CHECKING:
    from app.models.organization import Organization
    from app.models.user import User

DEFAULT_MEMBER_ROLE = "member"


class Member(Base):
    __tablename__ = "member"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = organization_id_fk()
    user_id: Mapped[str] = user_id_fk()
    role: Mapped[str] = mapped_column(Text, nullable=False, default=DEFAULT_MEMBER_ROLE)
    created_at: Mapped[datetime] = created_at_column()

    organization: Mapped[Organization] = relationship(back_populates="members", lazy="raise")
    user: Mapped[User] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"Member(id={self.id!r}, organization_id={self.organization_id!r})"
