"""The fast source analysis (``engine.caching.source_analysis.analyze_source``) against the one it
replaced, kept below verbatim: ``ast.NodeVisitor`` dispatch, docstrings stripped over ``ast.walk``,
every definition and the module dumped by ``ast.dump``.

Why a frozen copy: the digests key every cached result, so "faster" must mean "the same answer".
Where ``ast.dump`` reads as on 3.11/3.12 the whole output must be identical, digests included (so
stored analyses and code versions stay valid); elsewhere two sources' digests must still be equal
exactly when the reference's are. The corpus is the sources the other tests pin, the Hamilton
corpus, the engine itself, fifty standard-library modules and snippets of every construct the
analysis treats specially.
"""

from __future__ import annotations

import ast
import builtins
import json
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import pytest
import xxhash

from engine.caching import source_analysis
from engine.caching.ast_dump import dumper
from engine.caching.source_analysis import analyze_source
from engine.caching.statement_reuse import Span, partial_tree

REPO = Path(__file__).resolve().parents[2]
DUMP_AS_311 = sys.version_info < (3, 13)  # ast.dump's format the digests were made from



# ==================================================================================================
# The reference: the analysis as it was before it was made fast (normaliser version 2), verbatim.

_EVAL_LIKE = frozenset({"locals", "vars", "eval", "exec", "dir"})


def _h(s: str) -> str:
    return xxhash.xxh3_128_hexdigest(s.encode("utf-8", "surrogatepass"))


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


def reference_analyze(source: str | bytes, filename: str = "<unknown>") -> dict[str, Any]:
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
    effects = [_dump(stmt) for stmt in source_analysis.effects_of(tree.body)]
    return {"defs": out_defs, "m": _h(_dump(tree)), "fx": _h("\0".join(effects)) if effects else ""}




# ==================================================================================================
# The corpus

STDLIB = (
    "abc", "argparse", "ast", "asyncio/base_events", "asyncio/tasks", "bisect", "calendar", "cmd",
    "collections/__init__", "concurrent/futures/_base", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "difflib", "dis", "email/message", "enum", "fractions", "functools", "gettext", "glob",
    "heapq", "inspect", "ipaddress", "json/decoder", "json/encoder", "logging/__init__", "operator",
    "optparse", "pathlib", "pickle", "pprint", "re/_parser", "selectors", "shlex", "shutil", "statistics",
    "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "tokenize", "traceback",
    "typing", "unittest/mock", "urllib/parse", "uuid", "weakref", "zipfile",
)

