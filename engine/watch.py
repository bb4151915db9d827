"""Watch mode: re-run exactly what a save affected, each run in an isolated child process.

Engine-side and UI-free, so ``ripple watch`` and the dashboard share it::

    watcher = Watcher("demo_pipeline", on_change, debounce=0.05)   # on_change(ChangeSet)
    watcher.start(); ...; watcher.stop()
    watcher.watch_files(paths)     # more data files to watch (e.g. files nodes were seen reading)
    watcher.feed(event)            # give it the events of a run: it learns the graph and files read

    loop = WatchLoop(RunRequest("demo_pipeline"), on_event, let_finish=False)
    loop.start()    # warm worker + watcher + first run; on_event gets run events and summaries
    loop.stop()     # stops the run, the worker and the observer; no process is left behind

``ChangeSet(files, changed_functions, affected_nodes, summary, code_changed, error, ...)``:
``affected_nodes`` is ``None`` when the parent cannot tell (no good run yet, a node was added or
removed, module-level code changed) — the child's cache decides anyway, the set only feeds the
summary line and the decision to run at all. ``should_run`` is false for a save that changes no
code version (comment, docstring, reformat) and for a syntax error.

Why the analysis happens in the parent *without importing the user's code*: an imported module
goes stale at the next save, and importing costs the time budget. Only the files that changed are
parsed with ``ast``; every top-level def/class/assignment/import gets a normalised digest (no
docstrings, no positions, so comments and formatting do not count) and the project-level names it
references. A changed name affects the names that reference it, transitively; a node is affected
when its function is among them; its dependents (from the graph the last good run described) run
too. A data file affects the nodes that take it as a ``Path``/``File`` value or were seen reading it.

Why directories and not files are watched: editors save by writing a temp file and renaming it
over the original (vim's ``4913`` probe, ``.swp``, ``~`` backups, JetBrains' ``___jb_tmp___``), which
an inotify watch on the file itself would lose. Events are filtered by path, bursts are debounced.
"""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import events as ev
from .errors import LoadError, RippleError
from .runner import (
    DATA_LEVELS,
    FILES_LEVEL,
    GRAPH_LEVEL,
    OUTPUT_LEVEL,
    IsolatedRun,
    RunOutcome,
    RunRequest,
    WarmWorker,
    _project_dirs,
)

DEFAULT_DEBOUNCE = 0.05
#: Ripple's own package is never "project code", even in a checkout where it sits beside the pipeline.
_ENGINE_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep
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
    """What one debounced burst of file events changed, and what it means for the next run."""

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


# ============================================================================================ code index


def _digest(text: str) -> str:
    import xxhash

    return xxhash.xxh3_64_hexdigest(text.encode())


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]


def _chains(node: ast.AST) -> set[tuple[str, ...]]:
    """Names and attribute chains loaded inside ``node`` (``np.linalg.solve`` -> ('np','linalg','solve'))."""
    out: set[tuple[str, ...]] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Load):
            parts: list[str] = []
            cur: ast.AST = sub
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                out.add((cur.id, *reversed(parts)))
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            out.add((sub.id,))
    return out


@dataclass
class Symbol:
    digest: str
    kind: str  # def | class | assign | import | module
    chains: set[tuple[str, ...]] = field(default_factory=set)
    #: for imports: ("module", dotted) or ("from", dotted, name)
    target: tuple[str, ...] = ()


@dataclass
class ModuleIndex:
    path: str
    module: str
    symbols: dict[str, Symbol]


def _package_of(module: str, is_pkg: bool) -> str:
    return module if is_pkg else module.rpartition(".")[0]


