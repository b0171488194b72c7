"""A table-driven corpus of hostile bearer tokens, driven through the real app over HTTP.

Every row is ``(name, token builder, expected status, expected code)``. Each token is sent to
``GET /api/v1/auth/me`` as ``Authorization: Bearer`` (expected: that status and code, as
``application/problem+json``) and to ``POST /api/v1/auth/verify`` (expected: 200
``{"active": false, "code": ...}``; a token over the body schema's 64 KiB cap is a 422). Never a
500, never the token echoed in the answer or in the logs (at INFO, the default level; DEBUG is
covered by test_hostile_requests), never a request to the attacker's JWKS.

The keys are real (Ed25519, RSA for RS256 and PS256, EC P-256 and P-521) and published by a real
local JWKS server; the attacker holds keys of the same families that are not published.

Reading the codes: a bearer value is parsed as a JWT only when it is three canonical base64url
segments whose header is a JSON object with a string ``alg``; anything else is treated as a
Better-Auth session token, so malformed "JWTs" are refused as ``SESSION_INVALID``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.security.helpers import (
    DROP,
    ME,
    ORIGIN,
    VERIFY,
    TokenBuilder,
    World,
    assert_inactive,
    assert_not_echoed,
    assert_refused,
    bearer,
    dumps,
    hmac_jws,
    raw_jws,
)
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, b64url

TOKEN_INVALID = "TOKEN_INVALID"
TOKEN_EXPIRED = "TOKEN_EXPIRED"
TOKEN_ISSUER = "TOKEN_ISSUER"
TOKEN_AUDIENCE = "TOKEN_AUDIENCE"
KEY_NOT_FOUND = "KEY_NOT_FOUND"
USER_NOT_FOUND = "USER_NOT_FOUND"
BANNED_USER = "BANNED_USER"
SESSION_INVALID = "SESSION_INVALID"
SESSION_EXPIRED = "SESSION_EXPIRED"


@dataclass(frozen=True)
class Row:
    """``status``/``code``: the answer of ``GET /auth/me``. ``verify``: the code of
    ``POST /auth/verify`` (200 ``active: false``; the same code unless given), or ``None`` when
    the body schema refuses the token before it is looked at (422)."""

    name: str
    build: TokenBuilder
    status: int
    code: str
    verify: str | None = ""

    @property
    def verify_code(self) -> str | None:
        return self.code if self.verify == "" else self.verify


def refused(name: str, build: TokenBuilder, code: str) -> Row:
    return Row(name, build, 401, code)


def too_large_header(name: str, build: TokenBuilder, verify: str | None) -> Row:
    """Too large for a request header: the app refuses the head before authentication."""
    return Row(name, build, 431, "HEADERS_TOO_LARGE", verify)


def forbidden(name: str, build: TokenBuilder, code: str) -> Row:
    return Row(name, build, 403, code)


# --- building blocks -------------------------------------------------------------------------


def with_header(w: World, header: bytes, *, key: TestKey | None = None, **claims: Any) -> str:
    """Exactly these header bytes over Better-Auth-shaped claims, signed by ``key``."""
    return raw_jws(key or w.keys.eddsa, header, w.payload(**claims))


def with_payload(w: World, payload: bytes) -> str:
    """Exactly these claims bytes, signed by the published EdDSA key."""
    key = w.keys.eddsa
    return raw_jws(key, dumps({"alg": key.alg, "kid": key.kid}), payload)


def leading(w: World, first: dict[str, Any], **claims: Any) -> bytes:
    """Claims JSON with ``first``'s members written before the regular ones: duplicated names.

    JSON parsers keep the last occurrence, so ``first`` is what a first-wins parser would see.
    """
    regular = w.payload(**claims)
    return b"{" + dumps(first)[1:-1] + b"," + regular[1:]


def replace_value(w: World, claim: str, literal: bytes, **claims: Any) -> bytes:
    """Claims JSON with ``claim`` set to a raw JSON literal (``NaN``, ``1e400``, ...)."""
    payload = w.payload(**{claim: "__placeholder__"}, **claims)
    return payload.replace(b'"__placeholder__"', literal)


def tamper(token: str, segment: int, change: Callable[[str], str]) -> str:
    parts = token.split(".")
    parts[segment] = change(parts[segment])
    return ".".join(parts)


def flip_first_char(segment: str) -> str:
    return ("B" if segment[0] == "A" else "A") + segment[1:]


def non_canonical_last_char(segment: str) -> str:
    """Same decoded bytes, different spelling: the last character's unused low bits set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(segment[-1])
    return segment[:-1] + alphabet[index ^ 1]


def der_es256(w: World) -> str:
    """An ES256 token whose signature is DER-encoded (as OpenSSL emits it), not JOSE's r||s."""
    key = w.keys.es256
    signing_input = f"{b64url(dumps({'alg': 'ES256', 'kid': key.kid}))}.{b64url(w.payload())}"
    private = key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    der = private.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return f"{signing_input}.{b64url(der)}"


def public_pem(key: TestKey) -> bytes:
    return key.public_pem()


def jwk_json(key: TestKey) -> bytes:
    return json.dumps(key.public_jwk()).encode()


def spki_der_b64(key: TestKey) -> str:
    der = key.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def header_bytes(text: str) -> bytes:
    return text.encode("utf-8")


# --- the corpus ------------------------------------------------------------------------------