# Every construct the analysis binds, renames, references or strips in a way of its own.
SNIPPETS = '''
"""Module doc."""
"""A second string stays."""
x = 1
# ---
def f():
    "doc"
    "a second string stays"
    return 1
# ---
def f():
    f"not a docstring {x}"
    return 1
# ---
if x:
    def f():
        """doc inside an if"""
        return 1
else:
    class C:
        "doc"
# ---
for i in y:
    def f():
        "d"
while z:
    def g():
        "d"
else:
    def h():
        "d"
# ---
try:
    def f():
        "d"
except E as err:
    def g():
        "d"
    print(err)
else:
    def h():
        "d"
finally:
    def k():
        "d"
# ---
try:
    pass
except* ValueError as eg:
    def f():
        "d"
        return eg
# ---
with a as b, c:
    async def f():
        "d"
        async with b as q:
            await q
# ---
match p:
    case {"k": v, **rest}:
        def f():
            "d"
            return v, rest
    case [1, *others] | (2 as others):
        pass
    case Point(x=0, y=yy) if yy > 1:
        pass
    case None | True | -1 | 1.5 | "s" | b"b":
        pass
    case _:
        pass
# ---
def f(x):
    match x:
        case [a, *rest]:
            return a, rest
        case {"k": v, **kw}:
            return v, kw
        case C(y=z) as whole:
            return z, whole
# ---
class A(B, metaclass=M, flag=True):
    """doc"""
    x: int = 1

    def m(self, /, a, b=2, *c, d, e=3, **f):
        return a, b, c, d, e, f, self.x
# ---
def outer():
    def inner():
        nonlocal v
        v += 1
        return w
    v = 0
    w = 1
    return inner
# ---
def f():
    global G
    G = 1
    return G, H
# ---
def f():
    local = 1
    return locals()
# ---
def f():
    exec("x = 1")
    y = 2
    return y
# ---
def f(xs):
    return [y for x in xs if (y := x * 2)], {k: v for k, v in xs}, {s for s in xs}, (g for g in xs), y
# ---
def f(xs):
    return [[b for b in a] for a in xs if a for c in a], lambda p, *q, r=1, **s: p + r
# ---
def f(cb=lambda a, b=1: a + b, *, k=lambda: None) -> int:
    return cb(1)
# ---
lambda: 0
f = lambda x, y=lambda z: z: (x, y)
# ---
@deco(lambda f: f)
@other.attr(key=[1, 2])
def f():
    @inner
    def g():
        return 1
    return g
# ---
@dataclass(frozen=True)
class C:
    @property
    def p(self):
        return 1

    @staticmethod
    def s():
        return lambda: 2
# ---
import os, os.path as osp, a.b.c
from . import sib
from ..pkg.mod import name as alias, other
from x import *

def f():
    import json as j
    from .m import k
    return os.sep, osp.join, a.b.c.d, sib, alias, other, j, k
# ---
def f():
    m = importlib.import_module("pkg.mod")
    n = __import__("other")
    return m, n, importlib.import_module(".rel")
# ---
def f(x):
    try:
        return 1 / x
    except (ZeroDivisionError, TypeError) as exc:
        raise ValueError(x) from exc
# ---
x = (1, 1.0, 1j, True, None, ..., "s", u"s", b"b", r"r", 1e999, -0.0, 0x1f, 1_000, "\\x00\\ud800")
# ---
def f(a):
    del a[0], a.b
    a += 1
    a: int = 2
    b, *c = a
    return f"{a!r:>{b}} {c=}"
# ---
async def f(xs):
    async for x in xs:
        yield x
    await g()
    return [y async for y in xs]
# ---
def f():
    yield from g()
    x = yield
    assert x, "msg"
    return not x if x else -x
# ---
def f(a, b):
    return a[1:2], a[::b], a[b, 1:], a @ b, a ** b // b % 2, a < b <= 3 is not None
# ---
def f(sum=sum, len=None):
    list = []
    return sum(list), len, print, dict
# ---
class C:
    x = 1

    def m(self):
        return x
    y = [x for _ in range(3)]
# ---
def f(x):
    def g(x=x):
        return x
    return g
'''.split("# ---\n")
if sys.version_info >= (3, 12):
    SNIPPETS.append("type Alias[T] = list[T]\n\ndef f[T: int, *Ts, **P](x: T) -> T:\n    return x\n\n"
                    "class C[T]:\n    def m[U](self, u: U) -> T:\n        return u\n")

INVALID = ["def f(:\n", "x = = 1\n", "class\n", "def f():\nreturn 1\n", "f(**)\n", b"x = '\xff'\n"]


BASE = '''\
"""Module doc."""
import os
from pkg import helper as h

LIMIT = 10


def deco(*a, **k):
    return lambda f: f


@deco(1, key="a")
def decorated(x, y=2):
    """Doc."""
    # a comment
    total = x + y
    return total * LIMIT


def plain(x):
    value = os.path.join("a", x)
    return [value for value in range(3)], h(x), 1


class Model:
    rate = 0.5

    def predict(self, x, *, scale=1):
        return x * self.rate * scale
'''

