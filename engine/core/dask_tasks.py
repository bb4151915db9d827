"""What runs on the Dask workers (``engine.core.dask`` submits it): the node and batch tasks, and how
their arguments become values there.

Its own module because workers unpickle these functions by reference: importing it must stay cheap
and pull in no driver-side machinery (no session, no scheduler state) — only the call helpers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.core.execute import _call_tracked
from engine.core.redact import error_info
from engine.core.scheduler import run_batch
from engine.files import folders, in_library


@dataclass(slots=True)
class Outcome:
    """A task's result: the value stays on the worker, ``meta`` is what the driver fetches."""

    value: Any
    meta: Any


def _resolve(arg: tuple) -> Any:
    """Turn a task argument back into a value, on the worker (Dask has replaced futures by results)."""
    kind = arg[0]
    if kind == "v":
        return arg[1]
    if kind == "f":
        return arg[1].value
    if kind == "l":
        return arg[1]()
    if kind == "i":
        return arg[1].value[arg[2]]
    if kind == "c":
        return arg[1].value[arg[2]][arg[3]]
    out: list[Any] = []  # "g": a list, as runs of values from one task and runs of plain arguments
    for seg in arg[1]:
        if seg[0] == "cs":
            out.extend(seg[1].value[k][pos] for k, pos in seg[2].value)
        elif seg[0] == "is":
            out.extend(seg[1].value[k] for k in seg[2].value)
        else:
            out.extend(_resolve(a) for a in seg[1].value)
    return out


class Sealed:
    """A payload Dask passes as it is, without walking it for futures: 10,000 per-item tuples would
    otherwise cost more to submit than to compute."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> tuple:
        return (Sealed, (self.value,))


def _error(exc: BaseException) -> tuple:
    return error_info(exc), None


def node_task(fn: Callable[..., Any], args: dict[str, tuple], storer: Any, ignore: tuple[str, ...] | None,
              expands: bool = False, fingerprint: Any = None) -> Outcome:
    """One node on a worker. An expander's metadata carries its item count, or with ``fingerprint``
    its items' data versions (computed here, so the items never leave the cluster)."""
    try:
        kwargs = {p: _resolve(a) for p, a in args.items()}
    except Exception as exc:  # noqa: BLE001 - an input could not be loaded here (a damaged cache entry)
        return Outcome(None, (False, 0.0, [], None, _error(exc), INPUTS))
    ok, value, seconds, reads = _call_tracked(fn, kwargs, ignore)
    if not ok:
        return Outcome(None, (False, seconds, reads, None, value, None))
    items: Any = None
    if expands:
        items = [fingerprint(v) for v in value] if fingerprint is not None else len(value)
    try:
        receipt = storer(value, seconds, reads) if storer is not None else None
    except Exception:  # noqa: BLE001 - not cached this run (no data version: dependents run too)
        receipt = None
    return Outcome(value, (True, seconds, reads, receipt, None, items))


#: a node's metadata says its inputs could not be loaded (the driving process repairs and retries)
INPUTS = "inputs"


def meta_of(outcome: Outcome) -> Any:
    return outcome.meta


def batch_task(spec: list, item_name: str, outer: dict[Any, tuple], items: tuple, jobs: Sealed,
               fingerprint: Any) -> Outcome:
    """A batch of fan-out items on a worker: values stay here, per-item status goes back. ``items``:
    the expander's list (its task's result) or ``("v", None)`` when each job carries its item."""
    try:
        resolved_outer = {k: _resolve(a) for k, a in outer.items()}
        listed = _resolve(items)
        resolved = [(k, listed[k] if listed is not None else item, todo, {n: _resolve(a) for n, a in hits.items()})
                    for k, item, todo, hits in jobs.value]
    except Exception as exc:  # noqa: BLE001
        return Outcome({}, {k: {todo[0]: (False, _error(exc), 0.0, None, [])} for k, _, todo, _ in jobs.value})
    got = run_batch(spec, item_name, resolved_outer, resolved, fingerprint)
    values = {k: {pos: r[1] for pos, r in d.items() if r[0]} for k, d in got.items()}
    meta = {k: {pos: (r[0], None if r[0] else r[1], r[2], r[3], r[4]) for pos, r in d.items()} for k, d in got.items()}
    return Outcome(values, meta)


