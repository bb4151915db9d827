"""Shared, generic fixtures.

Pipelines in tests are written as source text so each test owns its module: ``make_module`` writes
the text into ``tmp_path`` and imports it under a name no other test uses, then removes it from
``sys.modules`` and ``sys.path`` afterwards so tests cannot see each other's nodes.
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import textwrap
import types
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_counter = itertools.count()


@pytest.fixture
def make_module(tmp_path: Path) -> Iterator[Callable[..., types.ModuleType]]:
    """``make_module(source, name=None)`` -> the imported module (source is dedented)."""
    added: list[str] = []
    folder = str(tmp_path)

    def make(source: str, name: str | None = None) -> types.ModuleType:
        name = name or f"ripple_test_mod_{next(_counter)}_{uuid.uuid4().hex[:8]}"
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        if folder not in sys.path:
            sys.path.insert(0, folder)
        importlib.invalidate_caches()
        added.append(name)
        return importlib.import_module(name)

    yield make
    for name in added:
        sys.modules.pop(name, None)
    while folder in sys.path:
        sys.path.remove(folder)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``pipeline(source, suffix=".py")`` -> path of a pipeline file with a unique module name (for the
    CLI, which imports it). Afterwards every module imported from ``tmp_path`` is unloaded and its
    folders leave ``sys.path``, whatever the test built there (files, packages)."""

    def write(source: str, suffix: str = ".py") -> str:
        path = tmp_path / f"ripple_pipe_{next(_counter)}_{uuid.uuid4().hex[:8]}{suffix}"
        path.write_text(source)
        return str(path)

    yield write
    root = str(tmp_path)
    for name, mod in list(sys.modules.items()):
        if (getattr(mod, "__file__", None) or "").startswith(root + os.sep):
            sys.modules.pop(name, None)
    sys.path[:] = [p for p in sys.path if p != root and not p.startswith(root + os.sep)]
