"""Which top-level definitions a save changed, and which nodes reference them: watch mode's change
analysis, built on the cache's own normaliser (:func:`engine.caching.source_analysis.analyze_source`)."""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.caching.source_analysis import analyze_source, content_digest, memo_key, source_lines
from engine.caching.statement_reuse import Span, first_line, partial_tree
from engine.live.protocol import MAX_ANALYSES


def _digest(text: str) -> str:
    import xxhash

    return xxhash.xxh3_64_hexdigest(text.encode())


def _chains(node: ast.AST) -> set[tuple[str, ...]]:
    """Names and attribute chains loaded inside ``node`` (``np.linalg.solve`` -> ('np','linalg','solve'))."""
    out: set[tuple[str, ...]] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Load):
            parts: list[str] = []
            cur: ast.AST = sub
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                out.add((cur.id, *reversed(parts)))
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            out.add((sub.id,))
    return out


@dataclass
class Symbol:
    digest: str
    kind: str  # def | class | assign | import | module
    chains: set[tuple[str, ...]] = field(default_factory=set)
    #: for imports: ("module", dotted) or ("from", dotted, name)
    target: tuple[str, ...] = ()


#: how many files' last analyses a ``CodeIndex`` keeps to start the next one of each from (~1.2 MB held
#: for a 1,000-function file, by tracemalloc)
KEPT_ANALYSES = 16


@dataclass
class ModuleIndex:
    path: str
    module: str
    symbols: dict[str, Symbol]
    #: ``(memo key, analysis)``: the cache's analysis of exactly the bytes indexed, when this parse
    #: made one and was asked to keep it (``keep_analysis``), so the run need not analyse them again
    analysis: tuple[str, dict[str, Any]] | None = None


def _package_of(module: str, is_pkg: bool) -> str:
    return module if is_pkg else module.rpartition(".")[0]


def parse_module(path: str, module: str, source: bytes | None = None,
                 memo: dict[str, tuple[str, set[tuple[str, ...]]]] | None = None, *,
                 keep_analysis: bool = False, previous: dict[str, Any] | None = None) -> ModuleIndex:
    """Per-top-level-name digests and references of one file; raises ``SyntaxError``.

    ``memo`` maps a definition's exact source text to its (digest, references): after a save only
    the definitions whose text changed are normalised again, which keeps a 100-function file at a
    few milliseconds (the AST dump is the expensive part, the parse is not).

    A definition's digest is the cache key's own normalised digest (decorators included), so watch
    mode and the cache cannot disagree on whether it changed: one analysis of the file
    (``analyze_source``, on the tree parsed here, after this walk is done with it) when a definition's
    text is not in the memo. ``keep_analysis``: that analysis goes into ``ModuleIndex.analysis``
    under the cache's memo key for these bytes (watch mode hands it to the run it starts).
    ``previous``: an analysis of an earlier content of the file, which that one starts from, and
    around whose unchanged definitions the file is parsed (``statement_reuse.partial_tree``)."""
    if source is None:
        source = Path(path).read_bytes()
    tree = partial_tree(source, previous) or ast.parse(source, path)  # after an edit: around what it kept
    lines = source_lines(source.decode("utf-8", "surrogateescape")) if memo is not None else []
    is_pkg = Path(path).name == "__init__.py"
    loose: list[str] = []
    #: (name, symbol, its definition's text or None, whether its digest comes from the analysis)
    bound: list[tuple[str, Symbol, str | None, bool]] = []

    def add(name: str, sym: Symbol, text: str | None = None, analysed: bool = False) -> None:
        bound.append((name, sym, text, analysed))

    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # module docstring
    for stmt in body:
        if stmt.__class__ is Span:  # a definition as the last analysis had it: its text is in the memo
            hit = memo.get("".join(lines[stmt.lineno - 1: stmt.end_lineno])) if memo is not None else None
            if hit is not None:
                add(stmt.name, Symbol(hit[0], "class" if stmt.kind == "c" else "def", set(hit[1])))
                continue
            stmt = stmt.parse()
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            kind = "class" if isinstance(stmt, ast.ClassDef) else "def"
            text = None
            if memo is not None:
                text = "".join(lines[first_line(stmt) - 1: stmt.end_lineno])
                hit = memo.get(text)
                if hit is not None:
                    add(stmt.name, Symbol(hit[0], kind, set(hit[1])))
                    continue
            add(stmt.name, Symbol("", kind, _chains(stmt)), text, analysed=True)
            continue
        _bind_other(stmt, module, is_pkg, add, loose)
    analysis = None
    if any(b[3] for b in bound):  # the walk above is done with the tree, which the analysis changes
        analysis = analyze_source(source, path, tree=tree, previous=previous)
    symbols = _symbols(bound, analysis, memo)
    if loose:
        symbols["<module>"] = Symbol(_digest("\n".join(loose)), "module")
    kept = (memo_key(content_digest(source)), analysis) if keep_analysis and analysis is not None else None
    return ModuleIndex(path, module, symbols, kept)


