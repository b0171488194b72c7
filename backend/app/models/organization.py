"""The organization plugin's ``organization`` table (Better-Auth 1.7.25, teams enabled)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.columns import created_at_column, id_column, owned_rows

if TYPE_CHECKING:
    from app.models.invitation import Invitation
    from app.models.member import Member
    from app.models.team import Team


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    slug: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    logo: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    # A JSON document as text (Better-Auth stringifies it); "metadata" is taken on the class.
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text)

    members: Mapped[list[Member]] = owned_rows("organization")
    teams: Mapped[list[Team]] = owned_rows("organization")
    invitations: Mapped[list[Invitation]] = owned_rows("organization")

    def __repr__(self) -> str:
        return f"Organization(id={self.id!r}, slug={self.slug!r})"
