"""python-jose glue: key classes, JWK validation, header parsing, decode with one key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jose import jwk as jose_jwk
from jose import jws as jose_jws
from jose.constants import ALGORITHMS
from jose.exceptions import JWKError

from app.services.auth.jose import (
    Ed25519Key,
    InvalidJwkError,
    RsaPssKey,
    VerificationKey,
    algorithm_matches_key,
    b64url_decode,
    build_public_key,
    decode_verified,
    read_header,
    register_algorithms,
    split_token,
)
from app.utils.errors import Unauthorized
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
ALL_ASYMMETRIC = [
    *("EdDSA", "Ed25519"),
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512"),
]


@pytest.fixture(scope="module")
def keys() -> dict[str, TestKey]:
    rsa = generate_key("RS256")
    return {
        "EdDSA": generate_key("EdDSA"),
        "RS256": rsa,
        "PS256": TestKey("PS256", "ps-kid", rsa.private_key),
        "ES256": generate_key("ES256"),
        "ES384": generate_key("ES384"),
        "ES512": generate_key("ES512"),
    }


def claims(**overrides: Any) -> dict[str, Any]:
    iat = overrides.pop("iat", NOW)
    return better_auth_claims(ORIGIN, iat=iat, **overrides)


def decode(token: str, key: TestKey, allowed: list[str] | None = None) -> dict[str, Any]:
    verification_key = build_public_key(key.public_jwk())
    return decode_verified(token, verification_key, allowed or [key.alg], ORIGIN, ORIGIN)


def code_of(error: pytest.ExceptionInfo[Unauthorized]) -> str:
    return error.value.code


class TestRegistration:
    def test_eddsa_and_pss_are_registered_with_python_jose(self) -> None:
        assert jose_jwk.get_key("EdDSA") is Ed25519Key
        assert jose_jwk.get_key("Ed25519") is Ed25519Key
        for alg in ("PS256", "PS384", "PS512"):
            assert jose_jwk.get_key(alg) is RsaPssKey
        for alg in ("EdDSA", "Ed25519", "PS256"):
            assert alg in ALGORITHMS.SUPPORTED
            assert alg in ALGORITHMS.ALL

    def test_registration_is_idempotent(self) -> None:
        before = (set(ALGORITHMS.SUPPORTED), dict(ALGORITHMS.KEYS))
        register_algorithms()
        register_algorithms()
        assert (set(ALGORITHMS.SUPPORTED), dict(ALGORITHMS.KEYS)) == before

    def test_jwk_construct_builds_an_eddsa_key_from_an_okp_jwk(
        self, keys: dict[str, TestKey]
    ) -> None:
        key = jose_jwk.construct(keys["EdDSA"].public_jwk(), "EdDSA")
        assert isinstance(key, Ed25519Key)
        assert key.to_dict()["x"] == keys["EdDSA"].public_jwk()["x"]

    @pytest.mark.parametrize("source", ["RS256", "ES256"])
    def test_eddsa_is_bound_to_okp_keys_only(self, keys: dict[str, TestKey], source: str) -> None:
        with pytest.raises(JWKError):
            jose_jwk.construct(keys[source].public_jwk(), "EdDSA")

    def test_eddsa_verifies_through_python_jose_jws(self, keys: dict[str, TestKey]) -> None:
        key = keys["EdDSA"]
        token = sign_token(key, {"hello": "world"})
        payload = jose_jws.verify(token, Ed25519Key(key.public_jwk(), "EdDSA"), ["EdDSA"])
        assert json.loads(payload) == {"hello": "world"}


class TestEd25519Key:
    def test_bad_signatures_return_false(self, keys: dict[str, TestKey]) -> None:
        key = Ed25519Key(keys["EdDSA"].public_jwk(), "EdDSA")
        good = keys["EdDSA"].sign(b"message")
        assert key.verify(b"message", good)
        assert not key.verify(b"other", good)
        assert not key.verify(b"message", good[:-1])
        assert not key.verify(b"message", b"")
        assert not key.verify(b"message", b"\x00" * 64)

    def test_it_cannot_sign_and_exports_public_material(self, keys: dict[str, TestKey]) -> None:
        key = Ed25519Key(keys["EdDSA"].public_jwk(), "Ed25519")
        with pytest.raises(JWKError):
            key.sign(b"x")
        assert key.public_key() is key
        assert key.to_pem() == keys["EdDSA"].public_pem()
        assert key.to_dict()["alg"] == "Ed25519"

    def test_it_refuses_other_algorithms_and_materials(self, keys: dict[str, TestKey]) -> None:
        with pytest.raises(JWKError):
            Ed25519Key(keys["EdDSA"].public_jwk(), "RS256")
        with pytest.raises(JWKError):
            Ed25519Key(b"raw bytes", "EdDSA")
        with pytest.raises(JWKError):
            Ed25519Key({"kty": "OKP", "crv": "Ed448", "x": "AA"}, "EdDSA")


class TestRsaPssKey:
    def test_verifies_pss_but_not_pkcs1(self, keys: dict[str, TestKey]) -> None:
        key = RsaPssKey(keys["RS256"].public_jwk(), "PS256")
        assert key.verify(b"m", keys["PS256"].sign(b"m"))
        assert not key.verify(b"m", keys["RS256"].sign(b"m"))
        assert not key.verify(b"m", b"short")
        with pytest.raises(JWKError):
            key.sign(b"m")
        assert key.to_dict()["n"] == keys["RS256"].public_jwk()["n"]
        assert key.public_key() is key
        assert key.to_pem() == keys["RS256"].public_pem()

    def test_refuses_non_pss_algorithms_and_non_rsa_keys(self, keys: dict[str, TestKey]) -> None:
        with pytest.raises(JWKError):
            RsaPssKey(keys["RS256"].public_jwk(), "RS256")
        with pytest.raises(JWKError):
            RsaPssKey(keys["EdDSA"].public_jwk(), "PS256")
        with pytest.raises(JWKError):
            RsaPssKey(42, "PS256")


class TestBuildPublicKey:
    @pytest.mark.parametrize("alg", ["EdDSA", "RS256", "PS256", "ES256", "ES384", "ES512"])
    def test_builds_each_supported_key(self, keys: dict[str, TestKey], alg: str) -> None:
        key = build_public_key(keys[alg].public_jwk())
        assert key.alg == alg
        assert key.kid == keys[alg].kid

    @pytest.mark.parametrize(
        ("alg", "expected"),
        [("EdDSA", "EdDSA"), ("ES256", "ES256"), ("ES384", "ES384"), ("ES512", "ES512")],
    )
    def test_alg_is_derived_from_the_curve_when_absent(
        self, keys: dict[str, TestKey], alg: str, expected: str
    ) -> None:
        assert build_public_key(keys[alg].public_jwk(with_alg=False)).alg == expected

    def test_rsa_without_alg_verifies_rs_and_ps_only(self, keys: dict[str, TestKey]) -> None:
        """Better-Auth 1.6 stores no ``alg`` (JWKS_SOURCE=database): the RSA material cannot say
        PKCS#1 or PSS, so both families fit, and nothing else."""
        key = build_public_key(keys["RS256"].public_jwk(with_alg=False))
        fits = {
            alg for alg in [*ALL_ASYMMETRIC, "HS256", "none"] if algorithm_matches_key(alg, key)
        }
        assert fits == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

    def test_ed25519_name_is_kept_and_equivalent_to_eddsa(self, keys: dict[str, TestKey]) -> None:
        key = build_public_key(keys["EdDSA"].public_jwk(alg="Ed25519"))
        assert key.alg == "Ed25519"
        assert algorithm_matches_key("EdDSA", key)
        assert algorithm_matches_key("Ed25519", key)
        assert not algorithm_matches_key("RS256", key)

    def test_use_sig_and_verify_key_ops_are_accepted(self, keys: dict[str, TestKey]) -> None:
        jwk = {**keys["ES256"].public_jwk(), "use": "sig", "key_ops": ["verify"]}
        assert build_public_key(jwk).alg == "ES256"

    @pytest.mark.parametrize(
        ("alg", "change"),
        [
            ("RS256", {"kty": "oct", "k": "c2VjcmV0"}),
            ("RS256", {"use": "enc"}),
            ("ES256", {"key_ops": ["sign"]}),
            ("ES256", {"key_ops": "verify"}),
            ("ES256", {"kty": "XYZ"}),
            ("ES256", {"kty": None}),
            ("ES256", {"crv": "secp256k1"}),
            ("ES256", {"crv": "P-384"}),
            ("ES384", {"alg": "ES256"}),
            ("ES256", {"alg": "RS256"}),
            ("EdDSA", {"crv": "Ed448"}),
            ("EdDSA", {"crv": "X25519"}),
            ("EdDSA", {"alg": "RS256"}),
            ("RS256", {"alg": "EdDSA"}),
            ("RS256", {"alg": "HS256"}),
            ("RS256", {"alg": 256}),
            ("RS256", {"kid": 7}),
            ("RS256", {"kid": ""}),
            ("EdDSA", {"x": "not base64!"}),
            ("EdDSA", {"x": b64url(b"\x01" * 31)}),
            ("EdDSA", {"x": None}),
            ("ES256", {"y": b64url(b"\x01" * 32)}),  # not on the curve
            ("ES256", {"x": b64url(b"\x01" * 31)}),
            ("RS256", {"n": b64url((2**1023 + 1).to_bytes(128, "big"))}),  # 1024 bits
            ("RS256", {"e": b64url(b"\x02")}),
            ("RS256", {"n": 12345}),
        ],
    )
    def test_rejects_unusable_keys(
        self, keys: dict[str, TestKey], alg: str, change: dict[str, Any]
    ) -> None:
        with pytest.raises(InvalidJwkError):
            build_public_key({**keys[alg].public_jwk(), **change})

    @pytest.mark.parametrize("alg", ["EdDSA", "RS256", "ES256"])
    def test_rejects_private_keys(self, keys: dict[str, TestKey], alg: str) -> None:
        with pytest.raises(InvalidJwkError, match="private"):
            build_public_key(keys[alg].private_jwk())

    def test_rejects_symmetric_keys_and_non_objects(self) -> None:
        with pytest.raises(InvalidJwkError, match="symmetric"):
            build_public_key({"kty": "oct", "alg": "HS256"})
        with pytest.raises(InvalidJwkError):
            build_public_key(["not", "a", "jwk"])  # type: ignore[arg-type]