ALG_NONE: list[Row] = [
    refused(
        "alg-none/empty-signature",
        lambda w: raw_jws(None, dumps({"alg": "none"}), w.payload(), signature=b""),
        SESSION_INVALID,
    ),
    refused(
        "alg-none/junk-signature-no-kid",
        lambda w: raw_jws(None, dumps({"alg": "none"}), w.payload(), signature=b"x" * 64),
        TOKEN_INVALID,
    ),
    *(
        refused(
            f"alg-none/{spelling}/signed-by-published-key",
            lambda w, spelling=spelling: w.token(alg=spelling),
            TOKEN_INVALID,
        )
        for spelling in ("none", "None", "NONE", "nOnE", "none ", "NONE\u0000")
    ),
    refused("alg/empty-string", lambda w: w.token(alg=""), TOKEN_INVALID),
    refused(
        "alg/missing",
        lambda w: w.token(headers={"alg": DROP}),
        SESSION_INVALID,
    ),
    refused("alg/not-a-string", lambda w: w.token(headers={"alg": ["EdDSA"]}), SESSION_INVALID),
    refused("alg/null", lambda w: w.token(headers={"alg": None}), SESSION_INVALID),
    refused("alg/lowercase-eddsa", lambda w: w.token(alg="eddsa"), TOKEN_INVALID),
    refused("alg/eddsa-with-nul", lambda w: w.token(alg="EdDSA\u0000"), TOKEN_INVALID),
    refused("alg/es256k", lambda w: w.token(w.keys.es256, alg="ES256K"), TOKEN_INVALID),
    refused("alg/jwe-rsa-oaep", lambda w: w.token(w.keys.rs256, alg="RSA-OAEP"), TOKEN_INVALID),
    refused("alg/jwe-dir", lambda w: w.token(alg="dir"), TOKEN_INVALID),
]

# HS256/384/512 "signed" with what a verifier holds publicly: the classic algorithm confusion.
HMAC_CONFUSION: list[Row] = [
    refused(
        f"hmac/{alg}/{secret_name}-of-{target}",
        lambda w, alg=alg, secret=secret, target=target: hmac_jws(
            alg,
            secret(getattr(w.keys, target)),
            {"kid": getattr(w.keys, target).kid},
            w.payload(),
        ),
        TOKEN_INVALID,
    )
    for alg in ("HS256", "HS384", "HS512")
    for secret_name, secret in (("public-pem", public_pem), ("jwk-json", jwk_json))
    for target in ("eddsa", "rs256", "es256")
] + [
    refused(
        "hmac/hs256-lowercase",
        lambda w: hmac_jws("HS256", public_pem(w.keys.rs256), b'{"alg":"hs256"}', w.payload()),
        TOKEN_INVALID,
    ),
    refused(
        "hmac/HS256-no-kid",
        lambda w: hmac_jws("HS256", public_pem(w.keys.eddsa), {}, w.payload()),
        TOKEN_INVALID,
    ),
    refused(
        "hmac/HS256-empty-secret",
        lambda w: hmac_jws("HS256", b"", {"kid": w.keys.eddsa.kid}, w.payload()),
        TOKEN_INVALID,
    ),
]

ALL_ASYMMETRIC = (
    "EdDSA",
    "Ed25519",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
)
PUBLISHED = ("eddsa", "rs256", "ps256", "es256", "es512")
KEY_ALG = {"eddsa": "EdDSA", "rs256": "RS256", "ps256": "PS256", "es256": "ES256", "es512": "ES512"}


def fits(alg: str, key_name: str) -> bool:
    """The only header algorithms a published key verifies (EdDSA and its RFC 9864 name)."""
    if key_name == "eddsa":
        return alg in {"EdDSA", "Ed25519"}
    return alg == KEY_ALG[key_name]


# Header algorithm vs key, every combination that does not fit. "signed-by-key": the signature is
# genuine for the key (its own algorithm), so only the header/key consistency check refuses it.
ALG_KEY_MISMATCH: list[Row] = [
    refused(
        f"mismatch/{alg}-header/{KEY_ALG[key_name]}-key/signed-by-key",
        lambda w, alg=alg, key_name=key_name: w.token(getattr(w.keys, key_name), alg=alg),
        TOKEN_INVALID,
    )
    for key_name in PUBLISHED
    for alg in ALL_ASYMMETRIC
    if not fits(alg, key_name)
] + [
    # The attacker signs with a key of the family the header names, over a published kid.
    refused(
        f"forged/{KEY_ALG[attacker]}-attacker-key/{KEY_ALG[key_name]}-kid",
        lambda w, attacker=attacker, key_name=key_name: w.token(
            getattr(w.keys, f"attacker_{attacker}"), kid=getattr(w.keys, key_name).kid
        ),
        TOKEN_INVALID,
    )
    for attacker in ("eddsa", "rs256", "es256")
    for key_name in PUBLISHED
]

