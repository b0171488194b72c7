"""Better-Auth's ``verification`` table (email verification, password reset values)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.columns import TimestampMixin, id_column
from app.models.types import UtcDateTime


class Verification(TimestampMixin, Base):
    updated_at_server_default = True
    __tablename__ = "verification"

    id: Mapped[str] = id_column()
    identifier: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column("expiresAt", UtcDateTime, nullable=False)

    def __repr__(self) -> str:
        return f"Verification(id={self.id!r})"
