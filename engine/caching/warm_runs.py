"""A fully cached run replayed from the record of the last run of the same plan.

Why: a warm run re-derives, node by node, what the run before it established: each node's code
version (a stored record checked against its files, references and libraries), its key, and the
entry stored under that key. When the plan, its inputs and everything those records were made of
are unchanged, every one of those steps gives the answer it gave last time — and finding that out
cost a warm run ~10 µs a node. So a run in which every planned node ended with a stored entry is
recorded: the plan's signature (the inputs' data versions, each node's function, behavior,
decorator arguments, wiring and defaults), the union of what its nodes' code versions were made of
(checked as ``VersionMemo.recall`` checks one record), what each node read and ran last time (as
an entry's records are checked), and every node's key and data version. The next run of that plan
checks the signature and the union once, and that the store still holds every (key, data
version); then every node is a hit without being versioned, and the values are read only for
what the run returns.

A plan with fan-outs is replayed around them: its fan-out blocks (expander, per-item nodes) go
node by node, as their items must be read to be followed, and the record holds the data versions
they ended with. A row is used only while every input of its node has the data version it had
when recorded, so a node downstream of a fan-out that now comes out otherwise (an item's entry
lost and computed again to another value) is looked up node by node, as are its dependents.

The record is a memo of the node-by-node path, never another rule: anything that does not hold
replays nothing and the run takes that path. Nor is it used for a plan with overrides, a node
whose behavior is not the default, or a node without a stored code version (closures, callable
objects: those are versioned every time). The record is a memo value, so it is MAC-sealed like
every one; a planted or damaged record replays nothing.
"""

from __future__ import annotations

import functools
import time
import types
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from xxhash import xxh3_128_hexdigest

from engine import events as ev
from engine._gc import paused
from engine._json import dumps as json_dumps
from engine._json import loads as json_loads
from engine._log import log
from engine.core.plan import Step
from engine.core.run_records import Lazy
from engine.store import Entry, StoreError

if TYPE_CHECKING:
    from engine.caching.session import Session
    from engine.core.run_records import RunResult

#: bump when what a record holds, or what its signature is made of, changes
FORMAT = "2"  # 2: fan-out plans (their outputs' data versions)

#: records a store keeps besides the one being written, the most recently written (each ~110 bytes
#: a node): a dashboard user running to each node of a large pipeline in turn would otherwise leave
#: one record per output set
MAX_RECORDS = 64

#: a node's row: name, key, data version, code version, compute seconds, size, created
Row = list[Any]


class Replay:
    """A validated record: the row of every planned node outside fan-out blocks, by name, and the
    data version each planned node ended with (``recorded``)."""

    __slots__ = ("rows", "recorded")

    def __init__(self, rows: dict[str, Row], fanned: dict[str, str]) -> None:
        self.rows = rows
        #: each planned node's recorded data version, to check inputs by; None without fan-outs,
        #: where every input is a row served as recorded (or a run's input, in the signature)
        self.recorded = {**fanned, **{name: row[2] for name, row in rows.items()}} if fanned else None

    def hit(self, s: Session, step: Step) -> tuple[Lazy, str] | None:
        """The node's hit as the record has it (None: not in the record, or an input's data version
        is not the recorded one)."""
        name = step.node.name
        row = self.rows.get(name)
        if row is None:
            return None
        recorded = self.recorded
        if recorded is not None:
            now = s.dv
            for _, src in step.args:
                want = recorded.get(src if src.__class__ is str else src[0])
                if want is not None and now.get(src) != want:
                    return None
        _, key, dv, cv, seconds, size, created = row
        s.keys[name] = key
        s.dv[name] = s.dv[(name,)] = dv
        s.hits += 1
        s.counts["default", "hits"] += 1
        why = since(created)
        if s._debug:
            log.debug("%s: hit (%s, replayed)", name, why)
        return Lazy(s.load_key, seconds, size, cv, dv, arg=key), why


