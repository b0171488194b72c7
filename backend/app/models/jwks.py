"""The jwt plugin's ``jwks`` table. Only ``publicKey`` is of use here; ``privateKey`` is
encrypted with the auth server's secret and never read by this service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.columns import created_at_column, id_column
from app.models.types import UtcDateTime


class Jwks(Base):
    __tablename__ = "jwks"

    id: Mapped[str] = id_column()
    public_key: Mapped[str] = mapped_column("publicKey", Text, nullable=False)
    # Deferred: a loaded row never carries the (encrypted) private key; only Better-Auth uses it.
    private_key: Mapped[str] = mapped_column("privateKey", Text, nullable=False, deferred=True)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None] = mapped_column("expiresAt", UtcDateTime)
    alg: Mapped[str | None] = mapped_column(Text)
    crv: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"Jwks(id={self.id!r}, alg={self.alg!r})"
