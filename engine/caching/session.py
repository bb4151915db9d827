from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from xxhash import xxh3_128_hexdigest

from engine import events as ev
from engine._json import dumps as json_dumps
from engine._json import loads as json_loads
from engine._log import log
from engine.caching import tracing  # noqa: F401 - registers the code-tracing probe before any recorder or pool exists
from engine.caching.data_version import combine, try_fingerprint
from engine.caching.warm_runs import Hits, Replay, record, replay, since
from engine.core.plan import Plan, Step
from engine.core.reads import ReadRecorder
from engine.core.run_records import Lazy, RunResult
from engine.store import Entry, EntryDamaged, StoreError, Unstorable

if TYPE_CHECKING:
    from engine.caching.cache import Cache
    from engine.caching.decisions import Decision
    from engine.core.graph import Node

#: ``enter_item`` fingerprints the item itself unless given its version
_COMPUTE = object()
#: the data version of a value that has none: nodes using it are not cached this run
UNCACHEABLE = None
#: results that took longer than this are committed at once (cheap ones are batched)
SLOW_SECONDS = 0.05


class Session:
    """Cache decisions for one run (or one dry run)."""

    def __init__(self, cache: Cache, run_id: str, plan: Plan, values: Mapping[Any, Any],
                 overrides: Mapping[str, Any], *, dry: bool, base: Session | None = None) -> None:
        self.cache = cache
        self.store = cache.store
        self._load = cache.store.load
        self.run_id = run_id
        self.plan = plan
        self.dry = dry
        self.dv: dict[Any, str | None] = {}
        self.ignored: set[str] = set()
        self.keys: dict[str, str | None] = {}
        self.reads: dict[str, ReadRecorder] = {}
        self._default_dvs: dict[str, list[tuple[str, str | None]]] = {}
        self.in_items = False
        self._fanout: tuple[str, str | None, list[str | None]] = ("", None, [])
        self._known_items: list[str | None] | None = None
        self._deps: dict[str, list[tuple[str, str]]] = {}
        self._item_versions: dict[str, list[str | None]] = {}
        self.hits = 0
        self.misses = 0
        self.started = time.time()
        self.decisions: dict[str, Decision] = {}
        #: hits by node: (key, entry, why); expanded into Decisions and history rows only when asked
        self.hit_entries: dict[str, tuple[str, Entry, str]] = {}
        self.node_rows: list[dict[str, Any]] = []
        self._debug = log.debug_enabled()
        self.counts: Counter[tuple[str, str]] = Counter()
        self._item_hits: Counter[str] = Counter()
        self._predicted: list[tuple[str, str, str]] | None = None
        #: each node's previous history record, read at the first miss that needs explaining
        self._previous: dict[str, Any] | None = None
        #: (part, version) -> the code version whose ``explain:`` row holds its source, this run
        self._sources_held: dict[tuple[str, str], str] = {}
        #: source file -> its lines as ``explain`` keeps parts of them, read once this run
        self._source_lines: dict[str, list[str] | None] = {}
        self.warm: Replay | None = None
        if base is not None:
            self.dv = dict(base.dv)
            self.prefetched = base.prefetched
            self.warm = base.warm
            if self.warm is not None:
                self.hit_entries = Hits(self, self.warm.rows)  # its own: what a dry run drops stays the run's
            return
        graph = cache.graph
        for name in plan.externals:
            fp, why = self._fingerprint(values[name])
            self.dv[name] = fp
            if fp is None:
                self._warn(name, f"input {name} cannot be fingerprinted ({why}); nodes using it are not cached this run")
        self.warm = warm = replay(self) if not overrides else None
        if warm is not None:
            self.hit_entries = Hits(self, warm.rows)
        # a replayed run reads ahead only its fan-out nodes' entries (the rows name every other one)
        names = [] if warm is not None and warm.recorded is None else [
            n for n in plan.order if n in graph.nodes and n not in overrides and (warm is None or n not in warm.rows)]
        self.prefetched = self.store.prefetch(names, lambda names: {
            n: h for n in names if (h := cache.code_version_hint(graph.nodes[n])) is not None}) if names else \
            self.store.prefetch(())
        self._batch: Any = None
        if not dry:
            self.store.start_run(run_id, cache.pipeline, plan.outputs, self.started)
            self._batch = self.store.batch()
            self._batch.__enter__()

    def _fingerprint(self, value: Any, **kw: Any) -> tuple[str | None, str | None]:
        """Data version with the store's file-version memo (a large unchanged data file given as a
        ``Path`` is stat-ed, not re-read)."""
        return try_fingerprint(value, file_version=self.cache.files.version,
                               class_version=self.cache.class_version,
                               path_root=str(self.cache.project_root), **kw)

    def _warn(self, what: str, message: str) -> None:
        if what in self.cache._warned:
            return
        self.cache._warned.add(what)
        log.warning(message)
        emit = self.cache.emit
        if emit is not None and not self.dry:
            emit(ev.Message(self.run_id, time.time(), level="warning", text=message))

    # ------------------------------------------------------------------ keys
    def _key(self, step: Step) -> tuple[str | None, list[tuple[str, str]], str]:
        node = step.node
        dvs = self.dv
        ignored = self.ignored
        deps: list[tuple[str, str]] = []
        for param, src in step.args:
            dv = dvs.get(src)
            if dv is UNCACHEABLE:
                name = src[0] if src.__class__ is tuple else src
                return None, deps, f"input {name} has no data version"
            if ignored and (src[0] if src.__class__ is tuple else src) in ignored:
                continue
            deps.append((param, dv))
        if node.optional:
            for param, dv in self._defaults(step):
                if dv is UNCACHEABLE:
                    return None, deps, f"default of {param} cannot be fingerprinted"
                deps.append((param, dv))
        if len(deps) > 1:
            deps.sort()
        cache = self.cache
        cv = cache._code.get(node.name)
        if cv is None or cache._ran:
            cv = cache.code_version(node)
        # Names are identifiers and versions are hex digests (or "disabled:<hex>"): none holds a NUL,
        # so NUL-joining is unambiguous and one hash call is the cheapest key on the warm path.
        flat = [node.name, cv.digest]
        for p, dv in deps:
            flat += (p, dv)
        return xxh3_128_hexdigest("\0".join(flat).encode()), deps, ""

    def _defaults(self, step: Step) -> list[tuple[str, str | None]]:
        """Data versions of the defaults a node will use: a ``Path`` default is a data input, so
        editing that file must change the key (its expression is already part of the code version)."""
        node = step.node
        if not node.optional:
            return []
        got = self._default_dvs.get(node.name)
        if got is None:
            import inspect

            supplied = {p for p, _ in step.args}
            params = inspect.signature(node.origin).parameters
            got = []
            for p in sorted(node.optional - supplied):
                default = params[p].default if p in params else None
                got.append((p, self._fingerprint(default, code_ref=_code_marker)[0]))
            self._default_dvs[node.name] = got
        return got

    # ------------------------------------------------------------------ the CacheSession protocol
    def lookup(self, step: Step, values: Mapping[Any, Any]) -> tuple[Lazy | None, str]:
        node = step.node
        if self.warm is not None and (got := self.warm.hit(self, step)) is not None:
            return got
        behavior = self.cache._behavior.get(node.name) or self.cache.behavior(node)
        if behavior in ("disable", "ignore"):
            self.keys[node.name] = None
            return self._miss(node, behavior, f"behavior {behavior}")
        key, deps, blocked = self._key(step)
        self.keys[node.name] = key
        self._deps[node.name] = deps
        if key is None:
            return self._miss(node, behavior, blocked)
        if behavior == "recompute":
            return self._miss(node, behavior, "behavior recompute")
        if self.cache.code_version(node).unversionable:
            return _unversionable(self, node, behavior)
        entry = self.prefetched.get(key)
        if entry is None and self.warm is not None and node.name in self.warm.rows:
            entry = self.store.get(key)  # a replayed run's row set aside (an input came out otherwise): not read ahead
            if entry is not None:
                self.prefetched.add(entry)  # what recording the run reads it by
        if entry is None:
            from engine.caching.explain import why_miss  # misses only

            d = why_miss(self, node, deps)
            d.key = key
            return self._miss(node, behavior, d.why, d)
        d = _changed_since(self, node.name, key, entry)
        if d is not None:
            return self._miss(node, behavior, d.why, d)
        dv = entry.data_version
        self.dv[node.name] = self.dv[(node.name,)] = dv
        if not self.in_items:
            self.hits += 1
            self.counts[behavior, "hits"] += 1
        why = since(entry.created)
        self.hit_entries[node.name] = (key, entry, why)
        if self.in_items:
            self._item_versions.setdefault(node.name, []).append(dv)
            self._item_hits[node.name] += 1
        if self._debug:
            log.debug("%s: hit (%s)", node.name, why)
        return Lazy(self._load, entry.compute_seconds, entry.size, entry.code_version, dv, arg=entry), why

    def load_key(self, key: str) -> Any:
        """The value stored under ``key`` (a replayed hit's, loaded when asked for)."""
        entry = self.store.get(key)
        if entry is None:
            raise EntryDamaged(f"the entry {key} is no longer in the store")
        return self._load(entry)

    def versions(self, name: str) -> tuple[str, str]:
        node = self.cache.graph.nodes.get(name)
        code = self.cache.code_version(node).digest if node is not None else ""
        return code, self.dv.get(name) or ""

    def _miss(self, node: Node, behavior: str, why: str, d: Decision | None = None) -> tuple[None, str]:
        if not self.in_items:
            self.misses += 1
            self.counts[behavior, "misses"] += 1
        from engine.caching.decisions import Decision  # a miss: the hit path makes none

        self.decisions[node.name] = d or Decision(node.name, False, why, self.keys.get(node.name))
        self.decisions[node.name].why = why
        if self.dry:
            self.dv[node.name] = UNCACHEABLE
            self.dv[(node.name,)] = UNCACHEABLE
        self.hit_entries.pop(node.name, None)
        if self._debug:
            log.debug("%s: run (%s)", node.name, why)
        return None, why

    def tracking(self, step: Step) -> ReadRecorder | None:
        ignore = self.read_ignore(step)
        if ignore is None:
            return None
        rec = self.reads[step.name] = ReadRecorder(ignore)
        return rec

    def read_ignore(self, step: Step) -> tuple[str, ...] | None:
        return None if self.cache.behavior(step.node) == "disable" else self.cache._ignore

    def save(self, step: Step, value: Any, seconds: float, reads: Iterable[str]) -> int:
        try:
            return self._save(step, value, seconds, reads)
        finally:
            self.cache.user_code_ran()  # after: the value is stored under the version its key was made of

    def _save(self, step: Step, value: Any, seconds: float, reads: Iterable[str]) -> int:
        node = step.node
        behavior = self.cache.behavior(node)
        rec = self.reads.pop(node.name, None)
        from engine.caching.rows import (  # lazy: a fully cached run stores nothing
            entry_records,
            keep_version,
            ran_row,
        )

        row = ran_row(self, node, seconds)
        if behavior == "disable":
            fresh = "disabled:" + os.urandom(16).hex()
            self.dv[node.name] = self.dv[(node.name,)] = fresh
            return 0
        fp, why = self._fingerprint(value)
        if fp is None:
            self._warn(node.name, f"{node.name} ({node.location}) returned a value that cannot be fingerprinted "
                                  f"({why}); it and its dependents are not cached this run")
        key = keep_version(self, node, fp, row, behavior)
        if key is None:
            return 0
        cv = self.cache.code_version(node)
        files = entry_records(self, node, value, fp, cv.parts, reads if hasattr(reads, "seen") else (rec.paths if rec else reads))
        if files is None:
            return 0
        self._remember_sources(cv.parts, cv.digest)
        try:  # the history row's deps are the entry's (``put`` keeps their text, not the dict)
            entry = self.store.put(key, node.name, fp, cv.digest, value, compute_seconds=seconds, deps=row["deps"],
                                   code_parts=cv.parts, files=files)
        except Unstorable as exc:
            self._warn(node.name, f"{node.name} ({node.location}): value cannot be stored ({exc}); it will re-run next time")
            return 0
        except StoreError as exc:
            self._warn("store", f"the cache could not write ({exc}); results are not cached")
            return 0
        self.prefetched.add(entry)
        self.cache.bytes_written += entry.size
        if seconds >= SLOW_SECONDS:
            self.store.commit()  # an expensive result is durable at once, not at the next batch flush
        return entry.size

    def _remember_sources(self, parts: Mapping[str, str], digest: str = "") -> None:
        from engine.caching.explain import remember_sources  # misses only; a function: ~1 µs less a call

        remember_sources(self, parts, digest)

    def observe(self, name: str, value: Any) -> None:
        """Version a value computed outside ``lookup``/``store`` (fan-out items and their results)."""
        versions = self._item_versions.pop(name, None)
        if versions is not None:
            node = self.cache.graph.nodes.get(name)
            behavior = self.cache.behavior(node) if node is not None else "default"
            all_hit = bool(versions) and self._item_hits.pop(name, 0) == len(versions)
            self.counts[behavior, "hits" if all_hit else "misses"] += 1
        if versions is not None and isinstance(value, list):
            fp = combine("items", *versions) if len(versions) == len(value) and None not in versions else None
        else:
            fp, _ = self._fingerprint(value)
        self.dv[name] = self.dv[(name,)] = fp

    def enter_item(self, expander: str, item: Any, index: int = 0, *, version: Any = _COMPUTE) -> None:
        """Per-item caching of fan-out nodes: each item's results get their own keys.

        Item versions are remembered per version of the whole item list: an item that went
        through the store (pickled and back) can fingerprint differently (memory layout), so a
        cached list reuses the versions its items had when they were computed."""
        if not self.in_items:
            self.in_items = True
            list_dv = self.dv.get(expander)
            self._fanout = (expander, list_dv, [])
            raw = self.store.memo.get(f"items:{list_dv}") if list_dv else None
            self._known_items = json_loads(raw) if raw else None
        known = self._known_items
        fp = (known[index] if known is not None and index < len(known)  # ``version``: versioned on a worker
              else self._fingerprint(item)[0] if version is _COMPUTE else version)
        self._fanout[2].append(fp)
        self.dv[expander] = fp

    def leave_items(self) -> None:
        if not self.in_items:
            return
        self.in_items = False
        expander, list_dv, fps = self._fanout
        self.dv[expander] = self.dv[(expander,)] = list_dv
        if list_dv and self._known_items is None and None not in fps:
            self.store.memo[f"items:{list_dv}"] = json_dumps(fps)

    def remote(self) -> Any:  # the session as pools and Dask see it: look-ahead, storing on workers
        from engine.caching.remote import RemoteSide  # pools and Dask only

        return RemoteSide(self)

    def failed(self, step: Step) -> None:
        self.cache.user_code_ran()
        self.dv[step.name] = self.dv[(step.name,)] = UNCACHEABLE
        self.reads.pop(step.name, None)

    def reload(self, name: str) -> Step | None:
        for s in self.plan.steps:
            if isinstance(s, Step) and s.name == name:
                key = self.keys.get(name) or ""
                entry = self.prefetched.discard(key)
                if entry is not None or (self.warm is not None and key):
                    self.store.delete([key])
                if self.warm is not None:  # its deps, for the history row of the node that runs again
                    self.hit_entries.pop(name, None)
                    self.keys[name], self._deps[name], _ = self._key(s)
                log.warning("cached value of %s was damaged; recomputing it", name)
                return s
        return None

    # ------------------------------------------------------------------ planning and closing
    def predictions(self) -> list[tuple[str, str, str]]:
        """What would happen, node by node, without running anything: ``hit``, ``run`` (certain) or
        ``may run`` (early cutoff may still make it a hit); see :mod:`engine.caching.predict`."""
        if self._predicted is not None:
            return self._predicted
        from engine.caching.predict import predict

        dry = self if self.dry else Session(self.cache, self.run_id, self.plan, {}, {}, dry=True, base=self)
        self._predicted = predict(dry)
        if self._previous is None:  # the history the dry run read to explain its misses: read once
            self._previous = dry._previous
        return self._predicted

    def close(self, status: str, result: RunResult | None) -> None:
        cache = self.cache
        cache.decisions = dict(self.decisions)
        cache.hit_entries = dict(self.hit_entries) if self.warm is None else self.hit_entries
        cache.by_behavior = {b: {"hits": self.counts[b, "hits"], "misses": self.counts[b, "misses"]}
                             for b in sorted({b for b, _ in self.counts})}
        cache.last = {"hits": self.hits, "misses": self.misses}
        if result is not None:  # per node, fan-out blocks included (their items are not counted)
            cache.last = {"hits": result.count(ev.CACHED), "misses": result.count(ev.RAN) + result.count(ev.FAILED)}
        try:
            if self._batch is not None:
                self._batch.__exit__(None, None, None)
                self._batch = None
            if result is not None:
                rows, hits = _history_rows(self, result)
                for rec in result.records.values():
                    row = rows.get(rec.name)
                    if row is None:
                        continue  # a hit, packed
                    row["status"], row["seconds"] = rec.status, rec.seconds
                    if rec.started:
                        row["started"] = rec.started
                    if not row.get("why"):
                        row["why"] = rec.why
                    if rec.status == ev.FAILED:
                        row.update(error=f"{rec.error_type}: {rec.error}", traceback=rec.traceback)
                        from engine.caching import explain  # misses and failures only

                        explain.versions_row(self, row)
                self.store.finish_run(self.run_id, status, ran=result.count(ev.RAN), cached=result.count(ev.CACHED),
                                      failed=result.count(ev.FAILED), skipped=result.count(ev.SKIPPED),
                                      seconds=result.seconds, records=list(rows.values()), hits=hits)
                record(self, result)
            else:
                self.store.finish_run(self.run_id, status)
            if cache.max_size is not None:
                self.store.prune(max_size=cache.max_size)
            cache.persisted.flush()
            self.store.commit()
        except StoreError as exc:
            log.warning("could not record the run in the cache history: %s", exc)


