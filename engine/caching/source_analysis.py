"""Source analysis: one pass per file content, the normalised AST digests and references of every
definition in a file, which the code versioner looks functions up in; after an edit, a pass over
the statements whose text changed (``engine.caching.statement_reuse``).

Why a module of its own: parsing and normalising is pure (source in, JSON-able facts out), so it is
memoised per content in the store and shared by the watcher's change analysis
(``engine.live.code_index``), while the versioner resolves those facts against live objects.
"""

from __future__ import annotations

import ast
import builtins
import sys
from typing import Any

import xxhash

from engine._gc import paused
from engine._json import dumps as json_dumps
from engine.caching.ast_dump import dumper
from engine.caching.module_effects import effects_of
from engine.caching.statement_reuse import Reused, Span, first_line, record, reusable, statement_segments

# 2: comprehension variables and lambda parameters renamed. The digests hash ast.dump's text as it
# reads on 3.11 and 3.12 (engine.caching.ast_dump); 3.13 formats it differently, so there the values are new (3).
# 4 and 5: and the module's top-level statements run for their effects ("fx"). 6 and 7: the module's
# digest ("m") is over its statements' digests, which are kept ("s") for a later content to reuse.
_NORMALIZER_VERSION = "6" if sys.version_info < (3, 13) else "7"
_PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
_MEMO_PREFIX = f"ast:{_PY}:{_NORMALIZER_VERSION}:"
_EVAL_LIKE = frozenset({"locals", "vars", "eval", "exec", "dir"})
_HANDLERS: dict[type, Any] = {}  # node type -> the _Analyzer method that walks it (_handler)


def _h(s: str) -> str:
    return xxhash.xxh3_128_hexdigest(s.encode("utf-8", "surrogatepass"))


def content_digest(content: bytes) -> str:
    """The digest a file's analysis is memoised under: of its exact bytes, so an analysis made by
    another process (watch mode's watcher) can only ever be used for the very content it was made of."""
    return xxhash.xxh3_128_hexdigest(content)


def memo_key(digest: str) -> str:
    """Memo key of the analysis of the content whose ``content_digest`` is ``digest`` (for this Python
    and normaliser version: another version's analyses are never looked up)."""
    return _MEMO_PREFIX + digest


def last_key(path: str) -> str:
    """Memo key of the content digest of ``path`` last analysed (whose analysis a later content of
    the file starts from: ``analyze_source``'s ``previous``)."""
    return _MEMO_PREFIX + "last\0" + path