def store_task(batch: Outcome, jobs: Sealed) -> list[Any]:
    """Write the fan-out results of one batch where they are, under the keys the driver decided,
    with what each item's run read (``run_batch``)."""
    todo = [(storer, batch.value[k][pos], seconds, dv, reads) for k, pos, storer, seconds, dv, reads in jobs.value]
    return todo[0][0].store_many(todo) if todo else []


def gather_task(arg: tuple) -> Any:
    return _resolve(arg)


def _prepare_worker(paths: list[str], packages: list[str]) -> None:
    """Every run imports the pipeline's code as it is on disk now, on every worker: its packages and
    every other module from the project's folders (a helper module beside the pipeline, a plugin a
    node imports by name), which a long-lived worker would otherwise keep as it first imported it."""
    import importlib

    for p in paths:
        if p not in sys.path:
            sys.path.insert(0, p)
    roots = folders(paths)
    for name, module in list(sys.modules.items()):
        top, file = name.split(".")[0], getattr(module, "__file__", None)
        if top in packages or (  # never Ripple's own modules, even in a checkout that holds the project
                top not in ("engine", "tui", "__main__") and isinstance(file, str) and file.endswith(".py")
                and not in_library(file) and os.path.realpath(file).startswith(roots)):
            del sys.modules[name]
    importlib.invalidate_caches()


# ----------------------------------------------------------------------------------- packing


#: what a ``_rebuild`` swap returns for a part it leaves as it is
_KEEP = object()


class _Slot:
    """Where a future's result goes back into a packed call."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i

    def __reduce__(self) -> tuple:
        return (_Slot, (self.i,))


class Packed:
    """A task's function and arguments as bytes, unpickled only on the worker: the scheduler then
    needs neither the pipeline's modules nor the classes of its values (only Ripple itself)."""

    __slots__ = ("blob",)

    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    def __reduce__(self) -> tuple:
        return (Packed, (self.blob,))


def pack(fn: Callable[..., Any], args: tuple, is_future: Callable[[Any], bool]) -> tuple[Packed, list[Any]]:
    """``fn(*args)`` as one ``Packed`` plus the futures it reads (left outside, so Dask sees the
    dependencies and hands their results to ``run_packed``). Values (``("v", x)``) are not walked."""
    import cloudpickle

    refs: list[Any] = []

    def slot(o: Any) -> Any:
        if not is_future(o):
            return _KEEP
        refs.append(o)
        return _Slot(len(refs) - 1)

    body = _rebuild(args, slot)
    return Packed(cloudpickle.dumps((fn, body), protocol=5)), refs


def run_packed(packed: Packed, *refs: Any) -> Any:
    import pickle

    fn, body = pickle.loads(packed.blob)
    return fn(*_rebuild(body, lambda o: refs[o.i] if type(o) is _Slot else _KEEP))


def _rebuild(o: Any, swap: Callable[[Any], Any]) -> Any:
    """``o`` with each part ``swap`` replaces (anything but ``_KEEP``) replaced, through tuples, lists
    and dicts; a value (``("v", x)``, ``("l", ...)``) is kept whole, never walked into."""
    new = swap(o)
    if new is not _KEEP:
        return new
    if type(o) is tuple:
        return o if o and o[0] in ("v", "l") else tuple(_rebuild(x, swap) for x in o)
    if type(o) is list:
        return [_rebuild(x, swap) for x in o]
    if type(o) is dict:
        return {k: _rebuild(v, swap) for k, v in o.items()}
    return o
