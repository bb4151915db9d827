"""Record the code objects that actually execute while a node runs.

Why: the static code version sees what a node's source *names*; it cannot see what is decided at
run time — a method of an object another node returned, a dispatch table, ``getattr``, a plugin
loaded by ``importlib.import_module``, a ``singledispatch`` registration, a function wrapped by
``np.vectorize``. A :class:`CodeTrace` collects every code object that starts while it is active,
in its own thread and in the threads the node starts, so the cache can version what really ran.

Two mechanisms, chosen once per process:

* **``sys.monitoring``** (3.12+): one ``PY_START`` callback on a free tool id, claimed while any
  trace is active and given back (callback and events cleared) when the last one ends. The
  callback returns ``DISABLE``, so a function costs one event per node, not one per call. Because
  ``DISABLE`` is process-wide, every trace start calls ``restart_events()``, and while two traces
  are active at once (thread executor, nested runs) nothing is disabled: each trace must see every
  function its own thread runs, and a function disabled by one would be invisible to the other.
* **the C profiler** (3.11): a per-thread ``cProfile.Profile`` whose statistics name every code
  object that was called. It is C code, but it still sees every call, so it costs more on
  call-heavy nodes (see ``bench/bench_tracing.py``); a profiler that was active is paused for the
  node's duration and resumed after. On 3.12+ when all six tool ids are taken, a ``sys.setprofile``
  function that adds ``frame.f_code`` to a set is used instead (the C profiler needs a tool id).

The trace records raw code objects; which of them are project-local, and their versions, is the
cache's business (:func:`code_identity` gives the ``(file, qualname)`` to version). Threads: the
read recorder (``engine.core.reads``) hands its probes to threads a node starts, and this module
registers :class:`CodeTrace` as such a probe when imported.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from engine.files import in_library

__all__ = ["CodeTrace", "code_identity", "mechanism", "outside_libraries"]

_local = threading.local()
_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
#: tool ids tried in order: the two unnamed ones first, then those named for other kinds of tools
_TOOL_ORDER = (3, 4, 2, 5, 1, 0)


class _Monitor:
    """The process-wide ``sys.monitoring`` registration, shared by every active trace.

    It is process state by nature (``sys.monitoring`` is), so there is exactly one instance; it
    holds nothing between runs once the last trace has ended."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.tool: int | None = None
        mon = getattr(sys, "monitoring", None)
        self.mon = mon
        self.disable = getattr(mon, "DISABLE", None)

    def start(self) -> bool:
        """Count one more active trace; False when no tool id is free (use the profile fallback)."""
        mon = self.mon
        with self.lock:
            if self.active == 0:
                tool = next((t for t in _TOOL_ORDER if mon.get_tool(t) is None), None)
                if tool is None:
                    return False
                mon.use_tool_id(tool, "ripple")
                mon.register_callback(tool, mon.events.PY_START, self.on_start)
                mon.set_events(tool, mon.events.PY_START)
                self.tool = tool
            self.active += 1
            mon.restart_events()  # DISABLE from an earlier node must not hide code from this one
        return True

    def stop(self) -> None:
        mon = self.mon
        with self.lock:
            self.active -= 1
            if self.active == 0 and self.tool is not None:
                tool, self.tool = self.tool, None
                mon.set_events(tool, 0)
                mon.register_callback(tool, mon.events.PY_START, None)
                mon.free_tool_id(tool)

    def on_start(self, code: types.CodeType, offset: int) -> Any:
        trace = getattr(_local, "trace", None)
        if trace is None:
            return None  # a thread outside any node: do not disable what a node may still need
        trace.codes.add(code)
        return self.disable if self.active == 1 else None


_MONITOR = _Monitor() if hasattr(sys, "monitoring") else None


def mechanism() -> str:
    """``"sys.monitoring"``, ``"cProfile"`` (3.11) or ``"setprofile"``: what a trace started now uses."""
    if _MONITOR is not None and (_MONITOR.active or any(_MONITOR.mon.get_tool(t) is None for t in _TOOL_ORDER)):
        return "sys.monitoring"
    return "cProfile" if sys.version_info < (3, 12) else "setprofile"


