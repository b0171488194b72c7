"""TokenVerifier: the whole JWT path, every refusal with its stable code; session tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.services.auth import session_tokens
from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.sources import StaticKeySource
from app.services.auth.session_tokens import looks_like_jwt, verify_session_token_signature
from app.services.auth.verifier import TokenVerifier, VerifiedToken
from app.utils.errors import AppError, Unauthorized
from tests.support.clock import ManualClock
from tests.support.jwks_server import JwksServer
from tests.support.keys import (
    TestKey,
    b64url,
    better_auth_claims,
    encode_token,
    generate_key,
    json_b64url,
    sign_hmac,
    sign_token,
)

ORIGIN = "http://127.0.0.1:3000"
NOW = 1_800_000_000
LEEWAY = 5
ALL_ALGORITHMS = ["EdDSA", "Ed25519", "RS256", "PS256", "ES256", "ES384", "ES512"]


@pytest.fixture(scope="module")
def keys() -> dict[str, TestKey]:
    rsa = generate_key("RS256")
    return {
        "EdDSA": generate_key("EdDSA"),
        "Ed25519": generate_key("Ed25519"),
        "RS256": rsa,
        "PS256": TestKey("PS256", "pss-key", rsa.private_key),
        "ES256": generate_key("ES256"),
        "ES384": generate_key("ES384"),
        "ES512": generate_key("ES512"),
    }


@pytest.fixture(scope="module")
def attacker() -> TestKey:
    return generate_key("EdDSA", kid="attacker-key")


def make_verifier(
    jwks: list[dict[str, Any]],
    *,
    algorithms: list[str] | None = None,
    clock: ManualClock | None = None,
    max_token_bytes: int = 8192,
) -> TokenVerifier:
    cache = JwksCache(
        StaticKeySource(jwks),
        ttl=300,
        min_ttl=0,
        refetch_cooldown=0.2,
        max_stale=60,
        clock=ManualClock(),
    )
    return TokenVerifier(
        cache,
        issuer=ORIGIN,
        audience=ORIGIN,
        algorithms=algorithms or ALL_ALGORITHMS,
        leeway_seconds=LEEWAY,
        max_token_bytes=max_token_bytes,
        clock=clock or ManualClock(NOW),
    )


@pytest.fixture(scope="module")
def verifier(keys: dict[str, TestKey]) -> TokenVerifier:
    return make_verifier([key.public_jwk() for key in keys.values()])


def claims(**overrides: Any) -> dict[str, Any]:
    iat = overrides.pop("iat", NOW - 10)
    return better_auth_claims(ORIGIN, iat=iat, **overrides)


async def refused(verifier: TokenVerifier, token: str, code: str = "TOKEN_INVALID") -> str:
    with pytest.raises(Unauthorized) as error:
        await verifier.verify(token)
    assert error.value.code == code
    return error.value.detail


class TestValidTokens:
    @pytest.mark.parametrize(
        "alg", ["EdDSA", "Ed25519", "RS256", "PS256", "ES256", "ES384", "ES512"]
    )
    async def test_each_algorithm(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], alg: str
    ) -> None:
        body = claims()
        result = await verifier.verify(sign_token(keys[alg], body))
        assert result == VerifiedToken(
            subject=body["sub"],
            claims=body,
            issued_at=body["iat"],
            expires_at=body["exp"],
            not_before=None,
            kid=keys[alg].kid,
            alg=alg,
        )

    @pytest.mark.parametrize(
        ("key_alg", "header_alg"), [("EdDSA", "Ed25519"), ("Ed25519", "EdDSA")]
    )
    async def test_eddsa_and_ed25519_are_the_same_for_okp_keys(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], key_alg: str, header_alg: str
    ) -> None:
        result = await verifier.verify(sign_token(keys[key_alg], claims(), alg=header_alg))
        assert result.alg == header_alg

    async def test_the_allow_list_still_applies_to_the_alias(
        self, keys: dict[str, TestKey]
    ) -> None:
        strict = make_verifier([keys["EdDSA"].public_jwk()], algorithms=["EdDSA"])
        await strict.verify(sign_token(keys["EdDSA"], claims()))
        detail = await refused(strict, sign_token(keys["EdDSA"], claims(), alg="Ed25519"))
        assert detail == "token algorithm not allowed"

    async def test_audience_list_containing_ours(
        self, verifier: TokenVerifier, keys: dict[str, TestKey]
    ) -> None:
        body = claims(aud=["http://other.example", ORIGIN])
        assert (await verifier.verify(sign_token(keys["ES256"], body))).claims["aud"] == body["aud"]

    async def test_within_leeway_is_accepted(
        self, verifier: TokenVerifier, keys: dict[str, TestKey]
    ) -> None:
        body = claims(iat=NOW + LEEWAY, exp=NOW - LEEWAY + 1, nbf=NOW + LEEWAY)
        result = await verifier.verify(sign_token(keys["EdDSA"], body))
        assert result.not_before == NOW + LEEWAY

    async def test_float_numeric_dates_are_accepted(
        self, verifier: TokenVerifier, keys: dict[str, TestKey]
    ) -> None:
        body = claims(iat=NOW - 0.5, exp=NOW + 60.25)
        assert (await verifier.verify(sign_token(keys["EdDSA"], body))).expires_at == NOW + 60.25

    async def test_from_settings(self, keys: dict[str, TestKey]) -> None:
        config = Settings(_env_file=None, better_auth_url=ORIGIN)
        cache = JwksCache(
            StaticKeySource([keys["EdDSA"].public_jwk()]),
            ttl=300,
            min_ttl=0,
            refetch_cooldown=1,
            max_stale=0,
        )
        verifier = TokenVerifier.from_settings(config, cache, clock=ManualClock(NOW))
        assert (await verifier.verify(sign_token(keys["EdDSA"], claims()))).alg == "EdDSA"


class TestTimeClaims:
    async def test_expired(self, verifier: TokenVerifier, keys: dict[str, TestKey]) -> None:
        body = claims(iat=NOW - 1000, exp=NOW - LEEWAY)
        assert await refused(verifier, sign_token(keys["EdDSA"], body), "TOKEN_EXPIRED") == (
            "token expired"
        )

    async def test_not_yet_valid(self, verifier: TokenVerifier, keys: dict[str, TestKey]) -> None:
        body = claims(nbf=NOW + LEEWAY + 1)
        assert await refused(verifier, sign_token(keys["EdDSA"], body)) == "token not yet valid"

    async def test_issued_in_the_future(
        self, verifier: TokenVerifier, keys: dict[str, TestKey]
    ) -> None:
        body = claims(iat=NOW + LEEWAY + 1)
        assert await refused(verifier, sign_token(keys["EdDSA"], body)) == (
            "token issued in the future"
        )

    @pytest.mark.parametrize("claim", ["exp", "iat"])
    async def test_exp_and_iat_are_required(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], claim: str
    ) -> None:
        body = claims()
        del body[claim]
        await refused(verifier, sign_token(keys["EdDSA"], body))

    @pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
    @pytest.mark.parametrize(
        "value",
        [
            str(NOW + 60),
            True,
            False,
            None,
            [NOW + 60],
            {"t": 1},
            float("inf"),
            float("nan"),
            10**400,
            -(10**20),
        ],
    )
    async def test_numeric_dates_must_be_numbers(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], claim: str, value: Any
    ) -> None:
        body = claims()
        body[claim] = value
        await refused(verifier, sign_token(keys["EdDSA"], body))


class TestClaims:
    @pytest.mark.parametrize(
        ("change", "code"),
        [
            ({"iss": "http://127.0.0.1:3001"}, "TOKEN_ISSUER"),
            ({"aud": "http://127.0.0.1:3001"}, "TOKEN_AUDIENCE"),
            ({"aud": ["http://a.example", "http://b.example"]}, "TOKEN_AUDIENCE"),
            ({"aud": 1}, "TOKEN_AUDIENCE"),
            ({"sub": ""}, "TOKEN_INVALID"),
            ({"sub": 12}, "TOKEN_INVALID"),
            ({"sub": "x" * 256}, "TOKEN_INVALID"),
            ({"sub": None}, "TOKEN_INVALID"),
        ],
    )
    async def test_claim_refusals(
        self,
        verifier: TokenVerifier,
        keys: dict[str, TestKey],
        change: dict[str, Any],
        code: str,
    ) -> None:
        await refused(verifier, sign_token(keys["ES256"], claims(**change)), code)

    async def test_longest_subject_is_accepted(
        self, verifier: TokenVerifier, keys: dict[str, TestKey]
    ) -> None:
        result = await verifier.verify(sign_token(keys["ES256"], claims(sub="x" * 255)))
        assert result.subject == "x" * 255


class TestForgeries:
    async def test_tampered_payload(
        self, verifier: TokenVerifier, keys: dict[str, TestKey]
    ) -> None:
        header, _, signature = sign_token(keys["EdDSA"], claims()).split(".")
        forged = f"{header}.{json_b64url(claims(role='admin'))}.{signature}"
        await refused(verifier, forged)

    @pytest.mark.parametrize("alg", ["EdDSA", "RS256", "ES256"])
    async def test_tampered_signature(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], alg: str
    ) -> None:
        header, payload, signature = sign_token(keys[alg], claims()).split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[len(raw) // 2] ^= 0x01
        await refused(verifier, f"{header}.{payload}.{b64url(bytes(raw))}")

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    async def test_alg_none(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], alg: str
    ) -> None:
        header = {"alg": alg, "kid": keys["EdDSA"].kid}
        await refused(verifier, encode_token(header, claims(), b"x"))
        await refused(verifier, f"{json_b64url(header)}.{json_b64url(claims())}.")

    async def test_unsigned_token_with_empty_signature(
        self, verifier: TokenVerifier, keys: dict[str, TestKey]
    ) -> None:
        token = f"{json_b64url({'alg': 'none'})}.{json_b64url(claims())}."
        assert await refused(verifier, token) == "malformed token"

    @pytest.mark.parametrize("victim", ["RS256", "EdDSA", "ES256"])
    async def test_hs256_with_the_public_key_as_secret(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], victim: str
    ) -> None:
        key = keys[victim]
        headers = {"kid": key.kid}
        secrets_tried = [
            key.public_pem(),
            json.dumps(key.public_jwk()).encode(),
            json.dumps(key.public_jwk(), separators=(",", ":"), sort_keys=True).encode(),
        ]
        for secret in secrets_tried:
            detail = await refused(verifier, sign_hmac(secret, claims(), headers))
            assert detail == "token algorithm not allowed"

    @pytest.mark.parametrize(
        ("header_alg", "key_alg"),
        [
            ("RS256", "EdDSA"),
            ("ES256", "EdDSA"),
            ("EdDSA", "ES256"),
            ("ES256", "ES384"),
            ("ES512", "ES384"),
            ("PS256", "RS256"),
            ("RS256", "PS256"),
            ("EdDSA", "RS256"),
        ],
    )
    async def test_header_algorithm_must_match_the_key(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], header_alg: str, key_alg: str
    ) -> None:
        token = sign_token(keys[key_alg], claims(), alg=header_alg)
        assert await refused(verifier, token) == "token algorithm does not match the key"

    async def test_crit_header_is_refused(
        self, verifier: TokenVerifier, keys: dict[str, TestKey]
    ) -> None:
        token = sign_token(keys["EdDSA"], claims(), headers={"crit": ["exp"], "exp": 1})
        assert await refused(verifier, token) == "unsupported critical header"
        b64 = sign_token(keys["EdDSA"], claims(), headers={"b64": False, "crit": ["b64"]})
        await refused(verifier, b64)

    async def test_embedded_jwk_header_is_ignored(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], attacker: TestKey
    ) -> None:
        embedded = {"jwk": attacker.public_jwk()}
        await refused(verifier, sign_token(attacker, claims(), headers=embedded), "KEY_NOT_FOUND")
        as_victim = {**embedded, "kid": keys["EdDSA"].kid}
        detail = await refused(verifier, sign_token(attacker, claims(), headers=as_victim))
        assert detail == "invalid token signature"
        no_kid = make_verifier([keys["EdDSA"].public_jwk()])
        await refused(no_kid, sign_token(attacker, claims(), headers=embedded, include_kid=False))

    @pytest.mark.parametrize("member", ["jku", "x5u"])
    async def test_key_urls_are_never_fetched(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], attacker: TestKey, member: str
    ) -> None:
        with JwksServer({"keys": [attacker.public_jwk()]}) as server:
            token = sign_token(attacker, claims(), headers={member: server.url})
            await refused(verifier, token, "KEY_NOT_FOUND")
            forged = sign_token(
                attacker, claims(), headers={member: server.url, "kid": keys["EdDSA"].kid}
            )
            await refused(verifier, forged)
            assert server.hits == 0

    async def test_x5c_header_is_ignored(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], attacker: TestKey
    ) -> None:
        fake_chain = [base64.b64encode(attacker.public_pem()).decode()]
        token = sign_token(
            attacker, claims(), headers={"x5c": fake_chain, "kid": keys["EdDSA"].kid}
        )
        await refused(verifier, token)
        genuine = sign_token(keys["EdDSA"], claims(), headers={"x5c": fake_chain, "jku": "x"})
        assert (await verifier.verify(genuine)).kid == keys["EdDSA"].kid


class TestKeySelection:
    async def test_unknown_kid(self, verifier: TokenVerifier, attacker: TestKey) -> None:
        await refused(verifier, sign_token(attacker, claims()), "KEY_NOT_FOUND")

    async def test_missing_kid_with_one_key(self, keys: dict[str, TestKey]) -> None:
        single = make_verifier([keys["ES256"].public_jwk()])
        result = await single.verify(sign_token(keys["ES256"], claims(), include_kid=False))
        assert result.kid == keys["ES256"].kid

    async def test_missing_kid_with_several_keys(
        self, verifier: TokenVerifier, keys: dict[str, TestKey]
    ) -> None:
        token = sign_token(keys["ES256"], claims(), include_kid=False)
        assert "several keys" in await refused(verifier, token)

    @pytest.mark.parametrize("kid", [7, "", "k" * 257, ["a"], {"k": 1}])
    async def test_malformed_kid(
        self, verifier: TokenVerifier, keys: dict[str, TestKey], kid: Any
    ) -> None:
        token = sign_token(keys["ES256"], claims(), headers={"kid": kid})
        assert await refused(verifier, token) == "invalid key id"


class TestMalformedInput:
    async def test_oversized_token(self, keys: dict[str, TestKey]) -> None:
        small = make_verifier([keys["EdDSA"].public_jwk()], max_token_bytes=600)
        token = sign_token(keys["EdDSA"], claims(padding="x" * 600))
        assert await refused(small, token) == "token too large"

    @pytest.mark.parametrize(
        "token",
        [
            "",
            " ",
            "garbage",
            "Bearer abc.def.ghi",
            "a.b",
            "a.b.c.d",
            "a.b.c.d.e",
            "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d",
            "!!!.???.***",
            "e30.e30.e30",
            f"{json_b64url({'alg': 'EdDSA'})}.{json_b64url(['x'])}.AAAA",
            f"{json_b64url({'alg': ['EdDSA']})}.e30.AAAA",
            f"{json_b64url({'alg': ''})}.e30.AAAA",
            f"{json_b64url({'alg': 'HS256'})}.e30.AAAA",
            f"{json_b64url({'alg': 'HS512'})}.e30.AAAA",
            f"{json_b64url({'alg': 'RSA-OAEP'})}.e30.AAAA",
            "\x00\x01\x02",
            "тест.тест.тест",
        ],
    )
    async def test_garbage_is_token_invalid(self, verifier: TokenVerifier, token: str) -> None:
        await refused(verifier, token)

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.text(max_size=300) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
    def test_fuzzed_strings_only_ever_raise_unauthorized(
        self, keys: dict[str, TestKey], text: str
    ) -> None:
        self._only_unauthorized(keys, [text, f"{text}.{text}.{text}"])

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        ),
        max_leaves=10,
    )
    claim_names = st.sampled_from(
        ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "at_hash", "role"]
    )

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        header=st.dictionaries(
            st.sampled_from(["alg", "kid", "crit", "jku", "jwk", "typ", "b64", "zip"]),
            json_values | st.sampled_from([*ALL_ALGORITHMS, "none", "HS256"]),
        ),
        body=st.dictionaries(claim_names, json_values) | json_values,
        signature=st.binary(max_size=80),
    )
    def test_fuzzed_structures_only_ever_raise_unauthorized(
        self, keys: dict[str, TestKey], header: dict[str, Any], body: Any, signature: bytes
    ) -> None:
        payload = json.dumps(body).encode()
        token = encode_token(header, payload, signature)
        signed = sign_token(keys["EdDSA"], payload, headers=header)
        self._only_unauthorized(keys, [token, signed])

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        body=st.dictionaries(
            claim_names, json_values | st.integers(NOW - 2000, NOW + 2000) | st.just(ORIGIN)
        )
    )
    def test_fuzzed_signed_claims_verify_or_raise_unauthorized(
        self, keys: dict[str, TestKey], body: dict[str, Any]
    ) -> None:
        self._only_unauthorized(keys, [sign_token(keys["ES256"], body)])

    @staticmethod
    def _only_unauthorized(keys: dict[str, TestKey], tokens: list[str]) -> None:
        async def run() -> None:
            verifier = make_verifier([keys["EdDSA"].public_jwk(), keys["ES256"].public_jwk()])
            for token in tokens:
                try:
                    result = await verifier.verify(token)
                except Unauthorized:
                    continue
                except AppError as error:  # pragma: no cover - the assertion explains
                    pytest.fail(f"{type(error).__name__} {error.code} for {token!r}")
                assert isinstance(result, VerifiedToken)

        asyncio.run(run())


def empty_cache() -> JwksCache:
    return JwksCache(StaticKeySource([]), ttl=1, min_ttl=0, refetch_cooldown=1, max_stale=0)


class TestConstruction:
    @pytest.mark.parametrize("algorithms", [["HS256"], ["EdDSA", "none"], ["RS256", "HS512"], []])
    def test_symmetric_and_none_algorithms_are_refused(self, algorithms: list[str]) -> None:
        with pytest.raises(ValueError):
            TokenVerifier(empty_cache(), issuer=ORIGIN, audience=ORIGIN, algorithms=algorithms)

    def test_issuer_and_audience_are_required(self) -> None:
        with pytest.raises(ValueError):
            TokenVerifier(empty_cache(), issuer="", audience=ORIGIN, algorithms=["EdDSA"])


SECRET = "unit-secret-unit-secret-unit-secret-0123"


def sign_session(token: str, secret: str = SECRET) -> str:
    mac = hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
    return f"{token}.{base64.b64encode(mac).decode()}"


def session_token_with(char: str) -> str:
    """A 32-character token whose signature contains ``char`` (deterministic search)."""
    for index in range(10_000):
        token = f"{index:032d}"
        if char in sign_session(token).split(".")[1]:
            return token
    raise AssertionError(char)  # pragma: no cover


class TestSessionTokenSignature:
    TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"

    def test_bare_token(self) -> None:
        assert verify_session_token_signature(self.TOKEN, SECRET) == self.TOKEN

    def test_bare_token_refused_when_a_signature_is_required(self) -> None:
        with pytest.raises(Unauthorized) as error:
            verify_session_token_signature(self.TOKEN, SECRET, allow_unsigned=False)
        assert error.value.code == "SESSION_INVALID"

    @pytest.mark.parametrize("char", ["/", "+"])
    def test_signed_and_url_encoded(self, char: str) -> None:
        token = session_token_with(char)
        signed = sign_session(token)
        encoded = signed.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
        assert verify_session_token_signature(signed, SECRET) == token
        assert verify_session_token_signature(encoded, SECRET, allow_unsigned=False) == token

    @pytest.mark.parametrize(
        "value",
        [
            sign_session(TOKEN, "another-secret"),
            sign_session(TOKEN)[:-1],  # padding removed
            sign_session(TOKEN)[:-2] + "A=",
            sign_session(TOKEN).replace(".", ".."),
            f"{TOKEN}.",
            f".{sign_session(TOKEN).split('.')[1]}",
            sign_session(TOKEN).replace(TOKEN, TOKEN[::-1], 1),
            "",
            "tok en",
            "token%FF",
            "token%2",
            "a" * 256,
            sign_session(TOKEN).replace("=", "%3d%3D"),
        ],
    )
    def test_invalid_forms(self, value: str) -> None:
        with pytest.raises(Unauthorized) as error:
            verify_session_token_signature(value, SECRET)
        assert error.value.code == "SESSION_INVALID"

    def test_an_empty_secret_verifies_nothing(self) -> None:
        with pytest.raises(Unauthorized):
            verify_session_token_signature(sign_session(self.TOKEN, ""), "")

    def test_a_remembered_verification_holds_for_its_secret_only(self) -> None:
        signed = sign_session(self.TOKEN)
        assert verify_session_token_signature(signed, SECRET) == self.TOKEN
        assert verify_session_token_signature(signed, SECRET) == self.TOKEN  # remembered
        with pytest.raises(Unauthorized):
            verify_session_token_signature(signed, "another-secret")  # the secret rotated away
        assert self.TOKEN not in repr(session_tokens._verified)  # digests, not credentials

    def test_a_refusal_is_not_remembered(self) -> None:
        forged = sign_session(self.TOKEN, "another-secret")
        for _ in range(2):
            with pytest.raises(Unauthorized):
                verify_session_token_signature(forged, SECRET)


class TestLooksLikeJwt:
    def test_jwt(self, keys: dict[str, TestKey]) -> None:
        assert looks_like_jwt(sign_token(keys["EdDSA"], claims()))

    @pytest.mark.parametrize(
        "value",
        [
            "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            sign_session("AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
            "a.b.c",
            f"{json_b64url({'typ': 'JWT'})}.e30.AAAA",
            f"{json_b64url({'alg': 1})}.e30.AAAA",
            "",
        ],
    )
    def test_not_jwt(self, value: str) -> None:
        assert not looks_like_jwt(value)
