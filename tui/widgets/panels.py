"""Renderables for the header and the side-panel tabs, computed from the model on demand.

They are plain functions returning Rich renderables so the app decides *when* to repaint (at most a
few Hz for the heavier ones) and tests can check the text without a screen.
"""

from __future__ import annotations

import os

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from engine.analysis.critical_path import Span, critical_path
from engine.analysis.estimate import fmt_eta
from engine.analysis.history import NodeTime, rank, trend_of
from tui.state.eta import run_eta, running
from tui.state.run_model import CACHED, FAILED, RAN, RUNNING, RunModel, neighbourhood, vertical_neighbourhood
from tui.text import fmt_clock, fmt_seconds, function_span, glyph, is_user_file, iter_user_frames, read_lines
from tui.widgets.profile_panel import profile_section

RUN_STATE_LABEL = {
    "running": "▶ running", "starting": "▶ starting", "ok": "✔ ok", "failed": "✖ failed", "crashed": "✖ crashed",
    "error": "✖ error", "cancelled": "■ cancelled", "idle": "· idle",
}


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"


def header_text(model: RunModel, now: float, *, watch_available: bool = True, width: int = 0) -> Text:
    """Two calm lines: where the run is, and what last changed. Given its ``width``, the first line
    drops the lifetime hit rate rather than cut "watch on" off at the edge."""
    done, total = model.done_total()
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" ◆ Ripple ", "bold")
    t.append(model.pipeline or model.graph.pipeline or "?", "bold underline")
    t.append("   ")
    state = model.run_state
    t.append(RUN_STATE_LABEL.get(state, state), _rich_state_style(state))
    t.append(f" {fmt_clock(model.elapsed(now))}")
    t.append(f"   {done}/{total} done")
    if model.running:
        _append_progress(t, model, now)
    t.append(f"   hit {_pct(model.hit_rate())}")
    lifetime = f" · lifetime {_pct(model.lifetime_rate())}"
    if not width or t.cell_len + len(lifetime) + len("   watch off") <= width:
        t.append(lifetime, "dim")
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
        t.append(change_summary(model))
    else:
        t.append(" no changes yet", "dim")
    return t


def change_summary(model: RunModel) -> str:
    """The watcher's summary, its count replaced by the run's own prediction once that arrives
    (the one ``ripple plan`` makes: hit / will run / may run), and what then ran."""
    from engine.caching.predict import counts

    text = model.change.summary if model.change is not None else ""
    if model.planned_run != model.run_id or model.run_id == model.change_run or not model.run_nodes:
        return text
    predicted = {n: model.state_of(n).planned for n in model.run_nodes}
    head = text.split(" -> ", 1)[0]
    line = f"{head} -> {counts((n, w, '') for n, w in predicted.items() if w)}"
    if not model.running:
        ran = sum(1 for n in predicted if model.state_of(n).state in (RAN, FAILED))
        line += f"; {ran} ran"
    return line


def _append_progress(t: Text, model: RunModel, now: float) -> None:
    """The running nodes' elapsed times (longest first) and the ETA from the history."""
    active = list(running(model, now).items())
    if active:
        t.append("   " + ", ".join(f"{n} {fmt_seconds(s)}" for n, s in active[:2]), "cyan")
        if len(active) > 2:
            t.append(f" +{len(active) - 2}", "cyan")
    text = fmt_eta(run_eta(model, now))
    if text:
        t.append(f"   {text}", "bold")


def _rich_state_style(state: str) -> str:
    return {"ok": "bold green", "failed": "bold red", "crashed": "bold red", "error": "bold red",
            "cancelled": "yellow", "idle": "dim"}.get(state, "bold cyan")


