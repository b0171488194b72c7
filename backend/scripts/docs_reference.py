"""Write the generated reference pages of the documentation site (docs/reference/).

cd backend && uv run python -m scripts.docs_reference          # write (make docs-reference)
cd backend && uv run python -m scripts.docs_reference --check  # exit 1 if one is stale

- settings.md: from ``app.config.Settings`` (name, type, default, the docstring of each field);
- endpoints.md: from the committed OpenAPI contract (``make openapi`` first, if routes changed);
- error-codes.md: from the code in ``app/`` that raises the errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from scripts.reference import endpoints_page, errors_page, settings_page

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"
COMMAND = "make docs-reference"

PAGES: dict[str, Callable[[], str]] = {
    "settings.md": settings_page.render,
    "endpoints.md": endpoints_page.render,
    "error-codes.md": errors_page.render,
}


def stale_pages() -> list[str]:
    """The generated pages whose committed text differs from what the code gives now."""
    return [
        name
        for name, render in PAGES.items()
        if not (REFERENCE / name).is_file() or (REFERENCE / name).read_text() != render()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a committed page differs")
    args = parser.parse_args()
    if args.check:
        stale = stale_pages()
        for name in stale:
            print(f"docs/reference/{name} is out of date: run {COMMAND}", file=sys.stderr)
        return 1 if stale else 0
    REFERENCE.mkdir(parents=True, exist_ok=True)
    for name, render in PAGES.items():
        (REFERENCE / name).write_text(render())
        print(f"wrote docs/reference/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
