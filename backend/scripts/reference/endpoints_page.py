"""docs/reference/endpoints.md from the committed OpenAPI contract (``make openapi`` writes it
from the app; ``tests/test_contract.py`` keeps it the app's own).

One section per tag: a table of its operations, then each operation with its description,
authentication, parameters, request body and responses; the schemas at the end.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from scripts.export_openapi import CONTRACT

METHODS = ("get", "post", "put", "patch", "delete")

HEADER = """# Endpoints

<!-- Generated from specs/003-fastapi-better-auth/contracts/openapi.yaml by `make docs-reference`;
do not edit by hand. -->

The API's base path is `/api/v1`; bodies are JSON with Better-Auth's camelCase field names, and
every error is `application/problem+json` with a stable `code` ([error codes](error-codes.md)).
This page is generated from the
[OpenAPI contract](../../specs/003-fastapi-better-auth/contracts/openapi.yaml), which `make openapi`
regenerates from the app; a running API serves the same contract at `/openapi.json`, Swagger UI at
`/docs` and ReDoc at `/redoc` (`DOCS_ENABLED`). Who may call what is explained in
[Access control](../guides/access-control.md); credentials in
[How a request is served](../concepts/request-path.md#credentials).
"""


def load() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CONTRACT.read_text())
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def anchor(method: str, path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")


def schema_name(reference: str) -> str:
    return reference.rsplit("/", 1)[-1]


def schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema_name(schema["$ref"])
        return f"[`{name}`](#schema-{name.lower()})"
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        kinds = [schema_type(option) for option in options if option.get("type") != "null"]
        nullable = any(option.get("type") == "null" for option in options)
        return " or ".join(kinds) + (" or null" if nullable else "")
    if "enum" in schema:
        return " or ".join(f"`{value}`" for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {schema_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {schema_type(schema['additionalProperties'])}"
    limits = [
        f"{label} {schema[key]}"
        for key, label in (
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minimum", "≥"),
            ("maximum", "≤"),
        )
        if key in schema
    ]
    text = f"{kind} ({schema['format']})" if "format" in schema else str(kind)
    return f"{text}, {', '.join(limits)}" if limits else text


def _security(document: dict[str, Any], operation: dict[str, Any]) -> str:
    names = [name for requirement in operation.get("security", []) for name in requirement]
    if not names:
        return "none (public)"
    schemes = document["components"].get("securitySchemes", {})
    described = []
    for name in names:
        scheme = schemes.get(name, {})
        where = scheme.get("name") if scheme.get("type") == "apiKey" else "Authorization: Bearer"
        described.append(f"`{name}` ({scheme.get('in', 'header')} `{where}`)")
    return ", ".join(described)


def _parameters(operation: dict[str, Any]) -> list[str]:
    parameters = operation.get("parameters", [])
    if not parameters:
        return []
    lines = ["| parameter | in | type | default | description |", "|---|---|---|---|---|"]
    for parameter in parameters:
        schema = parameter.get("schema", {})
        required = " (required)" if parameter.get("required") else ""
        default = f"`{schema['default']}`" if "default" in schema else ""
        description = parameter.get("description") or schema.get("description", "")
        lines.append(
            f"| `{parameter['name']}`{required} | {parameter['in']} | {cell(schema_type(schema))} "
            f"| {default} | {cell(description)} |"
        )
    return ["", *lines]


def _body(operation: dict[str, Any]) -> list[str]:
    body = operation.get("requestBody")
    if not body:
        return []
    parts = [
        f"`{media}` {schema_type(content.get('schema', {}))}"
        for media, content in body.get("content", {}).items()
    ]
    required = "" if body.get("required") else " (optional)"
    return ["", f"**Request body**{required}: {', '.join(parts)}"]


def _responses(operation: dict[str, Any]) -> list[str]:
    lines = ["", "| status | meaning | body |", "|---|---|---|"]
    for status, response in sorted(operation["responses"].items()):
        content = response.get("content", {})
        body = ", ".join(
            f"`{media}` {schema_type(item.get('schema', {}))}" for media, item in content.items()
        )
        lines.append(f"| {status} | {cell(response.get('description', ''))} | {cell(body)} |")
    return lines


def _operation(document: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> list[str]:
    lines = [
        f"### {op.get('summary', path)} {{#{anchor(method, path)}}}",
        "",
        f"`{method.upper()} {path}` · operation id `{op.get('operationId', '')}`",
    ]
    if op.get("description"):
        lines += ["", op["description"].strip()]
    lines += ["", f"**Authentication**: {_security(document, op)}"]
    return lines + _parameters(op) + _body(op) + _responses(op) + [""]


def _schemas(document: dict[str, Any]) -> list[str]:
    lines = ["## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += [f"### {name} {{#schema-{name.lower()}}}", ""]
        if schema.get("description"):
            lines += [schema["description"].strip(), ""]
        properties = schema.get("properties", {})
        if properties:
            required = set(schema.get("required", []))
            lines += ["| field | type | description |", "|---|---|---|"]
            for field, definition in properties.items():
                mark = " (required)" if field in required else ""
                description = definition.get("description", "")
                lines.append(
                    f"| `{field}`{mark} | {cell(schema_type(definition))} | {cell(description)} |"
                )
        elif "enum" in schema:
            lines.append(f"One of {schema_type(schema)}.")
        lines.append("")
    return lines


def render() -> str:
    document = load()
    tags: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for method, path, operation in operations(document):
        tags.setdefault((operation.get("tags") or ["other"])[0], []).append(
            (method, path, operation)
        )
    lines = [HEADER, "| method | path | summary |", "|---|---|---|"]
    for ops in tags.values():
        for method, path, op in ops:
            link = f"[`{path}`](#{anchor(method, path)})"
            lines.append(f"| {method.upper()} | {link} | {cell(op.get('summary', ''))} |")
    lines.append("")
    for tag, ops in tags.items():
        lines += [f"## {tag[0].upper()}{tag[1:]}", ""]
        for method, path, operation in ops:
            lines += _operation(document, method, path, operation)
    return "\n".join(lines + _schemas(document))
