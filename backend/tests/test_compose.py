"""The operator's wiring: docker-compose.yml, the Dockerfiles and the image's entry point.

No Docker engine is needed: the compose file is parsed and interpolated the way Docker Compose
does it (with the values of ``.env.example``), and ``docker-entrypoint.sh`` runs natively, against
a throwaway database, with the same commands the Makefile runs.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.database import create_engine
from app.main import create_app
from app.utils.urls import url_origin
from tests.conftest import make_settings
from tests.support.database import (
    BACKEND_DIR,
    ProvisionedDatabase,
    alembic_config,
    create_postgres_database,
    create_sqlite_database,
)
from tests.support.schema import snapshot

ROOT = BACKEND_DIR.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENTRYPOINT = BACKEND_DIR / "docker-entrypoint.sh"
BACKEND_DOCKERFILE = BACKEND_DIR / "Dockerfile"
AUTH_DOCKERFILE = ROOT / "auth-server" / "Dockerfile"

MIGRATE_COMMAND = "alembic upgrade head"
SERVE_COMMAND = "uvicorn app.main:app"
# What the API cannot work without; the auth server's own list (auth-server/README.md).
API_REQUIRED = ("DATABASE_URL", "BETTER_AUTH_URL", "BETTER_AUTH_SECRET", "JWKS_URL")
AUTH_REQUIRED = ("DATABASE_URL", "BETTER_AUTH_URL", "BETTER_AUTH_SECRET", "HOST", "PORT")


# --- Docker Compose's interpolation, enough of it for this file ---------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?message}``,
    ``${VAR?message}``, ``${VAR:+replacement}`` and ``${VAR+replacement}``, defaults nested, as
    Docker Compose resolves them."""
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        following = value[i + 1 : i + 2]
        if following == "$":
            out.append("$")
            i += 2
            continue
        if following == "{":
            depth, j = 1, i + 2
            while depth:
                if j >= len(value):
                    raise ValueError(f"unbalanced ${{ in {value!r}")
                depth += {"{": 1, "}": -1}.get(value[j], 0)
                j += 1
            out.append(_expression(value[i + 2 : j - 1], env))
            i = j
            continue
        match = _NAME.match(value, i + 1)
        if match is None:
            out.append("$")
            i += 1
            continue
        out.append(env.get(match.group(), ""))
        i = match.end()
    return "".join(out)


def _expression(body: str, env: Mapping[str, str]) -> str:
    match = _NAME.match(body)
    assert match is not None, body
    name, rest = match.group(), body[match.end() :]
    current = env.get(name)
    if not rest:
        return current or ""
    for operator in (":-", "-", ":?", "?", ":+", "+"):
        if rest.startswith(operator):
            argument = rest[len(operator) :]
            missing = current is None or (operator.startswith(":") and current == "")
            if "+" in operator:
                return "" if missing else interpolate(argument, env)
            if not missing:
                return current or ""
            if "?" in operator:
                raise LookupError(f"{name}: {interpolate(argument, env)}")
            return interpolate(argument, env)
    raise ValueError(f"unsupported interpolation ${{{body}}}")


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(item, env) for key, item in node.items()}
    return node


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


ENV_EXAMPLE = read_env_file(ROOT / ".env.example")
# What an operator's .env holds: .env.example plus the two values the stack cannot start without.
OPERATOR_SECRET = "operator-secret-operator-secret-operator-0"
OPERATOR_DB_PASSWORD = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OPERATOR_ENV = {
    **ENV_EXAMPLE,
    "BETTER_AUTH_SECRET": OPERATOR_SECRET,
    "POSTGRES_PASSWORD": OPERATOR_DB_PASSWORD,
}


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file with ``env`` interpolated (``.env.example`` + a secret when not given)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return resolve(raw, OPERATOR_ENV if env is None else env)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


# --- docker-compose.yml ----------------------------------------------------------------------


