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

After an edit (every save in watch mode) or with another input the record no longer holds as a
whole, and the run is replayed *in part*: a node's row is used when its node's turn comes, if what
the node-by-node path would find holds for it — its wiring, function, decorator arguments and
defaults as recorded (each row keeps a digest of them), what its own code version was made of (the
rows keep which of the record's trails is theirs: nodes of an unedited file pass without being
versioned; the others are versioned, and their row used when the version is the recorded one),
what it read and ran last time, and every input with the data version it had. A node that runs
may rebind a module global later nodes refer to, so after one ran the trails are checked again.

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

from xxhash import xxh3_64_hexdigest, xxh3_128_hexdigest

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
FORMAT = "3"  # 2: fan-out plans (their outputs' data versions); 3: partial replays (pieces, trails by row)

#: records a store keeps besides the one being written, the most recently written (each ~110 bytes
#: a node): a dashboard user running to each node of a large pipeline in turn would otherwise leave
#: one record per output set
MAX_RECORDS = 64

#: a node's row: name, key, data version, code version, compute seconds, size, created, the digest of
#: its wiring (``_wiring``) and which of the record's trails is its own
Row = list[Any]


class Replay:
    """A validated record: the row of every planned node outside fan-out blocks that may be served,
    by name, and the data version each recorded node ended with (``recorded``). ``checks``: a
    partial replay's per-row checks (see the module docstring); None: the record held as a whole."""

    __slots__ = ("rows", "recorded", "checks")

    def __init__(self, rows: dict[str, Row], recorded: dict[str, str] | None, checks: _Checks | None = None) -> None:
        self.rows = rows
        #: each recorded node's data version, to check inputs by; None in a whole replay without
        #: fan-outs, where every input is a row served as recorded (or a run's input, in the signature)
        self.recorded = recorded
        self.checks = checks

    def has_version(self, s: Session, node: Any) -> bool:
        """Whether the node's row is of its code version now: then the store holds an entry of its
        current code, whatever its inputs turn out to be."""
        row = self.rows.get(node.name)
        if row is None:
            return False
        return self.checks.versioned(s, node, row) if self.checks is not None else not s.cache._ran

    def hit(self, s: Session, step: Step) -> tuple[Lazy, str] | None:
        """The node's hit as the record has it (None: not in the record, or an input's data version
        is not the recorded one, or a partial replay's checks fail for it)."""
        name = step.node.name
        row = self.rows.get(name)
        if row is None:
            return None
        checks = self.checks
        if checks is None and s.cache._ran:
            return None  # user code ran (a damaged entry computed again): node by node from here
        recorded = self.recorded
        if recorded is not None:
            now = s.dv
            for _, src in step.args:
                want = recorded.get(src if src.__class__ is str else src[0])
                if want is not None and now.get(src) != want:
                    return None
        if checks is not None and not checks.hold(s, step.node, row):
            return None
        _, key, dv, cv, seconds, size, created, _, _ = row
        s.keys[name] = key
        s.dv[name] = s.dv[(name,)] = dv
        s.hits += 1
        s.counts["default", "hits"] += 1
        why = since(created)
        if s._debug:
            log.debug("%s: hit (%s, replayed)", name, why)
        return Lazy(s.load_key, seconds, size, cv, dv, arg=key), why


class _Checks:
    """What a partial replay checks for a row, as the node-by-node path would find it: its trail
    (each once until user code runs), else the node's code version; what it read and ran."""

    __slots__ = ("trails", "observed", "_held", "_at")

    def __init__(self, trails: list[tuple[str, list[Any], list[Any], list[Any]]], observed: dict[str, Any]) -> None:
        self.trails = trails
        #: what each node read and ran last time (its entry's records), by name
        self.observed = observed
        self._held: dict[int, bool] = {}
        self._at = 0

    def versioned(self, s: Session, node: Any, row: Row) -> bool:
        """Whether the node's code version is the row's: its trail holds, else it is versioned."""
        cache = s.cache
        if cache._ran != self._at:  # a node ran: references are looked at anew
            self._held.clear()
            self._at = cache._ran
        held = self._held.get(row[8])
        if held is None:
            held = self._held[row[8]] = cache.persisted.holds(*self.trails[row[8]])
        if held:
            return True
        cv = cache.code_version(node)
        return not cv.unversionable and cv.digest == row[3]

    def hold(self, s: Session, node: Any, row: Row) -> bool:
        if not self.versioned(s, node, row):
            return False
        records = self.observed.get(node.name)
        if records:
            from engine.caching import observed

            return observed.first_change_for(s.cache, records) is None
        return True


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
    flat = _header(s)
    if flat is None:
        return None
    for step in _steps(s.plan):
        if not _wiring(flat, s, step):
            return None
    return xxh3_128_hexdigest("\0".join(flat).encode())


