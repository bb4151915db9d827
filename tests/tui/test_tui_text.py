"""The dashboard's source pane reads a file by the lines Python numbers."""

from __future__ import annotations

from pathlib import Path

from tui.text import function_span, read_lines


def test_the_source_pane_shows_the_function_below_a_form_feed(tmp_path: Path) -> None:
    """A node's line comes from its code object; ``str.splitlines`` would also end a line at the form
    feed (a page break) above it, and the pane would show the lines above the function instead."""
    path = tmp_path / "paged.py"
    path.write_text("def a():\n    return 1\n\n# page two\x0cstill the comment\n\ndef b():\n    return 2\n",
                    encoding="utf-8")
    ns: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), ns)
    lines = read_lines(str(path))
    assert lines is not None
    start, end = function_span(lines, ns["b"].__code__.co_firstlineno)
    assert lines[start - 1:end] == ["def b():", "    return 2"]
    assert read_lines(str(tmp_path / "missing.py")) is None
