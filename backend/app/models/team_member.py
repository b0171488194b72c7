"""The organization plugin's ``teamMember`` table (teams enabled).

``membershipKey`` makes (team, user) unique: Better-Auth stores
``base64url(SHA-256(JSON.stringify([teamId, userId])))`` without padding, and looks rows up by it.
A row written here must carry the same key (``team_membership_key``), or Better-Auth would not
find it and could add the same user to the team twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utc_now
from app.models.columns import cascade_fk, id_column, user_id_fk
from app.models.types import UtcDateTime


def team_membership_key(team_id: str, user_id: str) -> str:
    """The ``membershipKey`` Better-Auth computes for a (team, user) pair."""
    # JSON.stringify(["a","b"]): no spaces; ensure_ascii=False keeps non-ASCII as UTF-8 like JS.
    document = json.dumps([team_id, user_id], separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(document.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class TeamMember(Base):
    __tablename__ = "teamMember"

    id: Mapped[str] = id_column()
    team_id: Mapped[str] = cascade_fk("teamId", "team.id")
    user_id: Mapped[str] = user_id_fk()
    membership_key: Mapped[str | None] = mapped_column("membershipKey", Text, unique=True)
    created_at: Mapped[datetime | None] = mapped_column("createdAt", UtcDateTime, default=utc_now)

    def __repr__(self) -> str:
        return f"TeamMember(id={self.id!r}, team_id={self.team_id!r})"
