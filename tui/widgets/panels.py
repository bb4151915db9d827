"""Renderables for the header and the side-panel tabs, computed from the model on demand.

They are plain functions returning Rich renderables so the app decides *when* to repaint (at most a
few Hz for the heavier ones) and tests can check the text without a screen.
"""

from __future__ import annotations

import os

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from tui.state.graph import critical_path
from tui.state.run_model import CACHED, FAILED, RAN, RUNNING, RunModel, neighbourhood
from tui.text import fmt_clock, fmt_seconds, function_span, glyph, iter_user_frames, read_lines

RUN_STATE_LABEL = {
    "running": "▶ running", "starting": "▶ starting", "ok": "✔ ok", "failed": "✖ failed", "crashed": "✖ crashed",
    "error": "✖ error", "cancelled": "■ cancelled", "idle": "· idle",
}


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"


def header_text(model: RunModel, now: float, *, watch_available: bool = True) -> Text:
    """Two calm lines: where the run is, and what last changed."""
    done, total = model.done_total()
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" ◆ Ripple ", "bold")
    t.append(model.pipeline or model.graph.pipeline or "?", "bold underline")
    t.append("   ")
    state = model.run_state
    t.append(RUN_STATE_LABEL.get(state, state), _rich_state_style(state))
    t.append(f" {fmt_clock(model.elapsed(now))}")
    t.append(f"   {done}/{total} done")
    t.append(f"   hit {_pct(model.hit_rate())}")
    t.append(f" · lifetime {_pct(model.lifetime_rate())}", "dim")
    t.append("   watch ")
    if not watch_available:
        t.append("n/a", "dim")
    else:
        t.append("on" if model.watching else "off", "bold green" if model.watching else "dim")
    t.append("\n")
    if model.problem is not None:
        p = model.problem
        where = f"{_short(p.file)}:{p.line}: " if p.file else ""
        t.append(f" ⚠ {where}{p.text}", "bold red")
    elif model.change is not None:
        t.append(" last change: ", "dim")
        t.append(model.change.summary)
    else:
        t.append(" no changes yet", "dim")
    return t


def _rich_state_style(state: str) -> str:
    return {"ok": "bold green", "failed": "bold red", "crashed": "bold red", "error": "bold red",
            "cancelled": "yellow", "idle": "dim"}.get(state, "bold cyan")


def details(model: RunModel, name: str | None, now: float, *, draw_limit: int = 60) -> RenderableType:
    """What the selected node is, why it is in its state, and its neighbourhood."""
    if name is None or name not in model.graph.nodes:
        return Text("Select a node (↑/↓, click, or ctrl+p).", style="dim")
    info = model.graph.nodes[name]
    st = model.state_of(name)
    t = Text(no_wrap=True, overflow="ellipsis")  # fixed height whatever the width: no reflow races
    t.append(f"{glyph(st.state, now)} ", _state_colour(st.state))
    t.append(name, "bold")
    t.append(f"  {st.state}", _state_colour(st.state))
    if st.seconds is not None and st.state in (RAN, FAILED):
        t.append(f" in {fmt_seconds(st.seconds)}")
    if st.state == CACHED and st.saved:
        t.append(f" · saved ~{fmt_seconds(st.saved)}")
    t.append("\n")
    if info.file:
        t.append(f"{info.module or ''}  {_short(info.file)}:{info.line}\n", "dim")
    if info.kind != "function":
        t.append(f"kind: {info.kind}\n", "dim")
    why = st.why or ("planned: " + st.planned if st.planned else "")
    if why:
        t.append("why: ", "bold")
        t.append(f"{why}\n")
    versions = model.graph.versions.get(name)
    if versions:
        code, data = versions
        t.append("code ", "dim")
        t.append(f"{(code or '–')[:12]}", "cyan")
        t.append("  data ", "dim")
        t.append(f"{(data or '–')[:12]}\n", "cyan")
    if info.deps:
        t.append("needs: ", "bold")
        t.append(", ".join(info.deps) + "\n")
    if info.inputs:
        t.append("inputs: ", "bold")
        t.append(", ".join(info.inputs) + "\n")
    parts: list[RenderableType] = [t]
    if len(model.graph) <= draw_limit and (info.deps or model.graph.children.get(name)):
        drawn = Text("\n".join(r for r, _ in neighbourhood(model.graph, name, model.states, now)), no_wrap=True,
                     overflow="crop")
        parts.append(drawn)
    return Group(*parts)


