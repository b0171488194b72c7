"""Whether a credential is one this process has already verified and still holds.

The failed-authentication block (``failures.FailedAuthLimiter``) refuses an address before any
credential is checked, except one that passes here: a JWT in the token cache (under a key that
is still published), a session token in the identity cache's session entries. Answered from
memory, no I/O, no signature check; a guessed credential is never one. A session kept only in
Better-Auth's secondary storage is not held in process and so does not pass.
"""

from __future__ import annotations

from app.services.auth.identity_cache import IdentityCache
from app.services.auth.jose.ecdsa import canonical_ecdsa_token
from app.services.auth.session_tokens import jwt_header, verify_session_token_signature
from app.services.auth.token_cache import Verifier, token_digest
from app.utils.errors import Unauthorized


def holds_verified(
    credential: str,
    *,
    verifier: Verifier,
    cache: IdentityCache,
    secret: str,
    from_cookie: bool = False,
) -> bool:
    if not from_cookie:
        header = jwt_header(credential)
        if header is not None:
            # An ES token is cached under its low-s spelling (jose.ecdsa).
            canonical = canonical_ecdsa_token(credential, header.get("alg"))
            return verifier.cached(canonical) is not None
    try:
        token = verify_session_token_signature(credential, secret, allow_unsigned=not from_cookie)
    except Unauthorized:
        return False
    return cache.get_session(token_digest(token)) is not None
