"""Every test dependency is installed by ``pip install -e '.[test]'``, so no test may skip for a
missing import: a missing one must fail CI (the lineage schema tests once skipped unnoticed)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).parent


def test_no_test_skips_for_a_missing_import() -> None:
    offenders = [str(p.relative_to(TESTS)) for p in sorted(TESTS.rglob("*.py"))
                 if p != Path(__file__) and "pytest.importorskip(" in p.read_text()]
    assert not offenders, f"import test dependencies plainly (they are in the test extra): {offenders}"
