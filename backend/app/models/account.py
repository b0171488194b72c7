"""Better-Auth's ``account`` table: credentials and OAuth tokens. Never exposed by the API."""

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


class Account(TimestampMixin, Base):
    __tablename__ = "account"

    id: Mapped[str] = id_column()
    account_id: Mapped[str] = mapped_column("accountId", Text, nullable=False)
    provider_id: Mapped[str] = mapped_column("providerId", Text, nullable=False)
    user_id: Mapped[str] = user_id_fk()
    access_token: Mapped[str | None] = mapped_column("accessToken", Text)
    refresh_token: Mapped[str | None] = mapped_column("refreshToken", Text)
    id_token: Mapped[str | None] = mapped_column("idToken", Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(
        "accessTokenExpiresAt", UtcDateTime
    )
    refresh_token_expires_at: Mapped[datetime | None] = mapped_column(
        "refreshTokenExpiresAt", UtcDateTime
    )
    scope: Mapped[str | None] = mapped_column(Text)
    password: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(back_populates="accounts", lazy="raise")

    def __repr__(self) -> str:
        # Deliberately omits every secret column.
        return f"Account(id={self.id!r}, provider_id={self.provider_id!r})"
