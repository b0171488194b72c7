"""ECDSA signature malleability: one token, two valid strings.

An ECDSA signature ``(r, s)`` verifies exactly when ``(r, n - s)`` does (``n`` is the curve's
order), so whoever holds one ES256/384/512 token can spell a second one that is equally valid.
Refusing the "high-s" form is not an option: Better-Auth signs through WebCrypto/OpenSSL, which
do not normalise ``s``, so about half of its genuine tokens carry a high ``s``. Instead the
token cache keys an ES token on its canonical spelling (``s`` replaced by ``min(s, n - s)``):
both strings of one token are one entry, and a flood of re-spelled copies cannot grow the cache
or bypass a per-token entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from app.services.auth.jose.encoding import b64url_decode, b64url_encode

# Group orders (SEC 2 / FIPS 186-4), by the coordinate size of the JWS signature (RFC 7518 §3.4).
_P256_N: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P384_N: Final = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
    "581A0DB248B0A77AECEC196ACCC52973",
    16,
)
_P521_N: Final = int(
    "01FF" + "FFFFFFFF" * 7 + "FFFFFFFA"
    "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
    16,
)
_CURVES: Final[Mapping[str, tuple[int, int]]] = {
    "ES256": (32, _P256_N),
    "ES384": (48, _P384_N),
    "ES512": (66, _P521_N),
}


def canonical_ecdsa_token(token: str, alg: object) -> str:
    """``token`` with a low ``s`` when it is an ES* JWS with a high one; else ``token``.

    Only spelling changes: nothing is verified here (the verifier does that), and a segment
    that does not decode, or a signature of the wrong length, leaves the token as it is.
    """
    curve = _CURVES.get(alg) if isinstance(alg, str) else None
    if curve is None:
        return token
    size, order = curve
    signing_input, dot, signature = token.rpartition(".")
    if not dot:
        return token
    try:
        raw = b64url_decode(signature)
    except ValueError:
        return token
    if len(raw) != 2 * size:
        return token
    s = int.from_bytes(raw[size:], "big")
    if not order // 2 < s < order:
        return token
    low = (order - s).to_bytes(size, "big")
    return f"{signing_input}.{b64url_encode(raw[:size] + low)}"