def parse_module(path: str, module: str, source: bytes | None = None,
                 memo: dict[str, tuple[str, set[tuple[str, ...]]]] | None = None) -> ModuleIndex:
    """Per-top-level-name digests and references of one file; raises ``SyntaxError``.

    ``memo`` maps a definition's exact source text to its (digest, references): after a save only
    the definitions whose text changed are normalised again, which keeps a 100-function file at a
    few milliseconds (the AST dump is the expensive part, the parse is not)."""
    if source is None:
        source = Path(path).read_bytes()
    tree = ast.parse(source, path)
    lines = source.decode("utf-8", "surrogateescape").splitlines(keepends=True) if memo is not None else []
    is_pkg = Path(path).name == "__init__.py"
    symbols: dict[str, Symbol] = {}
    loose: list[str] = []

    def add(name: str, sym: Symbol) -> None:
        old = symbols.get(name)
        if old is not None:  # several statements bind one name: all of them count
            sym = Symbol(_digest(old.digest + sym.digest), sym.kind, old.chains | sym.chains, sym.target or old.target)
        symbols[name] = sym

    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # module docstring
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            kind = "class" if isinstance(stmt, ast.ClassDef) else "def"
            text = None
            if memo is not None:
                start = min([stmt.lineno, *(d.lineno for d in stmt.decorator_list)])
                text = "".join(lines[start - 1: stmt.end_lineno])
                hit = memo.get(text)
                if hit is not None:
                    add(stmt.name, Symbol(hit[0], kind, set(hit[1])))
                    continue
            _strip_docstrings(stmt)
            digest, chains = _digest(ast.dump(stmt, include_attributes=False)), _chains(stmt)
            if text is not None:
                memo[text] = (digest, chains)
            add(stmt.name, Symbol(digest, kind, chains))
            continue
        dump = ast.dump(stmt, include_attributes=False)
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                local = a.asname or a.name.split(".")[0]
                target = a.name if a.asname else a.name.split(".")[0]
                add(local, Symbol(_digest(f"import {a.name} as {a.asname}"), "import", set(), ("module", target)))
        elif isinstance(stmt, ast.ImportFrom):
            base = stmt.module or ""
            if stmt.level:
                pkg = [x for x in _package_of(module, is_pkg).split(".") if x]
                pkg = pkg[: len(pkg) - (stmt.level - 1)] if stmt.level > 1 else pkg
                base = ".".join([*pkg, *([stmt.module] if stmt.module else [])])
            for a in stmt.names:
                if a.name == "*":
                    loose.append(dump)
                    continue
                add(a.asname or a.name,
                    Symbol(_digest(f"from {base} import {a.name}"), "import", set(), ("from", base, a.name)))
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            if not names:
                loose.append(dump)
            for n in names:
                add(n, Symbol(_digest(dump), "assign", _chains(stmt.value) if stmt.value else set()))
        else:
            loose.append(dump)
    if loose:
        symbols["<module>"] = Symbol(_digest("\n".join(loose)), "module")
    return ModuleIndex(path, module, symbols)


def module_name(path: Path) -> str:
    from .loading import _dotted, package_root

    return _dotted(path, package_root(path))