class TestCompose:
    def test_services(self, services: dict[str, dict[str, Any]]) -> None:
        assert set(services) == {"db", "auth", "migrate", "api", "redis"}
        # Official images by default, pinned to a release; a variable replaces each one.
        assert re.fullmatch(r"postgres:16\.\d+-bookworm", services["db"]["image"])
        assert re.fullmatch(r"redis:7\.\d+\.\d+-bookworm", services["redis"]["image"])
        offline = load_compose({**OPERATOR_ENV, "POSTGRES_IMAGE": "offline/postgres:16-bookworm"})
        assert offline["services"]["db"]["image"] == "offline/postgres:16-bookworm"
        assert services["redis"]["profiles"] == ["redis"]
        assert all("profiles" not in services[name] for name in ("db", "auth", "migrate", "api"))

    def test_builds(self, services: dict[str, dict[str, Any]]) -> None:
        """Each build passes its base image on as a build argument, only when it is set (the
        Dockerfile's ARG holds the default): scripts/offline-images.sh's stand-ins replace it.
        The backend image builds from the repository's root (it builds the admin console too),
        never from named contexts, which Debian's Docker 20.10 refuses."""
        assert services["auth"]["build"] == {"context": "./auth-server", "args": ["NODE_IMAGE"]}
        assert services["migrate"]["build"] == {
            "context": ".",
            "dockerfile": "backend/Dockerfile",
            "args": ["PYTHON_IMAGE", "NODE_IMAGE"],
        }
        assert services["auth"]["pull_policy"] == "build"
        assert (ROOT / "auth-server" / "Dockerfile").is_file()
        assert (ROOT / "backend" / "Dockerfile").is_file()

    def test_one_backend_image_for_migrate_and_api(
        self, services: dict[str, dict[str, Any]]
    ) -> None:
        """``migrate`` builds the image once, under a name; ``api`` runs that very image."""
        builds = [
            name
            for name, spec in services.items()
            if spec.get("build", {}).get("dockerfile") == "backend/Dockerfile"
        ]
        assert builds == ["migrate"]
        image = services["migrate"]["image"]
        assert image
        assert services["api"]["image"] == image
        assert "build" not in services["api"]
        # Never looked up in a registry: the name is ours, built here.
        assert services["migrate"]["pull_policy"] == "build"
        assert services["api"]["pull_policy"] == "never"

    def test_long_running_services_have_healthchecks(
        self, services: dict[str, dict[str, Any]]
    ) -> None:
        for name in ("db", "auth", "api", "redis"):
            test = services[name]["healthcheck"]["test"]
            assert test[0] in {"CMD", "CMD-SHELL"}, name
            assert len(test) > 1, name
        assert "pg_isready" in services["db"]["healthcheck"]["test"][1]
        assert any("/health" in part for part in services["auth"]["healthcheck"]["test"])
        assert any("/health/" in part for part in services["api"]["healthcheck"]["test"])
        assert "healthcheck" not in services["migrate"]  # one-shot

    def test_start_order(self, services: dict[str, dict[str, Any]]) -> None:
        def conditions(name: str) -> dict[str, str]:
            return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

        assert conditions("auth") == {"db": "service_healthy"}
        # Better-Auth migrates first (the auth container runs it before serving); ours adds
        # only what is missing.
        assert conditions("migrate") == {"auth": "service_healthy"}
        assert conditions("api") == {"migrate": "service_completed_successfully"}
        assert services["migrate"]["restart"] == "no"

    def test_commands(self, services: dict[str, dict[str, Any]]) -> None:
        auth = " ".join(services["auth"]["command"])
        assert re.search(r"npm run migrate && exec npm start", auth)
        assert services["migrate"]["command"] == ["migrate"]
        assert services["api"]["command"] == ["serve"]

    def test_ports(self, services: dict[str, dict[str, Any]]) -> None:
        """Published on this host's loopback only, unless PUBLISH_ADDRESS says otherwise."""
        assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]
        assert services["auth"]["ports"] == ["127.0.0.1:3000:3000"]
        opened = load_compose({**OPERATOR_ENV, "PUBLISH_ADDRESS": "0.0.0.0"})["services"]
        assert opened["api"]["ports"] == ["0.0.0.0:8000:8000"]
        assert "ports" not in services["db"]  # reached inside the network only
        assert environment(services["api"])["PORT"] == "8000"
        assert environment(services["auth"])["PORT"] == "3000"

    def test_named_volume(self, compose: dict[str, Any]) -> None:
        volume = compose["services"]["db"]["volumes"][0]
        name, _, target = volume.partition(":")
        assert target == "/var/lib/postgresql/data"
        assert name in compose["volumes"]

    def test_env_file_is_optional(self, services: dict[str, dict[str, Any]]) -> None:
        for name in ("migrate", "api"):
            assert services[name]["env_file"] == [{"path": ".env", "required": False}]

    @pytest.mark.parametrize("name", ["migrate", "api"])
    def test_backend_gets_what_it_requires(
        self, services: dict[str, dict[str, Any]], name: str
    ) -> None:
        env = environment(services[name])
        missing = [variable for variable in API_REQUIRED if not env.get(variable)]
        assert not missing
        assert set(env) >= set(API_REQUIRED)

    def test_auth_gets_what_it_requires(self, services: dict[str, dict[str, Any]]) -> None:
        env = environment(services["auth"])
        assert not [variable for variable in AUTH_REQUIRED if not env.get(variable)]
        assert env["HOST"] == "0.0.0.0"

    def test_one_database_one_secret_one_issuer(self, services: dict[str, dict[str, Any]]) -> None:
        auth, migrate, api = (environment(services[n]) for n in ("auth", "migrate", "api"))
        for variable in ("DATABASE_URL", "BETTER_AUTH_URL", "BETTER_AUTH_SECRET"):
            assert auth[variable] == migrate[variable] == api[variable], variable
        # Inside the network the database is the `db` service, whatever .env says.
        database = urlsplit(api["DATABASE_URL"])
        assert (database.scheme, database.hostname, database.port) == ("postgresql", "db", 5432)
        assert database.path == "/" + services["db"]["environment"]["POSTGRES_DB"]
        assert database.username == services["db"]["environment"]["POSTGRES_USER"]
        # The keys are fetched inside the network; the tokens carry the public origin.
        assert api["JWKS_URL"] == "http://auth:3000/api/auth/jwks"
        assert api["BETTER_AUTH_URL"] == "http://localhost:3000"

    def test_values_are_valid_settings(self, services: dict[str, dict[str, Any]]) -> None:
        """What the API container ends up with (.env.example, then `environment:`) loads."""
        api = services["api"]
        values = {**OPERATOR_ENV, **environment(api)}
        values = {key: value for key, value in values.items() if value != ""}
        settings = Settings(_env_file=None, **{k.lower(): v for k, v in values.items()})  # type: ignore[arg-type]
        auth_url = environment(services["auth"])["BETTER_AUTH_URL"]
        assert settings.jwt_issuer == settings.jwt_audience == url_origin(auth_url)
        assert settings.jwks_url == "http://auth:3000/api/auth/jwks"
        assert settings.redis_url == ""

    def test_host_side_addresses_in_env_do_not_leak_in(self) -> None:
        """A .env written for `make run` (localhost addresses) leaves the containers' alone."""
        native = {
            **OPERATOR_ENV,
            "DATABASE_URL": "postgresql://me@127.0.0.1:5432/app",
            "JWKS_URL": "http://localhost:3000/api/auth/jwks",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "BETTER_AUTH_SECRET": "from-dot-env-from-dot-env-from-dot-env-0",
        }
        services = load_compose(native)["services"]
        api, auth = environment(services["api"]), environment(services["auth"])
        assert urlsplit(api["DATABASE_URL"]).hostname == "db"
        assert urlsplit(auth["DATABASE_URL"]).hostname == "db"
        assert api["JWKS_URL"] == "http://auth:3000/api/auth/jwks"
        assert api["REDIS_URL"] == ""
        assert (
            api["BETTER_AUTH_SECRET"] == auth["BETTER_AUTH_SECRET"] == native["BETTER_AUTH_SECRET"]
        )

    def test_stack_overrides(self) -> None:
        env = {
            "BETTER_AUTH_SECRET": OPERATOR_SECRET,
            "POSTGRES_PASSWORD": OPERATOR_DB_PASSWORD,
            "STACK_DATABASE_URL": "postgresql://u:p@ep-x.neon.tech/app?sslmode=require",
            "STACK_REDIS_URL": "redis://redis:6379/0",
            "BETTER_AUTH_URL": "https://auth.example.com",
            "POSTGRES_DB": "other",
        }
        services = load_compose(env)["services"]
        api, auth = environment(services["api"]), environment(services["auth"])
        assert api["DATABASE_URL"] == auth["DATABASE_URL"] == env["STACK_DATABASE_URL"]
        assert api["REDIS_URL"] == "redis://redis:6379/0"
        assert api["BETTER_AUTH_URL"] == auth["BETTER_AUTH_URL"] == "https://auth.example.com"

    @pytest.mark.parametrize("secret", ["BETTER_AUTH_SECRET", "POSTGRES_PASSWORD"])
    def test_refuses_to_start_without_a_secret(self, secret: str) -> None:
        """No built-in secret: unset or empty, interpolation fails with a message that says
        what to do, as ``docker compose up`` does."""
        without = {k: v for k, v in OPERATOR_ENV.items() if k != secret}
        empty = {**OPERATOR_ENV, secret: ""}
        for env in (without, empty):
            with pytest.raises(LookupError, match=rf"{secret}: set {secret}"):
                load_compose(env)
        with pytest.raises(LookupError):  # .env.example as it is: neither is set
            load_compose(ENV_EXAMPLE)

    def test_no_default_secret_anywhere(self) -> None:
        """Every line that names the secret either requires it (``:?``) or passes the anchor on."""
        lines = [
            line.strip()
            for line in COMPOSE_FILE.read_text().splitlines()
            if re.search(r"BETTER_AUTH_SECRET\b", line) and not line.lstrip().startswith("#")
        ]
        assert lines
        for line in lines:
            assert re.search(r"\$\{BETTER_AUTH_SECRET:\?[^}]+\}", line) or (
                line == "BETTER_AUTH_SECRET: *better-auth-secret"
            ), line

    def test_frontend_origin_reaches_both_sides(self) -> None:
        origins = "http://localhost:5173,https://app.example.com"
        services = load_compose({**OPERATOR_ENV, "FRONTEND_ORIGIN": origins})["services"]
        api, auth = environment(services["api"]), environment(services["auth"])
        assert api["CORS_ORIGINS"] == auth["TRUSTED_ORIGINS"] == origins
        settings = Settings(_env_file=None, cors_origins=api["CORS_ORIGINS"])  # type: ignore[call-arg]
        assert settings.cors_origins == origins.split(",")
        # Either side's own variable, when set, replaces it there.
        services = load_compose(
            {
                **OPERATOR_ENV,
                "FRONTEND_ORIGIN": origins,
                "CORS_ORIGINS": "http://a.test",
                "TRUSTED_ORIGINS": "http://b.test",
            }
        )["services"]
        assert environment(services["api"])["CORS_ORIGINS"] == "http://a.test"
        assert environment(services["auth"])["TRUSTED_ORIGINS"] == "http://b.test"
        # Nothing set: no CORS, like the API's own default.
        unset = environment(load_compose()["services"]["api"])
        assert unset["CORS_ORIGINS"] == ""

    def test_interpolation_helper(self) -> None:
        env = {"SET": "x", "EMPTY": ""}
        assert interpolate("${SET:-d}|${EMPTY:-d}|${EMPTY-d}|${UNSET-d}|$$SET|$SET", env) == (
            "x|d||d|$SET|x"
        )
        assert interpolate("${UNSET:-a${SET}b}", env) == "axb"
        with pytest.raises(LookupError):
            interpolate("${EMPTY:?required}", env)
        assert interpolate("${SET:+r}|${EMPTY:+r}|${EMPTY+r}|${UNSET+r}", env) == "r||r|"

    def test_access_control_reaches_both_servers(self) -> None:
        """Issue 22: ACCESS_CONTROL_FILE is mounted into both servers and named by its path
        there; ADMIN_USER_IDS and API_KEY_RATE_LIMIT_ENABLED reach both."""
        shared = {
            "ACCESS_CONTROL_FILE": "./config/access-control.json",
            "ADMIN_USER_IDS": "u1,u2",
            "API_KEY_RATE_LIMIT_ENABLED": "false",
        }
        services = load_compose({**OPERATOR_ENV, **shared})["services"]
        for name in ("auth", "migrate", "api"):
            env = environment(services[name])
            (mount,) = services[name]["volumes"]
            source, target, mode = mount.split(":")
            assert (source, target, mode) == (
                shared["ACCESS_CONTROL_FILE"],
                env["ACCESS_CONTROL_FILE"],
                "ro",
            )
            assert env["ADMIN_USER_IDS"] == "u1,u2", name
            assert env["API_KEY_RATE_LIMIT_ENABLED"] == "false", name

    def test_rotated_secrets_and_session_storage_reach_both_servers(self) -> None:
        """Issue 24: both servers read the same BETTER_AUTH_SECRETS and the same sessions in
        secondary storage; unset, both see them unset (the prefix keeps Better-Auth's default)."""
        shared = {
            "BETTER_AUTH_SECRETS": "2:new-secret-of-thirty-two-characters,1:old",
            "SECONDARY_STORAGE_URL": "redis://redis:6379/1",
            "SECONDARY_STORAGE_PREFIX": "app:",
        }
        services = load_compose({**OPERATOR_ENV, **shared})["services"]
        unset = load_compose()["services"]
        for name in ("auth", "migrate", "api"):
            env = environment(services[name])
            assert {key: env[key] for key in shared} == shared, name
            default = environment(unset[name])
            assert default["BETTER_AUTH_SECRETS"] == default["SECONDARY_STORAGE_URL"] == "", name
            assert default["SECONDARY_STORAGE_PREFIX"] == "better-auth:", name
        # Unset (as in .env.example): nothing is read inside, whatever is mounted.
        for name, service in load_compose()["services"].items():
            if name in ("auth", "migrate", "api"):
                env = environment(service)
                assert env["ACCESS_CONTROL_FILE"] == "", name
                assert env["API_KEY_RATE_LIMIT_ENABLED"] == "true", name


