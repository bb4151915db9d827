"""Which of a file's top-level statements an earlier analysis of the file already holds.

Why: after an edit to one function of a 1,000-function file, normalising and dumping the other 999
again was most of the edited run's analysis (the parse is the rest). A top-level statement's
analysis is a function of its own text, its line, and one thing outside it: whether the builtin
names it reads as globals are bound by the module (``print = log`` elsewhere makes ``print`` a
module global). So each statement of an analysis is recorded with a digest of its exact lines (and
of what else could change how they parse: the ``__future__`` imports and an encoding cookie), the
names it binds at module level and those builtin lookups, and a later analysis of another content
takes every statement whose digest, and whose lookups' outcome, it still has, with its lines
shifted. A statement sharing a line with another (``a = 1; b = 2``) has no digest and is always
analysed; so is one the module runs for its effects, whose text goes into the effects digest.
``tests/caching/test_source_analysis.py`` holds reused analyses to fresh ones, edit by edit.
"""

from __future__ import annotations

import ast
import itertools
from typing import Any

from xxhash import xxh3_128_hexdigest, xxh64_intdigest

#: the keys of a def's entry, as ``analyze_source`` makes them (a ``FileIndex`` adds its own)
_ENTRY_KEYS = ("n", "q", "k", "f", "l", "e", "d", "dd", "r", "dr")


def first_line(node: Any) -> int:
    """Where a statement's (or a def's) text begins: a decorated def's or class's first decorator."""
    decos = getattr(node, "decorator_list", None)
    return min([node.lineno, *(d.lineno for d in decos)]) if decos else node.lineno


def _seed(lines: list[bytes], futures: list[str]) -> int:
    """What besides its own lines decides how a statement parses: the ``__future__`` imports and an
    encoding cookie, as the seed of its segment's digest."""
    return xxh64_intdigest("\0".join(["ripple-stmt", *sorted(futures)]).encode() + b"\0" + b"".join(
        line for line in lines[:2] if b"coding" in line))


def _starts(lines: list[bytes]) -> list[int]:
    """Where each line begins in the text (line n at ``[n - 1]``), and its end last."""
    return [0, *itertools.accumulate(map(len, lines))]


def statement_segments(source: str | bytes, body: list[ast.stmt], after: int) -> tuple[list[int], list[str], int]:
    """Per statement of ``body`` (the module's, its docstring gone: it ended on line ``after``), its
    first line (``first_line``) and the digest of the lines it spans, or "" where it shares one with
    another statement; and the text's number of lines. Lines end where Python ends them
    (``bytes.splitlines``: at ``\\n``, ``\\r\\n`` and ``\\r`` only)."""
    data = source if isinstance(source, bytes) else source.encode("utf-8", "surrogatepass")
    lines = data.splitlines(keepends=True)
    seed = _seed(lines, [a.name for s in body if isinstance(s, ast.ImportFrom) and s.module == "__future__"
                         for a in s.names])
    starts = _starts(lines)
    spans = [(first_line(s), s.end_lineno or s.lineno) for s in body]
    out = []
    prev_end = after
    for i, (first, end) in enumerate(spans):
        shared = first <= prev_end or (i + 1 < len(spans) and spans[i + 1][0] <= end) or end > len(lines)
        stmt = body[i]
        if shared:
            out.append("")
        elif stmt.__class__ is Span and stmt.seed == seed:  # found by this very digest (partial_tree)
            out.append(stmt.seg)
        else:
            out.append(xxh3_128_hexdigest(data[starts[first - 1]:starts[end]], seed))
        prev_end = max(prev_end, end)
    return [first for first, _ in spans], out, len(lines)


class Reused:
    """One top-level statement as an earlier analysis made it."""

    __slots__ = ("first", "digest", "defs", "bound", "checks")

    def __init__(self, first: int, digest: str, defs: list[dict[str, Any]], bound: list[str],
                 checks: dict[str, bool]) -> None:
        self.first, self.digest, self.defs, self.bound, self.checks = first, digest, defs, bound, checks

    def holds(self, module_bound: set[str]) -> bool:
        """Its builtin lookups end as they did: each name bound by the module now exactly if then."""
        return all((name in module_bound) is was for name, was in self.checks.items())

    def at(self, seg: str, first: int) -> tuple[list[dict[str, Any]], list[Any]] | None:
        """Its defs' entries and its record, for the statement now beginning on line ``first``; None
        for entries of another shape (checked here, for the statements taken, not for every one)."""
        shift = first - self.first
        defs = []
        try:
            for d in self.defs:
                e = {k: d[k] for k in _ENTRY_KEYS}
                f, line, end = d["f"], d["l"], d["e"]
                if not (type(f) is int and type(line) is int and type(end) is int):
                    return None
                e["f"], e["l"], e["e"] = f + shift, line + shift, end + shift
                defs.append(e)
        except (TypeError, KeyError):
            return None
        return defs, record(seg, first, self.digest, len(defs), self.bound, self.checks)


