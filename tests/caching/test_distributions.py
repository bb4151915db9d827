"""Which distribution provides an import name, and its version: the scan of every installed
distribution, and then each answer, are paid once per environment (persisted in the store's memo
under the signature of the folders holding distributions), not once per process."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine._version import __version__
from engine.caching import distributions as d


@pytest.fixture(autouse=True)
def fresh_process_memos(monkeypatch: pytest.MonkeyPatch) -> None:
    _new_process(monkeypatch)


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(d, "_DIST_VERSION_MEMO", {})
    monkeypatch.setattr(d, "_PACKAGES_DISTRIBUTIONS_MEMO", {})
    monkeypatch.setattr(d, "_PERSISTED", {})


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
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])  # as if something was installed
    scans = []
    real = importlib.metadata.packages_distributions
    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: scans.append(1) or real())
    assert d.dist_version("engine", memo) == f"ripple=={__version__}"
    assert scans == [1] and len([k for k in memo if k.startswith("dists:")]) == 2


def test_a_later_process_reads_no_library_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    memo: dict[str, str] = {}
    version = d.dist_version("xxhash", memo)
    assert version and version.startswith("xxhash==")
    _new_process(monkeypatch)

    def no_metadata(*_: object) -> None:
        raise AssertionError("read a distribution's metadata again")

    monkeypatch.setattr(importlib.metadata, "distribution", no_metadata)
    monkeypatch.setattr(importlib.metadata, "version", no_metadata)
    assert d.dist_version("xxhash", memo) == version


def _fake_site(root: Path, version: str) -> Path:
    """A ``site-packages`` folder holding distribution ``fakelib`` at ``version``."""
    site = root / "site-packages"
    (site / "fakelib").mkdir(parents=True, exist_ok=True)
    (site / "fakelib" / "__init__.py").write_text("")
    for old in site.glob("fakelib-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = site / f"fakelib-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakelib\nVersion: {version}\n")
    (info / "top_level.txt").write_text("fakelib\n")
    return site


def test_an_upgrade_in_site_packages_is_resolved_again_in_a_new_process(tmp_path: Path) -> None:
    # real processes: what one process persisted, the next one reads or rejects
    site = _fake_site(tmp_path, "1.0")
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); from engine.caching import distributions as d\n"
            "from pathlib import Path\n"
            "memo_file = Path(sys.argv[2]); memo = json.loads(memo_file.read_text()) if memo_file.exists() else {}\n"
            "print(d.dist_version('fakelib', memo)); print('importlib.metadata' in sys.modules)\n"
            "memo_file.write_text(json.dumps(memo))\n")

    def run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", code, str(site), str(tmp_path / "memo.json")],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert run() == ["fakelib==1.0", "True"]
    assert run() == ["fakelib==1.0", "False"]  # persisted: no metadata read, not even imported
    time.sleep(0.01)
    _fake_site(tmp_path, "2.0")  # pip removes the old .dist-info and writes the new one
    assert run() == ["fakelib==2.0", "True"]


def test_a_save_in_the_project_folder_does_not_invalidate_the_versions(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    memo: dict[str, str] = {}
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])  # the project, as the loader puts it
    d.dist_version("xxhash", memo)
    (tmp_path / ".swap").write_text("x")
    os.replace(tmp_path / ".swap", tmp_path / "nodes.py")  # an editor's atomic save changes the folder
    _new_process(monkeypatch)
    monkeypatch.setattr(importlib.metadata, "distribution", lambda *_: (_ for _ in ()).throw(AssertionError))
    assert d.dist_version("xxhash", memo).startswith("xxhash==")


def test_a_persisted_map_of_another_shape_is_resolved_again(monkeypatch: pytest.MonkeyPatch) -> None:
    memo: dict[str, str] = {}
    d.dist_version("xxhash", memo)
    key = next(k for k in memo if k.startswith("distv:"))
    memo[key] = '{"xxhash": 99}'
    _new_process(monkeypatch)
    assert d.dist_version("xxhash", memo).startswith("xxhash==")
