"""The normalised tree's text, which every definition's digest hashes: ``ast.dump(node,
annotate_fields=False)`` as it reads on 3.11 and 3.12, made in one pass at a fraction of its per-node
cost (``tests/caching/test_source_analysis.py`` holds it to ``ast.dump``)."""

from __future__ import annotations

import ast
from typing import Any

# The shortcuts stand only while these node types have exactly the fields they spell out.
_NAME = ast.Name if ast.Name._fields == ("id", "ctx") else None
_CONSTANT = ast.Constant if ast.Constant._fields == ("value", "kind") else None
_ATTRIBUTE = ast.Attribute if ast.Attribute._fields == ("value", "attr", "ctx") else None
_CALL = ast.Call if ast.Call._fields == ("func", "args", "keywords") else None
_SUBSCRIPT = ast.Subscript if ast.Subscript._fields == ("value", "slice", "ctx") else None
_TUPLE = ast.Tuple if ast.Tuple._fields == ("elts", "ctx") else None
_EXPR = ast.Expr if ast.Expr._fields == ("value",) else None
_BINOP = ast.BinOp if ast.BinOp._fields == ("left", "op", "right") else None
_COMPARE = ast.Compare if ast.Compare._fields == ("left", "ops", "comparators") else None
_RETURN = ast.Return if ast.Return._fields == ("value",) else None
_ASSIGN = ast.Assign if ast.Assign._fields == ("targets", "value", "type_comment") else None
_ARG = ast.arg if ast.arg._fields == ("arg", "annotation", "type_comment") else None
_CTX = {c: f"{c.__name__}()" for c in (ast.Load, ast.Store, ast.Del)}
_DEF_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def dumper(defs: dict[int, tuple[str, str]]) -> Any:
    """``ast.dump(node, annotate_fields=False)`` as it reads on 3.11/3.12, at a fraction of its
    per-node cost, and one pass for the module and every definition in it: ``defs`` receives, per
    def/class/lambda, its dump without the decorators (as its digest has it) and its decorators'."""
    layouts: dict[type, Any] = {}

    def fmt(x: Any) -> str:
        cls = type(x)
        if cls is _NAME:
            return f"Name({x.id!r}, {_CTX[type(x.ctx)]})"
        if cls is _CONSTANT:
            return f"Constant({x.value!r})" if x.kind is None else f"Constant({x.value!r}, {x.kind!r})"
        if cls is list:
            return "[" + ", ".join(map(fmt, x)) + "]"
        if cls is _ATTRIBUTE:
            return f"Attribute({fmt(x.value)}, {x.attr!r}, {_CTX[type(x.ctx)]})"
        if cls is _CALL:
            return f"Call({fmt(x.func)}, {fmt(x.args)}, {fmt(x.keywords)})"
        if cls is _SUBSCRIPT:
            return f"Subscript({fmt(x.value)}, {fmt(x.slice)}, {_CTX[type(x.ctx)]})"
        if cls is _TUPLE:
            return f"Tuple({fmt(x.elts)}, {_CTX[type(x.ctx)]})"
        if cls is _EXPR:
            return f"Expr({fmt(x.value)})"
        if cls is _ARG and x.type_comment is None:  # None fields are left out, as ast.dump does
            return f"arg({x.arg!r})" if x.annotation is None else f"arg({x.arg!r}, {fmt(x.annotation)})"
        if cls is _BINOP:
            return f"BinOp({fmt(x.left)}, {type(x.op).__name__}(), {fmt(x.right)})"
        if cls is _COMPARE:
            return f"Compare({fmt(x.left)}, {fmt(x.ops)}, {fmt(x.comparators)})"
        if cls is _RETURN:
            return "Return()" if x.value is None else f"Return({fmt(x.value)})"
        if cls is _ASSIGN and x.type_comment is None:
            return f"Assign({fmt(x.targets)}, {fmt(x.value)})"
        layout = layouts.get(cls)
        if layout is None:
            if not isinstance(x, ast.AST):
                return repr(x)
            fields = [(f, getattr(cls, f, ...) is None) for f in cls._fields]  # (name, optional)
            layout = layouts[cls] = (cls.__name__ + "(", fields, cls in _DEF_TYPES)
        head, fields, is_def = layout
        parts: list[str] = []
        kw, decos, at, bare = False, [], -1, ""
        for f, optional in fields:
            v = getattr(x, f, fmt)  # fmt: the field is missing
            if v is fmt or v is None and optional:  # left out, and what follows named, as in ast.dump
                kw = True
                continue
            if is_def and f == "decorator_list":
                decos, at, bare = [fmt(y) for y in v], len(parts), "decorator_list=[]" if kw else "[]"
                s = "[" + ", ".join(decos) + "]"
            else:
                s = fmt(v)
            parts.append(f"{f}={s}" if kw else s)
        out = head + ", ".join(parts) + ")"
        if is_def:  # decorators as in ast.dump(Module(body=[Expr(decorator), ...], type_ignores=[]))
            if decos:
                parts[at] = bare
            defs[id(x)] = (head + ", ".join(parts) + ")" if decos else out,
                           "Module([" + ", ".join(f"Expr({d})" for d in decos) + "], [])" if decos else "")
        return out
    return fmt
