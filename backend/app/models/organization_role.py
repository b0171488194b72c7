"""The organization plugin's ``organizationRole`` table (``dynamicAccessControl`` enabled): roles
created at run time for one organization, through Better-Auth's ``/organization/create-role``.

``permission`` is the role's statements as a JSON document in text (``{"project": ["read"]}``),
as Better-Auth writes it; ``role`` is stored lower-cased by create-role and update-role. A row
whose name is also a static role's adds its statements to that role (the union), for that
organization only (``app.services.organizations.dynamic_roles``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utc_now
from app.models.columns import created_at_column, id_column, organization_id_fk
from app.models.types import UtcDateTime


class OrganizationRole(Base):
    __tablename__ = "organizationRole"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = organization_id_fk()
    role: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    permission: Mapped[str] = mapped_column(Text, nullable=False)
    # Better-Auth's DDL gives it CURRENT_TIMESTAMP on PostgreSQL (none on SQLite), like invitation.
    created_at: Mapped[datetime] = created_at_column(server_default=True)
    updated_at: Mapped[datetime | None] = mapped_column("updatedAt", UtcDateTime, onupdate=utc_now)

    def __repr__(self) -> str:
        return f"OrganizationRole(id={self.id!r}, organization_id={self.organization_id!r})"
