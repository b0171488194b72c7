"""Better-Auth session tokens: telling them from JWTs, and checking their HMAC signature.

The session itself (expiry, owner, ban) is still looked up in the database by the identity
service; this module only answers "is this a well-formed credential that Better-Auth signed".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any, Final
from urllib.parse import unquote

from app.services.auth.jose import read_header
from app.utils.errors import Unauthorized


def jwt_header(value: str) -> dict[str, Any] | None:
    """The JOSE header of a bearer credential that is a JWT, or ``None`` for a Better-Auth
    session token.

    Session tokens are ``TOKEN`` or ``TOKEN.SIGNATURE`` (one dot at most), so three segments
    whose first decodes to a JSON object with an ``alg`` mean JWT. The header is returned so
    that the verifier does not parse it a second time.
    """
    if value.count(".") != 2:
        return None
    try:
        header = read_header(value)
    except Unauthorized:
        return None
    return header if isinstance(header.get("alg"), str) else None


def looks_like_jwt(value: str) -> bool:
    """Whether a bearer credential is a JWT (vs a Better-Auth session token)."""
    return jwt_header(value) is not None


# Better-Auth's session tokens are 32 alphanumerics; allow a little more, but never characters
# that could not come from it.
_SESSION_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{1,255}")
# base64 of a 32-byte HMAC-SHA256: 43 characters and one "=" of padding.
_SESSION_SIGNATURE: Final = re.compile(r"[A-Za-z0-9+/]{43}=")


# Signed credentials already verified, by the SHA-256 digest of the credential and the secret
# that verified it (the credential itself is not kept, as in the token cache): a client sends
# the same one on every call, and the HMAC is the costliest step of a cached session lookup.
VERIFIED_CACHE_SIZE: Final = 4096
_verified: dict[tuple[bytes, str], None] = {}


def verify_session_token_signature(value: str, secret: str, *, allow_unsigned: bool = True) -> str:
    """The bare session token of a Better-Auth session credential.

    Accepts ``TOKEN`` (the bearer plugin's bare form; refused with ``allow_unsigned=False``,
    which is what a cookie needs) and ``TOKEN.SIGNATURE`` with SIGNATURE = standard base64
    (padded) of HMAC-SHA256(key=secret, msg=TOKEN), URL-encoded or not (cookie values carry
    ``%2F``/``%3D``). Raises ``Unauthorized(SESSION_INVALID)``. The session itself must still be
    looked up in the database.

    A verified signature is remembered (the answer is a pure function of the credential and the
    secret); a refusal is not, so a guesser pays full price.
    """
    try:
        # unquote, not unquote_plus: "+" is a base64 character and must stay one.
        decoded = unquote(value, errors="strict") if "%" in value else value
    except UnicodeDecodeError:
        raise Unauthorized("invalid session token", code="SESSION_INVALID") from None
    token, dot, signature = decoded.rpartition(".")
    if not dot:
        token, signature = decoded, ""
    if not _SESSION_TOKEN.fullmatch(token):
        raise Unauthorized("invalid session token", code="SESSION_INVALID")
    if not dot:
        if not allow_unsigned:
            raise Unauthorized("session token is not signed", code="SESSION_INVALID")
        return token
    if not secret or not _SESSION_SIGNATURE.fullmatch(signature):
        raise Unauthorized("invalid session token signature", code="SESSION_INVALID")
    key = (hashlib.sha256(decoded.encode("ascii")).digest(), secret)  # both parts are ASCII now
    if key in _verified:
        return token
    expected = base64.b64encode(
        hmac.new(secret.encode("utf-8"), token.encode("ascii"), hashlib.sha256).digest()
    ).decode("ascii")
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise Unauthorized("invalid session token signature", code="SESSION_INVALID")
    _verified[key] = None
    if len(_verified) > VERIFIED_CACHE_SIZE:
        _verified.pop(next(iter(_verified)), None)  # the oldest
    return token
