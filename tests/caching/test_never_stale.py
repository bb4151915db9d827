"""Issue 9 acceptance: never stale, for real — the parametrised matrix plus the documented limits.

Every matrix case writes a small project, runs it twice (the second run must be fully cached),
makes one edit, then asserts that exactly the expected nodes re-run and that every value equals a
run with no cache at all over freshly compiled code (``__pycache__`` deleted, no bytecode written).
Each run is "a new process" for the pipeline: its modules are purged from ``sys.modules``. Bytecode
is written (``sys.dont_write_bytecode`` off), as on a machine without ``PYTHONDONTWRITEBYTECODE``.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from test_never_stale_cases import CASES, FANOUT_CASES, Case, replace

from engine import Driver

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Project:
    """One case's project folder (the project root) with its own cache in ``.ripple``."""

    def __init__(self, root: Path, files: dict[str, str], pkg: str | None = None) -> None:
        self.root = root
        self.pkg = pkg or f"ns_{uuid.uuid4().hex[:8]}"
        for rel, text in files.items():
            path = root / rel.replace("PKG", self.pkg)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("PKG", self.pkg))

    def purge(self) -> None:
        prefixes = (self.pkg,)
        for name in [m for m in sys.modules if m.startswith(prefixes)]:
            del sys.modules[name]
        importlib.invalidate_caches()

    def driver(self, cache: bool = True) -> Driver:
        self.purge()
        dr = Driver({}, str(self.root / self.pkg))
        return dr.with_cache(self.root / ".ripple") if cache else dr

    def run(self) -> tuple[set[str], dict]:
        dr = self.driver()
        try:
            result = dr.run(_outputs(dr))
            assert result.status == "ok", f"{result.failed_node}: {result.error!r}"
            ran = {n for n, r in result.records.items() if r.status == "ran"}
            return ran, dict(dr.execute(_outputs(dr)))
        finally:
            dr.cache.close()

    def truth(self) -> dict:
        """Values from source compiled afresh, with no cache: what a cached run must equal."""
        for cache_dir in self.root.rglob("__pycache__"):
            shutil.rmtree(cache_dir)
        before = sys.dont_write_bytecode
        sys.dont_write_bytecode = True
        try:
            dr = self.driver(cache=False)
            return dict(dr.execute(_outputs(dr)))
        finally:
            sys.dont_write_bytecode = before


def _outputs(dr: Driver) -> list[str]:
    """Every node but fan-out expanders (a ``Parallelizable`` node is followed, not returned)."""
    return sorted(n for n, node in dr.graph.nodes.items() if node.kind != "expand")


@pytest.fixture
def fresh_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(logging.getLogger("engine"), "disabled", False)  # whatever logging setup ran before
    monkeypatch.syspath_prepend(str(tmp_path / "proj"))
    saved = dict(os.environ)
    yield tmp_path / "proj"
    os.environ.clear()
    os.environ.update(saved)


def _same(a: dict, b: dict) -> bool:
    import pandas as pd

    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, pd.DataFrame | pd.Series):
            if not (x.equals(y) and x.attrs == y.attrs and getattr(x.index, "freq", None) == getattr(y.index, "freq", None)):
                return False
        elif type(x).__module__ != "builtins" and hasattr(x, "__dict__"):
            if type(x).__qualname__ != type(y).__qualname__ or vars(x) != vars(y):
                return False
        elif x != y:
            return False
    return True


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_edit_reruns_exactly_what_it_affects(case: Case, fresh_env: Path) -> None:
    root = fresh_env
    root.mkdir()
    os.environ.update(case.env)
    for name in [n for n in os.environ if n.startswith("RIPPLE_T_") and n not in case.env]:
        del os.environ[name]
    p = Project(root, case.files)
    if case.setup is not None:
        case.setup(root, p.pkg)
    ran, _ = p.run()
    assert ran == set(p.driver(cache=False).graph.nodes), "the first run runs everything"
    assert p.run()[0] == set(), "a second identical run must be fully cached"
    case.edit(root, p.pkg)
    ran, values = p.run()
    assert ran == case.expected
    assert _same(values, p.truth()), "a cached run must equal a run without cache"
    assert p.run()[0] == set(), "after the edit is absorbed, everything hits again"


_FANNED = [c for c in FANOUT_CASES if c.files is FANOUT_CASES[-1].files]
_FANNED.append(Case("the per-item node's plugin edited, its size and mtime kept", _FANNED[0].files,
                    replace("PKG/plugins.py", "return x * 2", "return x * 3", keep_mtime=True),
                    {"plugged", "total", "report"}))


