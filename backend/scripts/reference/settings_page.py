"""docs/reference/settings.md from ``app.config.Settings``: name, type, default, description.

The sections are the ``# --- name ---`` comments of the class; a field's description is the
docstring under it (``use_attribute_docstrings``).
"""

from __future__ import annotations

import inspect
import re
import types
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from app.config import Settings

HEADER = """# Settings

<!-- Generated from backend/app/config.py by `make docs-reference`; do not edit by hand. -->

Every setting is an environment variable, or a line in `.env` at the repository root (the
environment wins). [`.env.example`](../../.env.example) lists them all with comments. A bad value
stops the service at start with one line naming the variable, e.g.
`invalid setting LOG_FORMAT: Input should be 'json' or 'console'`. Some variables are read by the
scripts around the app, not by the app: those of `make run` are in
[Getting started](../getting-started.md#settings-of-make-run), those of `make run-api` and the
Docker image in [Deploying](../guides/deploying.md#settings-of-the-image-and-make-run-api).
"""

# Names of the value types (app/config_types.py), by the validator that checks them.
_VALIDATED_TYPES = {
    "_http_url": "http(s) URL",
    "_database_url": "database URL",
    "_algorithms": "comma-separated algorithms",
    "_networks": "comma-separated IP networks",
    "_roles": "comma-separated role names",
    "_sign_in_providers": "comma-separated provider ids (`id` or `id=Label`)",
    "_split_csv": "comma-separated list",
}
_SECTION = re.compile(r"^\s*# --- (.+?) ---")
_FIELD = re.compile(r"^    ([a-z_][a-z0-9_]*)\s*:")


def rendered_default(field: FieldInfo) -> str:
    """A field's default as it is written in an environment variable (empty: unset)."""
    value: Any = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def sections() -> list[tuple[str, list[str]]]:
    """``(section title, field names)`` in the order of the class."""
    result: list[tuple[str, list[str]]] = [("General", [])]
    for line in inspect.getsource(Settings).splitlines():
        if match := _SECTION.match(line):
            title = match[1]
            result.append((title[0].upper() + title[1:], []))
        elif (match := _FIELD.match(line)) and match[1] in Settings.model_fields:
            result[-1][1].append(match[1])
    return [(title, names) for title, names in result if names]


def type_label(field: FieldInfo) -> str:
    annotation = field.annotation
    label = _base_label(annotation)
    for item in field.metadata:
        name = getattr(getattr(item, "func", None), "__name__", "")
        if name in _VALIDATED_TYPES:  # the last one is the most specific (Algorithms: a CsvList)
            label = _VALIDATED_TYPES[name]
    bounds = _bounds(field)
    return f"{label} ({bounds})" if bounds else label


def _base_label(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in get_args(annotation))
    if inspect.isclass(annotation) and issubclass(annotation, Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    if origin in (Union, types.UnionType):
        labels = [_base_label(arg) for arg in get_args(annotation) if arg is not type(None)]
        return " or ".join(labels)
    if origin is list:
        return "comma-separated list"
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if annotation in names:
        return names[annotation]
    return "file path" if getattr(annotation, "__name__", "") == "Path" else str(annotation)


def _bounds(field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        if isinstance(item, Ge):
            parts.append(f"≥ {_number(item.ge)}")
        elif isinstance(item, Gt):
            parts.append(f"> {_number(item.gt)}")
        elif isinstance(item, Le):
            parts.append(f"≤ {_number(item.le)}")
        elif isinstance(item, Lt):
            parts.append(f"< {_number(item.lt)}")
        elif isinstance(item, MinLen):
            parts.append(f"at least {item.min_length} characters")
        elif isinstance(item, MaxLen):
            parts.append(f"at most {item.max_length} characters")
        elif getattr(item, "pattern", None):
            parts.append(f"matching `{item.pattern}`")
    return ", ".join(parts)


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    lines = [HEADER]
    for title, names in sections():
        lines += [
            f"## {title}",
            "",
            "| variable | type | default | description |",
            "|---|---|---|---|",
        ]
        for name in names:
            field = Settings.model_fields[name]
            default = rendered_default(field)
            lines.append(
                f"| `{name.upper()}` | {cell(type_label(field))} | "
                f"{f'`{default}`' if default else 'empty'} | {cell(field.description or '')} |"
            )
        lines.append("")
    return "\n".join(lines)
