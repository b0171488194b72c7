"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from app.models.account import Account
from app.models.apikey import ApiKey
from app.models.audit_event import AuditEvent
from app.models.base import Base, generate_id, utc_now
from app.models.invitation import Invitation
from app.models.jwks import Jwks
from app.models.member import Member
from app.models.organization import Organization
from app.models.organization_role import OrganizationRole
from app.models.session import AuthSession
from app.models.team import Team
from app.models.team_member import TeamMember, team_membership_key
from app.models.user import User
from app.models.verification import Verification

__all__ = [
    "Account",
    "ApiKey",
    "AuditEvent",
    "AuthSession",
    "Base",
    "Invitation",
    "Jwks",
    "Member",
    "Organization",
    "OrganizationRole",
    "Team",
    "TeamMember",
    "User",
    "Verification",
    "generate_id",
    "team_membership_key",
    "utc_now",
]
