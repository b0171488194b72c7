"""Compact JWS structure: strict base64url, the three segments, the unverified header."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Final

from jose import jwt as jose_jwt
from jose.exceptions import (
    JOSEError,
)

from app.utils.errors import Unauthorized

#: Hard ceiling for :func:`read_header` when the caller gives none (matches the largest
#: ``JWT_MAX_TOKEN_BYTES`` the settings allow).
DEFAULT_MAX_TOKEN_BYTES: Final = 65536

_B64URL_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]+")


def b64url_decode(segment: str) -> bytes:
    """Strict, canonical base64url (no padding) decoding.

    Python's decoder silently drops characters outside the alphabet and ignores non-zero
    trailing bits, so several strings decode to the same bytes. We accept only the one
    canonical spelling: a token then has exactly one valid form (no malleable signatures).
    """
    if not _B64URL_SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as error:
        raise ValueError("not base64url") from error
    if b64url_encode(data) != segment:
        raise ValueError("not canonical base64url")
    return data


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def split_token(token: str, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> tuple[str, str, str]:
    """The three segments of a compact JWS, or ``Unauthorized(TOKEN_INVALID)``.

    The size cap comes first so that nothing is parsed for an oversized input. Exactly three
    non-empty canonical base64url segments are accepted: a JWE (five segments) is refused, and
    so is an unsecured JWS (empty signature).
    """
    if len(token) > max_bytes:
        raise Unauthorized("token too large", code="TOKEN_INVALID")
    if not token.isascii():  # cannot be base64url; and once ASCII, characters are bytes
        raise Unauthorized("malformed token", code="TOKEN_INVALID")
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("malformed token", code="TOKEN_INVALID")
    for part in parts:
        try:
            b64url_decode(part)
        except ValueError:
            raise Unauthorized("malformed token", code="TOKEN_INVALID") from None
    return parts[0], parts[1], parts[2]


def read_header(token: str, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> dict[str, Any]:
    """The JOSE header of ``token``, unverified. Raises ``Unauthorized(TOKEN_INVALID)``."""
    split_token(token, max_bytes=max_bytes)
    try:
        # python-jose turns every decoding problem (bad JSON, deep nesting, not an object)
        # into JWTError.
        header = jose_jwt.get_unverified_header(token)
    except JOSEError:
        raise Unauthorized("malformed token header", code="TOKEN_INVALID") from None
    if not isinstance(header, dict):
        raise Unauthorized("malformed token header", code="TOKEN_INVALID")
    return header