def source(model: RunModel, name: str | None) -> RenderableType:
    """The node's function, highlighted, with lines changed since the last green run marked."""
    if name is None or name not in model.graph.nodes:
        return Text("")
    info = model.graph.nodes[name]
    lines = read_lines(info.file) if info.file else None
    if not lines:
        return Text("(source not available)", style="dim")
    start, end = function_span(lines, info.line)
    changed = {n for n in model.changed_lines(info.file) if start <= n <= end}
    code = "\n".join(lines[start - 1:end])
    syntax = Syntax(code, "python", line_numbers=True, start_line=start, highlight_lines=changed,
                    theme="ansi_dark", background_color="default", word_wrap=False)
    if changed:
        return Group(Text(f"● {len(changed)} line(s) changed since the last green run", style="yellow"), syntax)
    return syntax


def bottlenecks(model: RunModel, now: float, limit: int = 12) -> RenderableType:
    """Where the wall time went: top nodes by duration, their share, and the critical path."""
    durations = model.durations()
    wall = model.elapsed(now) or sum(durations.values()) or 0.0
    if not durations:
        return Text("No node has run yet in this session.", style="dim")
    ranked = sorted(durations.items(), key=lambda kv: -kv[1])[:limit]
    table = Table(box=None, expand=True, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", style="dim", width=3)
    table.add_column("node", ratio=3, no_wrap=True, overflow="ellipsis")
    table.add_column("time", justify="right", width=8)
    table.add_column("share", justify="right", width=5)
    table.add_column("", ratio=2, no_wrap=True)
    top = ranked[0][1] or 1.0
    for i, (name, secs) in enumerate(ranked, 1):
        share = secs / wall if wall else 0.0
        bar = "█" * max(1, int(10 * secs / top))
        table.add_row(str(i), name, fmt_seconds(secs), f"{share * 100:.0f}%", Text(bar, style="magenta"))
    path, total = critical_path(model.graph, durations)
    saved = sum(s.saved for s in model.states.values() if s.state == CACHED)
    t = Text()
    t.append("\ncritical path ", "bold")
    t.append(f"{fmt_seconds(total)}", "bold magenta")
    t.append(": " + " → ".join(n for n in path if durations.get(n)) + "\n")
    t.append("wall time ", "dim")
    t.append(fmt_seconds(wall))
    if saved:
        t.append("   cache saved ", "dim")
        t.append(f"~{fmt_seconds(saved)}", "green")
    return Group(table, t)


def failure(model: RunModel) -> RenderableType:
    """The exception, the user's frames, and the most likely place to look first."""
    f = model.failure
    if f is None:
        if model.last_failed:
            return Text(f"The last run {model.run_state}. Resume re-runs only what did not finish.", style="yellow")
        return Text("No failure. ✔", style="green")
    t = Text()
    t.append("✖ ", "bold red")
    t.append(f.node, "bold")
    t.append(" failed\n")
    t.append(f"{f.error_type}: ", "bold red")
    t.append(f"{f.error}\n")
    frames = list(iter_user_frames(f.traceback))
    root = frames[-1] if frames else ((f.file, f.line, "") if f.file else None)
    if root is not None:
        file, line, code = root
        if not code and file:
            lines = read_lines(file) or []
            code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        t.append("\nprobable root cause ", "bold")
        t.append(f"{_short(file)}:{line}\n", "cyan")
        if code:
            t.append(f"  {code}\n", "yellow")
        changed = model.changed_lines(file) if file else set()
        if changed:
            t.append(f"  changed since the last good run: lines {_ranges(changed)}\n", "magenta")
    parts: list[RenderableType] = [t]
    if f.traceback:
        parts.append(Text("\ntraceback (your frames)", style="bold"))
        parts.append(Syntax(f.traceback.rstrip(), "pytb", theme="ansi_dark", background_color="default", word_wrap=True))
    return Group(*parts)


def _ranges(numbers: set[int]) -> str:
    out: list[str] = []
    for n in sorted(numbers):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out[:6]) + (" …" if len(out) > 6 else "")


def _short(path: str) -> str:
    """``package/module.py``: enough to recognise, and the same wherever the dashboard was started."""
    parts = path.replace(os.sep, "/").split("/")
    return "/".join(parts[-2:])


def _state_colour(state: str) -> str:
    return {RUNNING: "bold cyan", CACHED: "green", RAN: "bright_green", FAILED: "bold red", "skipped": "yellow",
            "stale": "magenta"}.get(state, "dim")
