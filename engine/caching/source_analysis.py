"""Source analysis: one pass per file content, the normalised AST digests and references of every
definition in a file, which the code versioner looks functions up in.

Why a module of its own: parsing and normalising is pure (source in, JSON-able facts out), so it is
memoised per content in the store and shared by the watcher's change analysis
(``engine.live.code_index``), while the versioner resolves those facts against live objects.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import xxhash

from engine.caching.data_version import combine
from engine.files import RACY_WINDOW_NS

_NORMALIZER_VERSION = "2"  # 2: comprehension variables and lambda parameters renamed
_PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
_MEMO_PREFIX = f"ast:{_PY}:{_NORMALIZER_VERSION}:"
_EVAL_LIKE = frozenset({"locals", "vars", "eval", "exec", "dir"})


def _h(s: str) -> str:
    return xxhash.xxh3_128_hexdigest(s.encode("utf-8", "surrogatepass"))


# ==================================================================================================
# Source analysis: one pass per file content


class _Scope:
    __slots__ = ("kind", "parent", "depth", "bound", "params", "globals", "nonlocals", "fixed", "imports",
                 "no_rename", "renames")

    def __init__(self, kind: str, parent: _Scope | None) -> None:
        self.kind = kind  # module | function | lambda | class | comprehension
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.bound: set[str] = set()
        self.params: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.fixed: set[str] = set()  # bound in ways we must not rename (import, def, class, match)
        self.imports: dict[str, list[Any]] = {}
        self.no_rename = False
        self.renames: dict[str, str] = {}


class _Def:
    __slots__ = ("node", "name", "qual", "kind", "refs", "deco_refs")

    def __init__(self, node: ast.AST, name: str, qual: str, kind: str) -> None:
        self.node = node
        self.name = name
        self.qual = qual
        self.kind = kind
        self.refs: dict[str, list[Any]] = {}
        self.deco_refs: dict[str, list[Any]] = {}


class _Analyzer(ast.NodeVisitor):
    """Pass 1: scopes, bindings and every name occurrence (with the defs that contain it)."""

    def __init__(self) -> None:
        self.module_scope = _Scope("module", None)
        self.scope = self.module_scope
        self.defs: list[_Def] = []
        self.def_stack: list[_Def] = []
        self.qual_stack: list[str] = []
        self.deco_owner: _Def | None = None
        # (node, scope, containing defs, decorator owner, chain)
        self.occurrences: list[tuple[Any, _Scope, tuple[_Def, ...], _Def | None, list[str]]] = []
        self.chains: dict[int, list[str]] = {}
        self.chained: set[int] = set()

    # -- helpers ---------------------------------------------------------------------------------
    def _qual(self, name: str, kind_of_parent: str | None) -> str:
        if not self.qual_stack:
            return name
        parent = self.qual_stack[-1]
        return f"{parent}.<locals>.{name}" if kind_of_parent in ("function", "lambda") else f"{parent}.{name}"

    def _bind_fixed(self, name: str) -> None:
        self.scope.bound.add(name)
        self.scope.fixed.add(name)

    def _record(self, node: Any, name: str) -> None:
        chain = self.chains.get(id(node), [name])
        self.occurrences.append((node, self.scope, tuple(self.def_stack), self.deco_owner, chain))

    def _visit_list(self, nodes: Any) -> None:
        for n in nodes:
            if n is not None:
                self.visit(n)

    def _enclosing_kind(self) -> str | None:
        return self.def_stack[-1].kind if self.def_stack else None

    # -- definitions -----------------------------------------------------------------------------
    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        is_lambda = isinstance(node, ast.Lambda)
        name = "<lambda>" if is_lambda else node.name
        parent_kind = {"f": "function", "l": "lambda", "c": "class"}.get(self._enclosing_kind() or "", None)
        d = _Def(node, name, self._qual(name, parent_kind), "l" if is_lambda else "f")
        self.defs.append(d)
        if not is_lambda:
            self._bind_fixed(name)
            prev_owner = self.deco_owner
            self.deco_owner = d
            self._visit_list(node.decorator_list)
            self.deco_owner = prev_owner
        self.def_stack.append(d)
        args = node.args
        self._visit_list(args.defaults)
        self._visit_list(args.kw_defaults)
        if not is_lambda:
            for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if a is not None and a.annotation is not None:
                    self.visit(a.annotation)
            if node.returns is not None:
                self.visit(node.returns)
        outer = self.scope
        self.scope = _Scope("lambda" if is_lambda else "function", outer)
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if a is not None:
                self.scope.params.add(a.arg)
        if is_lambda:
            for i, a in enumerate((*args.posonlyargs, *args.args, args.vararg, args.kwarg)):
                if a is not None:
                    self.scope.renames[a.arg] = a.arg = f"{self.scope.depth}#p{i}"
        self.qual_stack.append(d.qual)
        if is_lambda:
            self.visit(node.body)
        else:
            self._visit_list(node.body)
        self.qual_stack.pop()
        self.scope = outer
        self.def_stack.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function
    visit_Lambda = _visit_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        parent_kind = {"f": "function", "l": "lambda", "c": "class"}.get(self._enclosing_kind() or "", None)
        d = _Def(node, node.name, self._qual(node.name, parent_kind), "c")
        self.defs.append(d)
        self._bind_fixed(node.name)
        prev_owner = self.deco_owner
        self.deco_owner = d
        self._visit_list(node.decorator_list)
        self.deco_owner = prev_owner
        self.def_stack.append(d)
        self._visit_list(node.bases)
        self._visit_list(node.keywords)
        outer = self.scope
        self.scope = _Scope("class", outer)
        self.qual_stack.append(d.qual)
        self._visit_list(node.body)
        self.qual_stack.pop()
        self.scope = outer
        self.def_stack.pop()

    def _visit_comprehension(self, node: Any) -> None:
        gens = node.generators
        self.visit(gens[0].iter)
        outer = self.scope
        self.scope = _Scope("comprehension", outer)
        for i, g in enumerate(gens):
            self.visit(g.target)
            if i:
                self.visit(g.iter)
            self._visit_list(g.ifs)
        if isinstance(node, ast.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        self.scope = outer

    visit_ListComp = _visit_comprehension
    visit_SetComp = _visit_comprehension
    visit_GeneratorExp = _visit_comprehension
    visit_DictComp = _visit_comprehension

    # -- bindings --------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            bound = a.asname or a.name.split(".")[0]
            self._bind_fixed(bound)
            self.scope.imports[bound] = ["i", 0, a.name if a.asname else a.name.split(".")[0]]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for a in node.names:
            if a.name == "*":
                continue
            bound = a.asname or a.name
            self._bind_fixed(bound)
            self.scope.imports[bound] = ["i", node.level, node.module or "", a.name]

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.globals.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.scope.nonlocals.update(node.names)
        s = self.scope.parent
        while s is not None:  # a name some inner scope declares nonlocal is never renamed
            s.fixed.update(node.names)
            s = s.parent

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.scope.bound.add(node.name)
            self._record(node, node.name)
        self._visit_list(node.body)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self.generic_visit(node)
        if node.name:  # a capture pattern binds an ordinary local: renamed like one
            self.scope.bound.add(node.name)
            self._record(node, node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.scope.bound.add(node.name)
            self._record(node, node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self._bind_fixed(node.rest)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        s = self.scope
        while s.kind == "comprehension" and s.parent is not None:
            s = s.parent
        s.bound.add(node.target.id)
        prev, self.scope = self.scope, s
        self._record(node.target, node.target.id)
        self.scope = prev

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) not in self.chained:
            attrs = []
            cur: Any = node
            while isinstance(cur, ast.Attribute):
                self.chained.add(id(cur))
                attrs.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                self.chains[id(cur)] = [cur.id, *reversed(attrs)]
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if fname in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and not node.args[0].value.startswith("."):
            ref = ["i", 0, node.args[0].value]
            for d in self.def_stack:
                d.refs[json.dumps(ref)] = ref
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.scope.bound.add(node.id)
        elif node.id in _EVAL_LIKE:
            s: _Scope | None = self.scope
            while s is not None:
                s.no_rename = True
                s = s.parent
        self._record(node, node.id)


def _resolve_scope(name: str, s: _Scope) -> _Scope | None:
    """The scope a name refers to from scope ``s`` (None: module global / builtin)."""
    if name in s.globals or s.kind == "module":
        return None
    if name in s.nonlocals:
        p = s.parent
    else:
        if name in s.bound or name in s.params:
            return s
        p = s.parent
    while p is not None and p.kind != "module":
        if p.kind != "class":
            if name in p.globals:
                return None
            if name in p.bound or name in p.params:
                return p
        p = p.parent
    return None


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                del body[0]


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def analyze_source(source: str | bytes, filename: str = "<unknown>") -> dict[str, Any]:
    """Parse one module's source into the JSON-able per-definition index that the memo stores.

    For every def/class/lambda (at any depth): name, qualname within the module, kind, first line
    (decorators included), def line, end line, normalised digest (decorators excluded), decorator
    digest, and the global names / attribute chains / local imports it references.
    """
    tree = ast.parse(source, filename=filename)
    _strip_docstrings(tree)
    an = _Analyzer()
    an.visit(tree)
    # Pass 2: resolve every occurrence, rename function locals, attribute references to defs.
    for node, scope, defs, owner, chain in an.occurrences:
        name = chain[0]
        target = _resolve_scope(name, scope)
        if target is None:
            if hasattr(builtins, name) and name not in an.module_scope.bound:
                ref = None
            else:
                ref = ["g", *chain]
        elif name in target.imports:
            ref = [*target.imports[name], *chain[1:]]
        else:
            ref = None
            if target.kind == "lambda" and name in target.renames and isinstance(node, ast.Name):
                node.id = target.renames[name]
            elif (target.kind in ("function", "comprehension") and name not in target.fixed
                    and name not in target.params and not target.no_rename):
                canon = target.renames.get(name)
                if canon is None:
                    canon = target.renames[name] = f"{target.depth}#{len(target.renames)}"
                if isinstance(node, ast.Name):
                    node.id = canon
                else:
                    node.name = canon
        if ref is not None and isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            key = json.dumps(ref)
            for d in defs:
                d.refs[key] = ref
            if owner is not None:
                owner.deco_refs[key] = ref
    out_defs = []
    for d in an.defs:
        node = d.node
        decos = getattr(node, "decorator_list", None) or []
        first = min([node.lineno, *(x.lineno for x in decos)])
        if decos:
            node.decorator_list = []
            digest = _h(_dump(node))
            node.decorator_list = decos
            deco_digest = _h(_dump(ast.Module(body=[ast.Expr(x) for x in decos], type_ignores=[])))
        else:
            digest = _h(_dump(node))
            deco_digest = ""
        out_defs.append({
            "n": d.name, "q": d.qual, "k": d.kind, "f": first, "l": node.lineno,
            "e": getattr(node, "end_lineno", node.lineno) or node.lineno, "d": digest, "dd": deco_digest,
            "r": sorted(d.refs.values(), key=json.dumps),
            "dr": sorted(d.deco_refs.values(), key=json.dumps),
        })
    return {"defs": out_defs, "m": _h(_dump(tree))}


class _FileInfo:
    """In-process view of one analysed file with lookup indexes."""

    __slots__ = ("path", "content_digest", "defs", "module_digest", "by_line", "by_qual")

    def __init__(self, path: str, content_digest: str, data: dict[str, Any]) -> None:
        self.path = path
        self.content_digest = content_digest
        self.defs: list[dict[str, Any]] = data["defs"]
        self.module_digest: str = data["m"]
        self.by_line: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.by_qual: dict[str, list[dict[str, Any]]] = {}
        for d in self.defs:
            d["hd"] = combine(d["d"], d["dd"]) if d["dd"] else d["d"]
            self.by_line.setdefault((d["n"], d["f"]), []).append(d)
            if d["l"] != d["f"]:
                self.by_line.setdefault((d["n"], d["l"]), []).append(d)
            self.by_qual.setdefault(d["q"], []).append(d)


class SourceFiles:
    """Source files as the versioner sees them: each read once per ``refresh``, analysed once per
    content (the analysis is memoised in the store), with their lines for ``explain``."""

    def __init__(self, memo: MutableMapping[str, str]) -> None:
        self.memo = memo
        #: path -> (signature when read, analysis or None); the signature is what ``version_memo`` records
        self.seen: dict[str, tuple[tuple[int, int, int, int, int], _FileInfo | None]] = {}
        self._by_content: dict[str, _FileInfo] = {}
        self._checked: set[str] = set()  # files already read since the last refresh()
        self._line_cache: dict[str, tuple[tuple[int, int], list[str]]] = {}

    def refresh(self) -> None:
        self._checked = set()

    def info(self, path: str) -> _FileInfo | None:
        """Analysed index of a source file; parses at most once per content (memo-backed)."""
        if path in self._checked:
            hit = self.seen.get(path)
            if hit is not None:
                return hit[1]
        self._checked.add(path)
        try:
            st = os.stat(path)
        except OSError:
            return None
        sig = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns, st.st_dev)
        hit = self.seen.get(path)
        # A file written in the last 2 s may change again without changing (mtime, size): only
        # older files are trusted by signature; fresh ones are re-read (never re-parsed if equal).
        if hit is not None and hit[0] == sig and time.time_ns() - st.st_mtime_ns > RACY_WINDOW_NS:
            return hit[1]
        try:
            with open(path, "rb") as f:
                content = f.read()
        except OSError:
            return None
        digest = xxhash.xxh3_128_hexdigest(content)
        info = self._by_content.get(digest)
        if info is None or info.path != path:
            key = _MEMO_PREFIX + digest
            raw = self.memo.get(key)
            data = None
            if raw is not None:
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
            if data is None:
                try:
                    data = analyze_source(content, path)
                except (SyntaxError, ValueError, RecursionError):
                    self.seen[path] = (sig, None)
                    return None
                self.memo[key] = json.dumps(data, separators=(",", ":"))
            info = _FileInfo(path, digest, data)
            self._by_content[digest] = info
        self.seen[path] = (sig, info)
        return info

    def lines(self, path: str) -> list[str] | None:
        try:
            st = os.stat(path)
            sig = (st.st_mtime_ns, st.st_size)
            hit = self._line_cache.get(path)
            if hit is not None and hit[0] == sig:
                return hit[1]
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines(keepends=True)
        except OSError:
            return None
        self._line_cache[path] = (sig, lines)
        return lines
