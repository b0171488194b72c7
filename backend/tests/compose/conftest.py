"""The Compose tests run only under ``make test-compose`` (``scripts/test-compose.sh``), which
prepares the engine, the images and the checkout; anywhere else they are skipped."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.harness import Compose, source_dir, stack_variables


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if source_dir() is not None and shutil.which("docker"):
        return
    skip = pytest.mark.skip(reason="Docker Compose stack tests: run `make test-compose`")
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def checkout() -> Path:
    directory = source_dir()
    assert directory is not None
    return directory


def running(compose: Compose) -> Iterator[Compose]:
    """Up for the module, down (with its volumes) afterwards, whatever happened (unless
    COMPOSE_KEEP=1, to look at a stack by hand; scripts/test-compose.sh removes it anyway)."""
    try:
        compose.up()
        yield compose
    finally:
        if not os.environ.get("COMPOSE_KEEP"):
            compose.down()


@pytest.fixture(scope="module")
def base_stack(checkout: Path) -> Iterator[Compose]:
    """docker-compose.yml as an operator runs it: two workers, metrics behind a token."""
    compose = Compose(
        checkout, ["docker-compose.yml"], "base", stack_variables(WEB_CONCURRENCY="2")
    )
    yield from running(compose)
