"""The organization plugin's ``organization`` table (Better-Auth 1.7.25, teams enabled)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, generate_id, utc_now
from app.models.types import UtcDateTime

if TYPE_CHECKING:
    from app.models.invitation import Invitation
    from app.models.member import Member
    from app.models.team import Team


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=generate_id)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    slug: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    logo: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        "createdAt", UtcDateTime, nullable=False, default=utc_now
    )
    # A JSON document as text (Better-Auth stringifies it); "metadata" is taken on the class.
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text)

    members: Mapped[list[Member]] = relationship(
        back_populates="organization", lazy="raise", passive_deletes=True
    )
    teams: Mapped[list[Team]] = relationship(
        back_populates="organization", lazy="raise", passive_deletes=True
    )
    invitations: Mapped[list[Invitation]] = relationship(
        back_populates="organization", lazy="raise", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Organization(id={self.id!r}, slug={self.slug!r})"
