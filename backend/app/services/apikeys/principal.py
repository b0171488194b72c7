"""An API key caller as a :class:`Principal`: the key's owner, narrowed by the key's permissions
(its scope: ``app.services.access.scope``), or acting as the owner when the key has none.

The owner is checked after the key (as the plugin's session hook does: the use is counted
first): a deleted owner -> 401 ``INVALID_REFERENCE_ID_FROM_API_KEY`` (the plugin's code); a
banned one -> the API's usual ``BANNED_USER`` (the plugin's hook does not look at bans, but the
API refuses every credential of a banned user, and so does Better-Auth's own admin plugin for
sessions). Organization-owned keys (``references: "organization"``) are not accepted, as the
plugin's hook does not accept them for a session either.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.services.apikeys import errors
from app.services.apikeys.service import ApiKeyService
from app.services.auth.identity import IdentityService, Principal
from app.utils.errors import Unauthorized

# The plugin's fallback session expiry for a key without expiresAt (Better-Auth's 7 days).
DEFAULT_EXPIRY = timedelta(days=7)


async def authenticate_api_key(
    key: str, api_keys: ApiKeyService, identity: IdentityService
) -> Principal:
    verified = await api_keys.verify(key)
    try:
        user = await identity.load_active_user(verified.key.reference_id)
    except Unauthorized as refusal:
        if refusal.code == "USER_NOT_FOUND":
            raise errors.invalid_owner() from None
        raise
    now = datetime.now(UTC)
    return Principal(
        user=user,
        token_type="api_key",
        issued_at=None,
        expires_at=verified.key.expires_at or now + DEFAULT_EXPIRY,
        api_key_id=verified.key.id,
        api_key_scope=verified.key.permissions,
    )
