"""The tutorial's files stay what the page says they are: a revision that follows the current
head (so the reader's copy chains onto their repository), a migration that creates exactly the
model's table (``alembic check``, the command the page names), and every file shown on the page."""

from __future__ import annotations

import re
from types import ModuleType

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.database import BACKEND_DIR, alembic_config
from tests.tutorial.conftest import TUTORIAL, run_alembic, tutorial_revision

PAGE = BACKEND_DIR.parent / "docs" / "guides" / "your-own-endpoint.md"


def test_the_revision_follows_the_current_head() -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    revision = tutorial_revision()
    assert revision.down_revision == head, (
        f"backend/tutorial/alembic/versions/{revision.path.rsplit('/', 1)[-1]} revises "
        f"{revision.down_revision!r}, but the repository's head is now {head!r}: set its "
        f"down_revision (and 'Revises:') to {head!r}"
    )


async def test_the_migration_creates_the_models_table(
    engine: AsyncEngine, tutorial: ModuleType
) -> None:
    await run_alembic(engine, lambda config, _target: command.check(config), "head")


def test_the_page_shows_every_tutorial_file() -> None:
    shown = set(re.findall(r'--8<--\s+"backend/tutorial/([^"]+)"', PAGE.read_text()))
    files = {
        path.relative_to(TUTORIAL).as_posix()
        for path in TUTORIAL.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert sorted(files - shown) == [], f"{PAGE.name} does not show these tutorial files"