class CodeIndex:
    """The parsed project: one ``ModuleIndex`` per file, re-parsed only when that file changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, ModuleIndex] = {}
        self.module_files: dict[str, str] = {}
        self._defs: dict[str, tuple[str, set[tuple[str, ...]]]] = {}
        self._contrib: dict[str, list[tuple[tuple[str, str], tuple[str, str]]]] = {}

    def file_for_module(self, module: str) -> str | None:
        f = self.module_files.get(module)
        if f is not None:
            return f
        rel = Path(*module.split(".")) if module else None
        if rel is None:
            return None
        for cand in (self.root / rel.with_suffix(".py"), self.root / rel / "__init__.py"):
            if cand.is_file() and not str(cand.resolve()).startswith(_ENGINE_DIR):
                f = os.path.realpath(cand)
                self.module_files[module] = f
                return f
        return None

    def add(self, path: str, module: str | None = None) -> tuple[ModuleIndex | None, ModuleIndex | None]:
        """(old, new) index of ``path``; raises ``SyntaxError`` (the old index stays)."""
        module = module or module_name(Path(path))
        self.module_files.setdefault(module, path)
        try:
            if len(self._defs) > 50_000:
                self._defs.clear()
            new = parse_module(path, module, memo=self._defs)
        except FileNotFoundError:
            self._contrib.clear()
            return self.files.pop(path, None), None
        old = self.files.get(path)
        self.files[path] = new
        if old is None or old.symbols.keys() != new.symbols.keys():
            self._contrib.clear()  # other files' `from x import y` may now resolve differently
        else:
            self._contrib.pop(path, None)
        return old, new

    def local_imports(self, mi: ModuleIndex) -> set[str]:
        """Files of project modules that ``mi`` imports (so they are watched and indexed too)."""
        out = set()
        for sym in mi.symbols.values():
            if sym.kind != "import":
                continue
            if sym.target[0] == "module":
                f = self.file_for_module(sym.target[1])
            else:
                f = self.file_for_module(f"{sym.target[1]}.{sym.target[2]}") or self.file_for_module(sym.target[1])
            if f:
                out.add(f)
        return out

    def _resolve(self, mi: ModuleIndex, chain: tuple[str, ...]) -> tuple[str, str] | None:
        if chain[0] in mi.symbols:
            return (mi.path, chain[0])
        return None

    def _import_target(self, sym: Symbol, chains: Iterable[tuple[str, ...]]) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        if sym.target[0] == "from":
            _, base, name = sym.target
            sub = self.file_for_module(f"{base}.{name}")
            if sub is not None:  # `from pkg import module`: references reach into it via chains
                for ch in chains:
                    if len(ch) > 1 and ch[1] in self.files.get(sub, ModuleIndex(sub, "", {})).symbols:
                        out.add((sub, ch[1]))
                return out
            f = self.file_for_module(base)
            if f is not None:
                out.add((f, name))
        else:
            mod = sym.target[1]
            for ch in chains:
                parts = [mod, *ch[1:]]
                for i in range(len(parts) - 1, 0, -1):
                    f = self.file_for_module(".".join(parts[:i]))
                    if f is not None:
                        out.add((f, parts[i]))
                        break
        return out

    def reverse_refs(self) -> dict[tuple[str, str], set[tuple[str, str]]]:
        """referenced symbol -> symbols referencing it; per-file contributions are kept between
        saves, so a change re-derives only the saved file's references."""
        rev: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for path in self.files:
            contrib = self._contrib.get(path)
            if contrib is None:
                contrib = self._contrib[path] = self._references_of(path)
            for target, source in contrib:
                rev.setdefault(target, set()).add(source)
        return rev

    def _references_of(self, path: str) -> list[tuple[tuple[str, str], tuple[str, str]]]:
        out: list[tuple[tuple[str, str], tuple[str, str]]] = []
        syms = self.files[path].symbols
        for name, sym in syms.items():
            me = (path, name)
            if sym.kind == "import":
                continue
            by_head: dict[str, list[tuple[str, ...]]] = {}
            for ch in sym.chains:
                if ch[0] in syms and ch[0] != name:
                    by_head.setdefault(ch[0], []).append(ch)
            for head, chains in by_head.items():
                out.append(((path, head), me))
                target = syms[head]
                if target.kind == "import":
                    out.extend((t, (path, head)) for t in self._import_target(target, chains))
        return out


def diff_symbols(old: ModuleIndex | None, new: ModuleIndex | None) -> tuple[set[str], set[str], set[str]]:
    """(changed, added, removed) top-level names."""
    o = old.symbols if old else {}
    n = new.symbols if new else {}
    changed = {k for k in o.keys() & n.keys() if o[k].digest != n[k].digest}
    return changed, set(n) - set(o), set(o) - set(n)


# ============================================================================================ graph info


@dataclass
class GraphInfo:
    """The graph as the last good run described it (``Message(level="graph")``)."""

    nodes: dict[str, dict[str, Any]]
    planned: list[str]
    modules: dict[str, str]
    data: dict[str, list[str]]
    root: str

    @classmethod
    def from_json(cls, text: str) -> GraphInfo:
        import json

        d = json.loads(text)
        return cls(d["nodes"], d.get("planned") or list(d["nodes"]), d.get("modules", {}), d.get("data", {}),
                   d.get("root", ""))

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


# ============================================================================================ watcher