KID: list[Row] = [
    *(
        refused(f"kid/{name}", lambda w, kid=kid: w.token(kid=kid), KEY_NOT_FOUND)
        for name, kid in (
            ("path-traversal", "../../../../etc/passwd"),
            ("path-traversal-encoded", "..%2F..%2F..%2Fetc%2Fpasswd"),
            ("absolute-path", "/dev/zero"),
            ("url", "https://attacker.example/key.json"),
            ("sql-injection", "' OR '1'='1' --"),
            ("sql-union", 'x\' UNION SELECT "publicKey" FROM jwks --'),
            ("unicode", "ключ-🔑-鍵"),
            ("nul", "kid\u0000"),
            ("lone-surrogate", "\ud800"),
            ("crlf", "kid\r\nX-Injected: 1"),
            ("256-characters", "k" * 256),
        )
    ),
    refused(
        "kid/published-with-trailing-space",
        lambda w: w.token(kid=w.keys.eddsa.kid + " "),
        KEY_NOT_FOUND,
    ),
    refused(
        "kid/published-case-swapped",
        lambda w: w.token(kid=w.keys.eddsa.kid.swapcase()),
        KEY_NOT_FOUND,
    ),
    refused("kid/257-characters", lambda w: w.token(kid="k" * 257), TOKEN_INVALID),
    refused("kid/10-KB", lambda w: w.token(kid="k" * 10_240), TOKEN_INVALID),
    refused("kid/empty", lambda w: w.token(kid=""), TOKEN_INVALID),
    refused("kid/number", lambda w: w.token(kid=1), TOKEN_INVALID),
    refused("kid/list", lambda w: w.token(kid=[w.keys.eddsa.kid]), TOKEN_INVALID),
    refused("kid/object", lambda w: w.token(kid={"kid": w.keys.eddsa.kid}), TOKEN_INVALID),
    refused("kid/true", lambda w: w.token(kid=True), TOKEN_INVALID),
    # No kid while the set has several keys: refused rather than trying each key.
    refused("kid/null", lambda w: w.token(kid=None), TOKEN_INVALID),
    refused("kid/missing", lambda w: w.token(headers={"kid": DROP}), TOKEN_INVALID),
]

# Key-locating headers are never followed: the attacker's JWKS server must stay at zero hits.
KEY_URL_HEADERS: list[Row] = [
    refused(
        "jku/attacker-url/attacker-kid",
        lambda w: w.token(w.keys.attacker_eddsa, headers={"jku": w.attacker_url}),
        KEY_NOT_FOUND,
    ),
    refused(
        "jku/attacker-url/rsa-attacker-kid",
        lambda w: w.token(w.keys.attacker_rs256, headers={"jku": w.attacker_url}),
        KEY_NOT_FOUND,
    ),
    refused(
        "jku/attacker-url/published-kid",
        lambda w: w.token(
            w.keys.attacker_eddsa, kid=w.keys.eddsa.kid, headers={"jku": w.attacker_url}
        ),
        TOKEN_INVALID,
    ),
    refused(
        "x5u/attacker-url/attacker-kid",
        lambda w: w.token(w.keys.attacker_es256, headers={"x5u": w.attacker_url}),
        KEY_NOT_FOUND,
    ),
    refused(
        "jwk/embedded-attacker-key/attacker-kid",
        lambda w: w.token(
            w.keys.attacker_eddsa, headers={"jwk": w.keys.attacker_eddsa.public_jwk()}
        ),
        KEY_NOT_FOUND,
    ),
    refused(
        "jwk/embedded-attacker-key/published-kid",
        lambda w: w.token(
            w.keys.attacker_eddsa,
            kid=w.keys.eddsa.kid,
            headers={"jwk": w.keys.attacker_eddsa.public_jwk(with_kid=False)},
        ),
        TOKEN_INVALID,
    ),
    refused(
        "jwk/embedded-attacker-key/no-kid",
        lambda w: w.token(
            w.keys.attacker_eddsa,
            headers={"kid": DROP, "jwk": w.keys.attacker_eddsa.public_jwk(with_kid=False)},
        ),
        TOKEN_INVALID,
    ),
    refused(
        "x5c/attacker-key/attacker-kid",
        lambda w: w.token(
            w.keys.attacker_rs256, headers={"x5c": [spki_der_b64(w.keys.attacker_rs256)]}
        ),
        KEY_NOT_FOUND,
    ),
]

CRIT: list[Row] = [
    refused(f"crit/{name}", lambda w, extra=extra: w.token(headers=extra), TOKEN_INVALID)
    for name, extra in (
        ("exp", {"crit": ["exp"]}),
        ("empty-list", {"crit": []}),
        ("b64-false", {"crit": ["b64"], "b64": False}),
        ("string", {"crit": "b64"}),
        ("unknown-extension", {"crit": ["urn:example:x"], "urn:example:x": 1}),
        ("null", {"crit": None}),
    )
]