class TestBase64Url:
    def test_only_the_canonical_spelling_decodes(self) -> None:
        assert b64url_decode("AQ") == b"\x01"
        for bad in ["AR", "AQ==", "A", "A+B/", "AQ.", "", "Zg=="]:
            with pytest.raises(ValueError):
                b64url_decode(bad)


class TestReadHeader:
    def test_reads_the_header(self, keys: dict[str, TestKey]) -> None:
        token = sign_token(keys["EdDSA"], claims())
        assert read_header(token) == {"alg": "EdDSA", "kid": keys["EdDSA"].kid}

    def test_size_guard_comes_before_parsing(self) -> None:
        with pytest.raises(Unauthorized, match="too large") as error:
            read_header("a" * 1001, max_bytes=1000)
        assert code_of(error) == "TOKEN_INVALID"

    @pytest.mark.parametrize(
        "token",
        [
            "",
            "abc",
            "a.b",
            "a.b.c.d.e",
            "...",
            "eyJhbGciOiJFZERTQSJ9..c2ln",
            "eyJhbGciOiJFZERTQSJ9.e30.",
            "e30.e30.c2ln!",
            "e30.e30.c2ln=",
            "eyJhbGciOiJFZERTQSJ9.e30.c2lné",
            f"{b64url(b'not json')}.e30.c2ln",
            f"{json_b64url([1, 2])}.e30.c2ln",
            f"{json_b64url('str')}.e30.c2ln",
            f"{b64url(b'[' * 3000 + b']' * 3000)}.e30.c2ln",
            f"{b64url(bytes([0xFF, 0xFE]))}.e30.c2ln",
        ],
    )
    def test_malformed_tokens_are_token_invalid(self, token: str) -> None:
        with pytest.raises(Unauthorized) as error:
            read_header(token)
        assert code_of(error) == "TOKEN_INVALID"

    def test_split_token_returns_three_segments(self) -> None:
        assert split_token("e30.e30.c2ln") == ("e30", "e30", "c2ln")