def _bind_other(stmt: ast.stmt, module: str, is_pkg: bool, add: Callable[..., None], loose: list[str]) -> None:
    """A top-level statement that is not a definition: the names an import or an assignment binds,
    each with its symbol (``add``); anything else is part of the module's own ("loose") digest."""
    dump = ast.dump(stmt, include_attributes=False)
    if isinstance(stmt, ast.Import):
        for a in stmt.names:
            local = a.asname or a.name.split(".")[0]
            target = a.name if a.asname else a.name.split(".")[0]
            add(local, Symbol(_digest(f"import {a.name} as {a.asname}"), "import", set(), ("module", target)))
    elif isinstance(stmt, ast.ImportFrom):
        base = stmt.module or ""
        if stmt.level:
            pkg = [x for x in _package_of(module, is_pkg).split(".") if x]
            pkg = pkg[: len(pkg) - (stmt.level - 1)] if stmt.level > 1 else pkg
            base = ".".join([*pkg, *([stmt.module] if stmt.module else [])])
        for a in stmt.names:
            if a.name == "*":
                loose.append(dump)
                continue
            add(a.asname or a.name,
                Symbol(_digest(f"from {base} import {a.name}"), "import", set(), ("from", base, a.name)))
    elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        if not names:
            loose.append(dump)
        for n in names:
            add(n, Symbol(_digest(dump), "assign", _chains(stmt.value) if stmt.value else set()))
    else:
        loose.append(dump)


def _symbols(bound: list[tuple[str, Symbol, str | None, bool]], analysis: dict[str, Any] | None,
             memo: dict[str, tuple[str, set[tuple[str, ...]]]] | None) -> dict[str, Symbol]:
    """The module's names in the order they are bound, a definition's digest from the analysis where
    the memo did not know its text (and the memo told it now)."""
    digests = {d["n"]: _digest(d["d"] + d["dd"]) for d in analysis["defs"] if d["q"] == d["n"]} if analysis else {}
    symbols: dict[str, Symbol] = {}
    for name, sym, text, analysed in bound:
        if analysed:
            sym.digest = digests[name]
            if text is not None and memo is not None:
                memo[text] = (sym.digest, sym.chains)
        old = symbols.get(name)
        if old is not None:  # several statements bind one name: all of them count
            sym = Symbol(_digest(old.digest + sym.digest), sym.kind, old.chains | sym.chains, sym.target or old.target)
        symbols[name] = sym
    return symbols


def module_name(path: Path) -> str:
    from engine.core.loading import dotted_name, package_root

    return dotted_name(path, package_root(path))


