"""Running nodes' elapsed time and the run's ETA, from the model and its history (no Textual).

The estimate is :func:`engine.analysis.estimate.eta`: a pending node costs its median executed
time in the history (nothing if it was predicted to hit), a running node what is left of it.
"""

from __future__ import annotations

import statistics

from engine.analysis.estimate import Eta, eta
from tui.state.run_model import PENDING, RUNNING, STALE, RunModel


def running(model: RunModel, now: float) -> dict[str, float]:
    """Running node -> seconds it has been running by the injected clock, longest first."""
    got = {n: max(now - st.started_at, 0.0) for n, st in model.states.items() if st.state == RUNNING}
    return dict(sorted(got.items(), key=lambda kv: -kv[1]))


def expected(model: RunModel, names: list[str]) -> dict[str, float]:
    return {n: statistics.median(model.history[n]) for n in names if model.history.get(n)}


def run_eta(model: RunModel, now: float) -> Eta | None:
    if not model.running:
        return None
    nodes = model.run_nodes or model.graph.order
    pending = [n for n in nodes if model.state_of(n).state in (PENDING, STALE)]
    active = running(model, now)
    planned = {n: model.state_of(n).planned for n in pending if model.state_of(n).planned}
    return eta(pending, active, expected(model, pending + list(active)), planned)