class TestDecodeVerified:
    @pytest.mark.parametrize("alg", ["EdDSA", "RS256", "PS256", "ES256", "ES384", "ES512"])
    def test_valid_token(self, keys: dict[str, TestKey], alg: str) -> None:
        body = claims()
        assert decode(sign_token(keys[alg], body), keys[alg]) == body

    def test_time_claims_are_left_to_the_verifier(self, keys: dict[str, TestKey]) -> None:
        body = claims(iat=1, exp=2, nbf=NOW * 2)
        assert decode(sign_token(keys["EdDSA"], body), keys["EdDSA"]) == body

    def test_allow_list_must_contain_the_keys_algorithm(self, keys: dict[str, TestKey]) -> None:
        token = sign_token(keys["RS256"], claims())
        with pytest.raises(Unauthorized, match="does not match"):
            decode(token, keys["RS256"], allowed=["PS256", "ES256", "HS256", "none"])

    def test_hs256_cannot_be_smuggled_through_the_allow_list(
        self, keys: dict[str, TestKey]
    ) -> None:
        key = build_public_key(keys["RS256"].public_jwk())
        forged = VerificationKey("k", "HS256", "oct", None, key.jose_key)
        with pytest.raises(Unauthorized):
            decode_verified(sign_token(keys["RS256"], claims()), forged, ["HS256"], ORIGIN, ORIGIN)

    @pytest.mark.parametrize(
        ("change", "code"),
        [
            ({"iss": "http://evil.example"}, "TOKEN_ISSUER"),
            ({"iss": None}, "TOKEN_ISSUER"),
            ({"iss": [ORIGIN]}, "TOKEN_ISSUER"),
            ({"aud": "http://other.example"}, "TOKEN_AUDIENCE"),
            ({"aud": ["http://other.example"]}, "TOKEN_AUDIENCE"),
            ({"aud": []}, "TOKEN_AUDIENCE"),
            ({"aud": {"a": ORIGIN}}, "TOKEN_AUDIENCE"),
            ({"aud": [ORIGIN, 3]}, "TOKEN_AUDIENCE"),
            ({"aud": 3}, "TOKEN_AUDIENCE"),
            ({"sub": 42}, "TOKEN_INVALID"),
            ({"jti": 42}, "TOKEN_INVALID"),
        ],
    )
    def test_claim_failures_have_stable_codes(
        self, keys: dict[str, TestKey], change: dict[str, Any], code: str
    ) -> None:
        token = sign_token(keys["EdDSA"], claims(**change))
        with pytest.raises(Unauthorized) as error:
            decode(token, keys["EdDSA"])
        assert code_of(error) == code

    @pytest.mark.parametrize(
        ("missing", "code"),
        [("iss", "TOKEN_ISSUER"), ("aud", "TOKEN_AUDIENCE"), ("sub", "TOKEN_INVALID")],
    )
    def test_iss_aud_sub_are_required(
        self, keys: dict[str, TestKey], missing: str, code: str
    ) -> None:
        body = claims()
        del body[missing]
        with pytest.raises(Unauthorized) as error:
            decode(sign_token(keys["EdDSA"], body), keys["EdDSA"])
        assert code_of(error) == code

    def test_at_hash_without_an_access_token_is_refused(self, keys: dict[str, TestKey]) -> None:
        # python-jose's at_hash check stays on; Better-Auth never sends at_hash.
        with pytest.raises(Unauthorized, match="invalid token claims") as error:
            decode(sign_token(keys["EdDSA"], claims(at_hash="abc")), keys["EdDSA"])
        assert code_of(error) == "TOKEN_INVALID"

    def test_audience_list_containing_ours(self, keys: dict[str, TestKey]) -> None:
        body = claims(aud=["http://other.example", ORIGIN])
        assert decode(sign_token(keys["ES256"], body), keys["ES256"])["aud"] == body["aud"]

    @pytest.mark.parametrize("payload", [b"[1, 2]", b"not json", b"[" * 5000 + b"]" * 5000])
    def test_signed_garbage_payloads_are_token_invalid(
        self, keys: dict[str, TestKey], payload: bytes
    ) -> None:
        with pytest.raises(Unauthorized) as error:
            decode(sign_token(keys["EdDSA"], payload), keys["EdDSA"])
        assert code_of(error) == "TOKEN_INVALID"

    def test_signature_from_another_key_is_refused(self, keys: dict[str, TestKey]) -> None:
        other = generate_key("EdDSA", kid=keys["EdDSA"].kid)
        with pytest.raises(Unauthorized, match="signature") as error:
            decode(sign_token(other, claims()), keys["EdDSA"])
        assert code_of(error) == "TOKEN_INVALID"

    def test_tampered_payload_is_refused(self, keys: dict[str, TestKey]) -> None:
        header, _, signature = sign_token(keys["ES256"], claims()).split(".")
        forged = f"{header}.{json_b64url(claims(role='admin'))}.{signature}"
        with pytest.raises(Unauthorized, match="signature"):
            decode(forged, keys["ES256"])

    def test_unsigned_token_is_refused(self, keys: dict[str, TestKey]) -> None:
        token = encode_token({"alg": "EdDSA"}, claims(), b"")
        with pytest.raises(Unauthorized):
            decode(token, keys["EdDSA"])