# --- Dockerfiles ---------------------------------------------------------------------------


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    result = []
    for entry in logical:
        keyword, _, arguments = entry.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    parsed = instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(parsed) if keyword == "FROM")
    return parsed[last_from:]


def healthcheck_command(dockerfile: Path) -> list[str]:
    (arguments,) = [args for keyword, args in final_stage(dockerfile) if keyword == "HEALTHCHECK"]
    exec_form = arguments[arguments.index("CMD") + 3 :].strip()
    return yaml.safe_load(exec_form)  # type: ignore[no-any-return]  # JSON array


class TestDockerfiles:
    @pytest.mark.parametrize("dockerfile", [BACKEND_DOCKERFILE, AUTH_DOCKERFILE])
    def test_non_root_with_healthcheck(self, dockerfile: Path) -> None:
        stage = final_stage(dockerfile)
        users = [args for keyword, args in stage if keyword == "USER"]
        assert users, "no USER in the final stage"
        assert users[-1].split(":")[0] not in {"root", "0"}
        assert any(keyword == "HEALTHCHECK" for keyword, _ in stage)

    def test_backend_image(self) -> None:
        parsed = instructions(BACKEND_DOCKERFILE)
        stages = [args for keyword, args in parsed if keyword == "FROM"]
        assert len(stages) >= 2  # multi-stage
        args = dict(a.split("=", 1) for k, a in parsed if k == "ARG" and "=" in a)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", args["PYTHON_IMAGE"])
        # Every stage starts from a base-image argument or an earlier stage (dev from builder).
        bases = {stage.split()[0] for stage in stages}
        assert bases == {"${PYTHON_IMAGE}", "${NODE_IMAGE}", "builder"}
        runs = " ".join(a for k, a in parsed if k == "RUN")
        assert "pip install" in runs
        assert "uv sync --frozen --no-dev" in runs
        stage = final_stage(BACKEND_DOCKERFILE)
        copied = " ".join(a for k, a in stage if k == "COPY")
        for part in (
            "backend/app",
            "backend/alembic",
            "backend/alembic.ini",
            "backend/docker-entrypoint.sh",
            "/app/.venv",
        ):
            assert re.search(rf"(^|\s){re.escape(part)}(\s|$)", copied), part
        assert "tests" not in copied
        assert ("ENTRYPOINT", '["/app/docker-entrypoint.sh"]') in stage

    def test_backend_image_builds_the_admin_console_in_a_stage_of_its_own(self) -> None:
        parsed = instructions(BACKEND_DOCKERFILE)
        stages = [args for keyword, args in parsed if keyword == "FROM"]
        assert "${NODE_IMAGE} AS console" in stages
        assert not any(stage.startswith("scratch") for stage in stages)
        runs = " ".join(a for k, a in parsed if k == "RUN")
        assert "npm ci" in runs
        assert "npm run -s build" in runs
        stage = final_stage(BACKEND_DOCKERFILE)
        assert ("COPY", "--from=console /console/dist ./admin-console") in stage
        assert ("ENV", "ADMIN_CONSOLE_DIR=/app/admin-console") in stage

    def test_auth_server_runs_on_node_22_lts(self) -> None:
        parsed = instructions(AUTH_DOCKERFILE)
        images = [args.split()[0] for k, args in parsed if k == "FROM"]
        assert images
        assert set(images) == {"${NODE_IMAGE}"}
        args = dict(a.split("=", 1) for k, a in parsed if k == "ARG" and "=" in a)
        assert re.fullmatch(r"node:22\.\d+\.\d+-bookworm-slim", args["NODE_IMAGE"])

    @pytest.mark.parametrize("dockerfile", [BACKEND_DOCKERFILE, AUTH_DOCKERFILE])
    def test_no_frontend_from_a_registry(self, dockerfile: Path) -> None:
        """A ``# syntax=`` line makes BuildKit fetch its frontend from Docker Hub: machines that
        reach no registry could not build."""
        assert not re.search(r"^#\s*syntax\s*=", dockerfile.read_text(), re.MULTILINE | re.I)

    def test_backend_healthcheck_probes_a_real_route(self) -> None:
        command = healthcheck_command(BACKEND_DOCKERFILE)
        assert command[:2] == ["python", "-c"]
        assert "/health/live" in command[2]
        paths = set(create_app(make_settings("sqlite://")).openapi()["paths"])
        assert {"/health/live", "/health/ready"} <= paths

    def test_dockerignore_keeps_the_context_small(self) -> None:
        """The backend builds from the repository's root: its .dockerignore refuses everything,
        then lets in exactly what the Dockerfile copies, never installs or secrets."""
        patterns = [
            line
            for line in (ROOT / ".dockerignore").read_text().splitlines()
            if line and not line.startswith("#")
        ]
        assert patterns[0] == "*"
        allowed = [line[1:].rstrip("/") for line in patterns if line.startswith("!")]
        sources = [
            source
            for keyword, args in instructions(BACKEND_DOCKERFILE)
            if keyword == "COPY" and "--from=" not in args
            for source in args.split()[:-1]
            if not source.startswith("--")
        ]
        assert sources
        for source in sources:
            inside = (source.rstrip("/") == a or source.startswith(a + "/") for a in allowed)
            assert any(inside), source
        assert {"**/node_modules/", "**/.env", "admin-console/dist/"} <= set(patterns)
        assert not any(a.startswith("backend/tests") or a == "backend" for a in allowed)


