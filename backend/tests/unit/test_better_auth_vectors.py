"""Conformance: tokens and session credentials minted by the pinned Better-Auth (tests/fixtures).

The JWTs have expired since they were minted: the verifier's clock is frozen at each vector's
``valid_at`` (expiry checks stay on). Keys are served through a real local HTTP server.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.sources import HttpKeySource, StaticKeySource, jwk_from_jwks_row
from app.services.auth.session_tokens import looks_like_jwt, verify_session_token_signature
from app.services.auth.verifier import TokenVerifier
from app.utils.errors import Unauthorized
from tests.support.clock import ManualClock
from tests.support.jwks_server import JwksServer
from tests.support.vectors import load_rows, load_tokens_file

LEEWAY = 5


VECTORS: dict[str, Any] = load_tokens_file()
ROWS: dict[str, dict[str, Any]] = load_rows("sqlite")
TOKENS: list[dict[str, Any]] = VECTORS["tokens"]
SESSION: dict[str, Any] = VECTORS["session"]
SECRET: str = VECTORS["secret"]


def by_alg(alg: str) -> dict[str, Any]:
    return next(vector for vector in TOKENS if vector["alg"] == alg)


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, verify=False) as client:
        yield client


def static_cache(jwks: list[dict[str, Any]]) -> JwksCache:
    return JwksCache(StaticKeySource(jwks), ttl=300, min_ttl=0, refetch_cooldown=1, max_stale=0)


def verifier_for(vector: dict[str, Any], cache: JwksCache, now: float) -> TokenVerifier:
    """Built from Settings as the app would be: default algorithms, iss/aud from the URL."""
    config = Settings(_env_file=None, better_auth_url=vector["issuer"], jwt_leeway_seconds=LEEWAY)
    return TokenVerifier.from_settings(config, cache, clock=ManualClock(now))


def test_every_algorithm_better_auth_offers_is_covered() -> None:
    assert sorted(v["alg"] for v in TOKENS) == ["ES256", "ES512", "EdDSA", "PS256", "RS256"]


@pytest.mark.parametrize("vector", TOKENS, ids=lambda v: v["alg"])
class TestJwtVectors:
    async def test_verifies_at_valid_at_through_a_real_jwks_endpoint(
        self, vector: dict[str, Any], http: httpx.AsyncClient
    ) -> None:
        with JwksServer(vector["jwks"]) as server:
            source = HttpKeySource(http, server.url, timeout=1.0, max_bytes=64 * 1024)
            cache = JwksCache(source, ttl=300, min_ttl=0, refetch_cooldown=0.2, max_stale=0)
            result = await verifier_for(vector, cache, vector["valid_at"]).verify(vector["token"])
            assert server.hits == 1
        claims = vector["claims"]
        assert result.claims == claims
        assert result.subject == claims["sub"] == claims["id"]
        assert result.alg == vector["alg"]
        assert result.kid == vector["jwks"]["keys"][0]["kid"]
        assert (result.issued_at, result.expires_at) == (claims["iat"], claims["exp"])
        assert claims["exp"] - claims["iat"] == 900

    async def test_expiry_with_leeway(self, vector: dict[str, Any]) -> None:
        cache = static_cache(vector["jwks"]["keys"])
        exp = vector["claims"]["exp"]
        await verifier_for(vector, cache, exp + LEEWAY - 1).verify(vector["token"])
        for now in (exp + LEEWAY, vector["valid_at"] + 901 + LEEWAY):
            with pytest.raises(Unauthorized) as error:
                await verifier_for(vector, cache, now).verify(vector["token"])
            assert error.value.code == "TOKEN_EXPIRED"

    async def test_refused_before_it_was_issued(self, vector: dict[str, Any]) -> None:
        cache = static_cache(vector["jwks"]["keys"])
        now = vector["claims"]["iat"] - LEEWAY - 1
        with pytest.raises(Unauthorized, match="future"):
            await verifier_for(vector, cache, now).verify(vector["token"])

    async def test_tampered_signature(self, vector: dict[str, Any]) -> None:
        header, payload, signature = vector["token"].split(".")
        middle = len(signature) // 2
        flipped = "A" if signature[middle] != "A" else "B"
        forged = f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
        cache = static_cache(vector["jwks"]["keys"])
        with pytest.raises(Unauthorized) as error:
            await verifier_for(vector, cache, vector["valid_at"]).verify(forged)
        assert error.value.code == "TOKEN_INVALID"

    async def test_another_deployment_is_another_issuer(self, vector: dict[str, Any]) -> None:
        other = {**vector, "issuer": "http://127.0.0.1:1"}
        cache = static_cache(vector["jwks"]["keys"])
        with pytest.raises(Unauthorized) as error:
            await verifier_for(other, cache, vector["valid_at"]).verify(vector["token"])
        assert error.value.code == "TOKEN_ISSUER"

    async def test_keys_of_another_vector_do_not_verify_it(self, vector: dict[str, Any]) -> None:
        other = next(v for v in TOKENS if v["alg"] != vector["alg"])
        cache = static_cache(other["jwks"]["keys"])
        with pytest.raises(Unauthorized) as error:
            await verifier_for(vector, cache, vector["valid_at"]).verify(vector["token"])
        assert error.value.code == "KEY_NOT_FOUND"

    def test_is_routed_as_a_jwt(self, vector: dict[str, Any]) -> None:
        assert looks_like_jwt(vector["token"])


async def test_keys_read_from_the_jwks_table_row() -> None:
    """The database key source's shape: kid = row id, alg/crv columns, publicKey JSON."""
    row = ROWS["jwks"]
    jwk = jwk_from_jwks_row(row["id"], row["publicKey"], row.get("alg"), row.get("crv"))
    vector = by_alg("EdDSA")
    assert jwk == vector["jwks"]["keys"][0]
    result = await verifier_for(vector, static_cache([jwk]), vector["valid_at"]).verify(
        vector["token"]
    )
    assert result.subject == ROWS["user"]["id"]


