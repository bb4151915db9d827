"""The profile section of the Bottlenecks tab: a plain function returning a Rich renderable."""

from __future__ import annotations

import os

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tui.backend.profiler import ProfileResult
from tui.text import fmt_seconds


def _short(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def profile_section(result: ProfileResult | None, running: str | None = None, limit: int = 8) -> RenderableType:
    """``p`` on a node fills this; while the child works it says so."""
    if running:
        return Text(f"\nprofiling {running} on its cached inputs…", style="yellow")
    if result is None:
        return Text("\np profiles the selected node on its cached inputs.", style="dim")
    if result.error:
        t = Text("\nprofile of ", style="bold")
        t.append(result.node, "bold")
        t.append(f": {result.error}", "red")
        return t
    doc = result.doc
    head = Text("\nprofile ", style="bold")
    head.append(result.node, "bold magenta")
    head.append(f" ran in {fmt_seconds(doc.get('seconds', 0.0))} on its cached inputs\n")
    lines = Table(box=None, expand=True, pad_edge=False, show_edge=False, title="hot lines", title_justify="left")
    lines.add_column("share", justify="right", width=5)
    lines.add_column("where", ratio=2, no_wrap=True, overflow="ellipsis")
    lines.add_column("code", ratio=3, no_wrap=True, overflow="ellipsis")
    for h in doc.get("lines", ())[:limit]:
        lines.add_row(f"{h['share'] * 100:.0f}%", f"{os.path.basename(h['file'])}:{h['line']}", h.get("code", ""))
    funcs = Table(box=None, expand=True, pad_edge=False, show_edge=False, title="top functions (self time)",
                  title_justify="left")
    funcs.add_column("self", justify="right", width=8)
    funcs.add_column("function", ratio=3, no_wrap=True, overflow="ellipsis")
    for f in doc.get("functions", ())[:limit]:
        name = f"{os.path.basename(f['file'])}:{f['line']} {f['function']}" if f.get("file") not in ("", "~") \
            else f["function"]
        funcs.add_row(fmt_seconds(f["self_seconds"]), Text(name, style="bold" if f.get("project") else ""))
    return Group(head, lines, Text(""), funcs)
