"""What a module runs at import for its effects, besides binding names: part of every def in it.

Why a code version needs it: a node's result can depend on a top-level ``np.random.seed(1)`` or
``pd.set_option(...)`` its code never names, so those statements' digest ("fx") is folded into
every definition of the module (``engine.caching.file_index``).
"""

from __future__ import annotations

import ast

_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Match)


def effects_of(body: list[ast.stmt]) -> list[ast.stmt]:
    """The module's top-level statements run for their effects (``_is_effect``), in order."""
    imported = {(a.asname or a.name).split(".")[0] for stmt in body if isinstance(stmt, ast.Import | ast.ImportFrom)
                for a in stmt.names}
    return [stmt for stmt in body if _is_effect(stmt, imported)]


def _is_effect(stmt: ast.stmt, imported: set[str]) -> bool:
    """A top-level statement that runs at import for what it does, not for a name it binds (a call:
    ``np.random.seed(1)``, ``random.seed(1)``, ``pd.set_option(...)``, ``registry.add(f)``; a block that
    may make one; an assignment into what an import or a call gives: ``decimal.getcontext().prec = 5``,
    ``pd.options.display.max_rows = 5``), which code a node runs may depend on without naming it. Not
    ``if __name__ == "__main__"`` (it does not run at import) nor ``if TYPE_CHECKING`` (it never runs);
    not an assignment into the module's own objects (``Reg.items["k"] = 1``: their values are versioned)."""
    if isinstance(stmt, ast.Expr):
        return True
    if isinstance(stmt, ast.If):
        test = ast.unparse(stmt.test).replace("'", '"')
        return test not in ('__name__ == "__main__"', "TYPE_CHECKING", "typing.TYPE_CHECKING")
    if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign):
        return any(_into_other(t, imported) for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]))
    return isinstance(stmt, _COMPOUND)


def _into_other(target: ast.expr, imported: set[str]) -> bool:
    """An attribute or item target whose root is not a name of this module's own (an import, a call)."""
    if not isinstance(target, ast.Attribute | ast.Subscript):
        return isinstance(target, ast.Tuple | ast.List) and any(_into_other(e, imported) for e in target.elts)
    root = target
    while isinstance(root, ast.Attribute | ast.Subscript):
        root = root.value
    return not isinstance(root, ast.Name) or root.id in imported