class Watcher:
    """Observes the pipeline's code and data files and reports debounced, analysed ``ChangeSet`` s.

    ``on_change`` is called on the watcher's own thread, one call per burst, in order.
    """

    def __init__(self, pipeline: str, on_change: Callable[[ChangeSet], None], debounce: float = DEFAULT_DEBOUNCE,
                 cwd: str | None = None) -> None:
        self.pipeline = pipeline
        self.on_change = on_change
        self.debounce = debounce
        self.cwd = os.path.realpath(cwd or os.getcwd())
        files, root = _project_dirs(pipeline, self.cwd)
        self.root = Path(os.path.realpath(root))
        self.pipeline_files = {os.path.realpath(f) for f in files}
        self.index = CodeIndex(self.root)
        self.graph: GraphInfo | None = None
        self.code_files: set[str] = set()
        self.code_dirs: set[str] = set()
        self.data_files: dict[str, str | None] = {}  # path -> content digest when last seen
        self.reads: dict[str, set[str]] = {}  # node -> files it read
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._deadline = 0.0
        self._first_event = 0.0
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
        for f in sorted(self.pipeline_files):
            self._add_code(f)
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
            self.set_graph(GraphInfo.from_json(event.text))
        elif event.level == FILES_LEVEL:
            reads = json.loads(event.text).get("reads", {})
            for node, paths in reads.items():
                self.reads[node] = set(paths)
            self.watch_files(p for ps in reads.values() for p in ps)

    def set_graph(self, info: GraphInfo) -> None:
        self.graph = info
        for mod, f in info.modules.items():
            self.index.module_files.setdefault(mod, f)
            if f not in self.code_files:
                self._add_code(f, mod)
        self.watch_files(info.data)

    # -- events
    def _notify(self, path: str) -> None:
        with self._cond:
            now = time.time()
            if not self._pending:
                self._first_event = now
            self._pending.add(path)
            self._deadline = time.monotonic() + self.debounce
            self._cond.notify_all()

    def _relevant(self, path: str) -> bool:
        if path in self.code_files or path in self.data_files:
            return True
        if ignored(path):
            return False
        if path.endswith(".py") and os.path.dirname(path) in self.code_dirs:
            return True  # a new module next to the pipeline's own
        return any(path.startswith(d + os.sep) for d, v in self.data_files.items() if v == "<dir>")

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                while (left := self._deadline - time.monotonic()) > 0 and not self._stopped:
                    self._cond.wait(left)
                if self._stopped:
                    return
                batch, self._pending = self._pending, set()
                first = self._first_event
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
        for p in code:
            if not os.path.exists(p) and p not in self.code_files:
                continue
            try:
                if p not in self.code_files:
                    self._add_code(p)
                    structural = True
                    continue
                _drop_pyc(p)
                old, new = self.index.add(p)
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
            return ChangeSet([Path(p) for p in paths], [], [], f"{_names(code)} saved: no code change", False)
        self._dirty = False
        affected = None if structural else self._affected(changed_syms, data_changed)
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
            to_run = [n for n in planned if n in set(affected)]
            summary += f" -> {len(to_run)} to run, {len(planned) - len(to_run)} cached"
        return ChangeSet([Path(p) for p in paths], names, affected, summary, bool(changed_syms) or structural,
                         data_files=[Path(p) for p in data_changed], should_run=True)

    def _pipeline_modules(self) -> set[str]:
        mods = set(self.pipeline_files)
        if self.graph is not None:
            mods |= {os.path.realpath(i["file"]) for i in self.graph.nodes.values() if i.get("file")}
        return mods

    def _affected(self, changed: set[tuple[str, str]], data: list[str]) -> list[str] | None:
        g = self.graph
        if g is None:
            return None
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
        return [n for n in g.nodes if n in down]


