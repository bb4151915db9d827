"""Record what a node reads while it runs ("files read without being declared" and "what
actually ran, read and saw"): files, folder listings, SQLite databases, existence checks,
environment variables, subprocesses started, and — through registered probes — the code it ran.

Python's audit hooks see every ``open`` (``open()``, ``io.open``, ``pathlib``, pandas, numpy …),
``os.listdir``/``os.scandir`` (so ``glob``, ``Path.iterdir``, ``Path.glob`` and ``os.walk``),
``sqlite3.connect`` and process creation. A hook cannot be removed once added, so one process-wide
hook is installed on first use and does nothing unless the current thread has an active
``ReadRecorder``: the cost when not recording is one attribute lookup per event. The same holds for
the few wrappers installed with it: ``os.environ`` item access (``os.getenv``, ``.get``, ``[]``,
``in``) and the existence checks ``os.path.exists/isfile/isdir`` and ``Path.exists/is_file/is_dir``.

Threads a node starts (``threading.Thread``, thread pools it creates) record into the node's
recorder, probes included. ``.py`` files opened as data count as reads; only the import system's
``io.open_code`` and the source lookups of tracebacks and warnings (``linecache``) do not.
Not seen: reads by C code that bypasses Python's ``open`` (a C library calling ``fopen``) and what
a subprocess reads; declare such files as ``Path``/``File`` inputs.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import TracebackType
from typing import Any

import xxhash

from engine.files import folders, in_library

_local = threading.local()
_installed: list[bool] = []
#: probes rooms above ``core`` add to every recorder (``engine.caching.tracing`` adds code tracing);
#: registered once at import, never changed by a run
_PROBES: dict[str, Callable[[], Any]] = {}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_CODE_SUFFIXES = (".pyc", ".pyi", ".so", ".pth", ".dist-info", ".egg-link")
_SKIP_PREFIXES = folders((sys.prefix, sys.base_prefix, sys.exec_prefix, "/proc", "/dev", "/sys", "/etc"))
_SOURCE_READERS = ("linecache.py", "tokenize.py")
#: the unwrapped checks, for the recorder's own use (its calls are not the node's)
_isfile, _isdir, _lexists, _islink = os.path.isfile, os.path.isdir, os.path.lexists, os.path.islink
_SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn", "os.startfile"})


def register_probe(name: str, factory: Callable[[], Any]) -> None:
    """Add a probe to every recorder made from now on.

    A probe is a context manager entered and exited with the recorder, with ``attach()`` (a
    context manager that makes another thread part of it) and ``export()`` (a JSON-able dict merged
    into :attr:`Reads.seen`). It is how code tracing reaches every executor without ``core``
    importing the cache."""
    _PROBES[name] = factory


def probe_modules() -> list[str]:
    """The modules whose import registered the probes: a new process imports them to record as
    this one does (``engine.core.pool``'s spawned workers)."""
    return sorted({getattr(f, "__module__", "") for f in _PROBES.values()} - {""})


class Reads(list):  # type: ignore[type-arg]
    """What :attr:`ReadRecorder.paths` returns: the existing data files read (a list of paths, as
    callers always had), with everything else that was seen in ``seen``. Pickles across processes."""

    seen: dict[str, Any]

    def __init__(self, paths: list[str] = (), seen: dict[str, Any] | None = None) -> None:  # type: ignore[assignment]
        super().__init__(paths)
        self.seen = seen or {}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    rec = getattr(_local, "rec", None)
    if rec is None:
        return
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int) or path is None:
            return
        if mode is not None:
            if not isinstance(mode, str) or "r" not in mode or "+" in mode:
                rec.written.add(path)
                return
        elif isinstance(flags, int) and flags & _WRITE_FLAGS:
            rec.written.add(path)
            return
        if isinstance(path, str | bytes) and os.fsdecode(path).endswith(".py"):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith("<frozen") or caller.endswith(_SOURCE_READERS):
                return  # the import system or a traceback/warning showing source: code, not data
        rec.add(path)
    elif event in ("os.listdir", "os.scandir"):
        path = args[0] if args else None
        if sys._getframe(1).f_code.co_filename.startswith("<frozen importlib"):
            return  # the import system filling its directory cache: not something the node looked at
        if not isinstance(path, int):
            rec.dirs.add("." if path in (None, "", b"") else path)
    elif event == "sqlite3.connect":
        db = args[0] if args else None
        if isinstance(db, str | bytes | os.PathLike):
            name = os.fsdecode(db)
            if name and name != ":memory:" and not name.startswith("file:"):
                rec.add(name)
    elif event in _SPAWN_EVENTS:
        first = args[1] if event == "subprocess.Popen" and len(args) > 1 else args[0] if args else ""
        if isinstance(first, list | tuple):
            first = first[0] if first else ""
        rec.spawned.add(os.fsdecode(first) if isinstance(first, str | bytes | os.PathLike) else str(first))


def _wrap_probe(fn: Callable[..., bool]) -> Callable[..., bool]:
    def probe(path: Any, *args: Any, **kwargs: Any) -> bool:
        rec = getattr(_local, "rec", None)
        if rec is not None and isinstance(path, str | bytes | os.PathLike):
            rec.probes.add(path)
        return fn(path, *args, **kwargs)

    probe.__wrapped__ = fn  # type: ignore[attr-defined]
    probe.__name__ = fn.__name__
    probe.__qualname__ = getattr(fn, "__qualname__", fn.__name__)
    probe.__doc__ = fn.__doc__
    return probe


