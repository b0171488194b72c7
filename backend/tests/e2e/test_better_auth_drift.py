"""Drift: the pinned Better-Auth, run again, still produces what the committed vectors say.

``npm run vectors`` regenerates the conformance data (tests/fixtures/better-auth/) into a
temporary folder, on SQLite and on a temporary PostgreSQL database. Ids, keys, tokens and times
are random; everything else must be identical to the committed copy: the DDL on both dialects,
the JWT header fields, the claim names and value types, the JWK fields, the row columns and value
types, the session credential forms, the origin check's answers. A Better-Auth upgrade (or a
changed plugin option) then fails here with the difference, instead of drifting silently.
Refresh the fixtures with ``npm run vectors`` (with DATABASE_URL pointing at a PostgreSQL server)
and review the diff.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import AUTH_SERVER_DIR, auth_server_environment, run_command
from tests.e2e.stack import Environment
from tests.e2e.versions import pinned_only
from tests.support.vectors import VECTORS_DIR

pytestmark = [
    pytest.mark.e2e,
    # Under `make test-matrix`, another version differs from these vectors by design: its
    # differences are listed in docs/reference/better-auth-versions.md instead.
    pinned_only("compares with the pinned Better-Auth's committed vectors"),
]

VECTORS_TIMEOUT_SECONDS = 240.0


@pytest.fixture(scope="module")
def regenerated(e2e: Environment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("better-auth-vectors")
    run_command(
        ["npm", "run", "-s", "vectors", "--", "--out", str(out)],
        cwd=AUTH_SERVER_DIR,
        env=auth_server_environment(e2e.admin_url, e2e.secret),
        timeout=VECTORS_TIMEOUT_SECONDS,
    )
    return out


def _json(directory: Path, name: str) -> Any:
    return json.loads((directory / name).read_text())


def _type(value: Any) -> str:
    return type(value).__name__


def _shape(value: Any) -> Any:
    """Names and value types, recursively; the values themselves are random."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return _type(value)


def _jwt_header(token: str) -> dict[str, Any]:
    segment = token.split(".", maxsplit=1)[0]
    padded = segment + "=" * (-len(segment) % 4)
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return header


def _token_shape(vector: dict[str, Any]) -> dict[str, Any]:
    claims = vector["claims"]
    return {
        "alg": vector["alg"],
        "fields": sorted(vector),
        "header": {name: _type(value) for name, value in _jwt_header(vector["token"]).items()},
        "header_alg": _jwt_header(vector["token"])["alg"],
        # Claim names in Better-Auth's order, with their types.
        "claims": [(name, _type(value)) for name, value in claims.items()],
        "lifetime": claims["exp"] - claims["iat"],
        "valid_at_after_iat": vector["valid_at"] - claims["iat"],
        "issuer_is_audience": claims["iss"] == claims["aud"] == vector["issuer"],
        # JWK field names and the fixed ones (kty, alg, crv, e); n/x/y/kid are random.
        "jwks": [
            {
                "fields": sorted(key),
                **{name: key[name] for name in ("kty", "alg", "crv", "e") if name in key},
            }
            for key in vector["jwks"]["keys"]
        ],
    }


@pytest.mark.parametrize("name", ["schema-postgres.sql", "schema-sqlite.sql"])
def test_ddl_is_unchanged(regenerated: Path, name: str) -> None:
    assert (regenerated / name).read_text() == (VECTORS_DIR / name).read_text()


def test_tokens_have_the_same_headers_claims_and_keys(regenerated: Path) -> None:
    fresh, committed = _json(regenerated, "tokens.json"), _json(VECTORS_DIR, "tokens.json")
    assert [v["alg"] for v in fresh["tokens"]] == [v["alg"] for v in committed["tokens"]]
    for new, old in zip(fresh["tokens"], committed["tokens"], strict=True):
        assert _token_shape(new) == _token_shape(old)


def test_session_and_api_key_credentials_have_the_same_forms(regenerated: Path) -> None:
    fresh, committed = _json(regenerated, "tokens.json"), _json(VECTORS_DIR, "tokens.json")
    assert sorted(fresh) == sorted(committed)
    for part in ("session", "api_key"):
        assert _shape(fresh[part]) == _shape(committed[part])
    session, old_session = fresh["session"], committed["session"]
    assert session["cookie_name"] == old_session["cookie_name"]
    assert session["signature_rule"] == old_session["signature_rule"]
    assert len(session["token"]) == len(old_session["token"])
    assert len(session["bearer_signed"]) == len(old_session["bearer_signed"])
    assert fresh["api_key"]["hash_rule"] == committed["api_key"]["hash_rule"]
    assert len(fresh["api_key"]["key"]) == len(committed["api_key"]["key"])


@pytest.mark.parametrize("name", ["rows-sqlite.json", "rows-postgres.json"])
def test_rows_have_the_same_columns_and_value_types(regenerated: Path, name: str) -> None:
    fresh, committed = _json(regenerated, name), _json(VECTORS_DIR, name)
    assert list(fresh) == list(committed)
    for table in committed:
        assert list(fresh[table]) == list(committed[table]), table
        assert _shape(fresh[table]) == _shape(committed[table]), table


def test_origin_check_answers_are_unchanged(regenerated: Path) -> None:
    """The origin corpus is deterministic: every answer, byte for byte (app/utils/origins.py is
    held to these by tests/unit/test_origin_matching.py)."""
    assert (regenerated / "origins.json").read_text() == (VECTORS_DIR / "origins.json").read_text()
