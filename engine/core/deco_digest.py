"""Digests of what decorators say: their normalised source and the project-local code and values
they reference.

Why: Ripple's versioner hashes a node's body and follows the names the *body* uses; decorator
arguments are runtime values. For decorators whose arguments are code (``step(_helper)``,
``does(_sum)``, a validator instance) or constants (``value(THRESHOLD)``), that would miss edits.
A ``Digests`` string of those goes into the node's ``version_extra`` so such an edit re-runs the
node. Comments, formatting and docstrings do not count; references are followed transitively.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import os
import re
import sys
import sysconfig
import types
from collections.abc import Callable
from typing import Any

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_LIBRARY_DIRS = tuple(
    os.path.abspath(p) + os.sep
    for p in {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")} if p
)
_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class Digests:
    """Normalised source of decorators and the project-local code/values they reference, memoised
    per graph build (one parse per file)."""

    def __init__(self) -> None:
        #: per file: (def name, line) -> definition, for both its first decorator line and its def line
        self._defs: dict[str, dict[tuple[str, int], ast.AST]] = {}
        self._memo: dict[int, str] = {}

    def of_node(self, fns: tuple[Callable[..., Any], ...]) -> str:
        first = inspect.unwrap(fns[0])
        parts = [self._decorators(first)]
        parts += [self._value(f, set()) for f in fns[1:]]
        return _hash("\0".join(parts))

    def _def(self, fn: Any) -> ast.AST | None:
        code = getattr(fn, "__code__", None)
        if code is None:
            return None
        path = code.co_filename
        index = self._defs.get(path)
        if index is None:
            index = self._defs[path] = {}
            try:
                with open(path, encoding="utf-8") as fh:
                    tree = ast.parse(fh.read())
            except (OSError, SyntaxError, ValueError):
                return None
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    index.setdefault((node.name, first), node)
                    index.setdefault((node.name, node.lineno), node)
        return index.get((code.co_name, code.co_firstlineno))

    def _decorators(self, fn: Any) -> str:
        node = self._def(fn)
        if node is None or not getattr(node, "decorator_list", None):
            return ""
        decos = ast.Module(body=[ast.Expr(d) for d in node.decorator_list], type_ignores=[])
        refs = [self._value(_lookup(fn, name), {id(fn)}) for name in _loaded_names(decos)]
        return ast.dump(decos, annotate_fields=False) + "\0" + "\0".join(refs)

    def _value(self, obj: Any, seen: set[int]) -> str:
        """A stable digest of a referenced object: its code if project-local, else its repr/type."""
        if id(obj) in seen:
            return "<cycle>"
        hit = self._memo.get(id(obj))
        if hit is not None:
            return hit
        seen = seen | {id(obj)}
        target = inspect.unwrap(obj) if callable(obj) and not isinstance(obj, type) else obj
        if isinstance(target, types.FunctionType | type) and _is_local(target):
            node = self._def(target)
            if node is None:
                out = repr(getattr(target, "__code__", None) and target.__code__.co_code)
            else:
                copy = ast.parse(ast.unparse(node)).body[0]
                _strip_docstrings(copy)
                out = ast.dump(copy, annotate_fields=False)
                out += "".join(self._value(_lookup(target, n), seen) for n in _loaded_names(copy))
        elif isinstance(obj, types.ModuleType) or callable(obj) and not _is_local(type(obj)):
            out = f"ref:{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
        elif isinstance(obj, list | tuple | set | frozenset):
            out = type(obj).__name__ + "(" + ",".join(sorted(self._value(v, seen) for v in obj)
                                                      if isinstance(obj, set | frozenset)
                                                      else [self._value(v, seen) for v in obj]) + ")"
        elif isinstance(obj, dict):
            out = "dict(" + ",".join(sorted(f"{self._value(k, seen)}:{self._value(v, seen)}" for k, v in obj.items())) + ")"
        else:
            out = _ADDRESS.sub("", _safe_repr(obj))
            if _is_local(type(obj)):
                out += self._value(type(obj), seen) + self._value(dict(getattr(obj, "__dict__", {}) or {}), seen)
        self._memo[id(obj)] = out
        return out


def _safe_repr(obj: Any) -> str:
    try:
        return f"{type(obj).__qualname__}:{obj!r}"
    except Exception:  # noqa: BLE001 - a repr that raises still has a type
        return type(obj).__qualname__


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _loaded_names(tree: ast.AST) -> list[str]:
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)})


def _lookup(fn: Any, name: str) -> Any:
    g = getattr(fn, "__globals__", None)
    if g is None:
        g = vars(sys.modules.get(getattr(fn, "__module__", ""), types.ModuleType("_")))
    return g.get(name, None)


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and body \
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]


def _is_local(obj: Any) -> bool:
    """Defined in the user's project: not the standard library, an installed package or Ripple."""
    mod = sys.modules.get(getattr(obj, "__module__", "") or "")
    file = getattr(mod, "__file__", None)
    if not file:
        return getattr(obj, "__module__", "") == "__main__"
    path = os.path.abspath(file)
    return not path.startswith(_LIBRARY_DIRS) and not path.startswith(_ENGINE_DIR)


