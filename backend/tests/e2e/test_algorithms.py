"""Whatever key algorithm Better-Auth signs with (``JWT_ALG``), the API verifies its JWTs.

Each algorithm gets a fresh database: Better-Auth keeps signing with the newest key in ``jwks``,
so changing ``JWT_ALG`` on a database that already holds a key changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.better_auth import jwt_header
from tests.e2e.stack import Environment, Stack
from tests.e2e.versions import before

pytestmark = pytest.mark.e2e

# alg -> (kty, crv) of the published key
ALGORITHMS = {
    "EdDSA": ("OKP", "Ed25519"),
    "RS256": ("RSA", None),
    "ES256": ("EC", "P-256"),
}


@pytest.fixture(scope="module", params=list(ALGORITHMS))
def algorithm_stack(request: pytest.FixtureRequest, e2e: Environment) -> Iterator[Stack]:
    with e2e.stack(auth_env={"JWT_ALG": request.param}) as running:
        yield running


def test_tokens_verify_on_the_api(algorithm_stack: Stack) -> None:
    stack = algorithm_stack
    algorithm = stack.auth.env["JWT_ALG"]
    signed_up = stack.better_auth.sign_up(name=f"{algorithm} user")
    jwt = stack.better_auth.token(signed_up.session_token)

    header = jwt_header(jwt)
    assert header["alg"] == algorithm
    (key,) = [key for key in stack.better_auth.jwks()["keys"] if key["kid"] == header["kid"]]
    kty, crv = ALGORITHMS[algorithm]
    assert key["kty"] == kty
    assert key.get("crv") == crv

    response = stack.api_get("/api/v1/auth/me", token=jwt)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == signed_up.user_id

    response = stack.api_get("/api/v1/auth/session", token=jwt)
    assert response.status_code == 200, response.text
    assert response.json()["tokenType"] == "jwt"


def test_ps256_keys_from_the_database_verify(e2e: Environment) -> None:
    """``JWKS_SOURCE=database`` with a PS256 key. Better-Auth 1.6 stores no ``jwks.alg`` (NULL
    here), so the API infers the algorithm from the key instead of taking it for RS256."""
    with e2e.stack(auth_env={"JWT_ALG": "PS256"}, api_env={"JWKS_SOURCE": "database"}) as stack:
        signed_up = stack.better_auth.sign_up(name="PS256 user")
        jwt = stack.better_auth.token(signed_up.session_token)
        assert jwt_header(jwt)["alg"] == "PS256"
        stored = stack.database.fetch('SELECT alg FROM "jwks"')
        assert stored == [{"alg": None if before(1, 7) else "PS256"}]

        response = stack.api_get("/api/v1/auth/me", token=jwt)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == signed_up.user_id