class CodeTrace:
    """Context manager: the code objects started in this thread (and threads it starts) meanwhile.

    Nested traces each see their own calls; the outer one also receives the inner's set when the
    inner ends (the outer node ran that code too). Concurrent traces in other threads never see
    each other's code objects.
    """

    __slots__ = ("codes", "_prev", "_monitored", "_profiled")

    def __init__(self) -> None:
        self.codes: set[types.CodeType] = set()
        self._prev: CodeTrace | None = None
        self._monitored = False
        self._profiled: _Profiled | None = None

    def __enter__(self) -> CodeTrace:
        self._prev = getattr(_local, "trace", None)
        _local.trace = self
        self._monitored = _MONITOR is not None and _MONITOR.start()
        if not self._monitored:
            self._profiled = _Profiled(self.codes)
            self._profiled.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._monitored:
            _MONITOR.stop()  # type: ignore[union-attr]
        elif self._profiled is not None:
            self._profiled.stop()
        _local.trace = self._prev
        if self._prev is not None:
            self._prev.codes |= self.codes

    @contextmanager
    def attach(self) -> Iterator[None]:
        """Run the current (other) thread as part of this trace: for threads the node starts."""
        prev = getattr(_local, "trace", None)
        _local.trace = self
        profiled = _Profiled(self.codes) if self._profiled is not None else None
        if profiled is not None:
            profiled.start()
        try:
            yield
        finally:
            if profiled is not None:
                profiled.stop()
            _local.trace = prev

    def export(self) -> dict[str, Any]:
        """The executed code as JSON-able data that can cross a process boundary: ``[file, qualname]``
        pairs of code outside the interpreter, site-packages and Ripple itself."""
        out = {code_identity(c) for c in self.codes if outside_libraries(c.co_filename)}
        return {"code": sorted([f, q] for f, q in out)}


class _Profiled:
    """One thread's profile-based recording into ``codes`` (the fallback mechanism)."""

    __slots__ = ("codes", "prev", "prof", "fn")

    def __init__(self, codes: set[types.CodeType]) -> None:
        self.codes = codes
        self.prev: Any = None
        self.prof: Any = None
        self.fn: Callable[..., None] | None = None

    def start(self) -> None:
        self.prev = sys.getprofile()
        if sys.version_info < (3, 12):
            import cProfile

            self.prof = cProfile.Profile(builtins=False)
            _installing(self.prof.enable)
            return
        add = self.codes.add

        def profile(frame: types.FrameType, event: str, arg: Any) -> None:
            add(frame.f_code)

        self.fn = profile
        _installing(sys.setprofile, profile)

    def stop(self) -> None:
        if self.prof is not None:
            _installing(self.prof.disable)
            self.codes |= {e.code for e in self.prof.getstats() if isinstance(e.code, types.CodeType)}
            self.prof = None
        prev = self.prev
        if prev is None:
            _installing(sys.setprofile, None)
        elif hasattr(prev, "enable") and not callable(prev):
            _installing(prev.enable)  # a C profiler (cProfile, an outer trace): resume it
        elif callable(prev):
            _installing(sys.setprofile, prev)
        else:
            # A C profiler Python cannot reinstall (pyinstrument's state object): the node's code
            # had to be traced, so that profiler stays off for the rest of the run; said once.
            _installing(sys.setprofile, None)
            _warn_displaced(type(prev).__qualname__)


def _installing(switch: Callable[..., None], *args: Any) -> None:
    """``switch(*args)`` (a profile function set, a profiler enabled or disabled), again while CPython
    3.11 refuses it because another thread is installing a profile function at that instant (its
    ``RuntimeError: Cannot install a profile function while another profile function is being
    installed``): with two threads tracing nodes, about one switch in 20,000 met it and failed its
    node (``tests/caching/test_never_stale_tracing.py``)."""
    for _ in range(1000):
        try:
            return switch(*args)
        except RuntimeError as exc:
            if "being installed" not in str(exc):
                raise
            time.sleep(0)
    switch(*args)


@functools.cache
def _warn_displaced(profiler: str) -> None:
    from engine._log import log

    log.warning("Ripple's code tracing displaced the running profiler (%s), which Python 3.11 cannot "
                "resume; profile on Python 3.12+, where tracing uses sys.monitoring beside it.", profiler)


@functools.cache
def _lib_dirs() -> tuple[str, ...]:
    """The stdlib and site folders: found on the first traced call (``sysconfig`` is slow to import)."""
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple(sorted({p + os.sep for p in (paths.get("stdlib"), paths.get("purelib"), paths.get("platlib"),
                                              sys.prefix, sys.base_prefix) if p}))


def outside_libraries(filename: str) -> bool:
    """True for code that lives in a real file outside the stdlib, installed packages and Ripple."""
    if not filename or filename[0] == "<" or filename.startswith(_ENGINE_DIR):
        return False
    if filename.startswith(_lib_dirs()):
        return False
    return not in_library(filename)


def code_identity(code: types.CodeType) -> tuple[str, str]:
    """``(absolute file, top-level name)``: the unit a traced code object is versioned as.

    A method, a nested function or a lambda is versioned through the module-level function or
    class that contains it (``Model.predict`` -> ``Model``): its source is inside that one, and
    the static versioner already follows that definition's references (class attributes, module
    constants, helpers). Module-level code is ``<module>``.
    """
    qual = code.co_qualname
    top = qual.split(".", 1)[0]
    return os.path.abspath(code.co_filename), top


def _register_probe() -> None:
    from engine.core import reads

    register = getattr(reads, "register_probe", None)
    if register is not None:
        register("code", CodeTrace)


_register_probe()