# (edit, old text, new text, the definitions whose digests change; "<module>": the module digest)
REAL = {"<module>"}
EDITS = [
    ("changed constant", "rate = 0.5", "rate = 0.25", REAL | {"Model"}),
    ("int to float", "h(x), 1\n", "h(x), 1.0\n", REAL | {"plain"}),
    ("int to bool", "h(x), 1\n", "h(x), True\n", REAL | {"plain"}),
    ("added statement", "    total = x + y\n", "    total = x + y\n    total += 0\n", REAL | {"decorated"}),
    ("renamed global", "total * LIMIT", "total * LIMIT2", REAL | {"decorated"}),
    ("changed default", "y=2", "y=3", REAL | {"decorated"}),
    ("changed keyword-only default", "scale=1", "scale=2", REAL | {"Model", "Model.predict"}),
    ("changed decorator argument", 'key="a"', 'key="b"', REAL | {"decorated"}),
    ("u-prefix", '"a", x', 'u"a", x', REAL | {"plain"}),
    ("docstring turned f-string", '"""Doc."""', 'f"""Doc."""', REAL | {"decorated"}),
    ("changed attribute", "self.rate", "self.ratio", REAL | {"Model", "Model.predict"}),
    ("docstring only", '"""Doc."""', '"""Another doc."""', set()),
    ("module docstring only", '"""Module doc."""', '"""Other."""', set()),
    ("comment only", "# a comment", "# another comment", set()),
    ("renamed local", "total = x + y\n    return total", "acc = x + y\n    return acc", set()),
    ("renamed comprehension variable", "[value for value in", "[v for v in", set()),
    ("renamed lambda parameter", "lambda f: f", "lambda g: g", set()),
    ("formatting", "total = x + y", "total = (x  +\n             y)", set()),
]


def _snippets_of(path: Path) -> list[str]:
    """The Python sources a test module holds as string constants."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\n" in node.value:
            text = textwrap.dedent(node.value)
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue
            if any(isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Assign) for n in tree.body):
                out.append(text)
    return out


def _corpus() -> dict[str, str | bytes]:
    tests = REPO / "tests"
    sources: dict[str, str | bytes] = {}
    for rel in ("caching/test_versioning.py", "caching/test_never_stale_cases.py"):
        sources[rel] = (tests / rel).read_text()
        sources.update((f"{rel}#{i}", s) for i, s in enumerate(_snippets_of(tests / rel)))
    for top in (tests / "core" / "hamilton", REPO / "engine"):
        sources.update((str(p.relative_to(REPO)), p.read_bytes()) for p in sorted(top.rglob("*.py")))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in STDLIB:
        path = next((p for p in (stdlib / f"{name}.py", stdlib / name / "__init__.py") if p.exists()), None)
        if path is not None:
            sources[f"stdlib:{name}"] = path.read_bytes()
    sources.update((f"snippet#{i}", s) for i, s in enumerate(SNIPPETS))
    return sources


@pytest.fixture(scope="module")
def analysed() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """``{name: (reference analysis, fast analysis)}`` over the corpus."""
    corpus = _corpus()
    assert sum(k.startswith("stdlib:") for k in corpus) >= 45
    assert sum("#" in k and k.startswith("caching/") for k in corpus) >= 20
    return {name: (reference_analyze(src, name), analyze_source(src, name)) for name, src in corpus.items()}


# ==================================================================================================
# The tests


def test_definitions_names_lines_and_references_are_the_reference(analysed) -> None:
    digests = ("d", "dd")
    for name, (ref, new) in analysed.items():
        assert [{k: v for k, v in d.items() if k not in digests} for d in new["defs"]] == \
            [{k: v for k, v in d.items() if k not in digests} for d in ref["defs"]], name


@pytest.mark.skipif(not DUMP_AS_311, reason="ast.dump reads differently: digest values are new here")
def test_digests_are_the_reference_itself(analysed) -> None:
    """Every definition's digests and the effects digest are the reference's, so code versions made
    before stay valid (4: the analysis also digests the module's statements run for their effects,
    "fx"). 6: the module's own digest ("m") is over its statements' digests, kept ("s") for a later
    content to reuse (``engine.caching.statement_reuse``): a new value, one for one with the
    reference's (the next test)."""
    assert source_analysis._NORMALIZER_VERSION == "6"
    for name, (ref, new) in analysed.items():
        assert new["defs"] == ref["defs"] and new["fx"] == ref["fx"], name
        assert set(new) == {"defs", "m", "fx", "s", "n"} and set(ref) == {"defs", "m", "fx"}, name