def _header(s: Session) -> list[str] | None:
    """The signature's start: the plan's outputs and its inputs' data versions."""
    plan = s.plan
    flat = [FORMAT, s.cache.pipeline, str(s.cache.project_root), *plan.outputs, "\1"]
    for name in plan.externals:
        dv = s.dv.get(name)
        if dv is None:
            return None
        flat += (str(name), dv)
    return flat


def _wiring(flat: list[str], s: Session, step: Step) -> bool:
    """Add to ``flat`` what the node's key is made of besides its code version and its inputs' data
    versions: its function, decorator arguments, wiring and defaults; False when it cannot be recorded."""
    cache = s.cache
    node = step.node
    fn = node.origin
    name = node.name
    if type(fn) is not types.FunctionType or (cache._behavior.get(name) or cache.behavior(node)) != "default":
        return False
    code = fn.__code__
    flat += ("\1", name, code.co_filename, code.co_qualname, str(code.co_firstlineno),
             cache._extras.get(name) or cache._extra(node))
    for p, src in step.args:
        flat += (p, src if src.__class__ is str else "\1".join(map(str, src)))
    if node.optional:
        for p, dv in s._defaults(step):
            if dv is None:
                return False
            flat += (p, dv)
    return True


def _piece(s: Session, step: Step, into: list[str] | None = None) -> str | None:
    """A digest of the node's ``_wiring`` (None: it cannot be recorded), added to ``into`` too."""
    flat: list[str] = []
    if not _wiring(flat, s, step):
        return None
    if into is not None:
        into += flat
    return xxh3_64_hexdigest("\0".join(flat).encode())


def _steps(plan: Any) -> Iterator[Step]:
    """Every step of the plan, a fan-out's expander and block in their places."""
    for step in plan.steps:
        if step.__class__ is Step:
            yield step
        else:
            yield step.expander
            yield from step.block


def replay(s: Session) -> Replay | None:
    """The last run of this plan: whole if everything it was made of still holds, else in part
    (see the module docstring). The record's head (signature, trails, observed records) is checked
    before its rows are read: a whole replay needs no versioning at all."""
    key = _memo_key(s)
    head = s.store.memo.get(key)
    if head is None:
        return None
    try:
        with paused():
            doc = json_loads(head)
        whole = _holds_whole(s, doc)
        text = s.store.memo.get(key + "\0rows")
        if text is None or xxh3_128_hexdigest(text.encode()) != doc["d"]:
            return None  # rows of another record (each value is sealed on its own)
        with paused():
            rows: dict[str, Row] = {r[0]: r for r in json_loads(text)}
        fanned = doc["f"]
        if not isinstance(fanned, dict) or (whole and len(rows) + len(fanned) != len(s.plan.order)):
            return None  # (which nodes they are, the signature says)
        if not whole:
            return _partial(s, doc, rows, fanned)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None
    if not s.store.holds([(r[1], r[2]) for r in rows.values()]):
        return None
    return Replay(rows, _versions(rows, fanned) if fanned else None)


def _holds_whole(s: Session, doc: dict[str, Any]) -> bool:
    """Whether everything the record was made of holds: what ``VersionMemo.recall`` checks, for
    the union of its nodes' trails; what they read and ran; the signature."""
    cache = s.cache
    persisted = cache.persisted
    for root, files, probes, dists in doc["t"]:
        if not persisted.holds(root, files, probes, dists):
            return False
    if doc["o"]:
        from engine.caching import observed  # a run that read files: a pure pipeline never loads it
    for records in doc["o"].values():
        if observed.first_change_for(cache, records) is not None:
            return False
    return bool(doc["s"] == signature(s))


def _partial(s: Session, doc: dict[str, Any], rows: dict[str, Row], fanned: dict[str, str]) -> Replay | None:
    """The rows whose node is wired as recorded, checked further when their node's turn comes.
    None while any planned node cannot be recorded: a node's key leaves out an ``ignore``d input's
    data version, so one node's behavior changes its consumers' keys."""
    signed = _signed(s)
    if signed is None:
        return None
    pieces = signed[1]
    served: dict[str, Row] = {}
    for step in s.plan.steps:
        if step.__class__ is Step:
            row = rows.get(step.node.name)
            if row is not None and row[7] == pieces[row[0]]:
                served[row[0]] = row
    if not served or not s.store.holds([(r[1], r[2]) for r in served.values()]):
        return None
    unions = doc["t"]
    trails = []
    for at, files, probes, dists in doc["g"]:
        root, f, p, d = unions[at]
        trails.append((root, [f[i] for i in files], [p[i] for i in probes], [d[i] for i in dists]))
    return Replay(served, _versions(rows, doc["x"], fanned), _Checks(trails, doc["o"]))


