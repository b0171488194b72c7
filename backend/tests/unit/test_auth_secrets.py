"""BETTER_AUTH_SECRETS: Better-Auth's format and messages (``app.utils.auth_secrets``), and which
secret signs. The same cases run through Better-Auth's own parser in
``tests/e2e/test_secrets_parity.py``."""

from __future__ import annotations

import pytest

from app.config import Settings, SettingsError, load_settings
from app.utils.auth_secrets import VersionedSecret, parse_secrets_env, signing_secret

ACCEPTED: list[tuple[str, list[tuple[int, str]]]] = [
    ("1:abc", [(1, "abc")]),
    ("2:new-secret, 1:old-secret", [(2, "new-secret"), (1, "old-secret")]),
    (" 3 : spaced ", [(3, "spaced")]),
    ("1:a:b:c", [(1, "a:b:c")]),  # the first colon splits
    ("2x:lenient", [(2, "lenient")]),  # parseInt stops at the first non-digit
    ("+4:plus", [(4, "plus")]),
    ("-0:zero", [(0, "zero")]),
    ("0:zero", [(0, "zero")]),
    ("\ufeff5:bom\ufeff", [(5, "bom")]),  # JavaScript's trim removes a BOM
]

ENTRY = 'Invalid BETTER_AUTH_SECRETS entry at position {}. Expected format: "<version>:<secret>"'
VERSION = (
    "Invalid version in BETTER_AUTH_SECRETS entry at position {}. "
    "Version must be a non-negative integer."
)
REFUSED: list[tuple[str, str]] = [
    ("abc", ENTRY.format(1)),
    ("1:a,", ENTRY.format(2)),
    (" ", ENTRY.format(1)),
    ("x:a", VERSION.format(1)),
    ("1:a,-1:b", VERSION.format(2)),
    (":a", VERSION.format(1)),
    ("\u0663:arabic-digit", VERSION.format(1)),
    ("1:  ", "Empty secret value for version 1 in BETTER_AUTH_SECRETS."),
    ("1:a,1:b", "Duplicate version 1 in `secrets`. Each version must be unique."),
    ("01:a,1:b", "Duplicate version 1 in `secrets`. Each version must be unique."),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted(raw: str, expected: list[tuple[int, str]]) -> None:
    assert parse_secrets_env(raw) == tuple(VersionedSecret(v, s) for v, s in expected)


@pytest.mark.parametrize(("raw", "message"), REFUSED)
def test_refused_with_better_auths_message(raw: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_secrets_env(raw)
    assert str(error.value) == message


def test_empty_means_unset() -> None:
    assert parse_secrets_env("") is None
    assert parse_secrets_env(None) is None


class TestSigningSecret:
    def test_first_entry_wins_over_better_auth_secret(self) -> None:
        assert signing_secret("2:new,1:old", "legacy", "auth") == "new"

    def test_better_auth_secret_then_auth_secret(self) -> None:
        assert signing_secret("", "legacy", "auth") == "legacy"
        assert signing_secret("", "", "auth") == "auth"
        assert signing_secret("", "", "") == ""


class TestSettings:
    def test_bad_value_stops_start_with_the_variable_and_message(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BETTER_AUTH_SECRETS", "1:a,1:b")
        with pytest.raises(SettingsError) as error:
            load_settings()
        assert str(error.value) == (
            "invalid setting BETTER_AUTH_SECRETS: Duplicate version 1 in `secrets`. "
            "Each version must be unique."
        )

    def test_both_set_is_allowed_and_the_first_entry_signs(self) -> None:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            better_auth_secret="legacy-secret",
            better_auth_secrets="2:current-secret,1:legacy-secret",
        )
        assert settings.session_secret == "current-secret"

    def test_redis_url_is_checked(self) -> None:
        with pytest.raises(ValueError, match="must be a redis://"):
            Settings(_env_file=None, secondary_storage_url="http://x")  # type: ignore[call-arg]
