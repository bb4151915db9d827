"""Which distribution provides an import name: the scan of every installed distribution is paid once
per environment (persisted in the store's memo under the signature of ``sys.path``), not per process."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from engine._version import __version__
from engine.caching import distributions as d


@pytest.fixture(autouse=True)
def fresh_process_memos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(d, "_DIST_VERSION_MEMO", {})
    monkeypatch.setattr(d, "_PACKAGES_DISTRIBUTIONS_MEMO", {})


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(d, "_DIST_VERSION_MEMO", {})
    monkeypatch.setattr(d, "_PACKAGES_DISTRIBUTIONS_MEMO", {})


def test_a_second_process_resolves_without_scanning(monkeypatch: pytest.MonkeyPatch) -> None:
    memo: dict[str, str] = {}
    assert d.dist_version("engine", memo) == f"ripple=={__version__}"  # not named after its import name
    assert any(k.startswith("dists:") for k in memo)
    _new_process(monkeypatch)

    def no_scan() -> dict:
        raise AssertionError("scanned every distribution again")

    monkeypatch.setattr(importlib.metadata, "packages_distributions", no_scan)
    assert d.dist_version("engine", memo) == f"ripple=={__version__}"


def test_a_changed_environment_scans_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    memo: dict[str, str] = {}
    d.dist_version("engine", memo)
    _new_process(monkeypatch)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])  # as if something was installed
    scans = []
    real = importlib.metadata.packages_distributions
    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: scans.append(1) or real())
    assert d.dist_version("engine", memo) == f"ripple=={__version__}"
    assert scans == [1] and len([k for k in memo if k.startswith("dists:")]) == 2
