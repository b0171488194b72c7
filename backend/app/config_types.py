"""The value types of the settings: each field's check is in its type, declared once.

``app.config.Settings`` uses them; the documentation's settings page names them
(``backend/scripts/reference/settings_page.py``).
"""

from __future__ import annotations

import re
from enum import StrEnum
from ipaddress import ip_network
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import NoDecode

from app.utils.origins import exact_origins, origin_patterns

# The algorithms Better-Auth's jwt plugin can mint (keyPairConfig.alg). HMAC is never allowed:
# a verifier holding only public keys must not accept symmetric signatures.
BETTER_AUTH_ALGORITHMS = ("EdDSA", "RS256", "PS256", "ES256", "ES512")
SUPPORTED_ALGORITHMS = frozenset(
    {*BETTER_AUTH_ALGORITHMS, "Ed25519", "RS384", "RS512", "PS384", "PS512", "ES384"}
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


class JwksSource(StrEnum):
    HTTP = "http"
    DATABASE = "database"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _http_url(value: str) -> str:
    if value and urlsplit(value).scheme not in {"http", "https"}:
        raise ValueError("must be an http(s) URL")
    if value and not urlsplit(value).netloc:
        raise ValueError("must include a host")
    return value.rstrip("/")


def _database_url(value: str) -> str:
    value = value.strip()
    if not value:
        return value
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if not (scheme.startswith("postgres") or scheme.startswith("sqlite")):
        raise ValueError("must be a postgres:// , postgresql:// or sqlite:// URL")
    return value


def _algorithms(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one algorithm")
    unknown = [alg for alg in value if alg not in SUPPORTED_ALGORITHMS]
    if unknown:
        raise ValueError(
            f"unsupported algorithm(s) {', '.join(unknown)}; "
            f"choose from {', '.join(sorted(SUPPORTED_ALGORITHMS))}"
        )
    return value


def _networks(value: list[str]) -> list[str]:
    for item in value:
        try:
            ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return value


def blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _roles(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one role")
    return value


# A Better-Auth provider id (`socialProviders` keys, genericOAuth `providerId`s): what a URL path
# segment (`/callback/<id>`) may hold without escaping.
_PROVIDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _sign_in_providers(value: list[str]) -> list[str]:
    """``id`` or ``id=Label`` each, ids unique; the label is what the sign-in button says."""
    seen: set[str] = set()
    for item in value:
        provider_id, _, label = (part.strip() for part in item.partition("="))
        if not _PROVIDER_ID.fullmatch(provider_id):
            raise ValueError(f"{provider_id!r} is not a provider id (letters, digits, . _ -)")
        if "=" in item and not label:
            raise ValueError(f"{provider_id}= needs a label after the =")
        if provider_id in seen:
            raise ValueError(f"{provider_id} is listed twice")
        seen.add(provider_id)
    return value


# A comma-separated environment value (``a, b``), read as a list.
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]
HttpUrlText = Annotated[str, AfterValidator(_http_url)]  # no trailing "/"
DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
Algorithms = Annotated[CsvList, AfterValidator(_algorithms)]
Networks = Annotated[CsvList, AfterValidator(_networks)]
Roles = Annotated[CsvList, AfterValidator(_roles)]
# `*`, `null` and patterns that name no host are refused (they would trust every page).
ExactOrigins = Annotated[CsvList, AfterValidator(exact_origins)]
OriginPatterns = Annotated[CsvList, AfterValidator(origin_patterns)]
SignInProviders = Annotated[CsvList, AfterValidator(_sign_in_providers)]
CacheSize = Annotated[int, Field(ge=1, le=1_000_000)]
