"""deploy/kubernetes/: valid against the Kubernetes API's own schemas (kubernetes-validate bundles
them: no cluster, no network), wired together, and configured as the compose replicas are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.test_compose import ROOT, environment, final_stage
from tests.test_compose_variants import REPLICAS_FILE, load

MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes still widely run, and the newest the package knows.
VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
SECRET = "fastapi-better-auth"


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def resources() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name != "kustomization.yaml":  # kustomize's, not the API's
            for doc in documents(path):
                yield f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc


ALL = dict(resources())


def find(kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        doc for doc in ALL.values() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    return found


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(ALL))
def test_valid_against_the_api_schema(name: str, version: str) -> None:
    # strict: an unknown or misspelt field is an error, not silently ignored.
    kubernetes_validate.validate(ALL[name], version, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    files = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    images = {image["name"] for image in kustomization["images"]}
    used = {
        container["image"].split(":")[0]
        for doc in ALL.values()
        if doc["kind"] in {"Deployment", "Job"}
        for container in containers(doc)
    }
    assert images == {name for name in used if name.startswith("fastapi-better-auth-")}


def test_api_probes_are_the_health_routes() -> None:
    (api,) = pod_spec(find("Deployment", "api"))["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert api["startupProbe"]["httpGet"]["path"] == "/health/live"
    paths = set(create_app(make_settings("sqlite://")).openapi()["paths"])
    assert {"/health/ready", "/health/live"} <= paths


def test_service_pdb_and_hpa_point_at_the_api() -> None:
    deployment = find("Deployment", "api")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert find("Service", "api")["spec"]["selector"] == labels
    assert find("PodDisruptionBudget", "api")["spec"]["selector"]["matchLabels"] == labels
    target = find("HorizontalPodAutoscaler", "api")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "api")
    hpa = find("HorizontalPodAutoscaler", "api")["spec"]
    assert hpa["minReplicas"] >= 2  # the PDB's maxUnavailable: 1 leaves one serving


def test_migration_job_runs_the_entry_points_migrate_on_a_direct_connection() -> None:
    job = find("Job", "migrate")
    (migrate,) = pod_spec(job)["containers"]
    assert migrate["args"] == ["migrate"]
    (url,) = [item for item in migrate["env"] if item["name"] == "DATABASE_URL"]
    assert url["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "direct-database-url"}
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_secrets_only_by_reference() -> None:
    """No secret value in a manifest: every secret comes from the Secret, by key."""
    sensitive = {"BETTER_AUTH_SECRET", "DATABASE_URL", "DATABASE_LISTEN_URL", "METRICS_TOKEN"}
    sensitive |= {"DATABASE_PASSWORD"}
    config = find("ConfigMap", "fastapi-better-auth-api")["data"]
    assert not sensitive & set(config)
    assert not [doc for doc in ALL.values() if doc["kind"] == "Secret"]
    for name, doc in ALL.items():
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in containers(doc):
            for item in container.get("env", []):
                if item["name"] in sensitive:
                    assert item["valueFrom"]["secretKeyRef"]["name"] == SECRET, (name, item)


def test_every_pod_runs_restricted() -> None:
    """What the namespace's `restricted` Pod Security level demands, and a read-only root."""
    for name, doc in ALL.items():
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        pod = pod_spec(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        for container in containers(doc):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, container["name"])
    user = [a for k, a in final_stage(ROOT / "backend" / "Dockerfile") if k == "USER"][-1]
    assert (
        str(pod_spec(find("Deployment", "api"))["securityContext"]["runAsUser"])
        == (user.split(":")[0])
    )


def test_images_are_pinned() -> None:
    for name, doc in ALL.items():
        if doc["kind"] in {"Deployment", "Job"}:
            for container in containers(doc):
                image = container["image"]
                assert ":" in image, (name, image)
                assert not image.endswith(":latest"), (name, image)


def test_same_settings_as_the_compose_replicas() -> None:
    """The API pods get what docker-compose.replicas.yml gives each replica: the same names, and
    the same values wherever the value is not an address of the environment."""
    compose = environment(load(ROOT / "docker-compose.yml", REPLICAS_FILE)["services"]["api"])
    (api,) = pod_spec(find("Deployment", "api"))["containers"]
    config = find("ConfigMap", "fastapi-better-auth-api")["data"]
    pod = {**config, **{item["name"]: item.get("value") for item in api["env"]}}
    # Compose-only: where the workers' metrics files go (one worker per pod here).
    assert set(compose) - {"PROMETHEUS_MULTIPROC_DIR"} <= set(pod)
    for name in ("DATABASE_STATEMENT_CACHE", "REDIS_URL", "WEB_CONCURRENCY", "PORT", "JWKS_URL"):
        assert pod[name] == compose[name], name
    # Every name is one the API (or its entry point) reads.
    fields = {name.upper() for name in Settings.model_fields}
    entrypoint = {"PORT", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS"}
    assert set(pod) <= fields | entrypoint
    assert Settings(_env_file=None, **{k.lower(): v for k, v in config.items()})  # type: ignore[arg-type]
