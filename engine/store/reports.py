"""Records the store hands out when asked about runs, sizes and pruning; apart from ``Entry`` so a
run that reads none of them does not create their classes (each costs a few hundred µs to make)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunRecord:
    """One run of a pipeline, as the history keeps it."""

    run_id: str
    pipeline: str
    started: float
    finished: float | None
    status: str
    outputs: list[str]
    ran: int
    cached: int
    failed: int
    skipped: int
    seconds: float | None


@dataclass
class NodeRunRecord:
    """What one node did in one run: ran, hit or failed, why, and under which versions."""

    run_id: str
    node: str
    status: str
    seconds: float | None
    hit: bool
    why: str | None
    key: str | None
    data_version: str | None
    code_version: str | None
    error: str | None
    traceback: str | None
    started: float | None
    #: {parameter: data version} of the inputs the node's key used (stores before v2, and packed
    #: cache hits, leave it out: a hit's inputs are its entry's ``deps``)
    deps: dict[str, str] | None = None


@dataclass
class StoreStats:
    """``bytes`` counts a shared object file once; ``oldest``/``newest`` are entry creation times."""

    entries: int
    bytes: int
    inline_bytes: int
    file_bytes: int
    runs: int
    oldest: float | None
    newest: float | None
    #: size of meta.sqlite on disk (history and memo included; WAL excluded)
    db_bytes: int = 0


@dataclass
class PruneReport:
    """What a prune or garbage collection removed."""

    removed: int
    freed_bytes: int
    #: keys of the removed entries (empty for gc)
    keys: list[str] = field(default_factory=list)
