"""Building blocks of the hostile corpus: raw JWS assembly (any header bytes, any payload bytes,
any signature), HMAC forgeries, the per-test world of users and sessions, and the assertions
every refusal must pass (status, stable code, problem+json, challenge, nothing echoed)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest

from tests.conftest import TEST_AUTH_URL, TEST_SECRET
from tests.support.factories import sign_session_token
from tests.support.keys import TestKey, b64url, better_auth_claims

ORIGIN: Final = TEST_AUTH_URL
ME: Final = "/api/v1/auth/me"
VERIFY: Final = "/api/v1/auth/verify"
PROBLEM_JSON: Final = "application/problem+json"
#: Marks a claim to be removed from the Better-Auth-shaped claims.
DROP: Final = object()

_HMAC_HASHES: Final = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


@dataclass(frozen=True)
class KeyRing:
    """Keys the JWKS publishes (``eddsa`` ... ``es512``) and keys it does not (``attacker_*``)."""

    eddsa: TestKey
    rs256: TestKey
    ps256: TestKey
    es256: TestKey
    es512: TestKey
    attacker_eddsa: TestKey
    attacker_rs256: TestKey
    attacker_es256: TestKey

    @property
    def published(self) -> tuple[TestKey, ...]:
        return (self.eddsa, self.rs256, self.ps256, self.es256, self.es512)

    @property
    def attackers(self) -> tuple[TestKey, ...]:
        return (self.attacker_eddsa, self.attacker_rs256, self.attacker_es256)


def dumps(value: Any) -> bytes:
    """Compact JSON; ``allow_nan`` so that ``NaN``/``Infinity`` literals can be produced."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True).encode("utf-8")


def raw_jws(
    key: TestKey | None,
    header: bytes,
    payload: bytes,
    *,
    signature: bytes | None = None,
) -> str:
    """A compact JWS over exactly these header and payload bytes.

    Signed by ``key`` with its own algorithm unless ``signature`` is given: the header may then
    claim anything, and the signature still covers the bytes as sent.
    """
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    if signature is None:
        assert key is not None
        signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


def hmac_jws(alg: str, secret: bytes, header: dict[str, Any] | bytes, payload: bytes) -> str:
    """An HS256/384/512 token: the algorithm-confusion attack with a public key as secret."""
    header_bytes = header if isinstance(header, bytes) else dumps({"alg": alg, **header})
    signing_input = f"{b64url(header_bytes)}.{b64url(payload)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), _HMAC_HASHES[alg]).digest()
    return f"{signing_input}.{b64url(mac)}"


@dataclass(frozen=True)
class World:
    """What one test sees: keys, users in every state and their sessions, the attacker's URL."""

    keys: KeyRing
    user_id: str  # active, role "user"
    other_id: str  # another active user
    banned_id: str  # banned without expiry
    deleted_id: str  # existed (with a session), then deleted
    session_token: str  # a live session of ``user_id`` (its signature holds "+" or "/")
    other_session_token: str  # a live session of ``other_id``
    banned_session_token: str  # a live session of ``banned_id``
    expired_session_token: str  # an expired session of ``user_id``
    deleted_session_token: str  # the session ``deleted_id`` had (gone with the user)
    now: int
    attacker_url: str

    def claims(self, *, user_id: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Better-Auth-shaped claims for ``user_id`` (default: the active user), issued now.

        Overrides replace claims as given (``iat`` does not move ``exp``); ``DROP`` removes one.
        """
        claims = better_auth_claims(ORIGIN, iat=self.now, user_id=user_id or self.user_id)
        for name, value in overrides.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def payload(self, **overrides: Any) -> bytes:
        return dumps(self.claims(**overrides))

    def token(
        self,
        key: TestKey | None = None,
        *,
        alg: str | None = None,
        kid: Any = DROP,
        headers: dict[str, Any] | None = None,
        user_id: str | None = None,
        **claims: Any,
    ) -> str:
        """A JWS signed by ``key`` (default: the published EdDSA key) with its real algorithm.

        ``alg`` changes only what the header claims; ``kid`` defaults to the key's own;
        ``headers`` are merged last (``DROP`` removes a member).
        """
        signer = key or self.keys.eddsa
        header: dict[str, Any] = {"alg": signer.alg if alg is None else alg, "kid": signer.kid}
        if kid is not DROP:
            header["kid"] = kid
        header.update(headers or {})
        header = {name: value for name, value in header.items() if value is not DROP}
        return raw_jws(signer, dumps(header), self.payload(user_id=user_id, **claims))

    def signed_session(self, secret: str = TEST_SECRET, token: str | None = None) -> str:
        """``TOKEN.SIGNATURE`` as Better-Auth's bearer plugin and cookie carry it."""
        return sign_session_token(token or self.session_token, secret)


def session_token_with_base64_symbols(secret: str = TEST_SECRET) -> str:
    """A deterministic 32-character session token whose signature holds "+" or "/", so that
    the URL-safe-alphabet forgery really differs from the genuine signature."""
    for counter in range(1000):
        token = f"SecuritySuiteSession{counter:012d}"
        signature = sign_session_token(token, secret).rpartition(".")[2]
        if "+" in signature or "/" in signature:
            return token
    raise AssertionError("no session token with + or / in its signature")


TokenBuilder = Callable[[World], str]


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    """An ``Authorization`` header as raw bytes (any token, even one httpx would not encode)."""
    return [(b"authorization", b"Bearer " + token.encode("utf-8", "surrogatepass"))]


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    """A refusal with the right status and stable code, rendered as RFC 9457 problem+json."""
    assert response.status_code == status, (status, code, response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    if status == 401:
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="api"'), challenge


def assert_inactive(response: httpx.Response, code: str) -> None:
    """``POST /auth/verify`` answers 200 ``{"active": false, "code": ...}`` and nothing more."""
    assert response.status_code == 200, (code, response.status_code, response.text)
    assert response.json() == {"active": False, "code": code}


def assert_not_echoed(
    secret: str, response: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the credential nor any long piece of it shows up in the answer or the logs."""
    pieces = {secret, *secret.split(".")}
    pieces = {piece for piece in pieces if len(piece) >= 16}
    exposed = response.text + "\n".join(response.headers.values()) + caplog.text
    leaked = [piece[:24] for piece in pieces if piece in exposed]
    assert not leaked, f"credential material echoed: {leaked}"