# --- the entry point: the same commands as the native ones, and it works natively -------------


def _commands(path: Path) -> str:
    return " ".join(path.read_text().split())


@pytest.mark.parametrize("command", [MIGRATE_COMMAND, SERVE_COMMAND])
def test_entrypoint_runs_the_native_commands(command: str) -> None:
    assert command in _commands(ENTRYPOINT)
    assert command in _commands(ROOT / "Makefile")
    assert command in _commands(ROOT / "scripts" / "dev.sh")


def test_entrypoint_is_executable_and_strict() -> None:
    assert os.access(ENTRYPOINT, os.X_OK)
    text_ = ENTRYPOINT.read_text()
    assert text_.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text_
    assert 'if [[ "${RUN_MIGRATIONS:-false}" == "true" ]]' in text_
    assert 'exec uvicorn app.main:app --host 0.0.0.0 --port "${PORT:-8000}"' in text_


def _native_env(database_url: str, **extra: str) -> dict[str, str]:
    """The entry point as the image runs it: the virtualenv's bin first on PATH."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "TEST_", "RUN_MIGRATIONS", "PORT", "WEB_CONC"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DATABASE_URL"] = database_url
    env["LOG_FORMAT"] = "console"
    env["ENVIRONMENT"] = "test"
    env.update(extra)
    return env


async def _run(*argv: str, env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.fixture
async def empty_database(
    dialect: str, test_database: ProvisionedDatabase
) -> AsyncIterator[ProvisionedDatabase]:
    """A new, empty database of the run's dialect, dropped afterwards."""
    if dialect == "sqlite":
        database = create_sqlite_database()
    else:
        admin = make_url(test_database.url).set(database="postgres")
        database = await asyncio.to_thread(
            create_postgres_database, admin.render_as_string(hide_password=False), "bab_entry"
        )
    try:
        yield database
    finally:
        await asyncio.to_thread(database.cleanup)


