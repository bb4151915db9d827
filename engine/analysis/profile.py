"""Profile one node on its cached inputs: which functions and which lines take the time.

``profile_node(driver, name)`` loads the node's direct inputs from the cache (nothing upstream
runs, no run is recorded in the history), then calls the node once under ``cProfile`` while a
sampler thread notes which line of project code each sample finds the node's thread on. With
``pyinstrument`` installed (``pip install 'ripple[profile]'``) the node is called a second time
under it and its call tree is kept as text: the two profilers cannot share the interpreter's
profile hook, and a second call is cheaper than a wrong picture.

Decisions taken here:
- *Hot lines* are inclusive: a line that calls ``df.groupby(...)`` is charged the time spent
  inside pandas, because that is the line a user would change. Only lines of the project's own
  files (the node's module and the helpers it calls under the project root, never installed
  packages) are listed.
- Inputs must be cache hits: profiling must not silently spend minutes recomputing upstream.
  When they are not cached the error names the command that caches them.
- Nodes inside a ``Parallelizable`` fan-out run per item and are refused with a clear message.
"""

from __future__ import annotations

import cProfile
import linecache
import os
import pstats
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import NodeFailed, UsageError
from engine.files import in_library

if TYPE_CHECKING:
    from engine.driver import Driver

#: the sampler's period; the GIL hands it the processor at most every ``sys.getswitchinterval()``
SAMPLE_SECONDS = 0.001


@dataclass(slots=True)
class FunctionTime:
    function: str
    file: str
    line: int
    calls: int
    self_seconds: float
    total_seconds: float
    project: bool


@dataclass(slots=True)
class HotLine:
    file: str
    line: int
    function: str
    code: str
    seconds: float
    share: float


@dataclass(slots=True)
class NodeProfile:
    """The result of :func:`profile_node`; ``to_dict`` is what ``ripple profile --json`` prints."""

    node: str
    file: str
    line: int
    seconds: float
    functions: list[FunctionTime] = field(default_factory=list)
    lines: list[HotLine] = field(default_factory=list)
    samples: int = 0
    pyinstrument: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "file": self.file, "line": self.line, "seconds": self.seconds,
                "samples": self.samples, "functions": [asdict(f) for f in self.functions],
                "lines": [asdict(x) for x in self.lines], "pyinstrument": self.pyinstrument}


def cached_inputs(driver: Driver, name: str, inputs: Mapping[str, Any] | None = None,
                  *, command: str = "") -> dict[str, Any]:
    """The node's keyword arguments, loaded from the cache without running anything."""
    from engine.caching.session import Session
    from engine.core.plan import FanOut

    graph = driver.graph
    if name not in graph.nodes:
        raise UsageError(f"unknown node {name!r}; list the nodes with `ripple graph`.")
    if driver.cache is None:
        raise UsageError("profiling needs the cache (call driver.with_cache() first).")
    node = graph.nodes[name]
    inputs = dict(inputs or {})
    own = driver.plan_for([name], inputs)
    if any(isinstance(s, FanOut) and name in s.nodes for s in own.steps):
        raise UsageError(f"{name} ({node.location}) runs once per fan-out item; profile the node that gathers "
                         "the items, or the one that yields them, instead.")
    parents = [src for src in dict.fromkeys(node.deps.values()) if src in graph.nodes]
    values: dict[Any, Any] = {**driver.config, **inputs}
    got: dict[str, Any] = {}
    if parents:
        plan = driver.plan_for(parents, inputs)
        missing = [p for p in parents if p not in plan.order]
        session = Session(driver.cache, "profile", plan, values, {}, dry=True)
        lazies: dict[str, Any] = {}
        for step in plan.steps:
            if isinstance(step, FanOut):
                got_items = _fanout_values(session, step)
                lazies.update((n, v) for n, v in got_items.items() if n in parents)
                continue
            lazy, _why = session.lookup(step, {})
            if lazy is not None and step.name in parents:
                lazies[step.name] = lazy
        missing += [p for p in parents if p not in lazies and p not in missing]
        if missing:
            run = command or f"ripple run {driver.pipeline_name}"
            raise UsageError(f"the inputs of {name} are not cached yet ({', '.join(missing)}); run "
                             f"`{run} --outputs {','.join(parents)}` first, then profile again.")
        got = {p: [x.load() for x in lazies[p]] if isinstance(lazies[p], list) else lazies[p].load()
               for p in parents}
    kwargs: dict[str, Any] = {}
    for param, src in node.deps.items():
        if src in got:
            kwargs[param] = got[src]
        elif src in values:
            kwargs[param] = values[src]
        elif param not in node.optional:
            raise UsageError(f"{name} needs input {src!r}; pass it with --input {src}=VALUE.")
    kwargs.update({p: v for p, v in node.literals.items() if p not in kwargs})
    return kwargs