def test_digests_are_equal_exactly_when_the_references_are(analysed) -> None:
    """Across every pair of definitions (and of modules) in the corpus: one digest of the reference
    is one digest of the fast analysis, and the other way round."""
    forward: dict[str, str] = {}
    backward: dict[str, str] = {}
    pairs = [(r[k], n[k]) for r, n in analysed.values() for k in ("m", "fx")]
    for ref, new in analysed.values():
        for rd, nd in zip(ref["defs"], new["defs"], strict=True):
            pairs += [(rd["d"], nd["d"]), (rd["dd"], nd["dd"])]
    for old, fast in pairs:
        assert forward.setdefault(old, fast) == fast
        assert backward.setdefault(fast, old) == old
    assert len(forward) > 5000


@pytest.mark.skipif(not DUMP_AS_311, reason="ast.dump reads differently from 3.13 on")
@pytest.mark.parametrize("src", [*SNIPPETS, BASE], ids=[*(f"snippet#{i}" for i in range(len(SNIPPETS))), "b"])
def test_the_dump_is_ast_dump(src: str) -> None:
    """What the digests hash, compared directly (the corpus compares them through the digests)."""
    tree = ast.parse(src)
    assert dumper({})(tree) == ast.dump(tree, annotate_fields=False)


@pytest.mark.skipif(not DUMP_AS_311, reason="ast.dump reads differently from 3.13 on")
def test_the_dump_is_ast_dump_with_type_comments_too() -> None:
    """The shortcuts for common nodes leave a field out exactly where ``ast.dump`` does: an argument
    without annotation, a bare ``return``, type comments (none unless asked for when parsing)."""
    src = "def f(a, # type: int\n      b: str, *c, **d):\n    x = y = (1, a[0])  # type: int\n    if a < b:\n        return\n    return a + f(b, k=1)\n"
    for tree in (ast.parse(src), ast.parse(src, type_comments=True)):
        assert dumper({})(tree) == ast.dump(tree, annotate_fields=False)


@pytest.mark.parametrize("src", INVALID)
def test_invalid_sources_raise_syntax_error(src: str | bytes) -> None:
    with pytest.raises(SyntaxError):
        reference_analyze(src)
    with pytest.raises(SyntaxError):
        analyze_source(src)