class _Handler:
    """watchdog event handler: forwards relevant paths (moves count by their destination too)."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def dispatch(self, event: Any) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type != "moved":
            return
        for p in (event.src_path, getattr(event, "dest_path", "")):
            if not p:
                continue
            p = os.fsdecode(p)
            if self.watcher._relevant(p):
                self.watcher._notify(p)


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


# ============================================================================================ watch loop


class WatchLoop:
    """Watcher + warm worker + one isolated run at a time: the engine of watch mode.

    ``on_event`` receives every run event (including the ``graph``/``files`` data messages, which
    views should skip) plus a ``Message`` per change (run_id ``"watch"``). A save during a run
    cancels it and starts a new one, or with ``let_finish=True`` queues one run after it.
    """

    def __init__(self, request: RunRequest, on_event: Callable[[ev.Event], None], *,
                 debounce: float = DEFAULT_DEBOUNCE, let_finish: bool = False, warm: bool = True,
                 on_change: Callable[[ChangeSet], None] | None = None,
                 on_outcome: Callable[[RunOutcome], None] | None = None) -> None:
        self.request = RunRequest.from_dict({**request.to_dict(), "describe": True,
                                             "cwd": os.path.realpath(request.cwd or os.getcwd())})
        self.on_event = on_event
        self.on_change_cb = on_change
        self.on_outcome = on_outcome
        self.let_finish = let_finish
        self.warm = warm
        self.watcher = Watcher(self.request.pipeline, self._on_change, debounce, self.request.cwd)
        self.worker: WarmWorker | None = None
        self.current: IsolatedRun | None = None
        self.outcomes: list[RunOutcome] = []
        self._lock = threading.RLock()
        self._pending = False
        self._closed = False
        self._idle = threading.Event()

    def start(self, run_now: bool = True) -> None:
        if self.warm:
            self.worker = WarmWorker(self.request.pipeline, self.request.cwd)
        self.watcher.start()
        if run_now:
            self.trigger()

    def stop(self) -> None:
        """Stop everything; returns when no child process of this loop remains."""
        with self._lock:
            self._closed = True
            self._pending = False
            cur = self.current
        self.watcher.stop()
        if cur is not None:
            cur.stop(timeout=1.0)
        if self.worker is not None:
            self.worker.close()

    def trigger(self) -> None:
        """Run now: cancel (or, with ``let_finish``, queue after) a run that is going."""
        with self._lock:
            if self._closed:
                return
            cur = self.current
            if cur is not None and cur.running:
                self._pending = True
                if self.let_finish:
                    return
            else:
                self._start_locked()
                return
        cur.stop()  # its on_done starts the pending run

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def _start_locked(self) -> None:
        self._idle.clear()
        run = IsolatedRun(self.request, self._on_event, worker=self.worker, on_done=self._on_done)
        self.current = run
        try:
            run.start()
        except OSError as exc:
            self.current = None
            self._idle.set()
            self.on_event(ev.Message("watch", time.time(), level="error", text=f"could not start a run: {exc}"))

    def _on_event(self, event: ev.Event) -> None:
        self.watcher.feed(event)
        self.on_event(event)

    def _on_done(self, outcome: RunOutcome) -> None:
        self.outcomes.append(outcome)
        if outcome.status == "error":
            self.watcher.mark_dirty()
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        with self._lock:
            if self._pending and not self._closed:
                self._pending = False
                self._start_locked()
            else:
                self._idle.set()

    def _on_change(self, cs: ChangeSet) -> None:
        err = cs.error
        self.on_event(ev.Message("watch", time.time(), level="error" if err else "info", text=cs.summary,
                                 file=err.file if err else "", line=err.line if err else 0))
        if self.on_change_cb is not None:
            self.on_change_cb(cs)
        if cs.should_run:
            self.trigger()


# ============================================================================================ CLI views


class _JsonView:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Message) and event.level in DATA_LEVELS:
            return
        with self.lock:
            sys.stdout.write(event.to_json() + "\n")
            sys.stdout.flush()


def _first_line(text: str) -> str:
    """An error message without the traceback an internal error may carry (``RIPPLE_DEBUG=1`` keeps it)."""
    if os.environ.get("RIPPLE_DEBUG") or "\n" not in text:
        return text
    return text.split("\n", 1)[0].rstrip() + " (run with RIPPLE_DEBUG=1 for the traceback)"


class _PlainView:
    """One line per thing worth knowing; cached nodes are counted, not listed. Errors and warnings
    go to stderr (prefixed ``ripple:``), everything else to stdout."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def line(self, text: str, stream: Any = None) -> None:
        with self.lock:
            out = stream or sys.stdout
            out.write(text + "\n")
            out.flush()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Message):
            if event.level in DATA_LEVELS:
                return
            if event.level == OUTPUT_LEVEL:
                self.line(f"  | {event.text}")
                return
            text = _first_line(event.text) if event.level == "error" else event.text
            where = f"{event.file}:{event.line}: " if event.file and event.file not in text else ""
            prefix = {"error": "ripple: error: ", "warning": "ripple: warning: "}.get(event.level, "")
            self.line(f"{prefix}{where}{text}", sys.stderr if prefix else None)
        elif isinstance(event, ev.RunStarted):
            self.line(f"run {event.run_id}: {len(event.nodes)} nodes")
        elif isinstance(event, ev.NodeFinished):
            self.line(f"  ran     {event.node} ({event.seconds:.2f}s)")
        elif isinstance(event, ev.NodeFailed):
            where = f" at {event.file}:{event.line}" if event.file else ""
            self.line(f"  FAILED  {event.node}{where}: {event.error_type}: {event.error}")
        elif isinstance(event, ev.RunFinished):
            err = f" ({event.error})" if event.error else ""
            self.line(f"run {event.status}: {event.ran} ran, {event.cached} cached, {event.failed} failed, "
                      f"{event.skipped} skipped in {event.seconds:.2f}s{err}")


