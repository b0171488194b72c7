"""The organization plugin's ``team`` table (teams enabled). ``memberCount`` is kept by
Better-Auth 1.7 in application code; its server default 0 (revision 0008) is for Better-Auth 1.6,
which never writes it. ``updatedAt`` stays null until the team is first updated."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utc_now
from app.models.columns import created_at_column, id_column, organization_id_fk
from app.models.types import UtcDateTime

if TYPE_CHECKING:
    from app.models.organization import Organization


class Team(Base):
    __tablename__ = "team"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    member_count: Mapped[int] = mapped_column(
        "memberCount", Integer, nullable=False, default=0, server_default=text("0")
    )
    organization_id: Mapped[str] = organization_id_fk()
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime | None] = mapped_column("updatedAt", UtcDateTime, onupdate=utc_now)

    organization: Mapped[Organization] = relationship(back_populates="teams", lazy="raise")

    def __repr__(self) -> str:
        return f"Team(id={self.id!r}, organization_id={self.organization_id!r})"