class TestJwkWithoutAlg:
    """A JWK without ``alg`` (Better-Auth 1.6's ``jwks`` rows): the algorithm is inferred from the
    key, the allow-list still applies, and no key verifies another type's algorithm."""

    @pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
    def test_rsa_key_verifies_each_rsa_algorithm(self, keys: dict[str, TestKey], alg: str) -> None:
        signer = TestKey(alg, keys["RS256"].kid, keys["RS256"].private_key)
        key = build_public_key(signer.public_jwk(with_alg=False))
        body = claims()
        assert (
            decode_verified(sign_token(signer, body), key, ALL_ASYMMETRIC, ORIGIN, ORIGIN) == body
        )

    @pytest.mark.parametrize(("alg", "crv"), [("EdDSA", "Ed25519"), ("ES256", "P-256")])
    def test_okp_and_ec_keys_verify_their_algorithm(
        self, keys: dict[str, TestKey], alg: str, crv: str
    ) -> None:
        jwk = keys[alg].public_jwk(with_alg=False)
        assert "alg" not in jwk
        assert jwk["crv"] == crv
        key = build_public_key(jwk)
        body = claims()
        assert (
            decode_verified(sign_token(keys[alg], body), key, ALL_ASYMMETRIC, ORIGIN, ORIGIN)
            == body
        )

    def test_the_allow_list_still_applies(self, keys: dict[str, TestKey]) -> None:
        signer = TestKey("PS256", keys["RS256"].kid, keys["RS256"].private_key)
        key = build_public_key(signer.public_jwk(with_alg=False))
        with pytest.raises(Unauthorized, match="does not match"):
            decode_verified(sign_token(signer, claims()), key, ["RS256"], ORIGIN, ORIGIN)

    def test_the_header_cannot_switch_pkcs1_to_pss(self, keys: dict[str, TestKey]) -> None:
        """An RS256 signature presented as PS256 is checked as PSS, and fails."""
        key = build_public_key(keys["RS256"].public_jwk(with_alg=False))
        token = sign_token(keys["RS256"], claims(), alg="PS256")
        with pytest.raises(Unauthorized, match="signature"):
            decode_verified(token, key, ALL_ASYMMETRIC, ORIGIN, ORIGIN)

    @pytest.mark.parametrize(
        ("key_alg", "header_alg"),
        [
            ("RS256", "ES256"),
            ("RS256", "EdDSA"),
            ("EdDSA", "RS256"),
            ("EdDSA", "ES256"),
            ("ES256", "ES384"),
            ("ES256", "RS256"),
            ("ES256", "EdDSA"),
            ("ES512", "ES256"),
        ],
    )
    def test_no_key_verifies_another_types_algorithm(
        self, keys: dict[str, TestKey], key_alg: str, header_alg: str
    ) -> None:
        key = build_public_key(keys[key_alg].public_jwk(with_alg=False))
        assert not algorithm_matches_key(header_alg, key)
        token = sign_token(keys[key_alg], claims(), alg=header_alg)
        with pytest.raises(Unauthorized):
            decode_verified(token, key, ALL_ASYMMETRIC, ORIGIN, ORIGIN)

    @pytest.mark.parametrize("key_alg", ["RS256", "EdDSA", "ES256"])
    def test_hmac_with_the_public_key_as_secret_is_refused(
        self, keys: dict[str, TestKey], key_alg: str
    ) -> None:
        jwk = keys[key_alg].public_jwk(with_alg=False)
        key = build_public_key(jwk)
        forged = sign_hmac(json.dumps(jwk).encode(), claims(), {"kid": jwk["kid"]})
        assert not algorithm_matches_key("HS256", key)
        with pytest.raises(Unauthorized):
            decode_verified(forged, key, [*ALL_ASYMMETRIC, "HS256"], ORIGIN, ORIGIN)