@pytest.mark.parametrize("case", _FANNED, ids=lambda c: c.id)
def test_a_project_in_a_folder_named_like_site_packages_is_a_project(case: Case, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``site-packages`` counts as a folder of a path, not as text in it: a project under
    ``tools-site-packages-x/`` has its files read, its code traced and its bytecode checked as any."""
    root = tmp_path / "tools-site-packages-x" / "proj"
    root.mkdir(parents=True)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.syspath_prepend(str(root))
    p = Project(root, case.files)
    assert p.run()[0] == set(p.driver(cache=False).graph.nodes) and p.run()[0] == set()
    case.edit(root, p.pkg)
    ran, values = p.run()
    assert ran == case.expected and _same(values, p.truth())


@pytest.mark.parametrize("executor", ["threads", "processes:2"])
@pytest.mark.parametrize("case", FANOUT_CASES, ids=lambda c: c.id)
def test_fan_out_edits_rerun_exactly_what_they_affect_on_the_pools(case: Case, executor: str,
                                                                    fresh_env: Path) -> None:
    """``FANOUT_CASES`` on the thread and process pools: their workers record what items read and
    ran (the batches) and what the expander read, as the sequential loop does."""
    fresh_env.mkdir()
    p = Project(fresh_env, case.files)

    def run() -> tuple[set[str], dict]:
        p.purge()
        dr = Driver({}, str(fresh_env / p.pkg), executor=executor).with_cache(fresh_env / ".ripple")
        try:
            result = dr.run(_outputs(dr))
            return {n for n, r in result.records.items() if r.status == "ran"}, dict(result.outputs)
        finally:
            dr.cache.close()

    run()
    assert run()[0] == set()
    case.edit(fresh_env, p.pkg)
    ran, values = run()
    assert ran == case.expected and _same(values, p.truth())


# ---------------------------------------------------------------------------------------------
# checkouts: reads under the project root are recorded relative to it

CHECKOUT = {
    "PKG/__init__.py": "",
    "data/a.txt": "one\n",
    "data/b.txt": "two\n",
    "PKG/nodes.py": (
        "from pathlib import Path\n\nDATA = Path(__file__).resolve().parent.parent / 'data'\n\n\n"
        "def a() -> str:\n    return (DATA / 'a.txt').read_text()\n\n\n"
        "def b() -> str:\n    return (DATA / 'b.txt').read_text()\n"
    ),
}


def test_moved_project_hits_and_second_checkout_checks_its_own_files(fresh_env: Path) -> None:
    first = fresh_env
    first.mkdir()
    p = Project(first, CHECKOUT)
    assert p.run()[0] == {"a", "b"}
    moved = first.parent / "moved"
    shutil.copytree(first, moved)  # the cache travels with the project (CI restoring .ripple elsewhere)
    sys.path.insert(0, str(moved))
    try:
        q = Project(moved, {}, pkg=p.pkg)
        assert q.run()[0] == set(), "a moved project hits"
        (moved / "data" / "a.txt").write_text("changed in the second checkout\n")
        ran, values = q.run()
        assert ran == {"a"}, "the second checkout is checked against its own files"
        assert values["a"] == "changed in the second checkout\n"
        sys.path.remove(str(moved))
        assert p.run()[0] == set(), "the first checkout is untouched"
    finally:
        if str(moved) in sys.path:
            sys.path.remove(str(moved))


# ---------------------------------------------------------------------------------------------
# documented limits and their warnings

SUBPROCESS = {
    "PKG/__init__.py": "",
    "PKG/nodes.py": (
        "import subprocess\nimport sys\n\n\n"
        "def spawned() -> str:\n"
        "    return subprocess.run([sys.executable, '-c', 'print(1)'], capture_output=True, text=True).stdout\n"
    ),
}


def test_a_node_starting_a_subprocess_gets_one_warning(fresh_env: Path, caplog: pytest.LogCaptureFixture) -> None:
    fresh_env.mkdir()
    p = Project(fresh_env, SUBPROCESS)
    with caplog.at_level(logging.WARNING, logger="engine"):
        p.run()
    warnings = [r.getMessage() for r in caplog.records if "subprocess" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "spawned" in warnings[0] and "Path" in warnings[0] and 'behavior="recompute"' in warnings[0]



def test_a_node_that_declares_its_subprocess_reads_gets_no_warning(fresh_env: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """``@tag(subprocess_reads="declared")`` (what a translated Makefile's targets carry)."""
    fresh_env.mkdir()
    files = dict(SUBPROCESS)
    files["PKG/nodes.py"] = files["PKG/nodes.py"].replace(
        "import sys\n\n\n", "import sys\n\nfrom engine import tag\n\n\n@tag(subprocess_reads=\"declared\")\n")
    p = Project(fresh_env, files)
    with caplog.at_level(logging.WARNING, logger="engine"):
        p.run()
    assert not [r for r in caplog.records if "started a subprocess" in r.getMessage()]

UNVERSIONABLE = {
    "PKG/__init__.py": "",
    "PKG/nodes.py": (
        "import threading\n\n_GATE = [threading.Lock(), 1]\n\n\n"
        "def gated() -> int:\n    return _GATE[1]\n\n\n"
        "def calm() -> int:\n    return 2\n"
    ),
}


def test_an_unversionable_constant_reruns_its_node_every_time_with_one_warning(
        fresh_env: Path, caplog: pytest.LogCaptureFixture) -> None:
    fresh_env.mkdir()
    p = Project(fresh_env, UNVERSIONABLE)
    with caplog.at_level(logging.WARNING, logger="engine"):
        assert p.run()[0] == {"gated", "calm"}
        assert p.run()[0] == {"gated"}
    warnings = [r.getMessage() for r in caplog.records if "cannot be versioned" in r.getMessage()]
    assert warnings and all("_GATE" in w for w in warnings)
    assert len({w for w in warnings}) == 1


SIDE_EFFECT = {
    "PKG/__init__.py": "",
    "PKG/nodes.py": (
        "class Config:\n    SCALE = 1\n\n\nSETTINGS = {'scale': 1}\n\n\n"
        "def setter(x: int) -> int:\n    Config.SCALE = x\n    SETTINGS['scale'] = x\n    return x\n\n\n"
        "def by_class() -> int:\n    return Config.SCALE * 10\n\n\n"
        "def by_global() -> int:\n    return SETTINGS['scale'] * 10\n"
    ),
}


def test_state_a_running_node_sets_is_seen_by_later_nodes_and_not_when_it_is_a_hit(fresh_env: Path) -> None:
    """The documented limit, for a class attribute and a module global alike: what a running node
    sets is looked at again before the next node's key (its readers run again with it), but a
    setting node served from the cache does not run, and its readers see the state as imported."""
    fresh_env.mkdir()
    p = Project(fresh_env, SIDE_EFFECT)

    def run(x: int) -> tuple[set[str], dict]:
        dr = p.driver()
        try:
            result = dr.run(["setter", "by_class", "by_global"], inputs={"x": x})
            return {n for n, r in result.records.items() if r.status == "ran"}, result.outputs
        finally:
            dr.cache.close()

    every = {"setter", "by_class", "by_global"}
    assert run(3) == (every, {"setter": 3, "by_class": 30, "by_global": 30})
    assert run(5) == (every, {"setter": 5, "by_class": 50, "by_global": 50})
    assert run(5) == ({"by_class", "by_global"}, {"setter": 5, "by_class": 10, "by_global": 10})


ROUNDTRIP = {
    "PKG/__init__.py": "",
    "PKG/nodes.py": (
        "import numpy as np\n\n\nclass Tagged(np.ndarray):\n    pass\n\n\n"
        "def tagged():\n    t = np.arange(3).view(Tagged)\n    t.unit = 'kg'\n    return t\n\n\n"
        "def unit(tagged) -> str:\n    return getattr(tagged, 'unit', 'lost')\n"
    ),
}


def test_a_value_that_pickling_changes_is_not_stored(fresh_env: Path, caplog: pytest.LogCaptureFixture) -> None:
    fresh_env.mkdir()
    p = Project(fresh_env, ROUNDTRIP)
    with caplog.at_level(logging.WARNING, logger="engine"):
        assert p.run()[0] == {"tagged", "unit"}
        ran, values = p.run()
    assert ran == {"tagged"}, "not stored, so it runs again; its dependent hits by early cutoff"
    assert values["unit"] == "kg"
    assert any("pickle" in r.getMessage() and "tagged" in r.getMessage() for r in caplog.records)


def test_explain_names_the_environment_variable(fresh_env: Path) -> None:
    fresh_env.mkdir()
    files = {"PKG/__init__.py": "", "PKG/nodes.py": "import os\n\n\ndef region() -> str:\n"
                                                   "    return os.getenv('RIPPLE_T_REGION', 'n')\n"}
    p = Project(fresh_env, files)
    p.run()
    os.environ["RIPPLE_T_REGION"] = "s"
    dr = p.driver()
    try:
        dr.run(["region"])
        text = dr.cache.explain("region")
    finally:
        dr.cache.close()
    assert "environment variable RIPPLE_T_REGION" in text
    assert "'s'" not in text and '"s"' not in text, "values are never shown, only their digest is kept"


def test_cli_run_after_an_mtime_preserving_edit(tmp_path: Path) -> None:
    """End to end through ``ripple run`` in fresh processes with bytecode written to disk."""
    files = {"PKG/__init__.py": "", "PKGhelp.py": "K = 3.5\n",
             "PKG/nodes.py": "import PKGhelp\n\n\ndef value() -> float:\n    return PKGhelp.K * 2\n"}
    p = Project(tmp_path, files)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cmd = [sys.executable, "-m", "engine.cli", "run", str(tmp_path / p.pkg), "--json"]

    def run() -> dict:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert out.returncode == 0, out.stderr
        import json

        return json.loads(out.stdout)

    first = run()
    pycs = list((tmp_path / "__pycache__").glob("*.pyc")) + list((tmp_path / p.pkg / "__pycache__").glob("*.pyc"))
    assert pycs, "bytecode was written"
    assert all(int.from_bytes(f.read_bytes()[4:8], "little") == 0b11 for f in pycs), "checked-hash pycs (PEP 552)"
    replace("PKGhelp.py", "K = 3.5", "K = 4.5", keep_mtime=True)(tmp_path, p.pkg)
    second = run()
    assert str(second).count("9.0") >= 1 and "7.0" in str(first)


def test_ripple_explain_names_a_changed_environment_variable(tmp_path: Path) -> None:
    files = {"PKG/__init__.py": "", "PKG/nodes.py": "import os\n\n\ndef region() -> str:\n"
                                                   "    return os.getenv('RIPPLE_T_WHERE', 'n')\n"}
    p = Project(tmp_path, files)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE_T_")}

    def ripple(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                              env={**env, **extra}, cwd=tmp_path, timeout=60)

    assert ripple("run", str(tmp_path / p.pkg)).returncode == 0
    out = ripple("explain", str(tmp_path / p.pkg), "region")
    assert out.returncode == 0 and out.stdout.startswith("region: hit"), out.stderr
    out = ripple("explain", str(tmp_path / p.pkg), "region", RIPPLE_T_WHERE="secret-value")
    assert out.returncode == 0, out.stderr
    assert "environment variable RIPPLE_T_WHERE changed" in out.stdout and "secret-value" not in out.stdout
    bad = ripple("explain", str(tmp_path / p.pkg), "regoin")
    assert bad.returncode == 2 and "region" in bad.stderr


def test_an_editable_install_is_versioned_by_its_content(fresh_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pip install -e ../common``: the library lives outside site-packages, with metadata that gives
    it a name and a version; an edit to it must still re-run the nodes that use it."""
    fresh_env.mkdir()
    lib = fresh_env.parent / "common"
    lib.mkdir()
    name = f"commonlib_{uuid.uuid4().hex[:6]}"
    (lib / f"{name}.py").write_text("RATE = 2\n\n\ndef apply(x):\n    return x * RATE\n")
    info = lib / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(name + "\n")
    monkeypatch.syspath_prepend(str(lib))
    files = {"PKG/__init__.py": "", "PKG/nodes.py": f"import {name}\n\n\ndef rate() -> int:\n    return {name}.RATE\n\n\n"
                                                   f"def applied() -> int:\n    return {name}.apply(5)\n"}
    p = Project(fresh_env, files)
    assert p.run()[0] == {"rate", "applied"}
    assert p.run()[0] == set()
    (lib / f"{name}.py").write_text("RATE = 3\n\n\ndef apply(x):\n    return x * RATE\n")
    sys.modules.pop(name, None)
    ran, values = p.run()
    assert ran == {"rate", "applied"} and values == {"rate": 3, "applied": 15}


def test_a_file_the_node_writes_is_not_taken_for_an_input(fresh_env: Path) -> None:
    """Files named by module constants count as read (C-level readers), unless the node wrote them."""
    fresh_env.mkdir()
    files = {"PKG/__init__.py": "", "PKG/nodes.py": (
        "from pathlib import Path\n\nLOG = Path(__file__).resolve().parent.parent / 'log.txt'\n\n\n"
        "def logged() -> int:\n    with open(LOG, 'a') as f:\n        f.write('ran\\n')\n    return 1\n")}
    p = Project(fresh_env, files)
    assert p.run()[0] == {"logged"}
    assert p.run()[0] == set(), "its own appended log line is not a changed input"
