"""Issue 17.2 and 17.6: the claims policy (exp required, lifetime cap, sub a non-empty string),
the token cache bound by it, and ECDSA's two spellings of one token kept as one cache entry.

Every token is signed by a real key (tests/support/keys.py) and verified by the real verifier."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from app.services.auth.jose import b64url_decode, b64url_encode
from app.services.auth.jose.ecdsa import canonical_ecdsa_token
from app.services.auth.keys.cache import JwksCache
from app.services.auth.keys.sources import StaticKeySource
from app.services.auth.token_cache import CachedTokenVerifier
from app.services.auth.verifier import TokenVerifier, VerifiedToken
from app.utils.errors import Unauthorized
from tests.support.clock import ManualClock
from tests.support.keys import TestKey, better_auth_claims, generate_key, sign_token

ORIGIN = "http://127.0.0.1:3000"
NOW = 1_800_000_000
LEEWAY = 5
DAY = 86400
ORDERS = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ES384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "ES512": int(
        "01FF" + "FFFFFFFF" * 7 + "FFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}
SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


@pytest.fixture(scope="module")
def keys() -> dict[str, TestKey]:
    return {alg: generate_key(alg) for alg in ("EdDSA", "ES256", "ES384", "ES512")}


class CountingVerifier:
    """The real verifier, counting how often the cache had to call it."""

    def __init__(self, inner: TokenVerifier) -> None:
        self.inner = inner
        self.calls = 0

    async def verify(self, token: str, header: Any = None) -> VerifiedToken:
        self.calls += 1
        return await self.inner.verify(token, header)


def make_verifier(
    keys: dict[str, TestKey], clock: ManualClock, *, max_lifetime: float = DAY
) -> TokenVerifier:
    cache = JwksCache(
        StaticKeySource([key.public_jwk() for key in keys.values()]),
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
        algorithms=["EdDSA", "ES256", "ES384", "ES512"],
        leeway_seconds=LEEWAY,
        max_lifetime_seconds=max_lifetime,
        clock=clock,
    )


def claims(**overrides: Any) -> dict[str, Any]:
    iat = overrides.pop("iat", NOW - 10)
    return better_auth_claims(ORIGIN, iat=iat, **overrides)


async def refused(verifier: Any, token: str) -> str:
    with pytest.raises(Unauthorized) as error:
        await verifier.verify(token)
    assert error.value.code == "TOKEN_INVALID"
    return error.value.detail


class TestClaimsPolicy:
    async def test_a_day_is_the_default_cap(self, keys: dict[str, TestKey]) -> None:
        verifier = make_verifier(keys, ManualClock(NOW))
        token = sign_token(keys["EdDSA"], claims(iat=NOW - 10, exp=NOW - 10 + DAY))
        assert (await verifier.verify(token)).expires_at == NOW - 10 + DAY

    async def test_lifetime_over_the_cap_is_refused(self, keys: dict[str, TestKey]) -> None:
        verifier = make_verifier(keys, ManualClock(NOW))
        token = sign_token(keys["EdDSA"], claims(iat=NOW - 10, exp=NOW - 10 + DAY + 1))
        assert "lifetime" in await refused(verifier, token)

    async def test_a_year_long_token_is_refused(self, keys: dict[str, TestKey]) -> None:
        verifier = make_verifier(keys, ManualClock(NOW))
        token = sign_token(keys["ES256"], claims(iat=NOW - 10, exp=NOW + 365 * DAY))
        await refused(verifier, token)

    async def test_cap_follows_the_setting(self, keys: dict[str, TestKey]) -> None:
        verifier = make_verifier(keys, ManualClock(NOW), max_lifetime=900)
        ok = sign_token(keys["EdDSA"], claims(iat=NOW - 10, exp=NOW - 10 + 900))
        too_long = sign_token(keys["EdDSA"], claims(iat=NOW - 10, exp=NOW - 10 + 901))
        await verifier.verify(ok)
        await refused(verifier, too_long)

    async def test_no_exp_is_refused(self, keys: dict[str, TestKey]) -> None:
        body = claims()
        del body["exp"]
        assert "expiry" in await refused(
            make_verifier(keys, ManualClock(NOW)), sign_token(keys["EdDSA"], body)
        )

    @pytest.mark.parametrize("sub", ["", None, 42, ["u"], {"id": "u"}, True])
    async def test_sub_must_be_a_non_empty_string(
        self, keys: dict[str, TestKey], sub: object
    ) -> None:
        token = sign_token(keys["EdDSA"], claims(sub=sub))
        await refused(make_verifier(keys, ManualClock(NOW)), token)

    async def test_missing_sub_is_refused(self, keys: dict[str, TestKey]) -> None:
        body = claims()
        del body["sub"]
        await refused(make_verifier(keys, ManualClock(NOW)), sign_token(keys["EdDSA"], body))

    def test_setting_default_and_bounds(self) -> None:
        from pydantic import ValidationError

        from app.config import Settings

        assert Settings(_env_file=None).jwt_max_lifetime_seconds == DAY  # type: ignore[call-arg]
        with pytest.raises(ValidationError):
            Settings(_env_file=None, jwt_max_lifetime_seconds=0)  # type: ignore[call-arg]


class TestTokenCacheBoundByPolicy:
    async def test_refused_tokens_are_never_cached(self, keys: dict[str, TestKey]) -> None:
        clock = ManualClock(NOW)
        cache = CachedTokenVerifier(
            make_verifier(keys, clock), max_entries=100, leeway_seconds=LEEWAY, clock=clock
        )
        body = claims()
        del body["exp"]
        for token in (
            sign_token(keys["EdDSA"], claims(exp=NOW + 365 * DAY)),
            sign_token(keys["EdDSA"], body),
            sign_token(keys["EdDSA"], claims(sub="")),
        ):
            await refused(cache, token)
            await refused(cache, token)  # refused again: nothing was remembered
        assert len(cache) == 0

    async def test_an_entry_never_outlives_the_cap(self, keys: dict[str, TestKey]) -> None:
        clock = ManualClock(NOW)
        inner = CountingVerifier(make_verifier(keys, clock))
        cache = CachedTokenVerifier(inner, max_entries=100, leeway_seconds=LEEWAY, clock=clock)
        token = sign_token(keys["EdDSA"], claims(iat=NOW, exp=NOW + DAY))
        await cache.verify(token)
        clock.advance(DAY - LEEWAY - 1)
        await cache.verify(token)
        assert (inner.calls, len(cache)) == (1, 1)
        clock.advance(2 * LEEWAY + 1)  # past exp + leeway, i.e. past iat + cap + leeway
        with pytest.raises(Unauthorized) as error:
            await cache.verify(token)
        assert error.value.code == "TOKEN_EXPIRED"
        assert len(cache) == 0


def high_s_twin(token: str, alg: str) -> str:
    """The other valid spelling of an ES* token: s replaced by n - s."""
    signing_input, _, signature = token.rpartition(".")
    raw = b64url_decode(signature)
    size, order = SIZES[alg], ORDERS[alg]
    s = int.from_bytes(raw[size:], "big")
    return f"{signing_input}.{b64url_encode(raw[:size] + (order - s).to_bytes(size, 'big'))}"


class TestEcdsaMalleability:
    @pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
    def test_both_spellings_verify_with_cryptography(
        self, keys: dict[str, TestKey], alg: str
    ) -> None:
        """The premise, shown with the curve's real order: s and n - s are both valid."""
        token = sign_token(keys[alg], claims())
        twin = high_s_twin(token, alg)
        assert twin != token
        public = keys[alg].private_key.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        digest = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}
        for spelling in (token, twin):
            signing_input, _, signature = spelling.rpartition(".")
            raw = b64url_decode(signature)
            size = SIZES[alg]
            der = encode_dss_signature(
                int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
            )
            public.verify(der, signing_input.encode(), ec.ECDSA(digest[alg]))

    @pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
    async def test_two_spellings_are_one_cache_entry(
        self, keys: dict[str, TestKey], alg: str
    ) -> None:
        clock = ManualClock(NOW)
        inner = CountingVerifier(make_verifier(keys, clock))
        cache = CachedTokenVerifier(inner, max_entries=100, leeway_seconds=LEEWAY, clock=clock)
        token = sign_token(keys[alg], claims())
        twin = high_s_twin(token, alg)
        # Both are genuine (the verifier accepts each) ...
        assert (await inner.inner.verify(twin)).subject == (await inner.inner.verify(token)).subject
        # ... and whichever comes first, the cache holds one entry for the pair.
        for first, second in ((token, twin), (twin, token)):
            cache.clear()
            inner.calls = 0
            await cache.verify(first)
            await cache.verify(second)
            await cache.verify(first)
            assert (inner.calls, len(cache)) == (1, 1)

    @pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
    def test_canonical_spelling_has_low_s(self, keys: dict[str, TestKey], alg: str) -> None:
        token = sign_token(keys[alg], claims())
        twin = high_s_twin(token, alg)
        low = canonical_ecdsa_token(token, alg)
        assert low == canonical_ecdsa_token(twin, alg)
        raw = b64url_decode(low.rpartition(".")[2])
        assert int.from_bytes(raw[SIZES[alg] :], "big") <= ORDERS[alg] // 2

    def test_other_tokens_are_left_as_they_are(self, keys: dict[str, TestKey]) -> None:
        token = sign_token(keys["EdDSA"], claims())
        assert canonical_ecdsa_token(token, "EdDSA") == token
        assert canonical_ecdsa_token("a.b.!!", "ES256") == "a.b.!!"
        assert canonical_ecdsa_token("no-dots", "ES256") == "no-dots"
        assert canonical_ecdsa_token(token, None) == token