# Python's JSON parser (and python-jose's) keeps the last of duplicated names. Whatever it keeps,
# the same parsed value is what is checked and what was signed over: no first/last split.
DUPLICATES: list[Row] = [
    refused(
        "duplicate-header/alg-none-then-EdDSA/attacker-signed",
        lambda w: with_header(
            w,
            header_bytes(f'{{"alg":"none","alg":"EdDSA","kid":"{w.keys.eddsa.kid}"}}'),
            key=w.keys.attacker_eddsa,
        ),
        TOKEN_INVALID,
    ),
    refused(
        "duplicate-header/alg-none-then-EdDSA/empty-signature",
        lambda w: raw_jws(
            None,
            header_bytes(f'{{"alg":"none","alg":"EdDSA","kid":"{w.keys.eddsa.kid}"}}'),
            w.payload(),
            signature=b"",
        ),
        SESSION_INVALID,
    ),
    refused(
        "duplicate-header/alg-EdDSA-then-none/signed-by-published-key",
        lambda w: with_header(
            w, header_bytes(f'{{"alg":"EdDSA","alg":"none","kid":"{w.keys.eddsa.kid}"}}')
        ),
        TOKEN_INVALID,
    ),
    refused(
        "duplicate-header/alg-HS256-then-EdDSA/hmac-with-public-pem",
        lambda w: hmac_jws(
            "HS256",
            public_pem(w.keys.eddsa),
            header_bytes(f'{{"alg":"HS256","alg":"EdDSA","kid":"{w.keys.eddsa.kid}"}}'),
            w.payload(),
        ),
        TOKEN_INVALID,
    ),
    refused(
        "duplicate-header/alg-EdDSA-then-HS256/hmac-with-public-pem",
        lambda w: hmac_jws(
            "HS256",
            public_pem(w.keys.eddsa),
            header_bytes(f'{{"alg":"EdDSA","alg":"HS256","kid":"{w.keys.eddsa.kid}"}}'),
            w.payload(),
        ),
        TOKEN_INVALID,
    ),
    refused(
        "duplicate-header/alg-RS256-then-EdDSA/signed-by-rsa-key",
        lambda w: with_header(
            w,
            header_bytes(f'{{"alg":"RS256","alg":"EdDSA","kid":"{w.keys.rs256.kid}"}}'),
            key=w.keys.rs256,
        ),
        TOKEN_INVALID,
    ),
    refused(
        "duplicate-header/kid-published-then-attacker/attacker-signed",
        lambda w: with_header(
            w,
            header_bytes(
                f'{{"alg":"EdDSA","kid":"{w.keys.eddsa.kid}","kid":"{w.keys.attacker_eddsa.kid}"}}'
            ),
            key=w.keys.attacker_eddsa,
        ),
        KEY_NOT_FOUND,
    ),
    refused(
        "duplicate-header/kid-attacker-then-published/attacker-signed",
        lambda w: with_header(
            w,
            header_bytes(
                f'{{"alg":"EdDSA","kid":"{w.keys.attacker_eddsa.kid}","kid":"{w.keys.eddsa.kid}"}}'
            ),
            key=w.keys.attacker_eddsa,
        ),
        TOKEN_INVALID,
    ),
    refused(
        "duplicate-claim/sub/attacker-signed",
        lambda w: raw_jws(
            w.keys.attacker_eddsa,
            dumps({"alg": "EdDSA", "kid": w.keys.eddsa.kid}),
            leading(w, {"sub": w.other_id}),
        ),
        TOKEN_INVALID,
    ),
    refused(
        "duplicate-claim/sub-other-then-deleted/signed",
        lambda w: with_payload(w, leading(w, {"sub": w.user_id}, sub=w.deleted_id)),
        USER_NOT_FOUND,
    ),
    forbidden(
        "duplicate-claim/sub-user-then-banned/signed",
        lambda w: with_payload(w, leading(w, {"sub": w.user_id}, sub=w.banned_id)),
        BANNED_USER,
    ),
    refused(
        "duplicate-claim/exp-future-then-past/signed",
        lambda w: with_payload(w, leading(w, {"exp": w.now + 900}, exp=w.now - 600)),
        TOKEN_EXPIRED,
    ),
    refused(
        "duplicate-claim/aud-ours-then-other/signed",
        lambda w: with_payload(w, leading(w, {"aud": ORIGIN}, aud="https://other.example")),
        TOKEN_AUDIENCE,
    ),
    refused(
        "duplicate-claim/iss-ours-then-other/signed",
        lambda w: with_payload(w, leading(w, {"iss": ORIGIN}, iss="https://other.example")),
        TOKEN_ISSUER,
    ),
]

_HUGE_INTEGER = b"9" * 5000  # past Python's 4300-digit int parsing limit

