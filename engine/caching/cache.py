from __future__ import annotations

import functools
import os
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine.caching.data_version import try_fingerprint
from engine.caching.session import Session
from engine.caching.version_memo import VersionMemo
from engine.core.markers import BEHAVIORS
from engine.core.plan import Plan
from engine.errors import UsageError
from engine.files import FileVersions, folders
from engine.settings import project_settings, resolve, store_security
from engine.store import Entry, Store, StoreError
from engine.store.keys import load_key

if TYPE_CHECKING:
    from engine.caching.code_version import CodeVersioner
    from engine.caching.decisions import CacheStats, Decision
    from engine.core.graph import Graph, Node



class Cache:
    """Per-graph cache state: the store, code versions of the graph, and the last run's decisions.

    It knows the graph, the project root and where to send events, not the ``Driver``: the cache sits
    below the driver, which wires it in."""

    def __init__(self, graph: Graph, project_root: Path, store: Store, *, pipeline: str = "",
                 emit: Callable[[ev.Event], None] | None = None, behaviors: Mapping[str, str],
                 default_behavior: str, max_size: int | None) -> None:
        self.graph = graph
        self.project_root = project_root
        self.pipeline = pipeline
        self.emit = emit
        self.store = store
        self.behaviors = dict(behaviors)
        self.default_behavior = default_behavior
        self.max_size = max_size
        #: code versions of earlier processes; its versioner is made when a version is computed
        self.persisted = VersionMemo(store.memo, functools.partial(_versioner, project_root, store.memo))
        self._root = str(Path(project_root).resolve())
        self.files = FileVersions(store.memo)
        self._code: dict[str, Any] = {}
        self._extras: dict[str, str] = {}  # node -> what its decorators add to its code version
        #: how many times user code ran since this cache opened; ``_code`` entries of an earlier count
        #: (``_checked_at``, absent: 0) are checked again before use: see ``user_code_ran``
        self._ran = 0
        self._checked_at: dict[str, int] = {}
        self._behavior: dict[str, str] = {}
        self.decisions: dict[str, Decision] = {}
        self.hit_entries: dict[str, tuple[str, Entry, str]] = {}
        self.last: dict[str, int] = {}
        self.by_behavior: dict[str, dict[str, int]] = {}
        self.bytes_written = 0
        self._warned: set[str] = set()
        self._sources_seen: set[tuple[str, str]] = set()
        self._ignore = folders([str(store.root)])  # the folder, not every path that starts alike

    @classmethod
    def open(cls, graph: Graph, project_root: Path, path: str | os.PathLike[str] | None, *, pipeline: str = "",
             emit: Callable[[ev.Event], None] | None = None, behaviors: Mapping[str, str],
             default_behavior: str | None, max_size: int | str | None, history_limit: int | None) -> Cache:
        project = project_settings(project_root)
        settings = resolve(project_root, cache_dir=path, max_size=max_size, history_limit=history_limit,
                           default_behavior=default_behavior, project=project)
        default_behavior = settings.default_behavior or "default"
        for name, b in [*behaviors.items(), ("default_behavior", default_behavior)]:
            if b not in BEHAVIORS:
                raise UsageError(f"cache behavior {b!r} for {name} is not one of {', '.join(BEHAVIORS)}.")
        unknown = [n for n in behaviors if n not in graph.nodes]
        if unknown:
            raise UsageError(f"cache behavior given for unknown node {unknown[0]!r}.")
        root = settings.cache_dir
        try:
            key_file, encrypt = store_security(project, project_root)
            store = Store(root, history_limit=settings.history_limit, key=load_key(key_file), encrypt=encrypt)
        except StoreError as exc:
            raise UsageError(f"cannot open the cache at {root}: {exc}; pass --cache-dir or fix permissions.") from None
        cache = cls(graph, project_root, store, pipeline=pipeline, emit=emit, behaviors=behaviors,
                    default_behavior=default_behavior, max_size=settings.max_size)
        # The store sits in reference cycles (its memo, the versioner's), so only a full collection
        # would free it, and a process making many drivers ran out of descriptors first (its
        # connection, WAL, journal): the cache that opened it closes it when it goes (not at exit).
        weakref.finalize(cache, store.close).atexit = False
        return cache

    # ------------------------------------------------------------------ versions
    @property
    def versioner(self) -> CodeVersioner:
        return self.persisted.versioner

    def class_version(self, cls: type) -> str | None:
        return self.versioner.class_version(cls)

    def behavior(self, node: Node) -> str:
        b = self._behavior.get(node.name)
        if b is None:
            b = "disable" if node.sensitive else (self.behaviors.get(node.name) or node.behavior or self.default_behavior)
            self._behavior[node.name] = b
        return b

    def code_version(self, node: Node) -> Any:
        cv = self._code.get(node.name)
        if cv is None or (self._ran and self._checked_at.get(node.name, 0) != self._ran):
            cv = self._code[node.name] = self.versioner.version(node.origin, extra=self._extra(node))
            if self._ran:
                self._checked_at[node.name] = self._ran
        return cv

    def user_code_ran(self) -> None:
        """A node ran: it may have rebound a module global that nodes later in the run refer to, so
        the versions made before in this run (a plan's dry pass makes them all first) are checked
        again at their next use, and what references name is looked at anew (stored versions make
        that a re-check of references, not a new analysis). A later run in this process keeps the
        versions as they were made: a node that draws from a module's random generator changes it
        each time it runs, and what it was cached for is the module as imported."""
        self._ran += 1
        self.persisted.user_code_ran()

    def code_version_hint(self, node: Node) -> str | None:
        """The node's code version digest as this process made it, else as an earlier one stored it
        with its files unchanged (``VersionMemo.hint``); what a run reads ahead by."""
        cv = self._code.get(node.name)
        return cv.digest if cv is not None else self.persisted.hint(node.origin, self._extra(node), self._root)

    def _extra(self, node: Node) -> str:
        extra = self._extras.get(node.name)
        if extra is None:
            extra = self._extras[node.name] = self._make_extra(node)
        return extra

    def _make_extra(self, node: Node) -> str:
        extra = f"{node.kind}|{node.version_extra}"
        if node.literals:
            extra += "|" + "|".join(f"{k}={self._literal(v)}" for k, v in sorted(node.literals.items()))
        if node.checks:
            extra += "|checks=" + repr(list(node.checks))  # a list's repr, as keys always had
        return extra

    @staticmethod
    def _literal(v: Any) -> str:
        from engine.caching.code_helpers import value_digest

        fp, _ = try_fingerprint(v)
        return fp if fp is not None else value_digest(v)  # never a lossy repr

    # ------------------------------------------------------------------ runs
    def session(self, run_id: str, plan: Plan, values: Mapping[Any, Any], overrides: Mapping[str, Any]) -> Session:
        self._ran = 0  # a new run: versions made in earlier ones stand (see ``user_code_ran``)
        self._checked_at.clear()
        return Session(self, run_id, plan, values, overrides, dry=False)

    def predict(self, plan: Plan, values: Mapping[Any, Any], overrides: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return Session(self, "plan", plan, values, overrides, dry=True).predictions()

    # ------------------------------------------------------------------ inspection
    def stats(self) -> CacheStats:
        from engine.caching.decisions import CacheStats

        s = self.store.stats()
        hits, misses = self.last.get("hits", 0), self.last.get("misses", 0)
        total = hits + misses
        lifetime = None
        runs = self.store.runs(limit=self.store.history_limit)
        done = sum(r.ran + r.cached for r in runs)
        if done:
            lifetime = sum(r.cached for r in runs) / done
        return CacheStats(hits, misses, hits / total if total else 0.0, self.bytes_written, s.entries, s.bytes,
                          {k: dict(v) for k, v in self.by_behavior.items()}, lifetime)

    def explain(self, node: str) -> str:
        """Why ``node`` ran (or hit) in the last run, with the code diff or the changed input/file."""
        if node not in self.graph.nodes:
            raise UsageError(f"unknown node {node!r}.")
        d = self.decision(node)
        if d is None:
            return f"{node}: not part of the last run."
        head = f"{node}: {'hit' if d.hit else 'ran'} — {d.why}"
        return head + ("\n" + d.diff if d.diff else "")

    def decision(self, node: str) -> Decision | None:
        d = self.decisions.get(node)
        if d is None and node in self.hit_entries:
            key, entry, why = self.hit_entries[node]
            from engine.caching.decisions import Decision

            d = Decision(node, True, why, key, entry.code_version, entry)
        return d

    def close(self) -> None:
        self.store.close()


def _versioner(project_root: Path, memo: Any, persisted: VersionMemo) -> CodeVersioner:
    from engine.caching.code_version import CodeVersioner

    return CodeVersioner(project_root, memo, persisted)
