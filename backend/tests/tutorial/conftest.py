"""Runs the tutorial of docs/guides/your-own-endpoint.md as its reader has it.

The reader puts the files of ``backend/tutorial/`` into ``app/`` and ``alembic/versions/``, adds
the model to ``app/models/__init__.py`` and the router to ``create_app``. Here the same files
stay where they are and are put in place for these tests only:

- ``app.models``, ``app.schemas``, ``app.services`` and ``app.routers`` also look in
  ``backend/tutorial/app/...``, so ``app.routers.projects`` imports as the reader's does;
- the test database is upgraded with Alembic to the tutorial's revision (its file is found
  through ``version_locations``), and downgraded again at the end;
- every app ``app_factory`` builds includes the router under ``/api/v1``.

The ``project`` table is on ``Base.metadata`` only while these tests run: the rest of the suite
compares the metadata with the repository's own migrations.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import API_PREFIX
from app.models import Base
from tests.conftest import AppFactory
from tests.support.database import BACKEND_DIR, alembic_config

TUTORIAL = BACKEND_DIR / "tutorial"
REVISIONS = TUTORIAL / "alembic" / "versions"
PACKAGES = ("app.models", "app.schemas", "app.services", "app.routers")


def mount_tutorial() -> None:
    """Let the app's packages find the tutorial's modules, as if they were in ``app/``."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        folder = str(TUTORIAL / Path(*name.split(".")))
        if folder not in package.__path__:
            package.__path__.append(folder)


def tutorial_config(connection: Connection | None = None) -> Config:
    """The repository's Alembic configuration, with the tutorial's revision beside its own."""
    config = alembic_config()
    locations = [str(BACKEND_DIR / "alembic" / "versions"), str(REVISIONS)]
    config.set_main_option("version_locations", os.pathsep.join(locations))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def tutorial_revision() -> Any:
    script = ScriptDirectory.from_config(tutorial_config())
    (path,) = REVISIONS.glob("*.py")
    revision = script.get_revision(path.name.split("_")[1])
    assert revision is not None, f"no revision in {path}"
    return revision


async def run_alembic(engine: AsyncEngine, action: Callable[..., None], target: str) -> None:
    def run(connection: Connection) -> None:
        action(tutorial_config(connection), target)

    async with engine.begin() as connection:
        await connection.run_sync(run)


@pytest.fixture(scope="package")
async def tutorial(engine: AsyncEngine) -> AsyncIterator[ModuleType]:
    """The tutorial's router module, with its table in the test database."""
    mount_tutorial()
    routers = importlib.import_module("app.routers.projects")
    table = importlib.import_module("app.models.project").Project.__table__
    revision = tutorial_revision()
    await run_alembic(engine, command.upgrade, revision.revision)
    try:
        yield routers
    finally:
        await run_alembic(engine, command.downgrade, revision.down_revision)
        Base.metadata.remove(table)


@pytest.fixture
async def app_factory(app_factory: AppFactory, tutorial: ModuleType) -> AppFactory:
    """The suite's apps, with the router the reader includes in ``create_app``."""

    async def factory(**overrides: object) -> FastAPI:
        application = await app_factory(**overrides)
        application.include_router(tutorial.router, prefix=API_PREFIX)
        return application

    return factory