def _fanout_values(session: Any, fan: Any) -> dict[str, Any]:
    """The cached per-item values of a fan-out's nodes (a list of lazies each), as a ``Collect`` gets
    them; a node with any item not cached is left out."""
    import json

    exp = fan.expander
    lazy, _why = session.lookup(exp, {})
    list_dv = session.dv.get(exp.name) if lazy is not None else None
    raw = session.store.memo.get(f"items:{list_dv}") if list_dv else None
    if raw is None:
        return {}
    n = len(json.loads(raw))
    per: dict[str, list[Any]] = {s.name: [] for s in fan.block}
    for i in range(n):
        session.enter_item(exp.name, None, i)
        for step in fan.block:
            got, _why = session.lookup(step, {})
            if got is not None:
                per[step.name].append(got)
    session.leave_items()
    out: dict[str, Any] = {exp.name: lazy}
    for step in fan.block:
        if len(per[step.name]) == n:
            session.observe(step.name, per[step.name])
            out[step.name] = per[step.name]
    return out


def profile_node(driver: Driver, name: str, inputs: Mapping[str, Any] | None = None, *, top: int = 15,
                 pyinstrument: bool | None = None, command: str = "") -> NodeProfile:
    """Run ``name`` once on its cached inputs under the profilers; nothing is stored or recorded.

    ``pyinstrument=None`` uses it when it is installed. A node that raises is reported as
    :class:`~engine.errors.NodeFailed` naming the node, its location and the error.
    """
    kwargs = cached_inputs(driver, name, inputs, command=command)
    node = driver.graph.nodes[name]
    root = str(Path(driver.project_root).resolve())
    sampler = _LineSampler(threading.get_ident(), _project_filter(root))
    prof = cProfile.Profile()
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(SAMPLE_SECONDS)
    sampler.start()
    t0 = time.perf_counter()
    try:
        prof.enable()
        try:
            node.fn(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the user's error, reported as a failed node
            raise NodeFailed(f"{name} ({node.location}) failed while profiled: {type(exc).__name__}: {exc}",
                             node=name) from exc
        finally:
            prof.disable()
    finally:
        seconds = time.perf_counter() - t0
        sampler.stop()
        sys.setswitchinterval(old_interval)
    result = NodeProfile(name, node.file, node.line, seconds, _functions(prof, root, top),
                         sampler.hot_lines(seconds, top), sampler.samples)
    if pyinstrument is not False:
        result.pyinstrument = _pyinstrument(node.fn, kwargs, required=pyinstrument is True)
    return result


def _project_filter(root: str) -> Any:
    import engine

    prefixes = tuple(os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix} if p)
    ripple = os.path.dirname(os.path.realpath(engine.__file__)) + os.sep
    cache: dict[str, bool] = {}

    def is_project(path: str) -> bool:
        got = cache.get(path)
        if got is None:
            real = os.path.realpath(path) if path and not path.startswith("<") else ""
            got = bool(real) and real.startswith(root + os.sep) and not real.startswith(prefixes) \
                and not in_library(real) and not real.startswith(ripple)
            cache[path] = got
        return got

    return is_project


class _LineSampler:
    """Samples the profiled thread's stack; each project frame's current line gets one count."""

    def __init__(self, thread_id: int, is_project: Any) -> None:
        self.thread_id = thread_id
        self.is_project = is_project
        self.counts: Counter[tuple[str, int, str]] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ripple-profile-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            frame = sys._current_frames().get(self.thread_id)
            if frame is None:
                continue
            self.samples += 1
            seen: set[tuple[str, int]] = set()
            while frame is not None:
                code = frame.f_code
                if self.is_project(code.co_filename):
                    where = (code.co_filename, frame.f_lineno)
                    if where not in seen:  # recursion: one count per sample
                        seen.add(where)
                        self.counts[(code.co_filename, frame.f_lineno, code.co_qualname)] += 1
                frame = frame.f_back

    def hot_lines(self, seconds: float, top: int) -> list[HotLine]:
        if not self.samples:
            return []
        out = []
        for (file, line, fn), n in self.counts.most_common(top):
            share = n / self.samples
            out.append(HotLine(file, line, fn, linecache.getline(file, line).strip(), share * seconds, share))
        return out


def _functions(prof: cProfile.Profile, root: str, top: int) -> list[FunctionTime]:
    is_project = _project_filter(root)
    stats = pstats.Stats(prof)
    rows = []
    for (file, line, fn), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if fn in ("<method 'disable' of '_lsprof.Profiler' objects>",):
            continue
        rows.append(FunctionTime(fn, file, line, calls, tottime, cumtime, is_project(file)))
    rows.sort(key=lambda r: (-r.self_seconds, r.function))
    return rows[:top]


def _pyinstrument(fn: Any, kwargs: dict[str, Any], *, required: bool) -> str | None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        if required:
            raise UsageError("pyinstrument is not installed; pip install 'ripple[profile]'.") from None
        return None
    p = Profiler(interval=SAMPLE_SECONDS)
    p.start()
    try:
        fn(**kwargs)
    finally:
        p.stop()
    return p.output_text(unicode=True, color=False, show_all=False)