TIME_CLAIMS: list[Row] = [
    refused("exp/numeric-string", lambda w: w.token(exp=str(w.now + 600)), TOKEN_INVALID),
    refused("exp/iso-date-string", lambda w: w.token(exp="2099-01-01T00:00:00Z"), TOKEN_INVALID),
    refused("exp/float-past", lambda w: w.token(exp=w.now - 100.5), TOKEN_EXPIRED),
    refused("exp/zero", lambda w: w.token(exp=0), TOKEN_EXPIRED),
    refused("exp/negative", lambda w: w.token(exp=-1), TOKEN_INVALID),
    refused("exp/past-by-10-minutes", lambda w: w.token(exp=w.now - 600), TOKEN_EXPIRED),
    # Beyond what a datetime holds: these once crashed the request (500) after verification.
    refused("exp/after-year-9999", lambda w: w.token(exp=253_402_300_800), TOKEN_INVALID),
    refused("exp/2-pow-53", lambda w: w.token(exp=2**53), TOKEN_INVALID),
    refused("exp/1e15-float", lambda w: w.token(exp=1e15), TOKEN_INVALID),
    refused("exp/10-pow-20", lambda w: w.token(exp=10**20), TOKEN_INVALID),
    refused("exp/1e308", lambda w: w.token(exp=1e308), TOKEN_INVALID),
    *(
        refused(
            f"exp/literal-{name}",
            lambda w, literal=literal: with_payload(w, replace_value(w, "exp", literal)),
            TOKEN_INVALID,
        )
        for name, literal in (
            ("NaN", b"NaN"),
            ("Infinity", b"Infinity"),
            ("minus-Infinity", b"-Infinity"),
            ("1e400", b"1e400"),
            ("5000-digit-integer", _HUGE_INTEGER),
        )
    ),
    refused("exp/true", lambda w: w.token(exp=True), TOKEN_INVALID),
    refused("exp/null", lambda w: w.token(exp=None), TOKEN_INVALID),
    refused("exp/list", lambda w: w.token(exp=[w.now + 600]), TOKEN_INVALID),
    refused("exp/object", lambda w: w.token(exp={"$date": w.now + 600}), TOKEN_INVALID),
    refused("exp/missing", lambda w: w.token(exp=DROP), TOKEN_INVALID),
    refused("nbf/future", lambda w: w.token(nbf=w.now + 3600), TOKEN_INVALID),
    refused("nbf/numeric-string", lambda w: w.token(nbf=str(w.now - 60)), TOKEN_INVALID),
    refused("nbf/negative", lambda w: w.token(nbf=-5), TOKEN_INVALID),
    refused("nbf/10-pow-20", lambda w: w.token(nbf=10**20), TOKEN_INVALID),
    refused(
        "nbf/literal-NaN",
        lambda w: with_payload(w, replace_value(w, "nbf", b"NaN")),
        TOKEN_INVALID,
    ),
    refused("iat/future", lambda w: w.token(iat=w.now + 3600, exp=w.now + 4500), TOKEN_INVALID),
    refused("iat/numeric-string", lambda w: w.token(iat=str(w.now)), TOKEN_INVALID),
    refused("iat/negative", lambda w: w.token(iat=-1), TOKEN_INVALID),
    refused("iat/minus-2-pow-53", lambda w: w.token(iat=-(2**53)), TOKEN_INVALID),
    refused("iat/10-pow-20", lambda w: w.token(iat=10**20), TOKEN_INVALID),
    refused("iat/false", lambda w: w.token(iat=False), TOKEN_INVALID),
    refused("iat/missing", lambda w: w.token(iat=DROP), TOKEN_INVALID),
]

AUDIENCE_AND_ISSUER: list[Row] = [
    refused("aud/object", lambda w: w.token(aud={"aud": ORIGIN}), TOKEN_AUDIENCE),
    refused("aud/object-of-list", lambda w: w.token(aud={"0": ORIGIN}), TOKEN_AUDIENCE),
    refused("aud/list-without-ours", lambda w: w.token(aud=["https://a.example"]), TOKEN_AUDIENCE),
    refused("aud/list-ours-and-a-number", lambda w: w.token(aud=[ORIGIN, 1]), TOKEN_AUDIENCE),
    refused("aud/list-nested", lambda w: w.token(aud=[[ORIGIN]]), TOKEN_AUDIENCE),
    refused("aud/empty-list", lambda w: w.token(aud=[]), TOKEN_AUDIENCE),
    refused("aud/empty-string", lambda w: w.token(aud=""), TOKEN_AUDIENCE),
    refused("aud/null", lambda w: w.token(aud=None), TOKEN_AUDIENCE),
    refused("aud/missing", lambda w: w.token(aud=DROP), TOKEN_AUDIENCE),
    refused("aud/trailing-slash", lambda w: w.token(aud=ORIGIN + "/"), TOKEN_AUDIENCE),
    refused("aud/upper-case", lambda w: w.token(aud=ORIGIN.upper()), TOKEN_AUDIENCE),
    refused("aud/number", lambda w: w.token(aud=1), TOKEN_AUDIENCE),
    # Signed by the issuer, yet not Unicode text: /verify once crashed echoing it back (500).
    refused(
        "aud/list-with-lone-surrogate",
        lambda w: w.token(aud=[ORIGIN, "x\ud800"]),
        TOKEN_INVALID,
    ),
    refused("iss/other-origin", lambda w: w.token(iss="https://other.example"), TOKEN_ISSUER),
    refused("iss/trailing-slash", lambda w: w.token(iss=ORIGIN + "/"), TOKEN_ISSUER),
    refused("iss/list", lambda w: w.token(iss=[ORIGIN]), TOKEN_ISSUER),
    refused("iss/null", lambda w: w.token(iss=None), TOKEN_ISSUER),
    refused("iss/missing", lambda w: w.token(iss=DROP), TOKEN_ISSUER),
]