def _digests(analysis: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {d["q"]: (d["d"], d["dd"]) for d in analysis["defs"]}
    out["<module>"] = analysis["m"]
    return out


@pytest.mark.parametrize(("edit", "old", "new", "changed"), EDITS, ids=[e[0] for e in EDITS])
def test_an_edit_changes_what_it_changed_before(edit: str, old: str, new: str, changed: set[str]) -> None:
    assert BASE.count(old) == 1
    edited = BASE.replace(old, new)
    for analyze in (reference_analyze, analyze_source):
        before, after = _digests(analyze(BASE)), _digests(analyze(edited))
        assert before.keys() == after.keys()
        assert {q for q in before if before[q] != after[q]} == changed, analyze.__name__
    if "decorator" in edit:  # the decorator's own digest, not the function's
        (before,), (after,) = ([d for d in analyze_source(s)["defs"] if d["q"] == "decorated"]
                               for s in (BASE, edited))
        assert before["d"] == after["d"] and before["dd"] != after["dd"]


def test_the_statements_a_module_runs_for_their_effects() -> None:
    """What counts as import-time effects ("fx", folded into every def of the module): calls, blocks
    that may make one and assignments into what an import or a call gives; not bindings of the
    module's own names nor assignments into its own objects, not the __main__ or TYPE_CHECKING block."""
    src = textwrap.dedent('''
        import decimal
        import pandas as pd
        from typing import TYPE_CHECKING

        class Reg:
            items = {}

        X = 1
        Reg.items["k"] = 1
        np_seed = None
        print("effect")
        pd.options.display.max_rows = 5
        decimal.getcontext().prec = 5
        a, pd.x = 1, 2
        for k in range(2):
            Reg.items[k] = k
        if TYPE_CHECKING:
            import os
        if __name__ == "__main__":
            print("main")
    ''')
    body = ast.parse(src).body
    got = [ast.unparse(s).splitlines()[0] for s in source_analysis.effects_of(body)]
    assert got == ["print('effect')", "pd.options.display.max_rows = 5", "decimal.getcontext().prec = 5",
                   "a, pd.x = (1, 2)", "for k in range(2):"]
    plain = analyze_source(src.replace('print("effect")\n', "").replace("pd.options.display.max_rows = 5\n", ""))
    assert analyze_source(src)["fx"] != plain["fx"] != ""


# ==================================================================================================
# Reuse of an earlier content's statements (``previous``): the same analysis as a fresh one


def _edits(src: str) -> list[str]:
    """Edits of one module's text: lines added above everything, a builtin shadowed at the end (every
    statement reading ``print``/``len`` changes meaning), a form feed above, one definition's body
    edited, it deleted, it duplicated, it made a string's text, a decorator put above it, the first
    two statements swapped, two joined on one line."""
    from engine.caching.source_analysis import source_lines
    from engine.caching.statement_reuse import first_line

    tree = ast.parse(src)
    lines = source_lines(src)
    out = ["import os as _added_os\n\n" + src, src + "\nprint = None\nlen = len\n", "# page one\x0cpage two\n" + src]
    body = tree.body
    defs = [n for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    if defs:
        d = defs[len(defs) // 2]
        first, inner = first_line(d), d.body[0]
        at = inner.lineno - 1
        out.append("".join([*lines[:at], " " * inner.col_offset + "_added_local = len\n", *lines[at:]]))
        out.append("".join([*lines[:first - 1], *lines[d.end_lineno:]]))
        out.append(src + "\n\n" + "".join(lines[first - 1:d.end_lineno]))
        # what would join an unchanged definition to the text around it: a string or a decorator
        out.append("".join([*lines[:first - 1], 'WRAPPED = """\n', *lines[first - 1:d.end_lineno], '"""\n',
                            *lines[d.end_lineno:]]))
        out.append("".join([*lines[:first - 1], "@(lambda f: f)\n", *lines[first - 1:]]))
    if len(body) >= 2 and body[0].end_lineno < first_line(body[1]) and body[1].end_lineno is not None:
        a = lines[first_line(body[0]) - 1:body[0].end_lineno]
        b = lines[first_line(body[1]) - 1:body[1].end_lineno]
        out.append("".join([*b, "\n", *a, *lines[body[1].end_lineno:]]))
    out.append("x_joined = 1; y_joined = x_joined\n" + src)
    kept = []
    for e in out:
        try:
            ast.parse(e)
        except SyntaxError:
            continue
        kept.append(e)
    return kept


@pytest.mark.parametrize("stride", [pytest.param(1, marks=pytest.mark.slow), 12], ids=["every module", "a twelfth"])
def test_an_analysis_reusing_an_earlier_contents_statements_is_a_fresh_one(stride: int) -> None:
    """After every edit, of every corpus module (a twelfth of them and the snippets in the fast
    set): the analysis made with the unedited one's as ``previous`` equals the one made from
    nothing; so does one handed another module's analysis. Where the edited text can be parsed
    around its unchanged definitions (``partial_tree``), that tree is the text's, line numbers and
    all, and its analysis the one made from nothing."""
    corpus = _corpus()
    assert len(corpus) > 150
    names = sorted(corpus)
    checked = partly = 0
    for i, name in enumerate(names):
        if i % stride and "#" not in name:
            continue
        raw = corpus[name]
        src = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        before = analyze_source(raw, name)
        for edited in _edits(src):
            fresh = analyze_source(edited, name)
            assert analyze_source(edited, name, previous=before) == fresh, name
            checked += 1
            data = edited.encode("utf-8", "surrogateescape")
            tree = partial_tree(data, before)
            if tree is not None:  # and parsed around the unchanged definitions
                partly += 1
                real = [s.parse() if isinstance(s, Span) else s for s in tree.body]
                assert ast.dump(ast.Module(real, []), include_attributes=True) == \
                    ast.dump(ast.parse(data), include_attributes=True), name
                assert analyze_source(data, name, tree=tree, previous=before) == fresh, name
        other = analyze_source(corpus[names[i - 1]], names[i - 1])
        assert analyze_source(raw, name, previous=other) == before, name
    assert checked > 1000 // stride and partly > checked // 4


def test_an_edit_to_one_definition_walks_that_statement_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the reuse is for: of a 200-function module, an edit to one function's body walks that
    one statement again; a builtin the module comes to bind walks the statements reading it."""
    src = "".join(f"def f{i}(x):\n    return len(x) + {i}\n\n\n" for i in range(200))
    before = analyze_source(src)
    walked = []
    real = source_analysis._walk
    monkeypatch.setattr(source_analysis, "_walk", lambda an, stmt: walked.append(stmt) or real(an, stmt))
    edited = src.replace("return len(x) + 17\n", "return len(x) + 1700\n")
    assert analyze_source(edited, previous=before) == analyze_source(edited)
    walked.clear()
    analyze_source(edited, previous=before)
    assert len(walked) == 1
    shadowing = "len = max\n" + src
    walked.clear()
    again = analyze_source(shadowing, previous=before)
    assert len(walked) == 201 and again == analyze_source(shadowing)
    assert all(["g", "len"] in d["r"] for d in again["defs"])


def test_a_new_process_analyses_an_edited_file_from_its_last_analysis(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's memo keeps which content of a file was analysed last (``last_key``), so the next
    process to analyse the file (``ripple run`` after an edit) starts from that analysis: it parses
    and walks the edited function alone, and indexes the file as an analysis from nothing would."""
    from edited_files import edit_f42, hundred_functions, record_work, spans

    from engine.caching import source_files
    from engine.caching.file_index import FileIndex
    from engine.caching.source_files import SourceFiles
    from engine.store import Store

    path = hundred_functions(tmp_path)
    store = Store(tmp_path / "store")
    assert SourceFiles(store.memo).info(str(path)) is not None
    edit_f42(path)
    walked, trees = record_work(monkeypatch, source_files)
    info = SourceFiles(store.memo).info(str(path))  # another versioner: as a new process has
    assert info is not None and len(walked) == 1
    assert spans(trees[0]) == 99  # nor parsed the other 99
    fresh = FileIndex(str(path), info.content_digest, analyze_source(path.read_bytes(), str(path)))
    assert info.defs == fresh.defs and info.module_digest == fresh.module_digest
    store.close()


def test_a_previous_analysis_of_another_shape_is_not_used() -> None:
    """An earlier Ripple's analysis, or one damaged in a way its seal cannot tell (a bug), is no
    starting point: the analysis is the one made from nothing, whatever is wrong with it."""
    src = "def f(x):\n    return len(x)\n\n\ndef g(y):\n    return y + 1\n"
    good = analyze_source(src)
    fresh = analyze_source(src + "\n\ndef h():\n    return 3\n")
    for bad in ({"defs": good["defs"], "m": good["m"]},
                {**good, "s": "nope"}, {**good, "s": [[1, 2, 3]]},
                {**good, "defs": good["defs"][:1]},
                {**good, "defs": [{**d, "f": "1"} for d in good["defs"]]},
                {**good, "defs": [{k: v for k, v in d.items() if k != "r"} for d in good["defs"]]},
                {**good, "s": [[r[0], r[1], r[2], r[3], [7], r[5]] for r in good["s"]]},
                {**good, "s": [[r[0], "1", *r[2:]] for r in good["s"]]}, None, {}):
        assert analyze_source(src + "\n\ndef h():\n    return 3\n", previous=bad) == fresh, bad
