"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from app.models.account import Account
from app.models.audit_event import AuditEvent
from app.models.base import Base, generate_id, utc_now
from app.models.jwks import Jwks
from app.models.session import AuthSession
from app.models.user import User
from app.models.verification import Verification

__all__ = [
    "Account",
    "AuditEvent",
    "AuthSession",
    "Base",
    "Jwks",
    "User",
    "Verification",
    "generate_id",
    "utc_now",
]
