"""Records of what a node read, with the per-node work cut: string constants are collected once per
code object, but the module constants a node names are read as they are at each store."""

from __future__ import annotations

from pathlib import Path

from engine import Driver
from engine.caching.observed import node_string_reads


def test_files_named_by_constants_are_found_as_the_constants_are_now(tmp_path: Path, make_module) -> None:
    (tmp_path / "first.csv").write_text("1")
    (tmp_path / "second.csv").write_text("2")
    mod = make_module(f'''
        DATA = {str(tmp_path / "first.csv")!r}

        def reader() -> int:
            return len(DATA) + len("notes.txt")
        ''')
    root = str(tmp_path)
    assert node_string_reads(mod.reader, root) == [str(tmp_path / "first.csv")]
    mod.DATA = str(tmp_path / "second.csv")  # same code object, another value
    assert node_string_reads(mod.reader, root) == [str(tmp_path / "second.csv")]
    (tmp_path / "notes.txt").write_text("now it exists")  # a literal of the code, checked each time
    assert node_string_reads(mod.reader, root) == sorted([str(tmp_path / "second.csv"), str(tmp_path / "notes.txt")])


def test_a_returned_path_is_recorded_and_a_scalar_records_nothing(tmp_path: Path, make_module) -> None:
    out = tmp_path / "out.txt"
    mod = make_module(f'''
        from pathlib import Path

        def written() -> Path:
            p = Path({str(out)!r})
            p.write_text("6")
            return p

        def number() -> int:
            return 41
        ''')
    dr = Driver({}, mod).with_cache(tmp_path / "cache")
    dr.execute(["written", "number"])
    store = dr.cache.store
    store.commit()
    assert set(store.latest_entry("written").files) == {"out.txt"}
    assert store.latest_entry("number").files == {}
    out.write_text("7")  # someone edits the produced file: the node runs again
    again = Driver({}, mod).with_cache(tmp_path / "cache")
    result = again.run(["written", "number"])
    assert result.records["written"].status == "ran" and result.records["number"].status == "cached"
    dr.cache.close()
    again.cache.close()
