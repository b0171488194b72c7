"""Better-Auth's ``verification`` table (email verification, password reset values)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, generate_id, utc_now
from app.models.types import UtcDateTime


class Verification(Base):
    __tablename__ = "verification"

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=generate_id)
    identifier: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column("expiresAt", UtcDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        "createdAt",
        UtcDateTime,
        nullable=False,
        default=utc_now,
        server_default=text("CURRENT_TIMESTAMP"),
    )
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt",
        UtcDateTime,
        nullable=False,
        default=utc_now,
        onupdate=utc_now,
        server_default=text("CURRENT_TIMESTAMP"),
    )

    def __repr__(self) -> str:
        return f"Verification(id={self.id!r})"