async def _schema(url: str) -> tuple[dict[str, Any], str | None]:
    engine = create_engine(make_settings(url))
    try:
        async with engine.connect() as connection:
            shape = await snapshot(connection)
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return shape, version.scalar_one_or_none()
    finally:
        await engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve_until_ready(env: Mapping[str, str], cwd: Path, log: Path) -> Process | None:
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            "bash", str(ENTRYPOINT), env=dict(env), cwd=cwd, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{env['PORT']}/health/ready"
    # A deadline, not a count: on a loaded machine the interpreter and the migrations can take
    # well over the few seconds they need when idle.
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                break
            try:
                if (await client.get(url)).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    if process.returncode is None:
        process.kill()
        await process.wait()
    return None


async def test_entrypoint_migrates_then_serves(
    empty_database: ProvisionedDatabase, engine: AsyncEngine, tmp_path: Path
) -> None:
    """Natively, from another directory: `migrate` creates the schema on an empty database;
    the default command with RUN_MIGRATIONS=true migrates again (a no-op) and serves, and the
    image's HEALTHCHECK command passes against it."""
    code, output = await _run(
        "bash", str(ENTRYPOINT), "migrate", env=_native_env(empty_database.url), cwd=tmp_path
    )
    assert code == 0, output
    assert MIGRATE_COMMAND in output
    shape, version = await _schema(empty_database.url)
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with engine.connect() as connection:  # the run's database, migrated by conftest
        assert shape == await snapshot(connection)

    env = _native_env(
        empty_database.url,
        RUN_MIGRATIONS="true",
        PORT=str(_free_port()),
        WEB_CONCURRENCY="1",
        BETTER_AUTH_URL="http://127.0.0.1:9",  # no auth server: the API starts all the same
        JWKS_FETCH_TIMEOUT_SECONDS="0.2",
    )
    log = tmp_path / "serve.log"
    process = await _serve_until_ready(env, tmp_path, log)
    if process is None:
        pytest.fail(f"the entry point did not serve:\n{log.read_text()}")
    try:
        code, output = await _run(*healthcheck_command(BACKEND_DOCKERFILE), env=env, cwd=tmp_path)
        assert code == 0, output
    finally:
        process.terminate()  # uvicorn was exec'd: SIGTERM reaches it directly
        status = await asyncio.wait_for(process.wait(), 15)
    # uvicorn shuts down cleanly, then re-raises the signal (exit 143 in a container).
    assert status in {0, -signal.SIGTERM}, log.read_text()
    served = log.read_text()
    assert MIGRATE_COMMAND in served
    assert "Application shutdown complete" in served
    assert await _schema(empty_database.url) == (shape, version)  # the second run: no change


async def test_entrypoint_runs_other_commands_beside_alembic_ini(tmp_path: Path) -> None:
    code, output = await _run(
        "bash", str(ENTRYPOINT), "pwd", env=_native_env("sqlite://"), cwd=tmp_path
    )
    assert code == 0, output
    assert Path(output.strip()) == BACKEND_DIR


def test_admin_target_uses_the_cli() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^admin:(?P<deps>[^\n#]*).*?\n(?P<body>(\t[^\n]*\n)+)", makefile, re.M)
    assert target is not None
    assert "migrate" in target.group("deps")
    assert "python -m app.cli grant-admin" in target.group("body")
    run = re.search(r"^run:[^\n]*\n(?P<body>(\t[^\n]*\n)+)", makefile, re.M)
    assert run is not None
    assert "scripts/dev.sh" in run.group("body")
    assert re.search(r"^dev:\s*run\b", makefile, re.M)  # the old name, kept as an alias
