"""Better-Auth's ``session`` table. ``token`` is a bearer secret: never expose it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base
from app.models.columns import TimestampMixin, id_column, user_id_fk
from app.models.types import UtcDateTime

if TYPE_CHECKING:
    from app.models.user import User


class AuthSession(TimestampMixin, Base):
    __tablename__ = "session"

    id: Mapped[str] = id_column()
    expires_at: Mapped[datetime] = mapped_column("expiresAt", UtcDateTime, nullable=False)
    token: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    ip_address: Mapped[str | None] = mapped_column("ipAddress", Text)
    user_agent: Mapped[str | None] = mapped_column("userAgent", Text)
    user_id: Mapped[str] = user_id_fk()
    impersonated_by: Mapped[str | None] = mapped_column("impersonatedBy", Text)
    # Organization plugin (teams enabled): what the session's user last chose as active. No
    # foreign keys in Better-Auth's DDL: they may name an organization or team since deleted.
    active_organization_id: Mapped[str | None] = mapped_column("activeOrganizationId", Text)
    active_team_id: Mapped[str | None] = mapped_column("activeTeamId", Text)

    user: Mapped[User] = relationship(back_populates="sessions", lazy="raise")

    def __repr__(self) -> str:
        return f"AuthSession(id={self.id!r}, user_id={self.user_id!r})"
