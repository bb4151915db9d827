"""Helpers for tests of what an edit makes the analysis parse and walk again."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HUNDRED = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(100))


def hundred_functions(folder: Path) -> Path:
    """A module of 100 one-line functions, ``f0`` to ``f99``."""
    path = folder / "many.py"
    path.write_text(HUNDRED)
    return path


def edit_f42(path: Path) -> None:
    path.write_text(HUNDRED.replace("return x + 42\n", "return x * 42\n"))


def record_work(monkeypatch: pytest.MonkeyPatch, user: ModuleType) -> tuple[list[Any], list[Any]]:
    """Every statement the analysis walks from now on, and every tree ``user.partial_tree`` (the
    module that parses around unchanged definitions) gives."""
    from engine.caching import source_analysis

    walked: list[Any] = []
    trees: list[Any] = []
    walk, tree = source_analysis._walk, user.partial_tree
    monkeypatch.setattr(source_analysis, "_walk", lambda an, stmt: walked.append(stmt) or walk(an, stmt))
    monkeypatch.setattr(user, "partial_tree", lambda *a: trees.append(tree(*a)) or trees[-1])
    return walked, trees


def spans(tree: Any) -> int:
    """How many statements of ``tree`` were left unparsed."""
    return [type(s).__name__ for s in tree.body].count("Span")
