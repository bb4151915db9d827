"""Code versions of Hamilton-decorated nodes cover what the decorators say, in both import styles: an
edit to a helper or constant used only inside a decorator re-runs the nodes built from it, and an
unrelated edit re-runs nothing (Hamilton itself versions only the decorated function's source)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import hamilton_harness as H
import pytest

from engine import Driver
from engine.events import RAN

SOURCE = '''
from hamilton.function_modifiers import does, parameterize, pipe_input, source, step, value

OFFSET = 1
FACTOR = 3


def _add(x: int, k: int) -> int:
    return x + k


def _sum(**values: int) -> int:
    return sum(values.values())


@pipe_input(step(_add, k=value(OFFSET)))
def piped(raw: int) -> int:
    return raw * 2


@parameterize(tripled={"v": source("raw"), "f": value(FACTOR)}, doubled={"v": source("raw"), "f": value(2)})
def scaled(v: int, f: int) -> int:
    return v * f


@does(_sum)
def total(piped: int, tripled: int) -> int:
    pass


def untouched(raw: int) -> int:
    return raw - 1
'''

OUTPUTS = ["piped", "tripled", "doubled", "total", "untouched"]


def _load(path: Path, name: str):
    sys.path.insert(0, str(path.parent))
    try:
        if name in sys.modules:
            return importlib.reload(sys.modules[name])
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(path.parent))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def _ran(dr: Driver) -> set[str]:
    result = dr.run(OUTPUTS, inputs={"raw": 5})
    assert result.error is None
    return {n for n, rec in result.records.items() if rec.status == RAN}


@pytest.mark.parametrize("style", ["hamilton", "engine"])
def test_decorator_arguments_and_their_helpers_are_versioned(tmp_path: Path, style: str):
    name = f"hver_{style}_{os.getpid()}"
    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE if style == "hamilton" else H.engine_source(SOURCE))
    cache = tmp_path / ".ripple"
    try:
        mod = _load(path, name)
        first = Driver({}, mod).with_cache(cache)
        assert _ran(first) >= set(OUTPUTS)
        assert _ran(Driver({}, mod).with_cache(cache)) == set()
        # a helper used only inside @pipe_input(step(...)): its step re-runs, and what its value reaches
        _edit(path, "return x + k", "return x + k + 100")
        after_helper = _ran(Driver({}, _load(path, name)).with_cache(cache))
        assert "piped.with_add" in after_helper and "total" in after_helper
        assert not after_helper & {"tripled", "doubled", "untouched"}
        # a constant used only inside @parameterize(value(...)): the parameterized nodes re-run
        _edit(path, "FACTOR = 3", "FACTOR = 4")
        after_constant = _ran(Driver({}, _load(path, name)).with_cache(cache))
        assert "tripled" in after_constant and "total" in after_constant
        assert not after_constant & {"piped.with_add", "untouched"}
        # the replacing function of @does
        _edit(path, "return sum(values.values())", "return sum(values.values()) + 1")
        after_does = _ran(Driver({}, _load(path, name)).with_cache(cache))
        assert "total" in after_does and not after_does & {"piped.with_add", "tripled", "doubled", "untouched"}
        # a comment or a docstring: nothing
        _edit(path, "def untouched(raw: int) -> int:\n", 'def untouched(raw: int) -> int:\n    """Docs."""  # note\n')
        assert _ran(Driver({}, _load(path, name)).with_cache(cache)) == set()
    finally:
        sys.modules.pop(name, None)
