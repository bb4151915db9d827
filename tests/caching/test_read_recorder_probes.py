"""A recorder that only needs a node's reads (the watch child's, around the cache's own) records the
files but runs no probe, so code is not traced twice."""

from __future__ import annotations

from pathlib import Path

import engine.caching.observed  # noqa: F401 - registers the code-tracing probe
from engine.core.reads import ReadRecorder


def _work(path: Path) -> str:
    return path.read_text()


def test_probes_off_records_files_but_traces_no_code(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("x")
    traced, plain = ReadRecorder(), ReadRecorder(probes=False)
    with traced:
        _work(data)
    with plain:
        _work(data)
    assert list(traced.paths) == list(plain.paths) == [str(data)]
    assert "code" in traced.paths.seen and "code" not in plain.paths.seen
