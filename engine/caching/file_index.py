"""A file's analysis as the code versioner reads it: its defs looked up by the line a code object
starts at or by qualname, and what a version takes from them (*facts*), which
``engine.caching.version_memo`` keeps to check against a later content of the file."""

from __future__ import annotations

from typing import Any

from engine._json import dumps as json_dumps
from engine.caching.data_version import combine
from engine.caching.source_analysis import _h


class FileIndex:
    """One analysed file (``analyze_source``'s output for one content), indexed by line and qualname."""

    __slots__ = ("path", "content_digest", "defs", "module_digest", "by_line", "by_qual")

    def __init__(self, path: str, content_digest: str, data: dict[str, Any]) -> None:
        self.path = path
        self.content_digest = content_digest
        self.defs: list[dict[str, Any]] = data["defs"]
        self.module_digest: str = data["m"]
        self.by_line: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.by_qual: dict[str, list[dict[str, Any]]] = {}
        effects = data.get("fx")  # what the module does at import besides binding names: part of every def
        for d in self.defs:
            if effects:
                d["d"] = combine(d["d"], effects)
            d["hd"] = combine(d["d"], d["dd"]) if d["dd"] else d["d"]
            self.by_line.setdefault((d["n"], d["f"]), []).append(d)
            if d["l"] != d["f"]:
                self.by_line.setdefault((d["n"], d["l"]), []).append(d)
            self.by_qual.setdefault(d["q"], []).append(d)

    def function(self, name: str, line: int, qual: str) -> dict[str, Any] | None:
        """The def a function's code object ``name`` starting at ``line`` (qualname ``qual``) was
        compiled from; None when the file has none there, or cannot tell several lambdas apart."""
        cands = self.by_line.get((name, line))
        if not cands:
            return None
        if len(cands) > 1:
            cands = [c for c in cands if c["q"] == qual] or cands
            if name == "<lambda>" and len(cands) > 1:
                return None  # several lambdas on one line: bytecode tells them apart
        return cands[0]

    def classes(self, qual: str) -> list[dict[str, Any]]:
        """Every class def with qualname ``qual`` (a redefinition, an if/else: all of them count)."""
        return [e for e in self.by_qual.get(qual, ()) if e["k"] == "c"]

    # What a version took from this file, as ``VersionMemo`` keeps it to check against a later content
    # of the file (the trail's facts): a function's def, the defs of a class, the whole module.
    def function_fact(self, name: str, line: int, qual: str) -> list[Any]:
        """A def by its qualname where it is the file's only one of that name (lines added above it
        keep the fact), else by its line too (``name``: the qualname's last part)."""
        if len(self.by_qual.get(qual, ())) == 1:
            return ["q", qual, self.fact(self.function(name, line, qual))]
        return [line, qual, self.fact(self.function(name, line, qual))]

    def locates(self, name: str, line: int, qual: str) -> bool:
        """Whether code ``name`` starting at ``line`` is the file's only def of qualname ``qual``."""
        only = self.by_qual.get(qual, ())
        return len(only) == 1 and self.function(name, line, qual) is only[0]

    def class_fact(self, qual: str) -> list[Any]:
        return ["c", qual, combine(*map(self.fact, self.classes(qual)))]

    def module_fact(self) -> list[Any]:
        return ["m", self.module_digest]

    def fact_now(self, fact: list[Any]) -> list[Any] | None:
        """``fact`` as this content gives it (None for a fact of another shape)."""
        kind = fact[0]
        if isinstance(kind, int) and len(fact) == 3:
            return self.function_fact(fact[1].rpartition(".")[2], kind, fact[1])
        if kind == "q" and len(fact) == 3:
            only = self.by_qual.get(fact[1], ())
            return ["q", fact[1], self.fact(only[0]) if len(only) == 1 else ""]
        if kind == "c" and len(fact) == 3:
            return self.class_fact(fact[1])
        if kind == "m" and len(fact) == 2:
            return self.module_fact()
        return None

    @staticmethod
    def fact(entry: dict[str, Any] | None) -> str:
        """What a version made of ``entry`` took from it: its digests and references (the same
        digests under other imports resolve elsewhere), as one digest ("" for no entry); 64 bits,
        as it is kept for every def a version reached and only ever compared with the same def's."""
        if entry is None:
            return ""
        got = entry.get("fp")
        if got is None:
            got = entry["fp"] = _h(json_dumps([entry["k"], entry["d"], entry["hd"], entry["r"], entry["dr"]]))[:16]
        return got
