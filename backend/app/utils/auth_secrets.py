"""``BETTER_AUTH_SECRETS="<version>:<secret>,..."``: Better-Auth's rotated secrets.

Parsed and validated exactly as Better-Auth 1.7 does it (``context/secret-utils``:
``parseSecretsEnv`` then ``validateSecretsArray``), with the same error messages, so that a value
one server accepts the other accepts too. JavaScript details kept on purpose:

- an empty value means "not set" (``if (!envValue) return null``), but a blank one is an entry;
- entries and values are trimmed with JavaScript's ``trim`` (its whitespace, BOM included);
- the version is ``parseInt(prefix, 10)``: leading sign and ASCII digits, the rest ignored
  (``"2x:s"`` is version 2), and ``-0`` is 0.

Which secret does what (Better-Auth 1.7): the FIRST entry is the current secret. It alone signs
and verifies session cookies and signed bearer tokens (``ctx.context.secret``); the other entries
and ``BETTER_AUTH_SECRET`` only decrypt data they encrypted (the jwt plugin's private keys,
two-factor secrets, ...), which this API never reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# ECMAScript WhiteSpace and LineTerminator: what String.prototype.trim removes.
_JS_WHITESPACE: Final = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_LEADING_INTEGER: Final = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True, slots=True)
class VersionedSecret:
    version: int
    value: str


def _js_parse_int(text: str) -> int | None:
    """``parseInt(text, 10)`` for the texts that give an integer; ``None`` for ``NaN``."""
    match = _LEADING_INTEGER.match(text.lstrip(_JS_WHITESPACE))
    return int(match.group()) if match else None


def parse_secrets_env(raw: str | None) -> tuple[VersionedSecret, ...] | None:
    """The secrets, current first; ``None`` when the value is unset or empty.

    Raises ``ValueError`` with Better-Auth's message for a malformed value."""
    if not raw:
        return None
    secrets = []
    for index, item in enumerate(raw.split(","), start=1):
        entry = item.strip(_JS_WHITESPACE)
        version_text, colon, rest = entry.partition(":")
        if not colon:
            raise ValueError(
                f"Invalid BETTER_AUTH_SECRETS entry at position {index}. "
                'Expected format: "<version>:<secret>"'
            )
        version = _js_parse_int(version_text)
        if version is None or version < 0:
            raise ValueError(
                f"Invalid version in BETTER_AUTH_SECRETS entry at position {index}. "
                "Version must be a non-negative integer."
            )
        value = rest.strip(_JS_WHITESPACE)
        if not value:
            raise ValueError(f"Empty secret value for version {version} in BETTER_AUTH_SECRETS.")
        secrets.append(VersionedSecret(version, value))
    seen: set[int] = set()
    for secret in secrets:
        if secret.version in seen:
            raise ValueError(
                f"Duplicate version {secret.version} in `secrets`. Each version must be unique."
            )
        seen.add(secret.version)
    return tuple(secrets)


def checked_secrets_env(raw: str) -> str:
    """The setting's value, once Better-Auth would accept it (its messages otherwise)."""
    parse_secrets_env(raw)
    return raw


def signing_secret(secrets: str, secret: str, auth_secret: str = "") -> str:
    """The secret that signs session cookies and tokens, as Better-Auth chooses it: the first
    entry of ``BETTER_AUTH_SECRETS`` when set, else ``BETTER_AUTH_SECRET``, else ``AUTH_SECRET``
    (``options.secret || env.BETTER_AUTH_SECRET || env.AUTH_SECRET``). Empty: none configured."""
    parsed = parse_secrets_env(secrets)
    if parsed:
        return parsed[0].value
    return secret or auth_secret
