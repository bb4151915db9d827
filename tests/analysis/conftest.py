"""A small package pipeline on disk that tests edit between runs, each run over freshly imported code."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Driver

NODES = '''
from engine import Collect, Parallelizable


def base(x: int) -> int:
    return x % 2


def doubled(base: int) -> int:
    return base * 2


def items(doubled: int, n: int = 4) -> Parallelizable[int]:
    for i in range(n):
        yield i + doubled


def sq(items: int) -> int:
    return items * items


def total(sq: Collect[int]) -> int:
    return sum(sq)


def label(total: int) -> str:
    return f"t={total}"


def other(x: int) -> int:
    return x + 1
'''

OUTPUTS = ["label", "other"]


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pkg = f"anaproj_{uuid.uuid4().hex[:8]}"
        self.dir = root / self.pkg
        self.dir.mkdir()
        (self.dir / "__init__.py").write_text("")
        (self.dir / "nodes.py").write_text(textwrap.dedent(NODES))
        self.cache = root / "cache"
        self.drivers: list[Driver] = []

    def edit(self, old: str, new: str) -> None:
        path = self.dir / "nodes.py"
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} not unique"
        path.write_text(text.replace(old, new, 1))

    def driver(self) -> Driver:
        """A driver over freshly imported code, as a new process would see it."""
        for mod in [m for m in sys.modules if m == self.pkg or m.startswith(self.pkg + ".")]:
            del sys.modules[mod]
        importlib.invalidate_caches()
        dr = Driver({}, importlib.import_module(f"{self.pkg}.nodes")).with_cache(self.cache)
        self.drivers.append(dr)
        return dr

    def plan(self, x: int = 1, outputs: list[str] = OUTPUTS) -> dict[str, tuple[str, str]]:
        return {n: (w, why) for n, w, why in self.driver().plan(outputs, inputs={"x": x})}

    def run(self, x: int = 1, outputs: list[str] = OUTPUTS) -> Any:
        result = self.driver().run(outputs, inputs={"x": x})
        assert result.status == "ok", result.error
        return result

    def ran(self, x: int = 1) -> set[str]:
        return {n for n, r in self.run(x).records.items() if r.status == "ran"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    p = Project(tmp_path)
    yield p
    for dr in p.drivers:
        if dr.cache is not None:
            dr.cache.close()
