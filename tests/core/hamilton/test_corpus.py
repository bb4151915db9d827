"""Every corpus module gives Hamilton's results on Ripple, in both import styles, cold and warm.

``hamilton`` style: the module exactly as written (imports from ``hamilton``), built by Hamilton's
own graph resolution and run by Ripple. ``engine`` style: the same text with the Hamilton imports
swapped for ``from engine import ...``, built by Ripple's own decorators. Each is run twice against
one cache folder: the second run (a new Driver) must give equal results with nothing re-run except
what is marked ``recompute``.
"""

from __future__ import annotations

import os
from pathlib import Path

import hamilton_harness as H
import pytest

from engine import Driver
from engine.events import CACHED, RAN

FILES = H.corpus_files()


def test_corpus_covers_at_least_forty_modules():
    assert len(FILES) >= 40


@pytest.mark.parametrize("style", ["hamilton", "engine"])
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_same_results_as_hamilton_cold_and_warm(path: Path, style: str, tmp_path: Path):
    case = H.case_of(path)
    text = path.read_text()
    compare = case.get("compare", case["outputs"])
    for i, cfg in enumerate(H.configs_of(case, tmp_path)):
        expected = H.run_hamilton(H.import_source(text, tmp_path, path.stem), cfg, case)
        for key in case.get("files", {}):
            if case.get("written") == key:
                os.unlink(cfg[key])
        source = text if style == "hamilton" else H.engine_source(text)
        module = H.import_source(source, tmp_path, path.stem)
        cache = tmp_path / f"cache{i}"
        cold = Driver(cfg, module).with_cache(cache)
        H.assert_same(expected, cold.execute(case["outputs"], inputs=H.inputs_of(case)), compare)
        if case.get("written"):
            assert Path(cfg[case["written"]]).exists()
        warm = Driver(cfg, module).with_cache(cache)
        result = warm.run(case["outputs"], inputs=H.inputs_of(case))
        assert result.error is None
        H.assert_same(expected, result.outputs, compare)
        recomputed = set(case.get("behaviors", {}))
        ran = {name for name, rec in result.records.items() if rec.status == RAN}
        assert ran <= recomputed | _downstream_of_recompute(warm, recomputed), ran
        assert result.count(CACHED) >= 1
        _check_variables(case, cold, expected)


def _downstream_of_recompute(dr: Driver, names: set[str]) -> set[str]:
    # a recompute node whose value is unchanged lets its dependents hit (early cutoff); the Hamilton
    # check_output wrapper nodes of a recompute node are part of it
    return {n for n in dr.graph.nodes if any(n.startswith(f"{r}_") or n.startswith(f"{r}.") for r in names)}


def _check_variables(case: dict, dr: Driver, expected: dict) -> None:
    names = {v.name for v in dr.list_available_variables()}
    assert set(expected) <= names
    for absent in case.get("absent", []):
        assert absent not in names
    by_name = {v.name: v for v in dr.list_available_variables()}
    for name, tags in case.get("tags", {}).items():
        assert tags.items() <= by_name[name].tags.items(), (name, by_name[name].tags)
