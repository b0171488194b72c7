"""Where the real Better-Auth output lives: ``shared/better-auth-vectors`` beside the repository
(override with ``BETTER_AUTH_VECTORS_DIR``)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parents[3]
VECTORS_DIR = Path(
    os.environ.get("BETTER_AUTH_VECTORS_DIR", REPO_DIR.parent / "shared" / "better-auth-vectors")
)


@cache
def load_tokens_file() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS_DIR / "tokens.json").read_text())
    return data
