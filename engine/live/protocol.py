from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

GRAPH_LEVEL = "graph"
FILES_LEVEL = "files"
OUTPUT_LEVEL = "output"
#: Message levels that carry data for programs, not text for people.
DATA_LEVELS = frozenset({GRAPH_LEVEL, FILES_LEVEL})

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
#: characters of ``RunRequest.analyses`` a request carries at most: it travels as one datagram to the
#: warm worker and as one argv string to a spawned child (Linux: 128 KiB each, JSON escapes included)
MAX_ANALYSES = 64 * 1024


@dataclass
class RunRequest:
    """One run, as the CLI would be asked for it (raw strings are typed in the child)."""

    pipeline: str
    outputs: list[str] | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    cache_dir: str | None = None
    no_cache: bool = False
    recompute: list[str] = field(default_factory=list)
    cwd: str | None = None
    run_id: str | None = None
    #: send a ``Message(level="graph")`` describing the graph before running (watch mode needs it)
    describe: bool = False
    #: emit ``node_planned`` predictions before running (the dashboard shows them; headless watch doesn't)
    plan_events: bool = True
    #: deliver the child's stdout/stderr as ``Message(level="output")`` events
    capture_output: bool = False
    #: as ``ripple run --executor`` / ``--max-size``
    executor: str | None = None
    max_size: str | None = None
    #: as ``--select``/``--exclude`` (engine.core.selection), resolved in the child against the current graph
    select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    #: ``[["module:function", arg], ...]``: ``function(driver, arg)`` in the child once the driver is built
    #: (``--lineage`` attaches an OpenLineage listener this way: engine.live does not import engine.lineage)
    driver_hooks: list[list[str]] = field(default_factory=list)
    #: the pipeline module is generated from these files (a Makefile and what it includes): when one
    #: is saved, watch mode runs ``regenerate`` (an argv) and the module's own change drives the run
    generated_from: list[str] = field(default_factory=list)
    regenerate: list[str] = field(default_factory=list)
    #: cache memo key -> the JSON analysis of a source file (``engine.caching.source_analysis``) that
    #: the watcher already made of a save; the key names the digest of the exact bytes analysed, so a
    #: file that changed again is looked up under another key and analysed afresh (``child.Handed``)
    analyses: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRequest:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class RunOutcome:
    run_id: str
    #: "ok" | "failed" | "cancelled" | "crashed" | "error" (load/graph error)
    status: str
    returncode: int | None
    reason: str = ""
    #: set by the watch loop: a newer run (a save, a new request) replaces this one
    superseded: bool = False


@dataclass
class GraphDocument:
    """The graph as a run described it (``Message(level="graph")``): the one reader of that document,
    used by the watcher (what a change reaches) and the dashboard (what to draw)."""

    nodes: dict[str, dict[str, Any]]
    planned: list[str]
    modules: dict[str, str]
    data: dict[str, list[str]]
    root: str
    pipeline: str = ""

    @classmethod
    def from_json(cls, text: str) -> GraphDocument:
        """Raises ``ValueError`` for a document that is not one."""
        d = json.loads(text)
        if not isinstance(d, dict) or not isinstance(d.get("nodes"), dict):
            raise ValueError("not a graph document")
        return cls(d["nodes"], d.get("planned") or list(d["nodes"]), d.get("modules", {}), d.get("data", {}),
                   d.get("root", ""), d.get("pipeline", ""))

    def downstream(self, names: Iterable[str]) -> set[str]:
        succ: dict[str, list[str]] = {}
        for n, info in self.nodes.items():
            for d in info["deps"]:
                succ.setdefault(d, []).append(n)
        seen: set[str] = set()
        stack = [n for n in names if n in self.nodes]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(succ.get(n, ()))
        return seen
