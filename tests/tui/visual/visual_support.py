"""Shared helpers of the visual tests: the recorded demo runs, a replayed app, generated graphs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from engine import events as ev
from tui.app import RippleApp, create_app
from tui.backend.replay import ReplayController, load_recording

FIXTURE = Path(__file__).parent / "fixtures" / "demo_runs.jsonl"
CLOCK = 1000.0


def generated(n: int, seed: int = 7) -> tuple[list[str], dict[str, list[str]], dict[str, str]]:
    """(order, parents, modules) of an ``n``-node DAG about sqrt(n) nodes wide, 1-3 parents each."""
    rnd = random.Random(seed)
    width = max(int(n ** 0.5), 1)
    order = [f"node_{i:03d}" for i in range(n)]
    parents: dict[str, list[str]] = {}
    for i, name in enumerate(order):
        layer = i // width
        pool = order[max(0, (layer - 2) * width): layer * width]
        parents[name] = rnd.sample(pool, min(len(pool), rnd.randint(1, 3))) if pool else []
    modules = {name: f"pkg.part{i * 5 // n}" for i, name in enumerate(order)}
    return order, parents, modules


def screen_text(app: Any) -> str:
    """The screen as plain text, what a user would read."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip).rstrip() for strip in strips)


def demo_runs() -> tuple[Any, list[list[ev.Event]]]:
    graph, runs = load_recording(FIXTURE)
    assert graph is not None
    return graph, runs


def events_until_running(node: str = "fitted_model") -> int:
    """How many events of the cold run to feed so that ``node`` is running."""
    _, runs = demo_runs()
    return next(i for i, e in enumerate(runs[0]) if isinstance(e, ev.NodeStarted) and e.node == node) + 1


def demo_app(*, runs: slice = slice(0, 1), autoplay: bool | int = True) -> RippleApp:
    """The real app over the recorded demo runs, with a fixed clock and no animations."""
    graph, recorded = demo_runs()
    controller = ReplayController(recorded[runs], graph=graph, autoplay=autoplay)
    return create_app(graph, controller=controller, clock=lambda: CLOCK, animations=False)