def record(seg: str, first: int, digest: str, defs: int, bound: list[str], checks: dict[str, bool]) -> list[Any]:
    """A statement as an analysis keeps it (its ``"s"``), for a later one to reuse."""
    return [seg, first, digest, defs, bound, checks]


def reusable(previous: dict[str, Any] | None) -> dict[str, Reused]:
    """The statements of ``previous`` by segment digest; nothing from an analysis of another shape."""
    if not previous:
        return {}
    out: dict[str, Reused] = {}
    try:
        defs = previous["defs"]
        at = 0
        for seg, first, digest, n, bound, checks in previous["s"]:
            if not (isinstance(first, int) and isinstance(n, int) and isinstance(digest, str) and n >= 0
                    and isinstance(bound, list) and all(type(b) is str for b in bound) and isinstance(checks, dict)):
                return {}
            mine = defs[at:at + n]
            at += n
            if len(mine) != n:
                return {}
            if seg and isinstance(seg, str):
                out[seg] = Reused(first, digest, mine, bound, {str(k): v is True for k, v in checks.items()})
        if at != len(defs):
            return {}
    except (TypeError, ValueError, KeyError):
        return {}
    return out


class Span(ast.stmt):
    """A top-level def or class statement of an edited file whose lines an earlier analysis holds,
    left unparsed (``partial_tree``); ``parse`` gives the statement, should the analysis need it."""

    _fields = ()

    def __init__(self, text: bytes, first: int, end: int, name: str = "", kind: str = "f", seg: str = "",
                 seed: int | None = None) -> None:
        super().__init__()
        self.text, self.lineno, self.end_lineno, self.col_offset, self.end_col_offset = text, first, end, 0, 0
        self.decorator_list: list[ast.expr] = []
        self.name, self.kind = name, kind  # the def's or class's, as the earlier analysis has it ("f" | "c")
        self.seg, self.seed = seg, seed  # the digest it was found by, and that digest's seed

    def parse(self) -> ast.stmt:
        (stmt,) = ast.parse(self.text).body
        return ast.increment_lineno(stmt, self.lineno - 1)


def _blank(text: bytes) -> bool:
    """Whether a piece between two definitions holds no statement (blank lines and comments: most
    pieces), which parses to nothing; ASCII only, as a piece with other bytes may not decode."""
    return text.isascii() and all(not (s := line.strip()) or s.startswith(b"#") for line in text.split(b"\n"))


def partial_tree(content: bytes, previous: dict[str, Any] | None) -> ast.Module | None:
    """The module an edited file parses to, with the def and class statements an earlier analysis of
    it holds (``previous``) as unparsed ``Span`` s, the text between them parsed piece by piece; None
    when that cannot be told apart from parsing it whole (then it is parsed whole).

    Why it is that module: a span's lines are exactly those of a statement of the earlier content
    (their digest), at its line or shifted by the lines the edit added, and every piece between two
    spans parses on its own, so no string, bracket, block, decorator or continuation runs from a
    piece into a span or across one. A file with an encoding cookie is parsed whole (a piece would be
    decoded as UTF-8), and so is any other file where no span is found."""
    try:
        records, defs, old_lines = previous["s"], previous["defs"], previous["n"]  # type: ignore[index]
        if not isinstance(old_lines, int) or not records:
            return None
    except (TypeError, KeyError):
        return None
    lines = content.splitlines(keepends=True)
    if any(b"coding" in line for line in lines[:2]):
        return None
    futures = []
    for line in lines:
        if line.startswith(b"from __future__"):
            try:
                futures += [a.name for s in ast.parse(line).body for a in s.names]  # type: ignore[attr-defined]
            except SyntaxError:
                return None
    seed, starts, shift = _seed(lines, futures), _starts(lines), len(lines) - old_lines
    body: list[ast.stmt] = []
    done = 0  # the last line taken (by a span or a piece)
    at = 0
    try:
        for seg, first, _digest, n, _bound, _checks in records:
            top = defs[at] if n else None
            at += n
            if not seg or top is None or top["f"] != first or top["k"] not in ("f", "c") or "." in top["q"]:
                continue
            for f, e in ((first, top["e"]), (first + shift, top["e"] + shift))[:2 if shift else 1]:
                if f > done and e <= len(lines) and xxh3_128_hexdigest(content[starts[f - 1]:starts[e]], seed) == seg:
                    if f - 1 > done and not _blank(content[starts[done]:starts[f - 1]]):
                        piece = ast.parse(content[starts[done]:starts[f - 1]])
                        body += ast.increment_lineno(piece, done).body
                    body.append(Span(content[starts[f - 1]:starts[e]], f, e, top["n"], top["k"], seg, seed))
                    done = e
                    break
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError):
        return None
    if not body:
        return None
    if done < len(lines):
        try:
            body += ast.increment_lineno(ast.parse(content[starts[done]:]), done).body
        except (SyntaxError, ValueError):
            return None
    return ast.Module(body=body, type_ignores=[])