class CodeIndex:
    """The parsed project: one ``ModuleIndex`` per file, re-parsed only when that file changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, ModuleIndex] = {}
        self.module_files: dict[str, str] = {}
        self._defs: dict[str, tuple[str, set[tuple[str, ...]]]] = {}
        self._contrib: dict[str, list[tuple[tuple[str, str], tuple[str, str]]]] = {}
        #: ``reverse_refs``' map as last made, and the files whose part of it is in (None: make it anew)
        self._rev: dict[tuple[str, str], set[tuple[str, str]]] | None = None
        self._in_rev: set[str] = set()
        #: the last analysis of the files analysed most recently, which the next analysis of each
        #: starts from (``analyze_source``'s ``previous``); a few files', not every file's
        self._analyses: dict[str, dict[str, Any]] = {}

    def file_for_module(self, module: str) -> str | None:
        f = self.module_files.get(module)
        if f is not None:
            return f
        rel = Path(*module.split(".")) if module else None
        if rel is None:
            return None
        for cand in (self.root / rel.with_suffix(".py"), self.root / rel / "__init__.py"):
            if cand.is_file() and not str(cand.resolve()).startswith(_ENGINE_DIR):
                f = os.path.realpath(cand)
                self.module_files[module] = f
                return f
        return None

    def add(self, path: str, module: str | None = None, *,
            keep_analysis: bool = False) -> tuple[ModuleIndex | None, ModuleIndex | None]:
        """(old, new) index of ``path``; raises ``SyntaxError`` (the old index stays)."""
        module = module or module_name(Path(path))
        self.module_files.setdefault(module, path)
        try:
            if len(self._defs) > 50_000:
                self._defs.clear()
            new = parse_module(path, module, memo=self._defs, keep_analysis=True, previous=self._analyses.get(path))
        except FileNotFoundError:
            self._forget_refs()
            for name in [m for m, f in self.module_files.items() if f == path]:
                del self.module_files[name]  # imports of it resolve to nothing now, as in a new index
            self._analyses.pop(path, None)
            return self.files.pop(path, None), None
        if new.analysis is not None:
            self._analyses.pop(path, None)
            self._analyses[path] = new.analysis[1]
            while len(self._analyses) > KEPT_ANALYSES:
                del self._analyses[next(iter(self._analyses))]
            if not keep_analysis:
                new.analysis = None
        old = self.files.get(path)
        self.files[path] = new
        if old is None or old.symbols.keys() != new.symbols.keys():
            self._forget_refs()  # other files' `from x import y` may now resolve differently
        else:
            stale = self._contrib.pop(path, None)
            if self._rev is not None and path in self._in_rev:
                self._in_rev.discard(path)
                for target, source in stale or ():  # every source is one of this file's: no other file adds it
                    self._rev[target].discard(source)
        return old, new

    def _forget_refs(self) -> None:
        self._contrib.clear()
        self._rev = None

    def local_imports(self, mi: ModuleIndex) -> set[str]:
        """Files of project modules that ``mi`` imports (so they are watched and indexed too)."""
        out = set()
        for sym in mi.symbols.values():
            if sym.kind != "import":
                continue
            if sym.target[0] == "module":
                f = self.file_for_module(sym.target[1])
            else:
                f = self.file_for_module(f"{sym.target[1]}.{sym.target[2]}") or self.file_for_module(sym.target[1])
            if f:
                out.add(f)
        return out

    def _resolve(self, mi: ModuleIndex, chain: tuple[str, ...]) -> tuple[str, str] | None:
        if chain[0] in mi.symbols:
            return (mi.path, chain[0])
        return None

    def _import_target(self, sym: Symbol, chains: Iterable[tuple[str, ...]]) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        if sym.target[0] == "from":
            _, base, name = sym.target
            sub = self.file_for_module(f"{base}.{name}")
            if sub is not None:  # `from pkg import module`: references reach into it via chains
                for ch in chains:
                    if len(ch) > 1 and ch[1] in self.files.get(sub, ModuleIndex(sub, "", {})).symbols:
                        out.add((sub, ch[1]))
                return out
            f = self.file_for_module(base)
            if f is not None:
                out.add((f, name))
        else:
            mod = sym.target[1]
            for ch in chains:
                parts = [mod, *ch[1:]]
                for i in range(len(parts) - 1, 0, -1):
                    f = self.file_for_module(".".join(parts[:i]))
                    if f is not None:
                        out.add((f, parts[i]))
                        break
        return out

    def reverse_refs(self) -> dict[tuple[str, str], set[tuple[str, str]]]:
        """referenced symbol -> symbols referencing it (the index's own map: read it, never change
        it). Per-file contributions are kept between saves and so is the map, so a save re-derives
        and puts in only the saved file's references (~1 ms a save at 1,000 definitions)."""
        rev = self._rev
        if rev is None:
            rev, self._in_rev = {}, set()
            self._rev = rev
        for path in self.files:
            if path in self._in_rev:
                continue
            contrib = self._contrib.get(path)
            if contrib is None:
                contrib = self._contrib[path] = self._references_of(path)
            for target, source in contrib:
                rev.setdefault(target, set()).add(source)
            self._in_rev.add(path)
        return rev

    def _references_of(self, path: str) -> list[tuple[tuple[str, str], tuple[str, str]]]:
        out: list[tuple[tuple[str, str], tuple[str, str]]] = []
        syms = self.files[path].symbols
        #: what an import is used as resolves the same for every definition that uses it so (100
        #: functions calling one imported helper: one lookup, not 100 rounds of stat calls)
        resolved: dict[tuple[str, frozenset[tuple[str, ...]]], set[tuple[str, str]]] = {}
        for name, sym in syms.items():
            me = (path, name)
            if sym.kind == "import":
                continue
            by_head: dict[str, list[tuple[str, ...]]] = {}
            for ch in sym.chains:
                if ch[0] in syms and ch[0] != name:
                    by_head.setdefault(ch[0], []).append(ch)
            for head, chains in by_head.items():
                out.append(((path, head), me))
                target = syms[head]
                if target.kind == "import":
                    key = (head, frozenset(chains))
                    got = resolved.get(key)
                    if got is None:
                        got = resolved[key] = self._import_target(target, chains)
                    out.extend((t, (path, head)) for t in got)
        return out


def hand_over(mi: ModuleIndex, analyses: dict[str, str]) -> None:
    """Move the analysis ``mi`` kept into ``analyses`` (memo key -> JSON) for the run to use, within
    the request's budget (``MAX_ANALYSES``); the index itself never holds one for long (it would then
    hold one for every file)."""
    got, mi.analysis = mi.analysis, None
    if got is None:
        return
    import json

    text = json.dumps(got[1], separators=(",", ":"))
    if sum(map(len, analyses.values())) + len(text) <= MAX_ANALYSES:
        analyses[got[0]] = text


def diff_symbols(old: ModuleIndex | None, new: ModuleIndex | None) -> tuple[set[str], set[str], set[str]]:
    """(changed, added, removed) top-level names."""
    o = old.symbols if old else {}
    n = new.symbols if new else {}
    changed = {k for k in o.keys() & n.keys() if o[k].digest != n[k].digest}
    return changed, set(n) - set(o), set(o) - set(n)


#: Ripple's own package is never "project code", even in a checkout where it sits beside the pipeline.
_ENGINE_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep
