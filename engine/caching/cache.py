from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.caching.code_version import CodeVersioner
from engine.caching.data_version import try_fingerprint
from engine.caching.decisions import CacheStats, Decision
from engine.caching.session import Session
from engine.core.decorators import BEHAVIORS
from engine.core.plan import Plan
from engine.errors import UsageError
from engine.files import FileVersions
from engine.settings import project_settings, resolve_cache_dir
from engine.store import Entry, Store, StoreError, parse_size

if TYPE_CHECKING:
    from engine.core.graph import Node
    from engine.driver import Driver


log = logging.getLogger("engine")

class Cache:
    """Per-driver cache state: the store, code versions of the graph, and the last run's decisions."""

    def __init__(self, driver: Driver, store: Store, *, behaviors: Mapping[str, str], default_behavior: str,
                 max_size: int | None) -> None:
        self.driver = driver
        self.store = store
        self.behaviors = dict(behaviors)
        self.default_behavior = default_behavior
        self.max_size = max_size
        self.versioner = CodeVersioner(driver.project_root, store.memo)
        self.files = FileVersions(store.memo)
        self._code: dict[str, Any] = {}
        self._behavior: dict[str, str] = {}
        self.decisions: dict[str, Decision] = {}
        self.hit_entries: dict[str, tuple[str, Entry, str]] = {}
        self.last: dict[str, int] = {}
        self.by_behavior: dict[str, dict[str, int]] = {}
        self.bytes_written = 0
        self._warned: set[str] = set()
        self._sources_seen: set[tuple[str, str]] = set()
        self._ignore = (str(store.root.resolve()),)

    @classmethod
    def open(cls, driver: Driver, path: str | os.PathLike[str] | None, *, behaviors: Mapping[str, str],
             default_behavior: str | None, max_size: int | str | None, history_limit: int | None) -> Cache:
        settings = project_settings(driver.project_root)
        default_behavior = default_behavior or settings.get("default_behavior") or "default"
        for name, b in [*behaviors.items(), ("default_behavior", default_behavior)]:
            if b not in BEHAVIORS:
                raise UsageError(f"cache behavior {b!r} for {name} is not one of {', '.join(BEHAVIORS)}.")
        unknown = [n for n in behaviors if n not in driver.graph.nodes]
        if unknown:
            raise UsageError(f"cache behavior given for unknown node {unknown[0]!r}.")
        size = max_size if max_size is not None else settings.get("max_size")
        root = resolve_cache_dir(path, driver.project_root, settings)
        try:
            store = Store(root, history_limit=int(history_limit or settings.get("history_limit", 200)))
        except StoreError as exc:
            raise UsageError(f"cannot open the cache at {root}: {exc}; pass --cache-dir or fix permissions.") from None
        return cls(driver, store, behaviors=behaviors, default_behavior=default_behavior,
                   max_size=parse_size(size) if size is not None else None)

    # ------------------------------------------------------------------ versions
    def behavior(self, node: Node) -> str:
        b = self._behavior.get(node.name)
        if b is None:
            b = "disable" if node.sensitive else (self.behaviors.get(node.name) or node.behavior or self.default_behavior)
            self._behavior[node.name] = b
        return b

    def code_version(self, node: Node) -> Any:
        cv = self._code.get(node.name)
        if cv is None:
            extra = f"{node.kind}|{node.version_extra}"
            if node.literals:
                extra += "|" + "|".join(f"{k}={self._literal(v)}" for k, v in sorted(node.literals.items()))
            if node.checks:
                extra += "|checks=" + repr(node.checks)
            cv = self._code[node.name] = self.versioner.version(node.origin, extra=extra)
        return cv

    @staticmethod
    def _literal(v: Any) -> str:
        fp, _ = try_fingerprint(v)
        return fp if fp is not None else repr(v)

    # ------------------------------------------------------------------ runs
    def session(self, run_id: str, plan: Plan, values: Mapping[Any, Any], overrides: Mapping[str, Any]) -> Session:
        return Session(self, run_id, plan, values, overrides, dry=False)

    def predict(self, plan: Plan, values: Mapping[Any, Any], overrides: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return Session(self, "plan", plan, values, overrides, dry=True).predictions()

    # ------------------------------------------------------------------ inspection
    def stats(self) -> CacheStats:
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
        if node not in self.driver.graph.nodes:
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
            d = Decision(node, True, why, key, entry.code_version, entry)
        return d

    def close(self) -> None:
        self.store.close()
