"""One run as one self-contained HTML page: the thing to attach to a ticket or keep as a CI artifact.

Everything is inline (CSS, SVG, no script, no font or image fetched), so the page reads the same
offline, in a mail client's preview or years later. It shows the DAG coloured by each node's
status (laid out by :mod:`engine.core.layout`, the dashboard's layout), the run's timeline (the
same :class:`~engine.analysis.timeline.Timeline` as ``--timeline``), the table of nodes with why each
ran or hit, and the failure with its traceback. Light and dark follow the viewer's preference.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .timeline import Timeline

CHAR_W = 7.4  # px per character of a box label in the SVG
LAYER_H = 64
BOX_H = 28

CSS = """
:root { --bg:#ffffff; --fg:#1d2330; --muted:#687080; --line:#c4c9d4; --panel:#f4f6fa;
  --ran:#3c9a3c; --cached:#2f8f9d; --failed:#d23c3c; --skipped:#c48a1c; --running:#2f7fd1; --pending:#8a93a3; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#14171f; --fg:#e4e7ee; --muted:#9aa3b5; --line:#3b4252; --panel:#1d212b;
    --ran:#7fd47f; --cached:#5cc8d6; --failed:#ff6b6b; --skipped:#e0b04c; --running:#5aa9ff; --pending:#7f8796; }
}
body { background:var(--bg); color:var(--fg); font:14px/1.45 system-ui, sans-serif; margin:24px; }
h1 { font-size:20px; margin:0 0 4px; } h2 { font-size:16px; margin:28px 0 8px; }
.muted { color:var(--muted); } .scroll { overflow-x:auto; background:var(--panel); border-radius:6px; padding:8px; }
svg text { font:12px ui-monospace, monospace; fill:var(--fg); }
.edge { fill:none; stroke:var(--line); stroke-width:1.4; }
.node rect { fill:var(--panel); stroke-width:2; rx:6; }
.st-ran rect, .bar.st-ran { stroke:var(--ran); fill:var(--ran); } .st-ran rect { fill-opacity:.15; }
.st-cached rect, .bar.st-cached { stroke:var(--cached); fill:var(--cached); } .st-cached rect { fill-opacity:.15; }
.st-failed rect, .bar.st-failed { stroke:var(--failed); fill:var(--failed); } .st-failed rect { fill-opacity:.2; }
.st-skipped rect, .bar.st-skipped { stroke:var(--skipped); fill:var(--skipped); } .st-skipped rect { fill-opacity:.12; }
.st-pending rect { stroke:var(--pending); fill-opacity:0; }
.bar.critical { stroke:var(--fg); stroke-width:1.5; }
table { border-collapse:collapse; width:100%; } th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.badge { font-weight:600; } .badge.st-ran { color:var(--ran); } .badge.st-cached { color:var(--cached); }
.badge.st-failed { color:var(--failed); } .badge.st-skipped { color:var(--skipped); }
pre { background:var(--panel); padding:12px; border-radius:6px; overflow-x:auto; font-size:12px; }
.legend span { margin-right:14px; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def dag_svg(order: Sequence[str], parents: Mapping[str, Iterable[str]], status: Mapping[str, str],
            groups: Mapping[str, str] | None = None) -> str:
    """The DAG as inline SVG, top to bottom, each node a box classed by its status."""
    from engine.core.layout import layout

    widths = {n: len(n) + 4 for n in order}
    lay = layout(order, {n: tuple(parents.get(n, ())) for n in order}, widths, groups=groups)

    def centre(vid: str) -> tuple[float, float]:
        v = lay.vertices[vid]
        return (v.x + v.width / 2) * CHAR_W + 8, v.layer * LAYER_H + 8 + BOX_H / 2

    parts: list[str] = []
    for chain in lay.chains:
        pts = [centre(v) for v in chain]
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        path = [f"M{x0:.1f},{y0 + BOX_H / 2:.1f}"]
        for x, y in pts[1:-1]:
            path.append(f"L{x:.1f},{y:.1f}")
        path.append(f"L{x1:.1f},{y1 - BOX_H / 2:.1f}")
        parts.append(f'<path class="edge" d="{" ".join(path)}" marker-end="url(#arrow)"/>')
    for name in order:
        v = lay.vertices[name]
        x, y = v.x * CHAR_W + 8, v.layer * LAYER_H + 8
        st = status.get(name, "pending")
        tip = f"{name}: {st}" + (f" ({groups[name]})" if groups and groups.get(name) else "")
        parts.append(f'<g class="node st-{_e(st)}" id="node-{_e(name)}"><title>{_e(tip)}</title>'
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{v.width * CHAR_W:.1f}" height="{BOX_H}"/>'
                     f'<text x="{x + 2 * CHAR_W:.1f}" y="{y + BOX_H / 2 + 4:.1f}">{_e(name)}</text></g>')
    w = lay.width * CHAR_W + 16
    h = len(lay.layers) * LAYER_H + 16
    marker = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
              'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{w:.0f}" height="{h:.0f}" '
            f'viewBox="0 0 {w:.0f} {h:.0f}" style="color:var(--line)">{marker}{"".join(parts)}</svg>')


