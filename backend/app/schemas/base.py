"""Base for API models: Better-Auth's camelCase names on the wire, snake_case in Python."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Unpack

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from app.utils.timefmt import format_iso_utc

# Dates as Better-Auth's JSON carries them: "2026-11-26T17:46:11.446Z".
IsoDateTime = Annotated[
    datetime, PlainSerializer(format_iso_utc, return_type=str, when_used="json")
]


def _reject_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000: refuse it at the edge (422) rather than as a
    # database error.
    if "\x00" in value:
        raise ValueError("must not contain NUL (U+0000) characters")
    return value


# Every free-form string the API accepts (bodies, query and path parameters).
InputText = Annotated[str, AfterValidator(_reject_nul)]


# zod 4's ``z.email()`` pattern, which Better-Auth's create-user applies to the lower-cased e-mail.
EMAIL_PATTERN = re.compile(
    r"^(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+-]@"
    r"(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$"
)


def _email(value: str) -> str:
    lowered = value.lower()
    if not EMAIL_PATTERN.match(lowered):
        raise ValueError("not a valid e-mail address")
    return lowered


# An e-mail address a client sends, as Better-Auth checks it; lower-cased.
EmailAddress = Annotated[InputText, Field(min_length=3, max_length=320), AfterValidator(_email)]


def examples(*documents: dict[str, Any], **config: Unpack[ConfigDict]) -> ConfigDict:
    """A model's ``model_config`` with the examples the OpenAPI document shows for it."""
    return ConfigDict(json_schema_extra={"examples": list(documents)}, **config)


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        from_attributes=True,
        serialize_by_alias=True,
    )
