"""The engine stands alone: importing any of it loads neither the dashboard nor Textual nor the
heavy optional libraries, and the dashboard is reachable from the CLI only as a plugin."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points


def test_engine_imports_no_dashboard_and_no_heavy_libraries():
    """Every module of the package, found by walking it (a new module is covered without editing this)."""
    code = ("import sys, importlib, pkgutil, engine\n"
            "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
            "    if not m.name.endswith('__main__'):\n        importlib.import_module(m.name)\n"
            "bad = [m for m in ('tui', 'textual', 'pandas', 'numpy', 'openlineage', 'dask') if m in sys.modules]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_plain_import_engine_loads_no_graph_library():
    code = "import sys, engine; print('networkx' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


def test_dashboard_is_registered_as_a_cli_plugin():
    (ep,) = entry_points(group="ripple.commands", name="tui")
    assert ep.value == "tui.plugin:tui_command"
    assert callable(ep.load())
