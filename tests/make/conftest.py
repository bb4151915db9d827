"""Makefile projects in the styles of real repositories, built twice in temporary copies: once by
GNU make, once by the translated Ripple pipeline, so outputs can be compared byte for byte."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PROJECTS = Path(__file__).parent / "projects"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("make") is None:  # pragma: no cover - .ci/run installs make on a fresh machine
        skip = pytest.mark.skip(reason="GNU make is not installed; .ci/run installs it")
        for item in items:
            if "tests/make/" in str(item.fspath).replace("\\", "/"):
                item.add_marker(skip)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """``project(name, copy)`` -> a fresh copy of tests/make/projects/NAME under tmp_path/COPY."""

    def copy(name: str, as_: str = "ripple") -> Path:
        dest = tmp_path / as_
        shutil.copytree(PROJECTS / name, dest)
        return dest

    yield copy