SUBJECT: list[Row] = [
    refused("sub/empty", lambda w: w.token(sub=""), TOKEN_INVALID),
    refused("sub/null", lambda w: w.token(sub=None), TOKEN_INVALID),
    refused("sub/missing", lambda w: w.token(sub=DROP), TOKEN_INVALID),
    refused("sub/number", lambda w: w.token(sub=12), TOKEN_INVALID),
    refused("sub/list", lambda w: w.token(sub=[w.user_id]), TOKEN_INVALID),
    refused("sub/object", lambda w: w.token(sub={"id": w.user_id}), TOKEN_INVALID),
    refused("sub/256-characters", lambda w: w.token(sub="s" * 256), TOKEN_INVALID),
    refused("sub/10-KB", lambda w: w.token(sub="s" * 10_240), TOKEN_INVALID),
    # Control characters and lone surrogates reach no database: NUL once gave a 500 on PostgreSQL.
    refused("sub/nul", lambda w: w.token(sub=w.user_id + "\u0000"), TOKEN_INVALID),
    refused("sub/escape-sequence", lambda w: w.token(sub="\u001b[31m" + w.user_id), TOKEN_INVALID),
    refused("sub/newline", lambda w: w.token(sub=w.user_id + "\n"), TOKEN_INVALID),
    refused("sub/lone-surrogate", lambda w: w.token(sub="\udfff"), TOKEN_INVALID),
    refused("sub/deleted-user", lambda w: w.token(sub=w.deleted_id), USER_NOT_FOUND),
    refused("sub/never-existed", lambda w: w.token(sub="N" * 32), USER_NOT_FOUND),
    refused("sub/sql-injection", lambda w: w.token(sub="' OR '1'='1"), USER_NOT_FOUND),
    refused("sub/like-wildcard", lambda w: w.token(sub="%"), USER_NOT_FOUND),
    refused("sub/like-underscores", lambda w: w.token(sub="_" * 32), USER_NOT_FOUND),
    refused("sub/case-swapped", lambda w: w.token(sub=w.user_id.swapcase()), USER_NOT_FOUND),
    refused("sub/trailing-space", lambda w: w.token(sub=w.user_id + " "), USER_NOT_FOUND),
    refused("sub/unicode", lambda w: w.token(sub="пользователь-🙂"), USER_NOT_FOUND),
    forbidden("sub/banned-user", lambda w: w.token(sub=w.banned_id), BANNED_USER),
]


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


JSON_BOMBS: list[Row] = [
    # Too deep for the parser or not, a header without a top-level alg is no JWT.
    refused(
        "json-bomb/header-nested-3000-deep",
        lambda w: with_header(
            w, b'{"kid":"' + w.keys.eddsa.kid.encode() + b'","x":' + nested(3000) + b"}"
        ),
        SESSION_INVALID,
    ),
    # Too deep for the parser or not, a payload without sub is refused.
    refused(
        "json-bomb/payload-nested-2500-deep",
        lambda w: with_payload(w, w.payload(sub=DROP)[:-1] + b',"x":' + nested(2500) + b"}"),
        TOKEN_INVALID,
    ),
    refused(
        "json-bomb/payload-5000-digit-integer",
        lambda w: with_payload(w, replace_value(w, "iat", _HUGE_INTEGER)),
        TOKEN_INVALID,
    ),
    refused(
        "json-bomb/payload-600-members/attacker-signed",
        lambda w: w.token(
            w.keys.attacker_eddsa, kid=w.keys.eddsa.kid, **{f"c{i}": i for i in range(600)}
        ),
        TOKEN_INVALID,
    ),
    refused(
        "json-bomb/header-5-KB-string/attacker-signed",
        lambda w: w.token(w.keys.attacker_eddsa, kid=w.keys.eddsa.kid, headers={"x": "y" * 5000}),
        TOKEN_INVALID,
    ),
    refused(
        "json/header-is-a-list",
        lambda w: with_header(w, dumps(["EdDSA", w.keys.eddsa.kid])),
        SESSION_INVALID,
    ),
    refused("json/header-not-utf8", lambda w: with_header(w, b'{"alg":"\xff"}'), SESSION_INVALID),
    refused("json/header-truncated", lambda w: with_header(w, b'{"alg":"EdDSA"'), SESSION_INVALID),
    refused("json/payload-is-a-list", lambda w: with_payload(w, b"[1,2,3]"), TOKEN_INVALID),
    refused("json/payload-is-a-string", lambda w: with_payload(w, b'"sub"'), TOKEN_INVALID),
    refused("json/payload-is-null", lambda w: with_payload(w, b"null"), TOKEN_INVALID),
    refused(
        "json/payload-not-utf8", lambda w: with_payload(w, b'{"sub":"\xff\xfe"}'), TOKEN_INVALID
    ),
    refused("json/payload-empty", lambda w: with_payload(w, b""), SESSION_INVALID),
]