class _LiveView:
    """A rich table of the current run's nodes, with change summaries and output printed above it."""

    GLYPH = {ev.PENDING: ("·", "dim"), ev.RUNNING: ("▶", "yellow"), ev.RAN: ("✓", "green"),
             ev.CACHED: ("●", "cyan"), ev.FAILED: ("✗", "red"), ev.SKIPPED: ("-", "dim")}

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.lock = threading.Lock()
        self.states: dict[str, tuple[str, str]] = {}
        self.status = "starting"
        self.live = Live(self._render(), console=self.console, refresh_per_second=12, transient=False)

    def _render(self) -> Any:
        from rich.table import Table

        t = Table(title=f"ripple watch — {self.status}", title_justify="left", expand=False)
        t.add_column("", width=1)
        t.add_column("node")
        t.add_column("", justify="right")
        for name, (state, extra) in list(self.states.items())[-60:]:
            glyph, style = self.GLYPH.get(state, ("?", ""))
            t.add_row(f"[{style}]{glyph}[/]", name, extra)
        return t

    def __call__(self, event: ev.Event) -> None:
        with self.lock:
            if isinstance(event, ev.Message):
                if event.level in DATA_LEVELS:
                    return
                style = {"error": "red", "warning": "yellow"}.get(event.level, "")
                text = event.text if event.level != OUTPUT_LEVEL else f"  | {event.text}"
                where = f"{event.file}:{event.line}: " if event.file and event.file not in text else ""
                self.live.console.print(f"{where}{text}", style=style, markup=False, highlight=False)
                return
            if isinstance(event, ev.RunStarted):
                self.states = {n: (ev.PENDING, "") for n in event.nodes}
                self.status = "running"
            elif isinstance(event, ev.NodeStarted):
                self.states[event.node] = (ev.RUNNING, "")
            elif isinstance(event, ev.NodeFinished):
                self.states[event.node] = (ev.RAN, f"{event.seconds:.2f}s")
            elif isinstance(event, ev.NodeCached):
                self.states[event.node] = (ev.CACHED, "cached")
            elif isinstance(event, ev.NodeFailed):
                self.states[event.node] = (ev.FAILED, f"{event.error_type}: {event.error}"[:60])
            elif isinstance(event, ev.NodeSkipped):
                self.states[event.node] = (ev.SKIPPED, event.reason)
            elif isinstance(event, ev.RunFinished):
                self.status = (f"{event.status}: {event.ran} ran, {event.cached} cached, {event.failed} failed "
                               f"in {event.seconds:.2f}s — watching")
            self.live.update(self._render())


def watch_command(args: Any) -> int:
    """``ripple watch PIPELINE``: run once, then on every save; Ctrl-C ends it with status 0."""
    from .cli import run_request
    from .errors import UsageError

    if getattr(args, "debounce", None) is not None and not args.debounce >= 0:
        raise UsageError(f"--debounce {args.debounce} must be 0 or more seconds, e.g. --debounce 0.2.")
    request = run_request(args, capture_output=True, plan_events=False)
    once = bool(getattr(args, "once", False))
    live: _LiveView | None = None
    if getattr(args, "json", False):
        view: Callable[[ev.Event], None] = _JsonView()
    elif sys.stdout.isatty() and not os.environ.get("CI"):
        live = _LiveView()
        view = live
    else:
        view = _PlainView()
    debounce = args.debounce if getattr(args, "debounce", None) is not None else DEFAULT_DEBOUNCE
    loop = WatchLoop(request, view, debounce=debounce, let_finish=bool(getattr(args, "let_finish", False)))

    # Why a flag and polling instead of KeyboardInterrupt: an interrupt raised inside
    # threading's lock internals can leave a lock half-released and print a traceback.
    stop_requested: list[int] = []

    def _request_stop(signum: int, _frame: Any) -> None:
        stop_requested.append(signum)

    old_int = signal.signal(signal.SIGINT, _request_stop)
    old_term = signal.signal(signal.SIGTERM, _request_stop)
    code = 0
    try:
        if live is not None:
            live.live.start()
        loop.start()
        while not stop_requested:
            if once and loop.wait_idle(0):
                out = loop.outcomes[-1] if loop.outcomes else None
                code = {"ok": 0, "failed": 1, "crashed": 1, "error": 2}.get(out.status if out else "error", 1)
                break
            time.sleep(0.05)
    finally:
        try:
            loop.stop()
        finally:
            if live is not None:
                live.live.stop()
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
    return code
