"""The committed OpenAPI contract is the app's own, and it declares what clients need."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scripts.export_openapi import CONTRACT, build_document, render

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_committed_contract_matches_the_app(document: dict[str, Any]) -> None:
    assert CONTRACT.exists(), "run: cd backend && uv run python -m scripts.export_openapi"
    assert CONTRACT.read_text() == render(document), (
        "specs/.../openapi.yaml is stale: cd backend && uv run python -m scripts.export_openapi"
    )
    assert yaml.safe_load(CONTRACT.read_text())["openapi"].startswith("3.1")


def test_every_operation_is_documented(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation.get("operationId"), where
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, where
        if not path.startswith("/health"):
            assert "503" in operation["responses"], where


def test_protected_operations_declare_auth_errors(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        if path.startswith("/health") or path == "/api/v1/auth/verify":
            continue
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        assert {"401", "403"} <= responses.keys(), where
        assert operation.get("security"), where
        problem = responses["401"]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}


def test_specific_errors(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert "404" in paths["/api/v1/users/{userId}"]["get"]["responses"]
    assert "409" in paths["/api/v1/users/{userId}/role"]["put"]["responses"]
    assert "409" in paths["/api/v1/users/{userId}/ban"]["post"]["responses"]
    assert "422" in paths["/api/v1/users"]["get"]["responses"]
    assert "429" in paths["/api/v1/auth/me"]["get"]["responses"]
    assert "429" in paths["/api/v1/auth/verify"]["post"]["responses"]


def test_schemas_carry_examples(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in (
        "UserRead",
        "SessionRead",
        "Problem",
        "AuditEventRead",
        "SessionInfo",
        "IntrospectionResponse",
        "RoleUpdate",
        "BanRequest",
    ):
        assert schemas[name].get("examples"), name


def test_bearer_security_scheme(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["BetterAuthBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["BetterAuthBearer"]["description"],
    }
    assert schemes["BetterAuthSessionCookie"]["in"] == "cookie"
