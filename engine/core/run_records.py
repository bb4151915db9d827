"""What a run leaves: a record per node, the run's result, and cached values not loaded yet.

Its own module: every consumer of a run (the driver, the cache session, the executors, the views)
reads these, and the run loop is long enough without them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine._records import ValueRecord

__all__ = ["Lazy", "NodeRecord", "RunResult"]

_NO_ARG = object()


@dataclass(slots=True, eq=False, repr=False)
class NodeRecord(ValueRecord):
    """What happened to one node in a run (``status``: ran, cached, failed or skipped) and why."""

    name: str
    status: str
    seconds: float = 0.0
    why: str = ""
    bytes: int = 0
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    started: float = 0.0


@dataclass(slots=True, eq=False, repr=False)
class RunResult(ValueRecord):
    """A whole run: its status, every node's record and the requested outputs."""

    run_id: str
    status: str
    outputs: dict[str, Any]
    records: dict[str, NodeRecord]
    seconds: float
    error: BaseException | None = None
    failed_node: str | None = None
    started: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.records.values() if r.status == status)


class Lazy:
    """A cached value not loaded yet: a fully cached run only loads what it must return.

    ``load()`` calls ``loader(arg)``, or ``loader()`` without ``arg``: a hit is made for every node of a
    warm run, and a ``functools.partial`` would be three more objects each for the collector."""

    __slots__ = ("loader", "arg", "saved_seconds", "bytes", "code_version", "data_version")

    def __init__(self, loader: Callable[..., Any], saved_seconds: float = 0.0, nbytes: int = 0,
                 code_version: str = "", data_version: str = "", *, arg: Any = _NO_ARG) -> None:
        self.loader = loader
        self.arg = arg
        self.saved_seconds = saved_seconds
        self.bytes = nbytes
        self.code_version = code_version
        self.data_version = data_version

    def load(self) -> Any:
        return self.loader() if self.arg is _NO_ARG else self.loader(self.arg)
