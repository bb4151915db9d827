from __future__ import annotations

from dataclasses import dataclass, field

from tui.state.graph import GraphInfo

# ------------------------------------------------------------------------------------------ notices
# Items the controller puts in the buffer besides engine events; same channel, so ordering holds.


@dataclass(slots=True)
class GraphLoaded:
    graph: GraphInfo


@dataclass(slots=True)
class GraphProblem:
    """The pipeline does not load (syntax/import/graph error); the last good graph stays on screen."""

    text: str
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class ChangeDetected:
    summary: str
    files: list[str] = field(default_factory=list)
    changed_functions: list[str] = field(default_factory=list)
    affected: list[str] | None = None


@dataclass(slots=True)
class RunEnded:
    """The controller's verdict on a run (covers crashes, which emit no RunFinished)."""

    run_id: str
    status: str
    reason: str = ""


@dataclass(slots=True)
class Lifetime:
    """Hit/miss totals of the runs in the store's history before this session began."""

    ran: int
    cached: int


@dataclass(slots=True)
class WatchState:
    on: bool


@dataclass(slots=True)
class NodeHistory:
    """Durations of earlier runs per node (oldest first), from the store's history."""

    seconds: dict[str, list[float]]