class TestSessionVectors:
    def test_signed_bearer_form(self) -> None:
        assert verify_session_token_signature(SESSION["bearer_signed"], SECRET) == SESSION["token"]

    def test_url_encoded_cookie_value(self) -> None:
        value = SESSION["cookie_value"]
        assert "%2F" in value or "%3D" in value
        token = verify_session_token_signature(value, SECRET, allow_unsigned=False)
        assert token == SESSION["token"] == ROWS["session"]["token"]

    def test_bare_token(self) -> None:
        assert verify_session_token_signature(SESSION["token"], SECRET) == SESSION["token"]

    @pytest.mark.parametrize("form", ["bearer_signed", "cookie_value"])
    def test_wrong_secret(self, form: str) -> None:
        with pytest.raises(Unauthorized) as error:
            verify_session_token_signature(SESSION[form], SECRET + "x")
        assert error.value.code == "SESSION_INVALID"

    @pytest.mark.parametrize("form", ["token", "bearer_signed", "cookie_value"])
    def test_is_not_routed_as_a_jwt(self, form: str) -> None:
        assert not looks_like_jwt(SESSION[form])


class TestClaims:
    def test_jwts_name_their_session(self) -> None:
        """The bundled server adds ``sid`` (definePayload) and keeps the whole user row."""
        claims = by_alg("EdDSA")["claims"]
        assert claims["sid"] == SESSION["id"] == ROWS["session"]["id"]
        assert claims["sub"] == claims["id"] == ROWS["user"]["id"]
        for vector in TOKENS:
            assert isinstance(vector["claims"]["sid"], str)
            assert {"role", "banned", "banExpires", "email"} <= vector["claims"].keys()

    def test_headers_carry_alg_and_kid_only(self) -> None:
        for vector in TOKENS:
            assert vector["header"] == {
                "alg": vector["alg"],
                "kid": vector["jwks"]["keys"][0]["kid"],
            }


class TestApiKeyVector:
    def test_stored_hash_is_unpadded_base64url_sha256(self) -> None:
        key = VECTORS["api_key"]["key"]
        digest = hashlib.sha256(key.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        row = ROWS["apikey"]
        assert row["id"] == VECTORS["api_key"]["id"]
        assert row["key"] == expected
        assert key.startswith(row["start"])
        assert row["referenceId"] == ROWS["user"]["id"]