def _versions(rows: dict[str, Row], *more: dict[str, str]) -> dict[str, str]:
    """The data version every recorded node ended with (and ``more``'s: inputs, fan-out nodes)."""
    return {k: v for m in more for k, v in m.items()} | {name: row[2] for name, row in rows.items()}


def record(s: Session, result: RunResult) -> None:
    """Record a run in which every planned node ended with a stored entry, for the next to replay;
    a run replayed whole has nothing new to record."""
    warm = s.warm
    if s.dry or (warm is not None and warm.checks is None) or result.status != "ok" or \
            len(result.records) != len(s.plan.order):
        return
    with paused():  # a cold run leaves many objects for a collection to walk
        _record(s, result)


def _ended(s: Session, name: str, key: str) -> tuple[Row, Any] | None:
    """The node's row as the run ended it (its entry's, or the replayed row), and its records."""
    entry = s.prefetched.get(key)
    if entry is not None:
        if entry.data_version != s.dv.get(name):
            return None
        return ([name, key, entry.data_version, entry.code_version, entry.compute_seconds, entry.size,
                 entry.created], entry.files if entry.has_files else None)
    warm = s.warm
    row = warm.rows.get(name) if warm is not None and warm.checks is not None else None
    if row is None or row[1] != key or row[2] != s.dv.get(name):
        return None
    return row[:7], warm.checks.observed.get(name)  # type: ignore[union-attr]


def _signed(s: Session) -> tuple[str, dict[str, str]] | None:
    """``signature(s)`` and each node's ``_piece``, in one pass."""
    flat = _header(s)
    if flat is None:
        return None
    pieces = {}
    for step in _steps(s.plan):
        piece = pieces[step.node.name] = _piece(s, step, flat)
        if piece is None:
            return None
    return xxh3_128_hexdigest("\0".join(flat).encode()), pieces


def _record(s: Session, result: RunResult) -> None:
    signed = _signed(s)
    if signed is None:
        return
    sig, pieces = signed
    cache = s.cache
    persisted = cache.versioner.persisted
    root_for = cache.versioner._root_for
    #: per root: the union of its nodes' trails (files, probes, libraries), each by a key of its own
    unions: dict[str, tuple[dict[Any, Any], dict[str, Any], dict[str, Any]]] = {}
    groups: dict[tuple[Any, ...], int] = {}
    seen: dict[str, Any] = {}
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
        ended = _ended(s, name, key) if key is not None and rec is not None and rec.status in (ev.CACHED, ev.RAN) \
            else None
        if ended is None:
            return
        row, files_seen = ended
        root = root_for(node.origin)
        got = persisted.trail(node.origin, cache._extra(node), root)
        if got is None or got[0] != row[3]:
            return
        union = unions.get(root)
        if union is None:  # not ``setdefault``: it would make three dicts for every node
            union = unions[root] = ({}, {}, {})
        files, probes, dists = union
        mine: list[Any] = [root]
        for part, union_part in zip((got[1], got[2], got[3]), union, strict=True):
            keys = []
            for item in part:
                k = (item[0], item[1]) if union_part is files else json_dumps(item)
                union_part[k] = item
                keys.append(k)
            mine.append(tuple(keys))
        group = groups.get(tuple(mine))
        if group is None:
            group = groups[tuple(mine)] = len(groups)
        if files_seen:
            seen[name] = files_seen
        rows.append([*row, pieces[name], group])
    text = json_dumps(rows, compact=True)
    roots = list(unions)
    at = {(root, part, k): i for root in roots for part, union_part in enumerate(unions[root])
          for i, k in enumerate(union_part)}
    doc = {"s": sig, "t": [[root, *(list(p.values()) for p in unions[root])] for root in roots],
           "g": [[roots.index(root), *([at[root, part, k] for k in keys] for part, keys in enumerate(mine))]
                 for root, *mine in groups],
           "o": seen, "f": fanned, "x": {str(n): s.dv.get(n) for n in s.plan.externals},
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
        key = self._rows[name][1]
        try:
            entry = self._store.get(key)
        except StoreError:  # asked after the store closed: what the record holds
            entry = None
        return self._recorded(name, entry)

    def _recorded(self, name: str, entry: Entry | None = None) -> tuple[str, Entry, str]:
        name_, key, dv, cv, seconds, size, created = self._rows[name][:7]
        return key, entry or Entry(key, name_, dv, cv, size, seconds, created, created), since(created)

    def pop(self, name: str, *default: Any) -> Any:
        """Dropped without reading its entry (every miss drops one: a dry run's, a thousand after an edit)."""
        got = self._more.pop(name, None)
        if got is None and (name not in self._rows or name in self._gone):
            if default:
                return default[0]
            raise KeyError(name)
        self._gone.add(name)
        return got if got is not None else self._recorded(name)

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