class _Neighbourhood:
    """Drawn left to right when that fits the panel, else top to bottom: no line is cut at the edge."""

    def __init__(self, model: RunModel, name: str, now: float) -> None:
        self.model, self.name, self.now = model, name, now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        m = self.model
        rows = [r for r, _ in neighbourhood(m.graph, self.name, m.states, self.now)]
        if max((len(r) for r in rows), default=0) > options.max_width:
            rows = vertical_neighbourhood(m.graph, self.name, m.states, self.now)
        yield Text("\n".join(rows), no_wrap=True, overflow="ellipsis")


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
        parts.append(_Neighbourhood(model, name, now))
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
                    theme="ansi_dark", background_color="default", word_wrap=True)  # long lines wrap, never clip
    hot = _hot_lines(model, name, info.file, start, end)
    if hot:
        for n in hot:
            syntax.stylize_range("bold on #5f1f1f", (n - start + 1, 0), (n - start + 2, 0))
        legend = ", ".join(f"{n} ({share * 100:.0f}%)" for n, share in sorted(hot.items(), key=lambda kv: -kv[1])[:4])
        head = Text(f"▲ hot lines from the profile: {legend}", style="bold red")
        return Group(head, Text(f"● {len(changed)} line(s) changed since the last green run", style="yellow"),
                     syntax) if changed else Group(head, syntax)
    if changed:
        return Group(Text(f"● {len(changed)} line(s) changed since the last green run", style="yellow"), syntax)
    return syntax


def _hot_lines(model: RunModel, name: str, file: str, start: int, end: int) -> dict[int, float]:
    """Lines of this node's span the last profile found hot (any profiled node: helpers are shared)."""
    prof = model.profile
    if prof is None or getattr(prof, "error", "") or not file:
        return {}
    return {n: s for n, s in prof.hot_lines(file).items() if start <= n <= end and s >= HOT_SHARE}


#: a line is marked hot in the source view from this share of the profiled node's time
HOT_SHARE = 0.05


def bottlenecks(model: RunModel, now: float, limit: int = 12) -> RenderableType:
    """Where the wall time went: nodes by self time, their share, trend, the critical path, what
    parallel workers could save, what the cache saved, and the last on-demand profile (``p``).

    The numbers come from :mod:`engine.analysis`, the same functions ``ripple`` uses on the CLI.
    """
    durations = model.durations()
    profile = profile_section(model.profile, model.profiling)
    if not durations:
        return Group(Text("No node has run yet in this session.", style="dim"), profile)
    parents = model.graph.parents
    path = critical_path([Span(n, s, tuple(parents.get(n, ()))) for n, s in durations.items()],
                         wall=model.elapsed(now) or None)
    wall = path.wall or 0.0
    ranked: list[NodeTime] = rank(_Timed.of(durations), wall, critical=path.nodes)[:limit]
    table = Table(box=None, expand=True, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", style="dim", width=3)
    table.add_column("node", ratio=3, no_wrap=True, overflow="ellipsis")
    table.add_column("time", justify="right", width=8)
    table.add_column("share", justify="right", width=5)
    table.add_column("trend", justify="right", width=7, no_wrap=True)
    table.add_column("", ratio=2, no_wrap=True)
    top = ranked[0].seconds or 1.0
    for i, row in enumerate(ranked, 1):
        bar = "█" * max(1, int(10 * row.seconds / top))
        tr = trend_of(row.node, list(reversed(model.history.get(row.node, ()))))
        trend = Text(f"▲{tr.ratio:.1f}x", style="bold red") if tr.regressed and tr.ratio else Text("")
        name = Text(row.node, style="bold" if row.critical else "")
        table.add_row(str(i), name, fmt_seconds(row.seconds), f"{row.share * 100:.0f}%", trend,
                      Text(bar, style="magenta" if row.critical else "dim magenta"))
    saved = sum(s.saved for s in model.states.values() if s.state == CACHED)
    t = Text()
    t.append("\ncritical path ", "bold")
    t.append(f"{fmt_seconds(path.seconds)}", "bold magenta")
    t.append(": " + " → ".join(n for n in path.nodes if durations.get(n)) + "\n")
    t.append("wall time ", "dim")
    t.append(fmt_seconds(wall))
    if path.parallel_saving >= 0.001:
        t.append("   parallel could save ", "dim")
        t.append(f"~{fmt_seconds(path.parallel_saving)}", "cyan")
    if saved:
        t.append("   cache saved ", "dim")
        t.append(f"~{fmt_seconds(saved)}", "green")
    return Group(table, t, profile)


class _Timed:
    """A node's time in this session's run, shaped like a history record for :func:`rank`."""

    __slots__ = ("node", "seconds", "status", "hit")

    def __init__(self, node: str, seconds: float) -> None:
        self.node, self.seconds, self.status, self.hit = node, seconds, "ran", False

    @classmethod
    def of(cls, durations: dict[str, float]) -> list[_Timed]:
        return [cls(n, s) for n, s in durations.items()]


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
    frames = [fr for fr in iter_user_frames(f.traceback) if is_user_file(fr[0])]  # the user's, not a library's
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
