"""Watch mode's "did this definition change" and the cache key come from one normaliser, so they
cannot disagree: a renamed local variable is no change for both, a changed body is a change for both."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine import Driver
from engine.live.code_index import diff_symbols, parse_module

BEFORE = '''
def total(values: list) -> int:
    acc = 0
    for v in values:
        acc += v
    return acc
'''
RENAMED_LOCAL = BEFORE.replace("acc", "running")
CHANGED_BODY = BEFORE.replace("acc += v", "acc += 2 * v")


def _watch_sees_change(tmp_path: Path, old: str, new: str) -> bool:
    path = tmp_path / "edit_mod.py"
    path.write_text(old)
    before = parse_module(str(path), "edit_mod")
    path.write_text(new)
    after = parse_module(str(path), "edit_mod")
    changed, added, removed = diff_symbols(before, after)
    return bool(changed or added or removed)


def _cache_reruns(tmp_path: Path, old: str, new: str) -> bool:
    mod = tmp_path / "cache_mod.py"
    store = tmp_path / "store"
    ran = []
    for source in (old, new):
        mod.write_text(source)
        sys.modules.pop("cache_mod", None)
        dr = Driver(str(mod)).with_cache(store)
        dr.add_listener(lambda e: ran.append(e.node) if e.kind == "node_finished" else None)
        dr.execute(["total"], inputs={"values": [1, 2, 3]})
    sys.modules.pop("cache_mod", None)
    return ran.count("total") == 2


@pytest.mark.parametrize(("edit", "changed"), [(RENAMED_LOCAL, False), (CHANGED_BODY, True)],
                         ids=["renamed local", "changed body"])
def test_watch_and_cache_agree(tmp_path: Path, edit: str, changed: bool) -> None:
    assert _watch_sees_change(tmp_path, BEFORE, edit) is changed
    assert _cache_reruns(tmp_path, BEFORE, edit) is changed


#: characters ``str.splitlines`` ends a line at and Python does not: in a comment or a string above a
#: definition, each would shift the line numbers a text-by-lines lookup goes by
NOT_PYTHON_LINE_ENDS = ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("sep", NOT_PYTHON_LINE_ENDS, ids=[f"U+{ord(c):04X}" for c in NOT_PYTHON_LINE_ENDS])
def test_the_watcher_sees_an_edit_below_a_character_python_does_not_end_a_line_at(tmp_path: Path, sep: str) -> None:
    """The watcher's index keeps each definition's digest by its text between the lines Python gives
    it; those lines were once taken from ``str.splitlines``, which also splits at form feeds and the
    like, so below a form feed (a page break, as PEP 8 allows) the text looked up was another
    definition's, and an edit to ``b`` left its digest, and the dashboard, as they were."""
    from engine.live.code_index import CodeIndex

    path = tmp_path / "paged.py"
    source = f'# page one{sep}page two\nNOTE = "x{sep}y"\n\n\ndef a() -> int:\n    return 1\n\n\ndef b() -> int:\n    return 2\n'
    path.write_text(source, encoding="utf-8")
    index = CodeIndex(tmp_path)
    index.add(str(path), "paged")
    path.write_text(source.replace("return 2", "return 3"), encoding="utf-8")
    old, new = index.add(str(path), "paged")
    assert diff_symbols(old, new)[0] == {"b"}
    path.write_text(source.replace("return 1", "return 5"), encoding="utf-8")
    old, new = index.add(str(path), "paged")
    assert diff_symbols(old, new)[0] == {"a", "b"}  # b back to "return 2"; a changed


def test_the_watcher_analyses_a_saved_file_from_its_last_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The watcher keeps the last analysis of the files it analysed most recently: after a save, it
    parses and walks the edited definition alone, and the analysis it hands the run, and the digests
    it compares, are the ones made from nothing."""
    from edited_files import edit_f42, hundred_functions, record_work, spans

    from engine.caching.source_analysis import analyze_source, content_digest, memo_key
    from engine.live import code_index
    from engine.live.code_index import CodeIndex

    path = hundred_functions(tmp_path)
    index = CodeIndex(tmp_path)
    index.add(str(path), "many")
    edit_f42(path)
    walked, trees = record_work(monkeypatch, code_index)
    old, new = index.add(str(path), "many", keep_analysis=True)
    assert len(walked) == 1 and diff_symbols(old, new)[0] == {"f42"}
    assert spans(trees[0]) == 99  # parsed: the edited one alone
    assert {k: v.digest for k, v in new.symbols.items()} == \
        {k: v.digest for k, v in parse_module(str(path), "many").symbols.items()}
    data = path.read_bytes()
    assert new.analysis == (memo_key(content_digest(data)), analyze_source(data, str(path)))


def test_the_reverse_references_kept_between_saves_are_those_made_from_nothing(tmp_path: Path) -> None:
    """The index keeps its symbol -> referrers map and, after a save, takes out the saved file's old
    references and puts in its new ones: after each of a run of saves (a call added, one removed, a
    def renamed, a module's imports changed, a file deleted and made again) the map is the one a new
    index makes of the same files."""
    from engine.live.code_index import CodeIndex

    (tmp_path / "helpers.py").write_text("def mix(a, b):\n    return a + b\n\n\ndef scale(a):\n    return a * 2\n")
    (tmp_path / "nodes.py").write_text("from helpers import mix\n\n\ndef a() -> int:\n    return 1\n\n\n"
                                       "def b(a: int) -> int:\n    return mix(a, 1)\n")
    saves = [
        ("nodes.py", "return mix(a, 1)", "return mix(a, 1) + c(a)\n\n\ndef c(a: int) -> int:\n    return a"),
        ("nodes.py", "return mix(a, 1) + c(a)", "return c(a)"),
        ("helpers.py", "def scale(a):\n    return a * 2", "def scaled(a):\n    return mix(a, a)"),
        ("nodes.py", "from helpers import mix", "from helpers import mix, scaled"),
        ("nodes.py", "return c(a)", "return scaled(c(a))"),
        ("helpers.py", None, None),
        ("helpers.py", "", "def mix(a, b):\n    return a - b\n\n\ndef scaled(a):\n    return a\n"),
    ]
    index = CodeIndex(tmp_path)
    for name in ("helpers.py", "nodes.py"):
        index.add(str(tmp_path / name))
    index.reverse_refs()
    for name, old, new in saves:
        path = tmp_path / name
        if old is None:
            path.unlink()
        else:
            text = path.read_text() if path.exists() else ""
            assert old in text
            path.write_text(text.replace(old, new, 1) if old else new)
        index.add(str(path))
        fresh = CodeIndex(tmp_path)
        for other in sorted(p.name for p in tmp_path.glob("*.py")):
            fresh.add(str(tmp_path / other))
        assert {k: v for k, v in index.reverse_refs().items() if v} == fresh.reverse_refs(), f"after {name}: {new}"