def _history_rows(s: Session, result: RunResult) -> tuple[dict[str, dict[str, Any]], list[tuple[Any, ...]]]:
    """The run's history: a row (dict) per node that ran, failed or was skipped, and a tuple per
    cache hit, in the store's packed form (``Store.finish_run``): most nodes of a warm run, so
    they skip the dict."""
    rows = {r["node"]: r for r in s.node_rows}
    hits: list[tuple[Any, ...]] = []
    hit_entries = s.hit_entries
    replayed = s.warm.rows if s.warm is not None else {}
    for rec in result.records.values():
        name = rec.name
        if name in rows:
            continue
        r = replayed.get(name)
        if r is not None and rec.status == ev.CACHED and s.keys.get(name) == r[1]:
            hits.append((name, rec.seconds, r[1], r[2], r[3], rec.why, rec.started or None))
            continue
        got = hit_entries.get(name)
        if got is None:
            rows[name] = {"node": name}
        elif rec.status == ev.CACHED:
            key, e, why = got
            hits.append((name, rec.seconds, key, e.data_version, e.code_version, why or rec.why, rec.started or None))
        else:
            rows[name] = _hit_row(name, got)
    for name, got in (hit_entries.items() if s.warm is None else ()):
        if name not in result.records and name not in rows:
            rows[name] = _hit_row(name, got)
    return rows, hits


