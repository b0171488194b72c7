"""Settings validation and DATABASE_URL translation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import DEFAULT_SQLITE_PATH, Settings, SettingsError, load_settings
from app.database import DatabaseUrlError, resolve_database_target


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


class TestDefaults:
    def test_derives_better_auth_urls(self) -> None:
        s = settings(better_auth_url="https://auth.example.com/")
        assert s.better_auth_url == "https://auth.example.com"
        assert s.jwks_url == "https://auth.example.com/api/auth/jwks"
        assert s.jwt_issuer == "https://auth.example.com"
        assert s.jwt_audience == "https://auth.example.com"

    def test_issuer_is_the_origin_without_path(self) -> None:
        s = settings(better_auth_url="http://127.0.0.1:3000/auth")
        assert s.jwt_issuer == "http://127.0.0.1:3000"
        assert s.jwks_url == "http://127.0.0.1:3000/auth/api/auth/jwks"

    def test_explicit_values_win(self) -> None:
        s = settings(jwks_url="http://keys.local/jwks", jwt_issuer="iss", jwt_audience="aud")
        assert (s.jwks_url, s.jwt_issuer, s.jwt_audience) == (
            "http://keys.local/jwks",
            "iss",
            "aud",
        )

    def test_sqlite_is_the_embedded_default(self) -> None:
        assert settings().database_url == f"sqlite:///{DEFAULT_SQLITE_PATH}"

    def test_defaults_match_better_auth(self) -> None:
        s = settings()
        assert s.jwt_algorithms == ["EdDSA", "RS256", "PS256", "ES256", "ES512"]
        assert s.better_auth_url == "http://localhost:3000"
        assert s.log_format == "json"

    def test_csv_lists_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CORS_ORIGINS", "http://a.test, http://b.test")
        monkeypatch.setenv("JWT_ALGORITHMS", "EdDSA,RS256")
        monkeypatch.setenv("ADMIN_ROLES", "admin,owner")
        s = Settings(_env_file=None)  # type: ignore[call-arg]
        assert s.cors_origins == ["http://a.test", "http://b.test"]
        assert s.jwt_algorithms == ["EdDSA", "RS256"]
        assert "owner" in s.known_roles


class TestValidation:
    @pytest.mark.parametrize(
        ("name", "value", "fragment"),
        [
            ("LOG_FORMAT", "xml", "LOG_FORMAT"),
            ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
            ("BETTER_AUTH_URL", "ftp://x", "BETTER_AUTH_URL"),
            ("BETTER_AUTH_URL", "http://", "BETTER_AUTH_URL"),
            ("JWT_ALGORITHMS", "HS256", "JWT_ALGORITHMS"),
            ("JWT_ALGORITHMS", "none", "JWT_ALGORITHMS"),
            ("JWT_LEEWAY_SECONDS", "120", "JWT_LEEWAY_SECONDS"),
            ("DATABASE_URL", "mysql://root@localhost/db", "DATABASE_URL"),
            ("ENVIRONMENT", "moon", "ENVIRONMENT"),
            ("JWKS_SOURCE", "ldap", "JWKS_SOURCE"),
            ("BETTER_AUTH_LINE", "1.5", "BETTER_AUTH_LINE"),
        ],
    )
    def test_bad_value_names_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
    ) -> None:
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        message = str(caught.value)
        assert fragment in message
        assert "\n" not in message

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("CORS_ORIGINS", "*"),
            ("CORS_ORIGINS", "https://app.example.com, null"),
            ("TRUSTED_ORIGINS", "*"),
            ("TRUSTED_ORIGINS", "**"),
            ("TRUSTED_ORIGINS", "https://*"),
            ("TRUSTED_ORIGINS", "https://*.*"),
            ("TRUSTED_ORIGINS", "*://*"),
            ("TRUSTED_ORIGINS", "http*://*:*/"),
            ("TRUSTED_ORIGINS", "myapp://, null"),
        ],
    )
    def test_an_origin_setting_that_trusts_everyone_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str
    ) -> None:
        """Issue 22: with credentials allowed, ``*`` echoes every origin (CORS) and passes every
        cookie write (the CSRF check). One line naming the variable, like any bad setting."""
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        message = str(caught.value)
        assert message.startswith(f"invalid setting {name}: ")
        assert "would" in message
        assert "\n" not in message

    @pytest.mark.parametrize(
        "value",
        ["https://*.example.com", "*.example.com", "myapp://", "exp://*", "http://10.*", "*.com"],
    )
    def test_patterns_that_name_a_host_are_accepted(self, value: str) -> None:
        assert settings(trusted_origins=value).trusted_origins == [value]

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ("google,corp sso", "'corp sso' is not a provider id"),
            ("google,=Acme", "'' is not a provider id"),
            ("corp-sso=", "corp-sso= needs a label"),
            ("google,github,google=Google", "google is listed twice"),
        ],
    )
    def test_sign_in_providers_are_ids_with_optional_labels(
        self, monkeypatch: pytest.MonkeyPatch, value: str, fragment: str
    ) -> None:
        monkeypatch.setenv("ADMIN_CONSOLE_SIGN_IN_PROVIDERS", value)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        message = str(caught.value)
        assert message.startswith("invalid setting ADMIN_CONSOLE_SIGN_IN_PROVIDERS: ")
        assert fragment in message

    def test_a_console_with_no_way_to_sign_in_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="ADMIN_CONSOLE_SIGN_IN_PROVIDERS"):
            settings(admin_console_password_sign_in=False)
        only_sso = settings(
            admin_console_password_sign_in=False, admin_console_sign_in_providers="sso"
        )
        assert only_sso.admin_console_sign_in_providers == ["sso"]
        # No console, nothing to sign in to.
        assert not settings(
            admin_console_enabled=False, admin_console_password_sign_in=False
        ).admin_console_enabled

    def test_validation_error_is_raised_directly_too(self) -> None:
        with pytest.raises(ValidationError):
            settings(jwt_leeway_seconds=-1)

    def test_app_exits_with_one_line(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import subprocess
        import sys

        env = {"LOG_FORMAT": "xml", "PATH": "/usr/bin:/bin"}
        result = subprocess.run(
            [sys.executable, "-c", "import app.main"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1].startswith("invalid setting LOG_FORMAT")
        assert "Traceback" not in result.stderr

    def test_bad_database_url_query_exits_with_one_line(self) -> None:
        import subprocess
        import sys

        env = {"DATABASE_URL": "postgresql://u@h/db?connect_timeout=soon", "PATH": "/usr/bin:/bin"}
        result = subprocess.run(
            [sys.executable, "-c", "import app.main"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1].startswith("DATABASE_URL: connect_timeout")
        assert "Traceback" not in result.stderr


class TestDatabaseUrl:
    @pytest.mark.parametrize(
        "raw",
        [
            "postgres://u:p@db.example.com:5432/app",
            "postgresql://u:p@db.example.com:5432/app",
            "postgresql+asyncpg://u:p@db.example.com:5432/app",
        ],
    )
    def test_postgres_spellings_become_asyncpg(self, raw: str) -> None:
        target = resolve_database_target(raw)
        assert target.url.drivername == "postgresql+asyncpg"
        assert target.url.host == "db.example.com"
        assert target.url.database == "app"
        assert target.connect_args == {}

    def test_neon_url_is_translated(self) -> None:
        raw = (
            "postgresql://neondb_owner:secret@ep-cool-1234.eu-central-1.aws.neon.tech/neondb"
            "?sslmode=require&channel_binding=require"
        )
        target = resolve_database_target(raw)
        assert target.url.drivername == "postgresql+asyncpg"
        assert dict(target.url.query) == {}
        assert target.connect_args == {"ssl": "require"}

    def test_pooled_endpoint_disables_statement_cache(self) -> None:
        raw = "postgresql://u:p@ep-x-pooler.neon.tech/db?sslmode=require"
        target = resolve_database_target(raw, statement_cache=False)
        assert target.connect_args["statement_cache_size"] == 0
        assert target.url.query["prepared_statement_cache_size"] == "0"
        name_a = target.connect_args["prepared_statement_name_func"]()
        name_b = target.connect_args["prepared_statement_name_func"]()
        assert name_a != name_b

    def test_libpq_extras(self) -> None:
        target = resolve_database_target(
            "postgresql://u@h/db?connect_timeout=7&application_name=api&sslmode=verify-full"
        )
        assert target.connect_args == {
            "timeout": 7.0,
            "server_settings": {"application_name": "api"},
            "ssl": "verify-full",
        }

    @pytest.mark.parametrize(
        "raw",
        [
            "postgresql://u@h/db?sslmode=sometimes",
            "postgresql://u@h/db?options=-csearch_path%3Dx",
            "mysql://u@h/db",
            "not a url",
        ],
    )
    def test_rejected(self, raw: str) -> None:
        with pytest.raises(DatabaseUrlError):
            resolve_database_target(raw)

    def test_sqlite_uses_aiosqlite_and_creates_folder(self, tmp_path: object) -> None:
        from pathlib import Path

        folder = Path(str(tmp_path)) / "nested" / "dir"
        target = resolve_database_target(f"sqlite:///{folder}/app.db")
        assert target.url.drivername == "sqlite+aiosqlite"
        assert target.is_sqlite
        assert folder.is_dir()


class TestListenUrl:
    def test_neon_pooler_suffix_is_removed(self) -> None:
        s = settings(
            database_url="postgresql://u:p@ep-cool-123-pooler.eu-central-1.aws.neon.tech/db"
            "?sslmode=require"
        )
        assert s.database_listen_url == (
            "postgresql://u:p@ep-cool-123.eu-central-1.aws.neon.tech/db?sslmode=require"
        )

    def test_direct_urls_are_kept(self) -> None:
        s = settings(database_url="postgresql://u@db.internal:5432/app")
        assert s.database_listen_url == "postgresql://u@db.internal:5432/app"

    def test_explicit_listen_url_wins(self) -> None:
        s = settings(
            database_url="postgresql://u@pool/app", database_listen_url="postgresql://u@direct/app"
        )
        assert s.database_listen_url == "postgresql://u@direct/app"

    def test_only_the_host_changes(self) -> None:
        s = settings(
            database_url="postgresql://ep-a-pooler.x:p@ep-a-pooler.x.neon.tech/db?sslmode=require"
        )
        assert s.database_listen_url == (
            "postgresql://ep-a-pooler.x:p@ep-a.x.neon.tech/db?sslmode=require"
        )
