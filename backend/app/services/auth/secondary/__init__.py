"""Sessions in Better-Auth's secondary storage (Redis), read and written as Better-Auth does."""

from app.services.auth.secondary.records import StoredSession
from app.services.auth.secondary.sessions import SecondarySessions
from app.services.auth.secondary.storage import SessionStorage, StorageMode

__all__ = ["SecondarySessions", "SessionStorage", "StorageMode", "StoredSession"]