def _hit_row(name: str, got: tuple[str, Entry, str]) -> dict[str, Any]:
    key, e, why = got
    return {"node": name, "hit": True, "why": why, "key": key, "data_version": e.data_version,
            "code_version": e.code_version}


def _code_marker(obj: Any) -> str | None:
    """Functions and classes used as parameter defaults are code: the node's code version already
    covers them, so in the key they are a name, not an unfingerprintable value."""
    import types

    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType | types.MethodType | type | types.ModuleType):
        return "code:" + getattr(obj, "__qualname__", getattr(obj, "__name__", type(obj).__name__))
    return None


def _short(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def _unversionable(s: Session, node: Node, behavior: str) -> tuple[None, str]:
    """A node whose code holds a value nothing can version runs every time (one warning, naming it)."""
    why = "; ".join(s.cache.code_version(node).unversionable)
    s._warn(node.name + ":unversionable", f"{node.name} ({node.location}): {why}; it runs every time")
    return s._miss(node, behavior, why)


def _changed_since(s: Session, name: str, key: str, entry: Entry) -> Decision | None:
    """A miss for the first of what the node ran, read and saw last time that is no longer so."""
    if not entry.has_files:
        return None
    from engine.caching import observed
    from engine.caching.decisions import Decision

    c = s.cache
    changed = observed.first_change_for(c, entry.files)
    return None if changed is None else Decision(name, False, observed.describe(changed) + " changed", key,
                                                 previous=entry, changed_files=[changed])
