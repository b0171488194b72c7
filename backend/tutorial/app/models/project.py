"""A project of an organization, created by one of its members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.columns import created_at_column, id_column, organization_id_fk, user_id_fk


class Project(Base):
    __tablename__ = "project"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = organization_id_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = user_id_fk("createdBy")
    created_at: Mapped[datetime] = created_at_column()