def timeline_svg(tl: Timeline, width: int = 900) -> str:
    """The Gantt chart: a bar per node from start to end, hits as thin ticks, the critical path outlined."""
    label_w, row_h = 200, 18
    area = width - label_w - 80
    wall = tl.wall or 1.0
    parts: list[str] = []
    for i, b in enumerate(tl.bars):
        y = i * row_h + 4
        x = label_w + b.start / wall * area
        w = max(b.seconds / wall * area, 2.0) if b.status not in ("cached", "skipped") else 2.0
        crit = " critical" if b.critical else ""
        parts.append(f'<text x="4" y="{y + 12}">{"* " if b.critical else ""}{_e(b.node)}</text>'
                     f'<rect class="bar st-{_e(b.status)}{crit}" x="{x:.1f}" y="{y + 2}" width="{w:.1f}" '
                     f'height="{row_h - 6}"><title>{_e(b.node)}: {_e(b.status)} {_e(_fmt(b.seconds))}</title></rect>'
                     f'<text class="muted" x="{label_w + area + 8}" y="{y + 12}">'
                     f'{ {"cached": "hit", "skipped": "skip"}.get(b.status) or _e(_fmt(b.seconds))}</text>')
    h = len(tl.bars) * row_h + 28
    parts.append(f'<text x="{label_w}" y="{h - 6}">0</text>'
                 f'<text x="{label_w + area - 40}" y="{h - 6}">{_e(_fmt(wall))}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{h}" '
            f'viewBox="0 0 {width} {h}">{"".join(parts)}</svg>')


def render(run: Any, records: Sequence[Any], tl: Timeline, *, order: Sequence[str] | None = None,
           parents: Mapping[str, Iterable[str]] | None = None, groups: Mapping[str, str] | None = None) -> str:
    """The page for ``run`` (a ``RunRecord``) and its ``NodeRunRecord``s. Without a graph
    (``order``/``parents``), the DAG section says so and the rest is still complete."""
    status = {r.node: r.status or "pending" for r in records}
    title = f"Ripple run {run.run_id} — {run.pipeline} {run.status}"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started)) if run.started else ""
    out = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>",
           f"<meta name=\"viewport\" content=\"width=device-width\"><style>{CSS}</style></head><body>",
           f"<h1>{_e(run.pipeline)} <span class=\"badge st-{_e(_run_class(run.status))}\">{_e(run.status)}</span></h1>",
           f"<p class=\"muted\">run {_e(run.run_id)} · started {_e(started)} · wall {_e(_fmt(run.seconds))} · "
           f"{run.ran} ran, {run.cached} cached, {run.failed} failed, {run.skipped} skipped</p>"]
    failed = [r for r in records if r.status == "failed"]
    if failed:
        out.append("<h2>Failure</h2>")
        for r in failed:
            out.append(f"<p><b>{_e(r.node)}</b> failed: {_e(r.error or '')}</p>")
            if r.traceback:
                out.append(f"<pre>{_e(r.traceback.rstrip())}</pre>")
    out.append("<h2>Graph</h2>")
    if order:
        legend = "".join(f'<span class="badge st-{s}">■ {s}</span>' for s in ("ran", "cached", "failed", "skipped"))
        out.append(f'<p class="legend">{legend}</p><div class="scroll">'
                   f'{dag_svg(order, parents or {}, status, groups)}</div>')
    else:
        out.append('<p class="muted">The pipeline could not be loaded, so its graph is not drawn.</p>')
    out.append("<h2>Timeline</h2>")
    if tl.critical:
        out.append(f'<p class="muted">critical path {_e(_fmt(tl.critical_seconds))} (*): '
                   f'{_e(" → ".join(tl.critical))}</p>')
    out.append(f'<div class="scroll">{timeline_svg(tl)}</div>')
    out.append("<h2>Nodes</h2><table><thead><tr><th>node</th><th>status</th><th>time</th><th>cache</th>"
               "<th>why</th></tr></thead><tbody>")
    rank = {n: i for i, n in enumerate(order or ())}
    for r in sorted(records, key=lambda r: (rank.get(r.node, len(rank)), r.node)):
        st = r.status or ""
        out.append(f'<tr id="row-{_e(r.node)}"><td>{_e(r.node)}</td><td class="badge st-{_e(st)}">{_e(st)}</td>'
                   f'<td class="num">{_e(_fmt(r.seconds))}</td><td>{"hit" if r.hit else "miss"}</td>'
                   f"<td>{_e(r.why or '')}</td></tr>")
    out.append("</tbody></table></body></html>")
    return "\n".join(out)


def _run_class(status: str) -> str:
    return {"ok": "ran", "failed": "failed", "cancelled": "skipped"}.get(status, "pending")
