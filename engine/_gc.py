"""How the engine keeps the garbage collector off its own bookkeeping.

Why: loading the engine, building a graph, analysing a source file or opening the store allocates
many objects that live on (modules, nodes, entries) and frees the rest by reference counting, so
every collection those allocations trigger rescans a growing heap for nothing. During such a phase
the collector is paused (``paused``), and during a run the objects that existed before it are
frozen out of its view (``frozen_during``); the user's objects are collected as usual either way.
Neither ever thaws what someone else froze (a forking server's ``gc.freeze()``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["exit_unswept", "frozen_during", "paused"]


@contextmanager
def paused(*, promote: bool = False) -> Iterator[None]:
    """No collection inside; with ``promote`` what was made inside then goes straight to the oldest
    generation, unscanned (it is meant to live: a young generation would rescan it for nothing).
    Cyclic garbage made meanwhile waits for the next full collection."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if promote and not gc.get_freeze_count():
            gc.freeze()  # with unfreeze: every tracked object moves to the oldest generation
            gc.unfreeze()
        if was_enabled:
            gc.enable()


@contextmanager
def frozen_during() -> Iterator[Callable[[], None]]:
    """Objects that exist now are left out of collections until the end; yields what leaves out
    those made since, too (nothing, when something else had frozen objects already)."""
    own = not gc.get_freeze_count()
    if own:
        gc.freeze()
    try:
        yield gc.freeze if own else _nothing
    finally:
        if own:
            gc.unfreeze()


def exit_unswept() -> None:
    """Leave every object alive now out of the interpreter's final collections, for a process that
    exits next. Why: those collections walk (and free) the engine's modules, the graph and what the
    run read, which the operating system reclaims anyway: ~10 ms of a warm ``ripple run``. Only where
    no user code ran in the process: cyclic garbage such code left (an unclosed file among it) is
    finalized by them; Python does not promise that at exit, but the interpreter does it."""
    gc.freeze()


def _nothing() -> None:
    return None