def source_lines(text: str) -> list[str]:
    """``text``'s lines as Python numbers them (ends kept, as ``\\n``): a line ends at ``\\n``, ``\\r\\n``
    or ``\\r`` only. ``str.splitlines`` also ends one at a form feed, ``\\x1c``-``\\x1e``, ``\\x85``,
    ``\\u2028`` and ``\\u2029``, and every line number below one of those in a comment or a string
    would then point at the wrong text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


class _Scope:
    __slots__ = ("kind", "parent", "depth", "bound", "params", "globals", "nonlocals", "fixed", "imports",
                 "no_rename", "renames")

    def __init__(self, kind: str, parent: _Scope | None) -> None:
        self.kind, self.parent = kind, parent  # kind: module | function | lambda | class | comprehension
        self.depth = 0 if parent is None else parent.depth + 1
        self.bound, self.params, self.globals, self.nonlocals = set(), set(), set(), set()  # of str
        self.fixed: set[str] = set()  # bound in ways we must not rename (import, def, class, match)
        self.imports: dict[str, list[Any]] = {}
        self.no_rename = False
        self.renames: dict[str, str] = {}


class _Def:
    __slots__ = ("node", "name", "qual", "kind", "refs", "deco_refs")

    def __init__(self, node: ast.AST, name: str, qual: str, kind: str) -> None:
        self.node, self.name, self.qual, self.kind = node, name, qual, kind
        # keyed by tuple(ref): a list's identity is its items, as it was with json.dumps(ref)
        self.refs: dict[tuple[Any, ...], list[Any]] = {}
        self.deco_refs: dict[tuple[Any, ...], list[Any]] = {}


def _drop_docstring(body: list[Any]) -> list[Any]:
    """Docstrings never change a digest; dropped as the walk reaches each body (a walk of its own
    over every node, to find the bodies, was a sixth of the analysis)."""
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        del body[0]
    return body


class _Analyzer(ast.NodeVisitor):
    """Pass 1: scopes, bindings and every name occurrence (with the defs that contain it)."""

    def __init__(self) -> None:
        self.scope = self.module_scope = _Scope("module", None)
        self.defs: list[_Def] = []
        self.def_stack: tuple[_Def, ...] = ()  # a tuple: every occurrence keeps it as it was
        self.qual_stack: list[str] = []
        self.deco_owner: _Def | None = None
        # (node, scope, containing defs, decorator owner, chain)
        self.occurrences: list[tuple[Any, _Scope, tuple[_Def, ...], _Def | None, list[str]]] = []
        self.chains: dict[int, list[str]] = {}
        self.chained: set[int] = set()

    def visit(self, node: Any) -> None:  # NodeVisitor's, without building a method name per node
        (_HANDLERS.get(type(node)) or _handler(type(node)))(self, node)

    def _qual(self, name: str) -> str:
        if not self.qual_stack:
            return name
        parent, local = self.qual_stack[-1], self.def_stack and self.def_stack[-1].kind in ("f", "l")
        return f"{parent}.<locals>.{name}" if local else f"{parent}.{name}"

    def _bind_local(self, node: Any, name: str) -> None:
        self.scope.bound.add(name)
        self._record(node, name)

    def _bind_fixed(self, name: str) -> None:
        self.scope.bound.add(name)
        self.scope.fixed.add(name)

    def _record(self, node: Any, name: str) -> None:
        chain = self.chains.get(id(node), [name])
        self.occurrences.append((node, self.scope, self.def_stack, self.deco_owner, chain))

    def _visit_list(self, nodes: Any) -> None:
        for n in nodes:
            if n is not None:
                self.visit(n)

    # -- definitions -----------------------------------------------------------------------------
    def _open_def(self, node: Any, name: str, kind: str) -> _Def:
        """Listed before the defs inside it (the output's order); decorators are walked in the
        enclosing scope, owned by the def (its "dr"), before the def encloses what follows."""
        d = _Def(node, name, self._qual(name), kind)
        self.defs.append(d)
        if kind != "l":
            self._bind_fixed(name)
            prev_owner, self.deco_owner = self.deco_owner, d
            self._visit_list(node.decorator_list)
            self.deco_owner = prev_owner
        self.def_stack = (*self.def_stack, d)
        return d

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        is_lambda = isinstance(node, ast.Lambda)
        outer_defs = self.def_stack
        d = self._open_def(node, "<lambda>" if is_lambda else node.name, "l" if is_lambda else "f")
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
            self._visit_list(_drop_docstring(node.body))
        self.qual_stack.pop()
        self.scope = outer
        self.def_stack = outer_defs

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        outer_defs = self.def_stack
        d = self._open_def(node, node.name, "c")
        self._visit_list(node.bases)
        self._visit_list(node.keywords)
        outer = self.scope
        self.scope = _Scope("class", outer)
        self.qual_stack.append(d.qual)
        self._visit_list(_drop_docstring(node.body))
        self.qual_stack.pop()
        self.scope = outer
        self.def_stack = outer_defs

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
        self._visit_list((node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,))
        self.scope = outer

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _visit_comprehension

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
            self._bind_local(node, node.name)
        self._visit_list(node.body)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self.generic_visit(node)
        if node.name:  # a capture pattern binds an ordinary local: renamed like one
            self._bind_local(node, node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._bind_local(node, node.name)

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
                d.refs[tuple(ref)] = ref
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


def _handler(cls: type) -> Any:
    """A constant, a context or an operator holds no node: those are not walked at all."""
    h = getattr(_Analyzer, "visit_" + cls.__name__, None)
    if h is None or h is ast.NodeVisitor.visit_Constant:  # (which only forwards to visit_Num & co)
        h = (lambda an, node: None) if cls is ast.Constant or not cls._fields else _Analyzer.generic_visit
    _HANDLERS[cls] = h
    return h


def _resolve_scope(name: str, s: _Scope) -> _Scope | None:
    """The scope a name refers to from scope ``s`` (None: module global / builtin)."""
    if name in s.globals or s.kind == "module":
        return None
    if name not in s.nonlocals and (name in s.bound or name in s.params):
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


def analyze_source(source: str | bytes, filename: str = "<unknown>", *, tree: ast.Module | None = None,
                   previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parse one module's source into the JSON-able per-definition index that the memo stores.
    ``tree``: ``ast.parse(source, filename)`` if the caller has it already (watch mode does), or the
    tree ``statement_reuse.partial_tree`` gives after an edit; the analysis changes it in place. ``previous``: an analysis of another content of the file, whose
    top-level statements still written alike are taken from it, not walked again
    (``engine.caching.statement_reuse``).

    For every def/class/lambda (at any depth): name, qualname within the module, kind, first line
    (decorators included), def line, end line, normalised digest (decorators excluded), decorator
    digest, and the global names / attribute chains / local imports it references; the module's
    digest ("m", over its statements' digests), the digest of what it runs for its effects ("fx"),
    its statements as ``previous`` needs them ("s") and its number of lines ("n").

    The garbage collector is paused meanwhile: the tree is many small objects that live until the
    end and form no cycles worth collecting, and collections it triggered cost ~15% of the time.
    """
    with paused():
        return _analyze(source, filename, tree, previous)


def _analyze(source: str | bytes, filename: str, tree: ast.Module | None,
             previous: dict[str, Any] | None) -> dict[str, Any]:
    if tree is None:
        tree = ast.parse(source, filename=filename)
    body = tree.body
    head = body[0] if body else None
    _drop_docstring(body)
    after = head.end_lineno or 0 if head is not None and (not body or body[0] is not head) else 0
    effects = {id(stmt) for stmt in effects_of(body)}
    firsts, segs, n_lines = statement_segments(source, body, after)
    known = reusable(previous)
    an = _Analyzer()  # one for the file: a statement's pass 1 is a stretch of its records (_walk)
    module_bound: set[str] = set()
    units: list[tuple[ast.stmt, str, int, Reused | _Walk, Any]] = []
    for stmt, seg, first in zip(body, segs, firsts, strict=True):
        got: Reused | _Walk | None = known.get(seg) if known and seg and id(stmt) not in effects else None
        taken = got.at(seg, first) if got is not None else None
        if got is None or taken is None:
            stmt = stmt.parse() if stmt.__class__ is Span else stmt
            got = _walk(an, stmt)
        module_bound.update(got.bound)
        units.append((stmt, seg, first, got, taken))
    dumps: dict[int, tuple[str, str]] = {}
    fmt = dumper(dumps)
    out_defs: list[dict[str, Any]] = []
    records, digests, effect_dumps = [], [], []
    occurrences, defs = an.occurrences, an.defs
    for stmt, seg, first, got, taken in units:
        if got.__class__ is Reused:
            if got.holds(module_bound):
                out_defs += taken[0]
                records.append(taken[1])
                digests.append(got.digest)
                continue
            stmt = stmt.parse() if stmt.__class__ is Span else stmt
            got = _walk(an, stmt)  # a builtin it reads is bound by the module now, or no longer
        checks = _resolve(occurrences[got.occurrences], module_bound) if got.occurrences.stop > got.occurrences.start else {}
        dump = fmt(stmt)
        if effects and id(stmt) in effects:
            effect_dumps.append(dump)
        digest = _h(dump)
        mine = [_entry(d, dumps) for d in defs[got.defs]]
        out_defs += mine
        records.append(record(seg, first, digest, len(mine), sorted(got.bound), checks))
        digests.append(digest)
    return {"defs": out_defs, "m": _h("\0".join(digests)), "fx": _h("\0".join(effect_dumps)) if effect_dumps else "",
            "s": records, "n": n_lines}


class _Walk:
    """One top-level statement's pass 1: where its occurrences and defs are in the file's analyzer,
    and the names it binds at module level."""

    __slots__ = ("occurrences", "defs", "bound")

    def __init__(self, occurrences: slice, defs: slice, bound: set[str]) -> None:
        self.occurrences, self.defs, self.bound = occurrences, defs, bound


def _walk(an: _Analyzer, stmt: ast.stmt) -> _Walk:
    """Pass 1 over one statement; the module scope's bindings start afresh for the next (nothing else
    of the module scope is ever read: module-level names are globals, resolved at run time)."""
    o, d = len(an.occurrences), len(an.defs)
    an.visit(stmt)
    bound, an.module_scope.bound = an.module_scope.bound, set()
    return _Walk(slice(o, len(an.occurrences)), slice(d, len(an.defs)), bound)


def _resolve(occurrences: list[Any], module_bound: set[str]) -> dict[str, bool]:
    """Pass 2 over one statement: resolve every occurrence, rename function locals, attribute
    references to defs. Returns the builtin names read as globals, each with whether the module
    binds it (which decides whether it is a reference): what a reuse of the statement checks."""
    checks: dict[str, bool] = {}
    for node, scope, defs, owner, chain in occurrences:
        name = chain[0]
        target = _resolve_scope(name, scope)
        if target is None:
            if hasattr(builtins, name):
                shadowed = checks[name] = name in module_bound
                ref = ["g", *chain] if shadowed else None
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
                setattr(node, "id" if isinstance(node, ast.Name) else "name", canon)
        if ref is not None and isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            key = tuple(ref)
            for d in defs:
                d.refs[key] = ref
            if owner is not None:
                owner.deco_refs[key] = ref
    return checks


def _entry(d: _Def, dumps: dict[int, tuple[str, str]]) -> dict[str, Any]:
    node: Any = d.node
    dump, deco_dump = dumps[id(node)]
    return {
        "n": d.name, "q": d.qual, "k": d.kind, "f": first_line(node),
        "l": node.lineno, "e": getattr(node, "end_lineno", node.lineno) or node.lineno, "d": _h(dump),
        "dd": _h(deco_dump) if deco_dump else "",
        "r": sorted(d.refs.values(), key=json_dumps),
        "dr": sorted(d.deco_refs.values(), key=json_dumps),
    }
