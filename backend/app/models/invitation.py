"""The organization plugin's ``invitation`` table. ``teamId`` has no foreign key in
Better-Auth's DDL; ``status`` is pending, accepted, rejected or canceled."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base
from app.models.columns import created_at_column, id_column, organization_id_fk, user_id_fk
from app.models.types import UtcDateTime

if TYPE_CHECKING:
    from app.models.organization import Organization


class Invitation(Base):
    __tablename__ = "invitation"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = organization_id_fk()
    email: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    role: Mapped[str | None] = mapped_column(Text)
    team_id: Mapped[str | None] = mapped_column("teamId", Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, default="pending")
    expires_at: Mapped[datetime] = mapped_column("expiresAt", UtcDateTime, nullable=False)
    # The one CURRENT_TIMESTAMP default of the plugin's tables (on PostgreSQL only).
    created_at: Mapped[datetime] = created_at_column(server_default=True)
    inviter_id: Mapped[str] = user_id_fk("inviterId", index=False)

    organization: Mapped[Organization] = relationship(back_populates="invitations", lazy="raise")

    def __repr__(self) -> str:
        return f"Invitation(id={self.id!r}, organization_id={self.organization_id!r})"