def _install_env_hook() -> None:
    cls = type(os.environ)
    orig = cls.__getitem__

    def __getitem__(self: Any, key: Any) -> Any:
        rec = getattr(_local, "rec", None)
        if rec is None:
            return orig(self, key)
        name = os.fsdecode(key) if isinstance(key, str | bytes) else str(key)
        try:
            value = orig(self, key)
        except KeyError:
            rec.env[name] = None
            raise
        rec.env[name] = xxhash.xxh3_128_hexdigest(os.fsencode(value) if isinstance(value, str) else value)[:16]
        return value

    cls.__getitem__ = __getitem__  # type: ignore[method-assign]


def _install_thread_hook() -> None:
    orig_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        rec = getattr(_local, "rec", None)
        if rec is not None:
            run = self.run

            def run_recorded() -> None:
                with rec.attach():
                    run()

            self.run = run_recorded  # type: ignore[method-assign]
        orig_start(self)

    threading.Thread.start = start  # type: ignore[method-assign]


def _ensure_hook() -> None:
    if _installed:
        return
    _installed.append(True)
    sys.addaudithook(_hook)
    import pathlib

    for name in ("exists", "isfile", "isdir", "lexists"):
        setattr(os.path, name, _wrap_probe(getattr(os.path, name)))
    for name in ("exists", "is_file", "is_dir"):
        setattr(pathlib.Path, name, _wrap_probe(getattr(pathlib.Path, name)))
    _install_env_hook()
    _install_thread_hook()


class ReadRecorder:
    """Context manager collecting what the code in this thread (and threads it starts) reads."""

    __slots__ = ("_raw", "_prev", "ignore", "dirs", "probes", "env", "spawned", "written", "_probes", "_exit")

    def __init__(self, ignore: tuple[str, ...] = (), *, probes: bool = True) -> None:
        """``probes=False``: files only, no code tracing (a recorder that only needs the reads, around
        one that already traces, must not pay for tracing twice)."""
        _ensure_hook()
        self._raw: set[object] = set()
        self.dirs: set[object] = set()
        self.probes: set[object] = set()
        self.env: dict[str, str | None] = {}
        self.spawned: set[str] = set()
        self.written: set[object] = set()
        self._prev: object = None
        self.ignore = ignore
        self._probes = {name: factory() for name, factory in _PROBES.items()} if probes else {}
        self._exit: Any = None  # the one entered probe, or an ExitStack of several

    def add(self, path: object) -> None:
        self._raw.add(path)

    def __enter__(self) -> ReadRecorder:
        self._prev = getattr(_local, "rec", None)
        _local.rec = self
        probes = list(self._probes.values())
        if len(probes) == 1:  # the usual case, without an ExitStack (a few µs per node)
            probes[0].__enter__()
            self._exit = probes[0]
        elif probes:
            stack = self._exit = ExitStack()
            for probe in probes:
                stack.enter_context(probe)
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._exit is not None:
            done, self._exit = self._exit, None
            if isinstance(done, ExitStack):
                done.close()
            else:
                done.__exit__(None, None, None)
        _local.rec = self._prev
        prev = self._prev
        if isinstance(prev, ReadRecorder):
            prev._raw |= self._raw
            prev.dirs |= self.dirs
            prev.probes |= self.probes
            prev.env.update(self.env)
            prev.spawned |= self.spawned
            prev.written |= self.written

    @contextmanager
    def attach(self) -> Iterator[None]:
        """Make the current thread part of this recording (for threads the node starts)."""
        prev = getattr(_local, "rec", None)
        _local.rec = self
        try:
            with ExitStack() as stack:
                for probe in self._probes.values():
                    stack.enter_context(probe.attach())
                yield
        finally:
            _local.rec = prev

    def _keep(self, raw: object) -> str | None:
        try:
            p = os.path.abspath(os.fsdecode(raw))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        real = os.path.realpath(p)
        if p.endswith(_CODE_SUFFIXES) or real.startswith(_SKIP_PREFIXES) or real.startswith(self.ignore) \
                or p.startswith(self.ignore):
            return None
        if in_library(real):
            return None
        return p

    @property
    def paths(self) -> Reads:
        """Data files read as the paths were opened (absolute; a symlink stays the link, its target
        is in ``seen["links"]``), minus interpreter, library and store files. ``seen`` holds
        ``absent`` (opened but missing), ``dirs`` (folders listed), ``probes`` (existence checks),
        ``env`` (variable -> digest of its value, None when unset), ``spawned`` (programs started),
        ``written`` (files opened for writing) and what each probe exported (``code``)."""
        files: set[str] = set()
        absent: set[str] = set()
        links: dict[str, str] = {}
        dirs: list[str] = []
        probes: list[str] = []
        written: list[str] = []
        if self._raw or self.dirs or self.probes or self.written:  # most nodes read nothing
            for raw in list(self._raw):
                p = self._keep(raw)
                if p is None:
                    continue
                if _isfile(p):
                    files.add(p)
                    if _islink(p):
                        links[p] = os.path.realpath(p)
                elif not _lexists(p):
                    absent.add(p)
            dirs = sorted({p for p in map(self._keep, list(self.dirs)) if p is not None and _isdir(p)})
            probes = sorted({p for p in map(self._keep, list(self.probes)) if p is not None} - files - absent
                            - set(dirs))
            written = sorted({p for p in map(self._keep, list(self.written)) if p is not None})
        seen: dict[str, Any] = {"absent": sorted(absent), "links": links, "dirs": dirs, "probes": probes,
                                "env": dict(self.env), "spawned": sorted(self.spawned), "written": written}
        for probe in self._probes.values():
            seen.update(probe.export())
        return Reads(sorted(files), seen)
