"""``ripple run``'s live progress line and the prediction-versus-outcome line after it.

The line is a renderable that rich's ``Live`` re-renders on its own refresh timer, so elapsed
times tick while a long node runs (a line rebuilt only on events froze at ``0.0s`` between them).
The ETA is :func:`engine.analysis.estimate.eta` over the nodes' median times in the history.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine import events as ev

if TYPE_CHECKING:
    from rich.text import Text

#: median seconds from the history of the nodes named: read only when an estimate is shown, and only
#: for nodes not predicted to hit (a warm run reads no history at all)
Estimate = Callable[[list[str]], Mapping[str, float]]

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class RunProgress:
    """Fed by run events from any thread; read by rich's refresh thread (one lock between them)."""

    def __init__(self, console: Any, expected: Mapping[str, float] | None = None, *,
                 clock: Callable[[], float] = time.perf_counter, transient: bool = True,
                 estimate: Estimate | None = None) -> None:
        from rich.live import Live  # the progress line is shown: a terminal, not -q, not CI

        self.console = console
        self.clock = clock
        self.expected = dict(expected or {})
        self._estimate = estimate
        self.lock = threading.Lock()
        self.nodes: list[str] = []
        self.done: set[str] = set()
        self.running: dict[str, float] = {}
        self.planned: dict[str, str] = {}
        self.t0 = clock()
        self.live = Live(self, console=console, transient=transient, refresh_per_second=10)

    def __rich__(self) -> Text:
        return self.render()

    def render(self) -> Text:
        from rich.text import Text

        with self.lock:
            now = self.clock()
            running = {n: now - t for n, t in self.running.items()}
            pending = [n for n in self.nodes if n not in self.done and n not in running]
            done, total = len(self.done), len(self.nodes)
        frame = SPINNER[int((now - self.t0) * 10) % len(SPINNER)]
        t = Text(f"{frame} {done}/{total} nodes  {now - self.t0:5.1f}s", style="dim")
        if running:
            shown = sorted(running.items(), key=lambda kv: -kv[1])[:3]
            t.append("  " + ", ".join(f"{n} {s:.1f}s" for n, s in shown))
            if len(running) > 3:
                t.append(f" (+{len(running) - 3})")
        from engine.analysis.estimate import eta, fmt_eta  # lazy, as the view: -q and pipes show no ETA

        text = fmt_eta(eta(pending, running, self.expected, self.planned))
        if text:
            t.append(f"  {text}", style="bold")
        return t

    def on_event(self, event: ev.Event) -> None:
        with self.lock:
            if isinstance(event, ev.RunStarted):
                self.nodes = list(event.nodes)
                self.t0 = self.clock()
            elif isinstance(event, ev.NodePlanned):
                self.planned[event.node] = event.will
            elif isinstance(event, ev.NodeStarted):
                if self._estimate is not None:  # a node runs: now the ETA can say something
                    estimate, self._estimate = self._estimate, None
                    self.expected.update(estimate([n for n in self.nodes if self.planned.get(n) != "hit"]))
                self.running.setdefault(event.node, self.clock())
            elif isinstance(event, ev.NodeFinished | ev.NodeCached | ev.NodeFailed | ev.NodeSkipped):
                if getattr(event, "task", None) is None or isinstance(event, ev.NodeFailed):
                    self.running.pop(event.node, None)
                    self.done.add(event.node)

    def __enter__(self) -> RunProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)


class Predictions:
    """Collects ``node_planned`` events so the run summary can hold the plan against what ran:
    the counts, and the estimated cost (``expected``: median seconds from the history) against the
    seconds the nodes that ran took."""

    def __init__(self, expected: Mapping[str, float] | None = None, *, estimate: Estimate | None = None) -> None:
        self.rows: list[tuple[str, str, str]] = []
        self.expected = dict(expected or {})
        self._estimate = estimate

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self.rows = []
        elif isinstance(event, ev.NodePlanned):
            self.rows.append((event.node, event.will, event.why))
        elif self.rows and self._estimate is not None:
            # planning is over and nothing is recorded yet: the history holds only earlier runs
            estimate, self._estimate = self._estimate, None
            self.expected.update(estimate([n for n, w, _ in self.rows if w != "hit"]))

    def outcome(self, result: Any) -> dict[str, Any] | None:
        """Predicted counts and what happened; ``surprises`` are nodes that ran but were planned to hit."""
        if not self.rows:
            return None
        from engine.caching.predict import counts

        c = counts(self.rows)
        records = [r for r in result.records.values() if r.status in (ev.RAN, ev.FAILED)]
        ran = {r.name for r in records}
        hit_planned = {n for n, w, _ in self.rows if w == "hit"}
        est = self.expected
        return {"will_run": c.run, "may_run": c.may, "hit": c.hit, "ran": len(ran),
                "surprises": sorted(ran & hit_planned),
                "estimate_seconds": round(sum(est.get(n, 0.0) for n, w, _ in self.rows if w == "run"), 6),
                "estimate_max_seconds": round(sum(est.get(n, 0.0) for n, w, _ in self.rows if w != "hit"), 6),
                "ran_seconds": round(sum(r.seconds for r in records), 6)}

    def line(self, result: Any) -> str:
        o = self.outcome(result)
        if o is None:
            return ""
        from engine.analysis.estimate import fmt_cost

        text = f"plan: {o['will_run']} will run"
        if o["may_run"]:
            text += f", {o['may_run']} may run"
        text += f", {o['hit']} cached"
        low, high = o["estimate_seconds"], o["estimate_max_seconds"]
        if high:
            text += f" (est. {fmt_cost(low)}" + (f"–{fmt_cost(high)}" if high > low else "") + ")"
        text += f"; {o['ran']} ran" + (f" in {fmt_cost(o['ran_seconds'])}" if high else "")
        if o["surprises"]:
            text += f" (not predicted: {', '.join(o['surprises'][:5])})"
        return text


class PlanAnnouncer:
    """Wraps a headless watch view: the run's ``node_planned`` predictions become one line before
    its first node (``plan: 2 will run, 18 may run, 11 cached``), the prediction ``ripple plan``
    makes, under the watcher's own summary of what the save touched."""

    def __init__(self, view: Callable[[ev.Event], None]) -> None:
        self.view = view
        self.rows: list[tuple[str, str, str]] = []

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.NodePlanned):
            self.rows.append((event.node, event.will, event.why))
            return
        if self.rows and not isinstance(event, ev.RunStarted):
            from engine.caching.predict import counts

            rows, self.rows = self.rows, []
            self.view(ev.Message(event.run_id, event.t, level="info", text=f"plan: {counts(rows)}"))
        elif isinstance(event, ev.RunStarted):
            self.rows = []
        self.view(event)