STRUCTURE: list[Row] = [
    # Over the body schema's 64 KiB cap too: /verify answers 422 without looking at it.
    too_large_header("size/100-KB-signed", lambda w: w.token(padding="p" * 100_000), None),
    refused("size/9-KB-signed", lambda w: w.token(padding="p" * 6_500), TOKEN_INVALID),
    too_large_header("size/60-KB-garbage", lambda w: "A" * 60_000, SESSION_INVALID),
    refused("size/30-KB-garbage", lambda w: "A" * 30_000, SESSION_INVALID),
    refused(
        "base64/padding",
        lambda w: tamper(w.token(), 0, lambda s: s + "=" * (-len(s) % 4 or 4)),
        SESSION_INVALID,
    ),
    refused(
        "base64/standard-alphabet",
        lambda w: tamper(w.token(), 1, lambda s: s + "+/"),
        SESSION_INVALID,
    ),
    refused(
        "base64/space-inside",
        lambda w: tamper(w.token(), 1, lambda s: s[:8] + " " + s[8:]),
        SESSION_INVALID,
    ),
    refused(
        "base64/non-canonical-signature",
        lambda w: tamper(w.token(), 2, non_canonical_last_char),
        SESSION_INVALID,
    ),
    refused(
        "base64/percent-encoded-dots", lambda w: w.token().replace(".", "%2E"), SESSION_INVALID
    ),
    refused("structure/trailing-dot", lambda w: w.token() + ".", SESSION_INVALID),
    refused("structure/four-segments", lambda w: w.token() + ".AAAA", SESSION_INVALID),
    refused("structure/two-segments", lambda w: w.token().rpartition(".")[0], SESSION_INVALID),
    refused("structure/empty-segments", lambda w: "..", SESSION_INVALID),
    refused(
        "structure/jwe-five-segments",
        lambda w: ".".join(
            [
                b64url(dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": w.keys.rs256.kid})),
                b64url(b"k" * 256),
                b64url(b"i" * 12),
                b64url(w.payload()),
                b64url(b"t" * 16),
            ]
        ),
        SESSION_INVALID,
    ),
    refused(
        "structure/jwe-header-over-three-segments",
        lambda w: with_header(w, dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM"})),
        TOKEN_INVALID,
    ),
    refused(
        "structure/jws-json-serialization",
        lambda w: json.dumps({"payload": b64url(w.payload()), "signatures": []}),
        SESSION_INVALID,
    ),
    refused(
        "tamper/signature-first-char",
        lambda w: tamper(w.token(), 2, flip_first_char),
        TOKEN_INVALID,
    ),
    refused(
        "tamper/payload-of-another-user",
        lambda w: tamper(w.token(), 1, lambda _: b64url(w.payload(user_id=w.other_id))),
        TOKEN_INVALID,
    ),
    refused(
        "tamper/payload-role-admin",
        lambda w: tamper(w.token(), 1, lambda _: b64url(w.payload(role="admin"))),
        TOKEN_INVALID,
    ),
    refused(
        "tamper/signature-truncated",
        lambda w: tamper(w.token(), 2, lambda s: b64url(base64.urlsafe_b64decode(s + "==")[:-1])),
        TOKEN_INVALID,
    ),
    refused(
        "tamper/signature-of-rsa-key-under-eddsa-header",
        lambda w: tamper(w.token(), 2, lambda _: w.token(w.keys.rs256).split(".")[2]),
        TOKEN_INVALID,
    ),
    refused("ecdsa/der-signature", der_es256, TOKEN_INVALID),
    refused(
        "ecdsa/zero-signature",
        lambda w: tamper(w.token(w.keys.es256), 2, lambda _: b64url(bytes(64))),
        TOKEN_INVALID,
    ),
    refused(
        "ecdsa/p521-zero-signature",
        lambda w: tamper(w.token(w.keys.es512), 2, lambda _: b64url(bytes(132))),
        TOKEN_INVALID,
    ),
    refused(
        "rsa/zero-signature",
        lambda w: tamper(w.token(w.keys.rs256), 2, lambda _: b64url(bytes(256))),
        TOKEN_INVALID,
    ),
    refused(
        "eddsa/zero-signature",
        lambda w: tamper(w.token(), 2, lambda _: b64url(bytes(64))),
        TOKEN_INVALID,
    ),
    refused("attacker/own-key-own-kid", lambda w: w.token(w.keys.attacker_eddsa), KEY_NOT_FOUND),
    refused("expired/legit", lambda w: w.token(iat=w.now - 2000, exp=w.now - 1100), TOKEN_EXPIRED),
]

SESSION_TOKENS: list[Row] = [
    refused(
        "session/signature-with-wrong-secret",
        lambda w: w.signed_session("not-the-secret-not-the-secret-0000"),
        SESSION_INVALID,
    ),
    refused(
        "session/signature-with-empty-secret",
        lambda w: w.signed_session(""),
        SESSION_INVALID,
    ),
    refused(
        "session/signature-of-another-token",
        lambda w: w.session_token + "." + w.signed_session(token="X" * 32).rpartition(".")[2],
        SESSION_INVALID,
    ),
    refused(
        "session/signature-truncated",
        lambda w: w.signed_session()[:-2] + "=",
        SESSION_INVALID,
    ),
    refused(
        "session/signature-unpadded",
        lambda w: w.signed_session().rstrip("="),
        SESSION_INVALID,
    ),
    refused(
        "session/signature-url-safe-alphabet",
        lambda w: w.signed_session().replace("+", "-").replace("/", "_"),
        SESSION_INVALID,
    ),
    refused(
        "session/signature-double-url-encoded",
        lambda w: quote(quote(w.signed_session(), safe=""), safe=""),
        SESSION_INVALID,
    ),
    refused("session/empty-signature", lambda w: w.session_token + ".", SESSION_INVALID),
    refused(
        "session/two-signatures",
        lambda w: w.signed_session() + "." + w.signed_session(),
        SESSION_INVALID,
    ),
    refused("session/unknown-token", lambda w: "U" * 32, SESSION_INVALID),
    refused(
        "session/unknown-token-signed", lambda w: w.signed_session(token="U" * 32), SESSION_INVALID
    ),
    refused("session/sql-injection", lambda w: "' OR '1'='1", SESSION_INVALID),
    refused("session/like-wildcard", lambda w: "%", SESSION_INVALID),
    refused("session/like-underscores", lambda w: "_" * 32, SESSION_INVALID),
    refused("session/case-swapped", lambda w: w.session_token.swapcase(), SESSION_INVALID),
    refused("session/255-characters", lambda w: "S" * 255, SESSION_INVALID),
    refused("session/256-characters", lambda w: "S" * 256, SESSION_INVALID),
    refused("session/nul", lambda w: w.session_token + "\u0000", SESSION_INVALID),
    refused("session/unicode", lambda w: "сессия", SESSION_INVALID),
    refused("session/expired", lambda w: w.expired_session_token, SESSION_EXPIRED),
    refused("session/of-deleted-user", lambda w: w.deleted_session_token, SESSION_INVALID),
    forbidden("session/of-banned-user", lambda w: w.banned_session_token, BANNED_USER),
    forbidden(
        "session/of-banned-user-signed",
        lambda w: w.signed_session(token=w.banned_session_token),
        BANNED_USER,
    ),
]

CORPUS: list[Row] = [
    *ALG_NONE,
    *HMAC_CONFUSION,
    *ALG_KEY_MISMATCH,
    *KID,
    *KEY_URL_HEADERS,
    *CRIT,
    *DUPLICATES,
    *TIME_CLAIMS,
    *AUDIENCE_AND_ISSUER,
    *SUBJECT,
    *JSON_BOMBS,
    *STRUCTURE,
    *SESSION_TOKENS,
]


def row_id(row: Row) -> str:
    return row.name


def test_corpus_names_are_unique() -> None:
    names = [row.name for row in CORPUS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("row", CORPUS, ids=row_id)
async def test_me_refuses(
    row: Row,
    http: httpx.AsyncClient,
    world: World,
    attacker_server: JwksServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = row.build(world)
    with caplog.at_level("INFO"):
        response = await http.get(ME, headers=bearer(token))
    assert_refused(response, row.status, row.code)
    assert_not_echoed(token, response, caplog)
    assert attacker_server.hits == 0


@pytest.mark.parametrize("row", CORPUS, ids=row_id)
async def test_verify_reports_inactive(
    row: Row,
    http: httpx.AsyncClient,
    world: World,
    attacker_server: JwksServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = row.build(world)
    with caplog.at_level("INFO"):
        response = await http.post(VERIFY, json={"token": token})
    if row.verify_code is None:
        assert_refused(response, 422, "VALIDATION_ERROR")
    else:
        assert_inactive(response, row.verify_code)
    assert_not_echoed(token, response, caplog)
    assert attacker_server.hits == 0


# --- controls: what the corpus must not break -------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    name: str
    build: TokenBuilder
    user: Callable[[World], str]


def _user(w: World) -> str:
    return w.user_id


CONTROLS: list[Accepted] = [
    *(
        Accepted(
            f"published-key/{KEY_ALG[name]}",
            lambda w, name=name: w.token(getattr(w.keys, name)),
            _user,
        )
        for name in PUBLISHED
    ),
    Accepted("alg/Ed25519-name-for-the-EdDSA-key", lambda w: w.token(alg="Ed25519"), _user),
    # Key-locating headers are ignored, not obeyed and not fatal: the published key decides.
    Accepted("ignored/jku", lambda w: w.token(headers={"jku": w.attacker_url}), _user),
    Accepted("ignored/x5u", lambda w: w.token(headers={"x5u": w.attacker_url}), _user),
    Accepted(
        "ignored/jwk",
        lambda w: w.token(headers={"jwk": w.keys.attacker_eddsa.public_jwk()}),
        _user,
    ),
    Accepted(
        "ignored/x5c",
        lambda w: w.token(headers={"x5c": [spki_der_b64(w.keys.attacker_rs256)]}),
        _user,
    ),
    # Duplicated names in a *signed* payload: the identity is the one the signed bytes parse to
    # (the last occurrence), never a mix of what one parser and another would see.
    Accepted(
        "duplicate-claim/sub-other-then-user",
        lambda w: with_payload(w, leading(w, {"sub": w.other_id})),
        _user,
    ),
    Accepted(
        "duplicate-claim/sub-user-then-other",
        lambda w: with_payload(w, leading(w, {"sub": w.user_id}, sub=w.other_id)),
        lambda w: w.other_id,
    ),
    Accepted("claims/id-and-role-are-not-identity", lambda w: w.token(id="x", role="admin"), _user),
    Accepted("claims/float-exp", lambda w: w.token(exp=w.now + 600.5), _user),
    Accepted("claims/nbf-in-the-past", lambda w: w.token(nbf=w.now - 60), _user),
    Accepted(
        "claims/aud-list-with-ours", lambda w: w.token(aud=["https://a.example", ORIGIN]), _user
    ),
    Accepted("session/bare-token", lambda w: w.session_token, _user),
    Accepted("session/signed-token", lambda w: w.signed_session(), _user),
    Accepted("session/signed-url-encoded", lambda w: quote(w.signed_session(), safe=""), _user),
]


@pytest.mark.parametrize("control", CONTROLS, ids=lambda control: control.name)
async def test_controls_are_accepted(
    control: Accepted, http: httpx.AsyncClient, world: World, attacker_server: JwksServer
) -> None:
    token = control.build(world)
    me = await http.get(ME, headers=bearer(token))
    verify = await http.post(VERIFY, json={"token": token})
    assert me.status_code == 200, me.text
    assert me.json()["id"] == control.user(world)
    assert verify.status_code == 200
    assert verify.json()["active"] is True
    assert verify.json()["sub"] == control.user(world)
    assert attacker_server.hits == 0
