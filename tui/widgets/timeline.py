"""The run's timeline (Bottlenecks tab), a node's durations over its last runs (Details tab), and
the pipeline's wall time and hit rate over the last runs (the header's detail view).

All three are text panes drawn from ``engine.analysis.timeline`` (bars and block plots), coloured
through component classes so the TCSS theme variables decide the colours, light or dark.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text

from engine.analysis.timeline import Timeline, block_plot, rows
from tui.state.timeline import Point, RunPoint
from tui.text import fmt_seconds
from tui.widgets.panel import Panel

ROLES = ("label", "ran", "cached", "failed", "running", "skipped", "critical", "axis", "duration")


class _Styled(Panel):
    """A pane whose colours come from ``COMPONENT_CLASSES`` (looked up once per style change)."""

    PREFIX = ""
    DEFAULT_CSS = """
    TimelineView, DurationPlot, RunTrends { text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._styles: dict[str, Style] = {}

    def role(self, name: str) -> Style:
        s = self._styles.get(name)
        if s is None:
            s = self._styles[name] = self.get_component_rich_style(f"{self.PREFIX}--{name}", partial=True)
        return s

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()


class TimelineView(_Styled):
    """A Gantt chart of the current or last run: bars start→end, hits as ticks, critical path marked."""

    PREFIX = "timeline-view"
    COMPONENT_CLASSES = {f"timeline-view--{r}" for r in ROLES}
    #: rows drawn at most (the longest runs of a large pipeline are listed, the rest counted)
    LIMIT = 60

    _last: Timeline | None = None

    def on_resize(self) -> None:
        if self._last is not None:  # drawn while its tab was hidden: redraw at the real width
            self.show(self._last)

    def show(self, tl: Timeline | None, width: int | None = None) -> None:
        self._last = tl
        if tl is None or not tl.bars:
            self.update(Text("No run yet in this session: the timeline appears with the first run.", style="dim"))
            return
        width = width or max(self.size.width, 40)
        text = Text(no_wrap=True, overflow="crop")
        text.append("timeline ", "bold")
        text.append(f"{tl.run_id} {tl.status} · wall {fmt_seconds(tl.wall)}", self.role("axis"))
        if tl.critical:
            text.append(f" · critical path {fmt_seconds(tl.critical_seconds)} ", self.role("axis"))
            text.append("*", self.role("critical"))
        text.append("\n")
        for row in rows(tl, width, limit=self.LIMIT):
            for piece in row.pieces:
                text.append(piece.text, self.role(piece.role))
            text.append("\n")
        text.rstrip()
        self.update(text)


class DurationPlot(_Styled):
    """The selected node's duration over its last runs; hits (loads, not computations) marked ●."""

    PREFIX = "duration-plot"
    COMPONENT_CLASSES = {"duration-plot--ran", "duration-plot--cached", "duration-plot--failed",
                         "duration-plot--axis"}
    HEIGHT = 3

    def show(self, name: str, points: Sequence[Point]) -> None:
        points = list(points)
        self.display = len(points) > 1
        if not self.display:
            return
        values = [p.seconds for p in points]
        plot = block_plot(values, self.HEIGHT)
        kinds = ["failed" if p.failed else "cached" if p.hit else "ran" for p in points]
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"{name} over its last {len(points)} runs", "bold")
        text.append(f"  max {fmt_seconds(max(values))} · last {fmt_seconds(values[-1])}\n", self.role("axis"))
        for line in plot:
            for ch, kind in zip(line, kinds):
                text.append(ch, self.role(kind))
            text.append("\n")
        for kind in kinds:
            text.append({"cached": "●", "failed": "✖"}.get(kind, "·"), self.role(kind))
        text.append("  ● hit  ✖ failed  · ran", self.role("axis"))
        text.rstrip()
        self.update(text)


class RunTrends(_Styled):
    """The header's detail view: wall time and hit rate of the pipeline's last runs."""

    PREFIX = "run-trends"
    COMPONENT_CLASSES = {"run-trends--wall", "run-trends--hits", "run-trends--failed", "run-trends--axis"}
    HEIGHT = 2

    def show(self, runs: Sequence[RunPoint]) -> None:
        runs = list(runs)
        text = Text(no_wrap=True, overflow="crop")
        if not runs:
            self.update(Text(" No finished run yet: wall time and hit rate appear after the first.", style="dim"))
            return
        walls = [r.wall for r in runs]
        rates = [r.hit_rate or 0.0 for r in runs]
        wall_plot = block_plot(walls, self.HEIGHT)
        rate_plot = block_plot(rates, self.HEIGHT, top=1.0)
        label_w = 10
        for i, line in enumerate(wall_plot):
            text.append((" wall" if i == 0 else "").ljust(label_w), self.role("axis"))
            for ch, r in zip(line, runs):
                text.append(ch, self.role("failed" if r.status != "ok" else "wall"))
            if i == 0:
                text.append(f"  last {fmt_seconds(walls[-1])} · max {fmt_seconds(max(walls))}", self.role("axis"))
            text.append("\n")
        for i, line in enumerate(rate_plot):
            text.append((" hit rate" if i == 0 else "").ljust(label_w), self.role("axis"))
            text.append(line, self.role("hits"))
            if i == 0:
                last = runs[-1].hit_rate
                text.append(f"  last {'–' if last is None else f'{last:.0%}'} · over {len(runs)} runs",
                            self.role("axis"))
            text.append("\n")
        text.rstrip()
        self.update(text)
