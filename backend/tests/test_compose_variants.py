"""docker-compose.replicas.yml and docker-compose.dev.yml, read as Docker Compose merges them
over docker-compose.yml (no engine needed; ``make test-compose`` runs them for real), and the
production expectations every service keeps: no default secret, non-root, healthchecks, pinned
images, bounded logs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_compose import (
    OPERATOR_ENV,
    ROOT,
    environment,
    final_stage,
    instructions,
    resolve,
)

REPLICAS_FILE = ROOT / "docker-compose.replicas.yml"
DEV_FILE = ROOT / "docker-compose.dev.yml"
HAPROXY = ROOT / "deploy" / "haproxy"
PGBOUNCER = ROOT / "deploy" / "pgbouncer"


class Reset:
    """Compose's ``!reset`` tag: the value is dropped, not merged."""

    def __init__(self, value: Any) -> None:
        self.value = value


class ComposeLoader(yaml.SafeLoader):
    pass


ComposeLoader.add_constructor("!reset", lambda loader, node: Reset(loader.construct_sequence(node)))


# The sequences Compose appends to when merging files; any other one is replaced (command, ...).
APPENDED = {"ports", "expose", "volumes", "env_file", "dns"}


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's merge, enough of it: mappings key by key, some sequences appended, others
    replaced, ``!reset`` dropping the value."""
    if isinstance(override, Reset):
        return override.value
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge(base[name], value, name) if name in base else unreset(value)
        return merged
    if key in APPENDED and isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return unreset(override)


def unreset(value: Any) -> Any:
    if isinstance(value, Reset):
        return value.value
    if isinstance(value, dict):
        return {key: unreset(item) for key, item in value.items()}
    return value


def load(*files: Path, env: Mapping[str, str] = OPERATOR_ENV) -> dict[str, Any]:
    merged: Any = {}
    for path in files:
        merged = merge(merged, yaml.load(path.read_text(), Loader=ComposeLoader))
    return resolve(merged, env)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def replicas() -> dict[str, Any]:
    return load(ROOT / "docker-compose.yml", REPLICAS_FILE)["services"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def dev() -> dict[str, Any]:
    return load(ROOT / "docker-compose.yml", DEV_FILE)["services"]  # type: ignore[no-any-return]


class TestReplicas:
    def test_services(self, replicas: dict[str, Any]) -> None:
        assert {"lb", "pgbouncer", "redis", "api", "db", "auth", "migrate"} <= set(replicas)
        assert not replicas["redis"].get("profiles")  # on without --profile
        assert replicas["api"]["deploy"]["replicas"] == "4"

    def test_only_the_load_balancer_is_published(self, replicas: dict[str, Any]) -> None:
        assert replicas["api"]["ports"] == []
        assert replicas["lb"]["ports"] == ["127.0.0.1:8000:8000"]

    def test_pgbouncer_for_queries_a_direct_connection_for_listen(
        self, replicas: dict[str, Any]
    ) -> None:
        env = environment(replicas["api"])
        pooled, direct = env["DATABASE_URL"], env["DATABASE_LISTEN_URL"]
        assert re.fullmatch(r"postgresql://postgres:\w+@pgbouncer:6432/app", pooled), pooled
        assert re.fullmatch(r"postgresql://postgres:\w+@db:5432/app", direct), direct
        # Transaction pooling: no cached prepared statements, reads in transactions.
        assert env["DATABASE_STATEMENT_CACHE"] == "false"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["WEB_CONCURRENCY"] == "1"
        bouncer = environment(replicas["pgbouncer"])
        assert bouncer["POOL_MODE"] == "transaction"
        assert bouncer["DATABASE_HOST"] == "db"
        assert bouncer["DATABASE_PASSWORD"] == OPERATOR_ENV["POSTGRES_PASSWORD"]

    def test_the_api_trusts_the_balancer_alone(self, replicas: dict[str, Any]) -> None:
        lb_address = replicas["lb"]["networks"]["edge"]["ipv4_address"]
        assert environment(replicas["api"])["FORWARDED_ALLOW_IPS"] == lb_address
        edge = load(ROOT / "docker-compose.yml", REPLICAS_FILE)["networks"]["edge"]["ipam"]
        subnet = ipaddress.ip_network(edge["config"][0]["subnet"])
        dynamic = ipaddress.ip_network(edge["config"][0]["ip_range"])
        address = ipaddress.ip_address(lb_address)
        # Fixed, inside the subnet, outside the range the replicas' addresses come from.
        assert address in subnet
        assert address not in dynamic
        assert "edge" in replicas["api"]["networks"]

    def test_haproxy_checks_readiness_and_follows_dns(self) -> None:
        config = (HAPROXY / "haproxy.cfg").read_text()
        assert "option httpchk GET /health/ready" in config
        assert re.search(r"server-template api \d+ api:8000", config)
        assert "nameserver dns 127.0.0.11:53" in config  # Docker's embedded DNS
        assert "retry-on conn-failure empty-response response-timeout" in config
        # Writes are never replayed on another replica.
        assert "http-request disable-l7-retry unless METH_GET || METH_HEAD" in config
        assert "log stdout" in config

    def test_pgbouncer_entrypoint_writes_transaction_mode(self) -> None:
        script = (PGBOUNCER / "docker-entrypoint.sh").read_text()
        assert "pool_mode = ${POOL_MODE:-transaction}" in script
        assert "auth_type = scram-sha-256" in script
        assert ': "${DATABASE_PASSWORD:?' in script  # no default password


class TestDev:
    def test_source_mounted_with_reload(self, dev: dict[str, Any]) -> None:
        api = dev["api"]
        assert ".:/workspace" in api["volumes"]
        assert api["working_dir"] == "/workspace/backend"
        assert "--reload" in api["command"]
        assert environment(api)["WATCHFILES_FORCE_POLLING"] == "true"
        assert api["image"] == "fastapi-better-auth-backend:dev"
        assert dev["migrate"]["build"]["target"] == "dev"
        assert dev["migrate"]["command"] == ["alembic", "upgrade", "head"]

    def test_the_tests_service_runs_the_suite(self, dev: dict[str, Any]) -> None:
        tests = dev["tests"]
        assert tests["profiles"] == ["tests"]
        assert tests["command"][:3] == ["pytest", "-m", "not e2e"]
        env = environment(tests)
        assert set(env) == {"TEST_DATABASE_URL", "TEST_REDIS_URL"}  # nothing of the stack's
        assert env["TEST_DATABASE_URL"].startswith("postgresql://postgres:")
        assert "@db:5432/" in env["TEST_DATABASE_URL"]
        assert env["TEST_REDIS_URL"].startswith("redis://redis:6379/")

    def test_dev_stage_exists(self) -> None:
        stages = [a for k, a in instructions(ROOT / "backend" / "Dockerfile") if k == "FROM"]
        assert "builder AS dev" in stages


LONG_RUNNING = ("db", "auth", "api", "redis", "lb", "pgbouncer")
OURS = ("auth", "migrate", "api", "lb", "pgbouncer")


class TestProductionExpectations:
    def test_healthchecks(self, replicas: dict[str, Any]) -> None:
        for name in ("db", "auth", "api", "redis"):
            assert replicas[name]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
        for image in (HAPROXY, PGBOUNCER):
            assert any(k == "HEALTHCHECK" for k, _ in final_stage(image / "Dockerfile"))

    def test_our_containers_drop_every_capability(self, replicas: dict[str, Any]) -> None:
        for name in OURS:
            assert replicas[name]["cap_drop"] == ["ALL"], name
            assert replicas[name]["security_opt"] == ["no-new-privileges:true"], name
        for name in ("migrate", "api", "lb", "pgbouncer"):
            assert replicas[name]["read_only"] is True, name

    @pytest.mark.parametrize("folder", [HAPROXY, PGBOUNCER])
    def test_non_root_images(self, folder: Path) -> None:
        users = [a for k, a in final_stage(folder / "Dockerfile") if k == "USER"]
        assert users
        assert users[-1] not in {"root", "0"}

    def test_logs_are_bounded(self, replicas: dict[str, Any]) -> None:
        for name in LONG_RUNNING:
            options = replicas[name]["logging"]["options"]
            assert options["max-size"] == "10m", name

    def test_images_are_pinned(self, replicas: dict[str, Any]) -> None:
        for name in ("db", "redis"):
            tag = replicas[name]["image"].rpartition(":")[2]
            assert re.match(r"\d+\.\d+", tag), replicas[name]["image"]
        for folder in (HAPROXY, PGBOUNCER):
            parsed = instructions(folder / "Dockerfile")
            args = dict(a.split("=", 1) for k, a in parsed if k == "ARG" and "=" in a)
            assert re.fullmatch(r"debian:12\.\d+-slim", args["DEBIAN_IMAGE"])

    def test_no_secret_has_a_default(self) -> None:
        for path in (ROOT / "docker-compose.yml", REPLICAS_FILE, DEV_FILE):
            text = path.read_text()
            for name in ("BETTER_AUTH_SECRET", "POSTGRES_PASSWORD"):
                # (BETTER_AUTH_SECRETS, the optional rotation list, is another name.)
                for match in re.finditer(rf"\$\{{{name}(?![A-Z_])([^}}]*)\}}", text):
                    assert match.group(1) in {"", ":?"} or match.group(1).startswith(":?"), (
                        path.name,
                        match.group(0),
                    )
