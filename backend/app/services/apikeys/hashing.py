"""How the plugin stores a key: ``base64url(SHA-256(key))`` without padding (``defaultKeyHasher``).

The database holds only this hash, and the lookup is by the hash: the key itself is never
compared with anything, and the hash comparison that confirms a row is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def hash_api_key(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def hashes_match(stored: str, computed: str) -> bool:
    return hmac.compare_digest(stored.encode("ascii", "replace"), computed.encode("ascii"))
