"""The real Better-Auth output committed in ``tests/fixtures/better-auth/`` (written by
``npm run vectors`` in auth-server/). Tests read Better-Auth's behaviour from here only: nothing
outside the repository.

- ``tokens.json``: a JWT per algorithm with its JWKS, header, claims and ``valid_at``; the
  session token in its bare, signed-bearer and cookie forms with the secret; an API key.
- ``rows-sqlite.json``: the rows of the run that minted the session, the EdDSA token and the API
  key, as better-sqlite3 reads them back (booleans 0/1, dates as ISO text).
- ``rows-postgres.json``: the same scenario on PostgreSQL (``row_to_json``), other ids.
- ``schema-postgres.sql``, ``schema-sqlite.sql``: the DDL Better-Auth runs on an empty database.
- ``origins.json``: its origin check's answer (trusted or not) for each pair of a corpus of
  trusted-origin patterns and ``Origin`` values.

``tests/fixtures/better-auth-1.6/origins.json`` holds the same corpus answered by the newest 1.6
release (written by ``npm run vectors`` in ``auth-server/.variants/<version>/``; the 1.6 run of
``make test-matrix`` checks it is still that server's answer).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "better-auth"
#: The older line's answers where they are kept (only the origin corpus: see the docstring).
LINE_VECTORS_DIRS = {"1.6": VECTORS_DIR.with_name("better-auth-1.6")}


@cache
def load_tokens_file() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS_DIR / "tokens.json").read_text())
    return data


@cache
def load_rows(dialect: str) -> dict[str, dict[str, Any]]:
    """``{table: row}`` as Better-Auth wrote them on ``sqlite`` or ``postgresql``."""
    name = "rows-sqlite.json" if dialect == "sqlite" else "rows-postgres.json"
    data: dict[str, dict[str, Any]] = json.loads((VECTORS_DIR / name).read_text())
    return data


@cache
def load_origin_cases(line: str | None = None) -> list[tuple[str, str, bool]]:
    """``(origin, pattern, trusted)``: Better-Auth's ``isTrustedOrigin`` with that one pattern,
    by the pinned version or, with ``line``, by that line's newest release."""
    directory = VECTORS_DIR if line is None else LINE_VECTORS_DIRS[line]
    data = json.loads((directory / "origins.json").read_text())
    return [(origin, pattern, trusted) for origin, pattern, trusted in data["cases"]]
