"""The rooms and their one-way doors (ARCHITECTURE.md, README "Layout"), enforced here so ``pytest -q``
fails the moment a change breaks them: import-linter's contracts from ``pyproject.toml``, no private
name taken from another room, a size ratchet, and an engine that loads neither the dashboard nor the
heavy optional libraries."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALLOW_LIST = Path(__file__).with_name("size_allowlist.json")
LIMITS = {"module": 500, "function": 80, "class": 400}


def _sources() -> list[Path]:
    return sorted(p for top in ("engine", "tui") for p in (REPO / top).rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _room(module: str) -> str:
    """``engine.core.graph`` -> ``engine.core``; top-level modules (``engine.driver``) share ``engine``."""
    parts = module.split(".")
    top = REPO.joinpath(*parts[:2])
    return ".".join(parts[:2]) if len(parts) >= 2 and top.is_dir() else parts[0]


def test_import_contracts_hold() -> None:
    """Layers ``cli`` > ``lineage | live | analysis | make`` > ``driver`` > ``caching`` > ``store | core`` >
    leaf modules > ``errors``, function-level imports included, plus the forbidden imports."""
    # in a child process: import-linter configures logging, which would silence the engine's logger
    # for the tests that run after this one
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            f"sys.exit(lint_imports(config_filename={str(REPO / 'pyproject.toml')!r}, no_cache=True))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_no_import_cycle_among_engine_modules() -> None:
    """Function-level imports count; imports under ``TYPE_CHECKING`` do not (they never run)."""
    import grimp
    import networkx as nx

    graph = grimp.build_graph("engine", exclude_type_checking_imports=True)
    edges = nx.DiGraph((m, i) for m in graph.modules for i in graph.find_modules_directly_imported_by(m))
    cycles = sorted(nx.simple_cycles(edges), key=len)
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_no_private_name_crosses_a_room() -> None:
    found = []
    for path in _sources():
        here = _module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            if not node.module.startswith(("engine", "tui")) or _room(node.module) == _room(here):
                continue
            private_module = any(p.startswith("_") for p in node.module.split(".")[2:])
            names = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            if private_module or names:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} imports {names or node.module} "
                             f"from {node.module}")
    assert not found, "private names used across rooms:\n" + "\n".join(found)


def _sizes() -> dict[str, tuple[str, int]]:
    """Every module, function and class over its limit: ``{where: (kind, lines)}``."""
    over: dict[str, tuple[str, int]] = {}
    for path in _sources():
        rel = str(path.relative_to(REPO))
        text = path.read_text()
        lines = text.count("\n") + 1
        if lines > LIMITS["module"]:
            over[rel] = ("module", lines)
        stack: list[tuple[ast.AST, str]] = [(ast.parse(text, rel), "")]
        while stack:
            parent, prefix = stack.pop()
            for node in ast.iter_child_nodes(parent):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    kind = "class" if isinstance(node, ast.ClassDef) else "function"
                    qual = f"{prefix}{node.name}"
                    size = node.end_lineno - node.lineno + 1
                    if size > LIMITS[kind]:
                        over[f"{rel}::{qual}"] = (kind, size)
                    stack.append((node, qual + "."))
                else:
                    stack.append((node, prefix))
    return over


def test_size_ratchet() -> None:
    """Today's offenders are frozen on the allow-list; their numbers may only go down, and an entry
    whose code is back under the limit must leave the list."""
    allowed: dict[str, int] = json.loads(ALLOW_LIST.read_text())
    over = _sizes()
    new = {k: v for k, v in over.items() if k not in allowed}
    grown = {k: (allowed[k], v[1]) for k, v in over.items() if k in allowed and v[1] > allowed[k]}
    fixed = sorted(k for k in allowed if k not in over)
    assert not new, f"over the size limits {LIMITS}: {new}; split them (the allow-list may only shrink)"
    assert not grown, f"allow-listed code grew (allowed, now): {grown}"
    assert not fixed, f"back under the limit, remove from {ALLOW_LIST.name}: {fixed}"


def test_engine_imports_no_dashboard_and_no_heavy_libraries() -> None:
    """Every module of the package, found by walking it (a new module is covered without editing this)."""
    code = ("import sys, importlib, pkgutil, engine\n"
            "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
            "    if not m.name.endswith('__main__'):\n        importlib.import_module(m.name)\n"
            "bad = [m for m in ('tui', 'textual', 'pandas', 'numpy', 'openlineage', 'dask') if m in sys.modules]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_plain_import_engine_loads_no_graph_library() -> None:
    code = "import sys, engine; print('networkx' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


def test_dashboard_is_registered_as_a_cli_plugin() -> None:
    (ep,) = entry_points(group="ripple.commands", name="tui")
    assert ep.value == "tui.plugin:tui_command"
    assert callable(ep.load())