@functools.lru_cache(maxsize=256)
def _since_minute(minute: int) -> str:
    return "unchanged since " + time.strftime("%Y-%m-%d %H:%M", time.localtime(minute * 60))


def since(created: float) -> str:
    """Why a hit is one: when its entry was made (to the minute, memoised)."""
    return _since_minute(int(created // 60))


def _memo_key(s: Session) -> str:
    c = s.cache
    plan = "\0".join(s.plan.outputs)
    return f"run:{FORMAT}:{c.project_root}\0{c.pipeline}\0{xxh3_128_hexdigest(plan.encode())}"


def signature(s: Session) -> str | None:
    """What the plan's keys are made of besides code versions and stored entries; None when the
    plan cannot be recorded."""
    cache = s.cache
    plan = s.plan
    flat = [FORMAT, cache.pipeline, str(cache.project_root), *plan.outputs, "\1"]
    for name in plan.externals:
        dv = s.dv.get(name)
        if dv is None:
            return None
        flat += (str(name), dv)
    function = types.FunctionType
    behaviors, extras = cache._behavior, cache._extras  # memos of ``behavior``/``_extra``: every node, every run
    for step in _steps(plan):
        node = step.node
        fn = node.origin
        name = node.name
        if type(fn) is not function or (behaviors.get(name) or cache.behavior(node)) != "default":
            return None
        code = fn.__code__
        flat += ("\1", name, code.co_filename, code.co_qualname, str(code.co_firstlineno),
                 extras.get(name) or cache._extra(node))
        for p, src in step.args:
            flat += (p, src if src.__class__ is str else "\1".join(map(str, src)))
        if node.optional:
            for p, dv in s._defaults(step):
                if dv is None:
                    return None
                flat += (p, dv)
    return xxh3_128_hexdigest("\0".join(flat).encode())


def _steps(plan: Any) -> Iterator[Step]:
    """Every step of the plan, a fan-out's expander and block in their places."""
    for step in plan.steps:
        if step.__class__ is Step:
            yield step
        else:
            yield step.expander
            yield from step.block


def replay(s: Session) -> Replay | None:
    """The last run of this plan, if everything it was made of still holds. The record's head
    (signature, trails, observed records) is read and checked before its rows: after an edit — every
    save in watch mode — the check fails on the edited file without reading a row."""
    key = _memo_key(s)
    head = s.store.memo.get(key)
    if head is None:
        return None
    cache = s.cache
    try:
        with paused():
            doc = json_loads(head)
        persisted = cache.persisted
        for root, files, probes, dists in doc["t"]:
            if not persisted.holds(root, files, probes, dists):
                return None
        root = str(cache.project_root)
        if doc["o"]:
            from engine.caching import observed  # a run that read files: a pure pipeline never loads it
        for records in doc["o"].values():
            if observed.first_change(records, root, cache.versioner, cache.files) is not None:
                return None
        if doc["s"] != signature(s):
            return None
        text = s.store.memo.get(key + "\0rows")
        if text is None or xxh3_128_hexdigest(text.encode()) != doc["d"]:
            return None  # rows of another record (each value is sealed on its own)
        with paused():
            rows: dict[str, Row] = {r[0]: r for r in json_loads(text)}
        fanned = doc["f"]
        if not isinstance(fanned, dict) or len(rows) + len(fanned) != len(s.plan.order):
            return None  # (which nodes they are, the signature says)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None
    if not s.store.holds([(r[1], r[2]) for r in rows.values()]):
        return None
    return Replay(rows, fanned)


def record(s: Session, result: RunResult) -> None:
    """Record a run in which every planned node ended with a stored entry, for the next to replay;
    a run that replayed has nothing new to record."""
    if s.dry or s.warm is not None or result.status != "ok" or len(result.records) != len(s.plan.order):
        return
    with paused():  # a cold run leaves many objects for a collection to walk
        _record(s, result)


def _record(s: Session, result: RunResult) -> None:
    sig = signature(s)
    if sig is None:
        return
    cache = s.cache
    persisted = cache.versioner.persisted
    root_for = cache.versioner._root_for
    trails: dict[str, tuple[dict[tuple[str, str], list[Any]], dict[str, Any], dict[str, Any]]] = {}
    seen: dict[str, dict[str, str]] = {}
    rows: list[Row] = []
    fanned: dict[str, str] = {}
    for step in s.plan.steps:
        if step.__class__ is not Step:  # a fan-out: what its nodes ended with
            for name in step.nodes:
                dv = s.dv.get(name)
                rec = result.records.get(name)
                if dv is None or rec is None or rec.status not in (ev.CACHED, ev.RAN):
                    return
                fanned[name] = dv
            continue
        node = step.node
        name = node.name
        rec = result.records.get(name)
        key = s.keys.get(name)
        if rec is None or rec.status not in (ev.CACHED, ev.RAN) or key is None:
            return
        entry = s.prefetched.get(key)
        if entry is None or entry.data_version != s.dv.get(name):
            return
        root = root_for(node.origin)
        got = persisted.trail(node.origin, cache._extra(node), root)
        if got is None or got[0] != entry.code_version:
            return
        union = trails.get(root)
        if union is None:  # not ``setdefault``: it would make three dicts for every node
            union = trails[root] = ({}, {}, {})
        files, probes, dists = union
        for row in got[1]:
            files[(row[0], row[1])] = row
        for p in got[2]:
            probes[json_dumps(p)] = p
        for d in got[3]:
            dists[json_dumps(d)] = d
        if entry.has_files:
            seen[name] = entry.files
        rows.append([name, key, entry.data_version, entry.code_version, entry.compute_seconds, entry.size,
                     entry.created])
    text = json_dumps(rows, compact=True)
    doc = {"s": sig, "t": [[root, list(f.values()), list(p.values()), list(d.values())]
                           for root, (f, p, d) in trails.items()], "o": seen, "f": fanned,
           "d": xxh3_128_hexdigest(text.encode())}
    key = _memo_key(s)
    memo = s.store.memo
    memo[key + "\0rows"] = text
    memo[key] = json_dumps(doc, compact=True)
    for old in memo.oldest(f"run:{FORMAT}:", 2 * MAX_RECORDS):  # a head and its rows each
        if old != key and old != key + "\0rows":
            memo.discard(old)


class Hits(MutableMapping[str, tuple[str, Entry, str]]):
    """A replayed run's ``hit_entries``: (key, entry, why) by node, the entry read from the store
    only when asked for (an explanation); a node recomputed during the run is dropped."""

    def __init__(self, s: Session, rows: dict[str, Row]) -> None:
        self._store = s.store
        self._rows = rows
        self._gone: set[str] = set()
        self._more: dict[str, tuple[str, Entry, str]] = {}

    def __getitem__(self, name: str) -> tuple[str, Entry, str]:
        got = self._more.get(name)
        if got is not None:
            return got
        if name in self._gone:
            raise KeyError(name)
        name_, key, dv, cv, seconds, size, created = self._rows[name]
        try:
            entry = self._store.get(key)
        except StoreError:  # asked after the store closed: what the record holds
            entry = None
        return key, entry or Entry(key, name_, dv, cv, size, seconds, created, created), since(created)

    def __setitem__(self, name: str, value: tuple[str, Entry, str]) -> None:
        self._more[name] = value
        self._gone.discard(name)

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._more.pop(name, None)
        self._gone.add(name)

    def __contains__(self, name: object) -> bool:
        return name in self._more or (name in self._rows and name not in self._gone)

    def __iter__(self) -> Iterator[str]:
        yield from self._more
        yield from (n for n in self._rows if n not in self._gone and n not in self._more)

    def __len__(self) -> int:
        return sum(1 for _ in self)
