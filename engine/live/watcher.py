from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import events as ev
from engine.errors import LoadError, RippleError
from engine.live.code_index import CodeIndex, Symbol, diff_symbols, hand_over
from engine.live.project import project_dirs
from engine.live.protocol import DATA_LEVELS, FILES_LEVEL, GRAPH_LEVEL, GraphDocument

#: how long a burst of file events must have been quiet before it is analysed (a git checkout, a
#: formatter touching many files); a single save after a quiet spell does not wait for it
DEFAULT_DEBOUNCE = 0.05
#: quiet time after a single, complete save before it is analysed: long enough for the sibling
#: events of one save (a rename's temp file, a second file of the same checkout) to arrive
SETTLE_SECONDS = 0.004
_IGNORED_DIRS = {".ripple", "__pycache__", ".git", ".hg", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def ignored(path: str | os.PathLike[str]) -> bool:
    """Editor droppings and Ripple's own files, which must never trigger a run."""
    p = Path(path)
    name = p.name
    if any(part in _IGNORED_DIRS for part in p.parts):
        return True
    return (name.endswith((".swp", ".swx", ".swo", "~", ".tmp", ".bak", "___jb_tmp___", "___jb_old___"))
            or name.startswith(".#") or name == "4913")


@dataclass
class ChangeSet:
    """What one batch of file events (a save, or a burst) changed, and what it means for the next run."""

    files: list[Path]
    changed_functions: list[str]
    affected_nodes: list[str] | None
    summary: str
    code_changed: bool
    error: RippleError | None = None
    data_files: list[Path] = field(default_factory=list)
    should_run: bool = False
    #: wall-clock time of the first file event of the burst (for latency measurements)
    t_first_event: float = 0.0
    #: memo key -> the cache's analysis of a saved file made here, so the run need not redo it
    analyses: dict[str, str] = field(default_factory=dict)


# ============================================================================================ watcher


class Watcher:
    """Observes the pipeline's code and data files and reports analysed ``ChangeSet`` s: a single save
    after a quiet spell at once (after ``SETTLE_SECONDS``), a burst once it has been quiet for the
    debounce.

    ``on_change`` is called on the watcher's own thread, one call per batch, in order.
    """

    def __init__(self, pipeline: str, on_change: Callable[[ChangeSet], None], debounce: float = DEFAULT_DEBOUNCE,
                 cwd: str | None = None, *, sources: Iterable[str] = (), regenerate: Sequence[str] = ()) -> None:
        self.pipeline = pipeline
        self.on_change = on_change
        self.debounce = debounce
        self.cwd = os.path.realpath(cwd or os.getcwd())
        self.sources = {os.path.realpath(os.path.join(self.cwd, s)) for s in sources}
        self.regenerate = list(regenerate)
        files, root = project_dirs(pipeline, self.cwd)
        self.root = Path(os.path.realpath(root))
        self.pipeline_files = {os.path.realpath(f) for f in files}
        self.index = CodeIndex(self.root)
        self.graph: GraphDocument | None = None
        self.code_files: set[str] = set()
        self.code_dirs: set[str] = set()
        self.data_files: dict[str, str | None] = {}  # path -> content digest when last seen
        self.reads: dict[str, set[str]] = {}  # node -> files it read
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        #: pending paths whose last event may have left them half-written (see ``_notify``)
        self._partial: set[str] = set()
        #: (size, mtime) of each pending path when its last event arrived
        self._stats: dict[str, tuple[int, int] | None] = {}
        #: the pending events are (part of) a burst: analysed only after the full debounce
        self._burst = False
        self._first_event = 0.0
        self._last_event = 0.0
        #: when the last event of the previous batch arrived (monotonic)
        self._batch_last = float("-inf")
        #: whether the observer reports a writer closing a file (inotify): an in-place write is then
        #: known complete at its close; elsewhere a stable (size, mtime) over the settle has to do
        self.reports_close = False
        self._stopped = False
        self._dirty = False
        self._observer: Any = None
        self._scheduled: set[str] = set()
        self._thread: threading.Thread | None = None

    # -- setup
    def start(self) -> None:
        """Index the code (one parse per file) and start observing."""
        from watchdog.observers import Observer

        self._observer = Observer()
        self._observer.daemon = True
        self.reports_close = _reports_close(self._observer)
        for f in sorted(self.pipeline_files):
            self._add_code(f)
        for s in sorted(self.sources):
            self._schedule(os.path.dirname(s))
        self._observer.start()
        self._thread = threading.Thread(target=self._loop, name="ripple-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            with contextlib.suppress(RuntimeError):
                self._observer.join(2.0)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def _schedule(self, directory: str, recursive: bool = False) -> None:
        if directory in self._scheduled or not os.path.isdir(directory):
            return
        self._scheduled.add(directory)
        if self._observer is not None:
            self._observer.schedule(_Handler(self), directory, recursive=recursive)

    def _add_code(self, path: str, module: str | None = None) -> list[str]:
        """Index ``path`` and the project modules it imports, transitively; returns the new files."""
        added = []
        stack = [(path, module)]
        while stack:
            p, m = stack.pop()
            if p in self.code_files:
                continue
            self.code_files.add(p)
            self.code_dirs.add(os.path.dirname(p))
            self._schedule(os.path.dirname(p))
            added.append(p)
            try:
                _, new = self.index.add(p, m)
            except (SyntaxError, ValueError):
                continue  # reported when it is saved or by the run that imports it
            if new is not None:
                stack.extend((f, None) for f in self.index.local_imports(new) if f not in self.code_files)
        return added

    def mark_dirty(self) -> None:
        """The last run did not get going (load/graph error): the next save runs even if no code changed."""
        self._dirty = True

    def watch_files(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Also watch these data files (e.g. files nodes read in their last run)."""
        for p in paths:
            real = os.path.realpath(os.fspath(p))
            if real in self.data_files or real in self.code_files or ignored(real):
                continue
            self.data_files[real] = _file_digest(real)
            if os.path.isdir(real):
                self._schedule(real, recursive=True)
            else:
                self._schedule(os.path.dirname(real))

    def feed(self, event: ev.Event) -> None:
        """Learn from a run's events: the graph (``graph`` message) and the files nodes read."""
        if not isinstance(event, ev.Message) or event.level not in DATA_LEVELS:
            return
        import json

        if event.level == GRAPH_LEVEL:
            self.set_graph(GraphDocument.from_json(event.text))
        elif event.level == FILES_LEVEL:
            reads = json.loads(event.text).get("reads", {})
            for node, paths in reads.items():
                self.reads[node] = set(paths)
            self.watch_files(p for ps in reads.values() for p in ps)

    def set_graph(self, info: GraphDocument) -> None:
        self.graph = info
        for mod, f in info.modules.items():
            self.index.module_files.setdefault(mod, f)
            if f not in self.code_files:
                self._add_code(f, mod)
        self.watch_files(info.data)

    # -- events
    def _notify(self, path: str, complete: bool) -> None:
        """One relevant event. ``complete``: after this event the file holds a whole save (a writer
        closed it, a rename put it in place, or, where the observer reports no closes, a write whose
        (size, mtime) must then hold still over the settle); otherwise it may be a write still going
        on, or the first event of several."""
        st = _stat(path)
        with self._cond:
            now = time.monotonic()
            if not self._pending:
                self._first_event = time.time()
                # a batch that starts within the debounce of the last one continues that burst
                self._burst = now - self._batch_last < self.debounce
            elif path not in self._pending:
                self._burst = True  # two files in one go: a checkout, a formatter, "save all"
            if complete:
                self._partial.discard(path)
            elif not (path in self._pending and path not in self._partial and st == self._stats.get(path)):
                # (an event after the close that changed neither size nor mtime, such as a chmod,
                # leaves the save complete)
                self._partial.add(path)
            self._pending.add(path)
            self._stats[path] = st
            self._last_event = now
            self._cond.notify_all()

    def _wait_for_batch(self) -> bool:
        """Block until the pending events are ready to analyse; False when the watcher stopped.

        A single complete save after a quiet spell is ready after ``SETTLE_SECONDS`` without a further
        event, if its (size, mtime) did not move meanwhile; anything else (a burst, a write not known
        to be finished) waits until the events have been quiet for the debounce. Re-decided at every
        event, so a slow write goes fast from its close. An event after the batch was taken makes a
        batch of its own, analysed in turn: the loop then cancels the run the earlier one started."""
        settle = min(SETTLE_SECONDS, self.debounce)
        while not self._stopped:
            fast = not self._burst and not self._partial
            left = self._last_event + (settle if fast else self.debounce) - time.monotonic()
            if left > 0:
                self._cond.wait(left)
                continue
            if fast and any(_stat(p) != self._stats.get(p) for p in self._pending):
                self._burst = True  # it changed without telling: wait for it to be quiet
                continue
            return True
        return False

    def _regenerate_from_sources(self, batch: set[str]) -> tuple[set[str], ChangeSet | None]:
        """A saved source of a generated pipeline (a Makefile) regenerates the module; the module's own
        save then says exactly which nodes changed. What is left to analyse, and an error if any."""
        saved = batch & self.sources
        if not saved or not self.regenerate:
            return batch, None
        try:
            proc = subprocess.run(self.regenerate, cwd=self.cwd, capture_output=True, text=True, timeout=300)
            failed = (proc.stderr.strip().splitlines() or ["it failed"])[-1] if proc.returncode else ""
        except (OSError, subprocess.TimeoutExpired) as exc:
            failed = str(exc)
        if not failed:
            return batch - saved, None
        err = RippleError(f"could not translate it again: {failed}", file=sorted(saved)[0])
        return batch - saved, ChangeSet([Path(p) for p in sorted(saved)], [], None,
                                        f"{_names(saved)} saved: {err.message}", False, error=err)

    def _relevant(self, path: str) -> bool:
        if path in self.code_files or path in self.data_files or path in self.sources:
            return True
        if ignored(path):
            return False
        if path.endswith(".py") and os.path.dirname(path) in self.code_dirs:
            return True  # a new module next to the pipeline's own
        return any(path.startswith(d + os.sep) for d, v in self.data_files.items() if v == "<dir>")

    def _edited_by_hand(self, path: str) -> bool:
        """Code and the sources it is generated from are saved by someone in an editor, one save at a
        time: those go fast. Data files are as often written by programs, the running pipeline among
        them (a recipe's output that it also reads back): they keep the debounce, so a run is not
        cancelled by its own writes a few ms after making them."""
        return path in self.code_files or path in self.sources or (path.endswith(".py") and path not in self.data_files)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if not self._wait_for_batch():
                    return
                batch, self._pending = self._pending, set()
                self._partial.clear()
                self._stats.clear()
                self._batch_last = self._last_event
                first = self._first_event
            batch, problem = self._regenerate_from_sources(batch)
            if problem is not None:
                self.on_change(problem)
            if not batch:
                continue
            try:
                cs = self.analyze(sorted(batch))
            except Exception as exc:  # noqa: BLE001 - analysis must never kill the watcher: just run
                cs = ChangeSet([Path(p) for p in batch], [], None, f"{_names(batch)} changed ({exc}) -> running",
                               True, should_run=True)
            if cs is None:
                continue
            cs.t_first_event = first
            try:
                self.on_change(cs)
            except Exception:  # noqa: BLE001
                import traceback

                traceback.print_exc()

    # -- analysis
    def analyze(self, paths: list[str]) -> ChangeSet | None:
        """Compare the changed files with what was seen last; ``None`` if nothing really changed."""
        code = [p for p in paths if p in self.code_files or p.endswith(".py") and p not in self.data_files]
        data = [p for p in paths if p not in code]
        changed_syms: set[tuple[str, str]] = set()
        structural = False
        names: list[str] = []
        analyses: dict[str, str] = {}
        for p in code:
            if not os.path.exists(p) and p not in self.code_files:
                continue
            try:
                if p not in self.code_files:
                    self._add_code(p)
                    structural = True
                    continue
                _drop_pyc(p)
                old, new = self.index.add(p, keep_analysis=True)
            except SyntaxError as exc:
                self._dirty = True
                err = LoadError(f"syntax error: {exc.msg}; fix it and save again.", file=p, line=exc.lineno or 0)
                return ChangeSet([Path(x) for x in paths], [], None,
                                 f"{Path(p).name} saved: {err}", False, err, should_run=False)
            except ValueError as exc:  # null bytes and the like
                self._dirty = True
                err = LoadError(f"cannot parse: {exc}", file=p)
                return ChangeSet([Path(x) for x in paths], [], None, f"{Path(p).name} saved: {err}", False, err)
            if new is None:
                structural = True
                continue
            hand_over(new, analyses)
            for f in self.index.local_imports(new):
                if f not in self.code_files:
                    self._add_code(f)
            changed, added, removed = diff_symbols(old, new)
            for n in sorted(changed | added | removed):
                changed_syms.add((p, n))
                if n != "<module>" and n not in names:
                    names.append(n)
            public_defs = {n for n in added | removed if not n.startswith("_")
                           and ((new.symbols.get(n) or (old.symbols.get(n) if old else None)) or Symbol("", "")).kind == "def"}
            if "<module>" in changed | added | removed or (public_defs and p in self._pipeline_modules()):
                structural = True
        data_changed = []
        for p in data:
            digest = _file_digest(p)
            if digest != self.data_files.get(p) or digest is None:
                self.data_files[p] = digest
                data_changed.append(p)
        code_changed = bool(changed_syms) or structural
        if not code_changed and not data_changed:
            if self._dirty:
                self._dirty = False
                return ChangeSet([Path(p) for p in paths], [], None, f"{_names(paths)} saved: errors fixed -> running",
                                 False, should_run=True)
            if not code:
                return None  # a data file touched without a content change
            return ChangeSet([Path(p) for p in paths], [], [], f"{_names(code)} saved: no node changed "
                             "(comments or formatting only)", False)
        self._dirty = False
        affected, direct = (None, set()) if structural else self._affected(changed_syms, data_changed)
        what = ", ".join(names[:4]) + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")
        head = []
        if code:
            head.append(f"{_names(code)} saved" + (f": {what} changed" if what else ": module code changed"))
        if data_changed:
            head.append(f"{_names(data_changed)} changed")
        summary = ", ".join(head)
        if affected is None:
            summary += " -> graph changed, running" if structural and self.graph else " -> running"
        else:
            planned = self.graph.planned if self.graph else []
            reached = set(affected)
            to_run = [n for n in planned if n in reached]
            will = [n for n in to_run if n in direct]
            # what the save changed runs; what is only downstream of it may hit (early cutoff)
            summary += f" -> {len(will)} will run, {len(to_run) - len(will)} may run, {len(planned) - len(to_run)} cached"
        return ChangeSet([Path(p) for p in paths], names, affected, summary, bool(changed_syms) or structural,
                         data_files=[Path(p) for p in data_changed], should_run=True, analyses=analyses)

    def _pipeline_modules(self) -> set[str]:
        mods = set(self.pipeline_files)
        if self.graph is not None:
            mods |= {os.path.realpath(i["file"]) for i in self.graph.nodes.values() if i.get("file")}
        return mods

    def _affected(self, changed: set[tuple[str, str]], data: list[str]) -> tuple[list[str] | None, set[str]]:
        """(every node the change can reach, or None when unknown; the nodes it changes directly)."""
        g = self.graph
        if g is None:
            return None, set()
        direct: set[str] = set()
        if changed:
            rev = self.index.reverse_refs()
            closure = set(changed)
            stack = list(changed)
            while stack:
                s = stack.pop()
                for r in rev.get(s, ()):
                    if r not in closure:
                        closure.add(r)
                        stack.append(r)
            for name, info in g.nodes.items():
                f = self.index.module_files.get(info.get("module", "")) or os.path.realpath(info.get("file", ""))
                if (f, info.get("symbol", name)) in closure:
                    direct.add(name)
        for p in data:
            direct.update(g.data.get(p, ()))
            direct.update(n for n, files in self.reads.items() if p in files)
            for d, consumers in g.data.items():
                if p.startswith(d + os.sep):
                    direct.update(consumers)
        down = g.downstream(direct)
        return [n for n in g.nodes if n in down], direct


class _Handler:
    """watchdog event handler: forwards relevant paths (moves count by their destination too), and
    whether the event shows the file's new content is whole."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def dispatch(self, event: Any) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type != "moved":
            return
        kind = event.event_type
        dest = os.fsdecode(getattr(event, "dest_path", "") or "")
        for p in (os.fsdecode(event.src_path), dest):
            if not p or not self.watcher._relevant(p):
                continue
            if not self.watcher._edited_by_hand(p):
                complete = False
            elif kind == "moved":
                complete = p == dest  # the source of a move is gone (an editor's backup): maybe more follows
            elif kind == "closed":
                complete = True
            else:  # created, modified, deleted: complete only where no close will follow
                complete = kind != "deleted" and not self.watcher.reports_close
            self.watcher._notify(p, complete)


def _reports_close(observer: Any) -> bool:
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # not Linux
        return False
    return isinstance(observer, InotifyObserver)


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _drop_pyc(path: str) -> None:
    """The child must compile what was just saved (see ``runner.drop_racy_pycs`` for why)."""
    import importlib.util

    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        os.unlink(importlib.util.cache_from_source(path))


def _file_digest(path: str) -> str | None:
    import xxhash

    try:
        if os.path.isdir(path):
            return "<dir>"
        with open(path, "rb") as fh:
            h = xxhash.xxh3_64()
            while chunk := fh.read(1 << 20):
                h.update(chunk)
            return h.hexdigest()
    except OSError:
        return None


def _names(paths: Iterable[str]) -> str:
    names = []
    for p in paths:
        n = Path(p).name
        if n not in names:
            names.append(n)
    return ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
