"""Versions describe the code that runs, even when it is not the code on disk.

A module imported before its file changed keeps running its old code: a notebook that edits the
pipeline and runs the driver again without reloading it, or bytecode that Python still trusts
because the edited source kept its size and mtime. Versioning such a function by its file would
store the old code's results under the new code's version, and a later process running the new
code would be served them. The versioner checks the live code against the file
(``SourceFiles.runs_as_written``) and versions it by its bytecode instead, with a warning."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from engine import Driver

SOURCE = "def a() -> int:\n    return {v}\n\n\ndef b(a: int) -> int:\n    return a * 2\n"


def _edit(path: Path, v: int, *, keep_mtime: bool = False, template: str = SOURCE) -> None:
    st = path.stat()
    path.write_text(template.format(v=v))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        os.utime(path, (st.st_mtime + 5, st.st_mtime + 5))


def _notebook(tmp_path: Path, template: str, old: int, new: int) -> tuple[str, dict, dict]:
    """Import, run, edit the file, run again on the same module object (a notebook's next cell: no
    reload), then run on a fresh import: ``(module name, second run's outputs, fresh outputs)``."""
    name = f"nb_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(template.format(v=old))
    module = importlib.import_module(name)
    store = tmp_path / "store"
    Driver({}, module).with_cache(store).execute(["b"])
    _edit(path, new, template=template)
    again = Driver({}, module).with_cache(store).execute(["b"])
    sys.modules.pop(name)
    return name, again, Driver({}, importlib.import_module(name)).with_cache(store).execute(["b"])


def test_a_module_edited_but_not_reloaded_never_poisons_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="engine"):
        name, again, fresh = _notebook(tmp_path, SOURCE, 11, 12)
    assert again == {"b": 22}  # what the code that runs computes
    assert any("runs code older than" in r.getMessage() and f"{name}.a" in r.getMessage() for r in caplog.records)
    assert fresh == {"b": 24}, "a result of the old code was served to the new one"


RAISING = "def a() -> int:\n    raise ValueError({v})\n\n\ndef b(a: int) -> int:\n    return a * 2\n"
OTHER = ("import sys; sys.path.insert(0, sys.argv[1]); import {name} as m; from engine import Driver; "
         "print(Driver({{}}, m).with_cache(sys.argv[2]).execute(['b'])['b'])")


def test_a_version_another_process_made_is_not_reused_for_code_imported_before_the_file_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A notebook imported the module; the file is then edited (``a`` now raises) and run from a
    terminal, which stores the new code's versions but no value of ``a``. The notebook runs again
    without reloading: the stored version of ``a`` describes the file, not the code the notebook
    runs, so it is made again here (and its old code versioned as what runs). Reused, the old
    ``a``'s result would be stored under the file's version and served to the code that raises."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"nb_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE.format(v=11))
    module = importlib.import_module(name)
    _edit(path, 13, template=RAISING)
    store = tmp_path / "store"

    def terminal() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", OTHER.format(name=name), str(tmp_path), str(store)],
                              capture_output=True, text=True, timeout=120)

    first = terminal()
    assert first.returncode != 0 and "ValueError: 13" in first.stderr
    with caplog.at_level(logging.WARNING, logger="engine"):
        assert Driver({}, module).with_cache(store).execute(["b"]) == {"b": 22}  # the code that runs
    assert any("runs code older than" in r.getMessage() and f"{name}.a" in r.getMessage() for r in caplog.records)
    again = terminal()
    assert again.returncode != 0 and "ValueError: 13" in again.stderr, \
        f"the notebook's old result was served to the file's code: {again.stdout}"


def test_a_run_another_process_recorded_is_not_replayed_to_code_imported_before_the_file_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As above, with every result of the edited file stored and its run recorded: the notebook's
    old code gets what it computes, not the file's results (``engine.caching.warm_runs``)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"nb_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE.format(v=11))
    module = importlib.import_module(name)
    _edit(path, 13)
    store = tmp_path / "store"
    cmd = [sys.executable, "-c", OTHER.format(name=name), str(tmp_path), str(store)]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout.split() == ["26"]
    assert Driver({}, module).with_cache(store).execute(["b"]) == {"b": 22}
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout.split() == ["26"]


PROPERTY = ("class Box:\n    @property\n    def size(self) -> int:\n        return {v}\n\n\n"
            "def b(x: int) -> int:\n    return Box().size * x\n")
NESTED = ("class Box:\n    class Inner:\n        def size(self) -> int:\n            return {v}\n\n\n"
          "def b(x: int) -> int:\n    return Box.Inner().size() * x\n")
WITH_INPUT = ("import sys; sys.path.insert(0, sys.argv[1]); import {name} as m; from engine import Driver; "
              "print(Driver({{'x': int(sys.argv[3])}}, m).with_cache(sys.argv[2]).execute(['b'])['b'])")


NOTEBOOK = textwrap.dedent("""
    import os, subprocess, sys
    folder, store, name, terminal, template = sys.argv[1:6]
    sys.path.insert(0, folder)
    module = __import__(name)  # by Python's own loader: nothing of Ripple imported yet
    path = os.path.join(folder, name + ".py")
    st = os.stat(path)
    with open(path, "w") as f:
        f.write(template.format(v=3))
    os.utime(path, (st.st_mtime + 5, st.st_mtime + 5))
    subprocess.run([sys.executable, "-c", terminal, folder, store, "1"], check=True, capture_output=True)  # the new code's versions
    from engine import Driver
    print(Driver({"x": 5}, module).with_cache(store).execute(["b"])["b"])
""")


@pytest.mark.parametrize("template", [PROPERTY, NESTED], ids=["property", "nested class"])
def test_a_method_edited_under_a_module_imported_before_is_not_taken_for_the_files(tmp_path: Path, template: str) -> None:
    """Only a property's getter (a method of a class in a class) changed in the file, after a
    notebook imported it with Python's own loader: comparing the module's code with the file's must
    look at those too, or the terminal's stored version (of the new code) would be reused in the
    notebook and the old code's result stored under it."""
    name = f"prop_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(template.format(v=2))
    terminal = WITH_INPUT.format(name=name)
    store = str(tmp_path / "store")
    nb = subprocess.run([sys.executable, "-c", NOTEBOOK, str(tmp_path), store, name, terminal, template],
                        capture_output=True, text=True, timeout=120)
    assert nb.returncode == 0, nb.stderr
    assert nb.stdout.split() == ["10"]  # the old code runs in the notebook
    again = subprocess.run([sys.executable, "-c", terminal, str(tmp_path), store, "5"], capture_output=True,
                           text=True, timeout=120, check=True)
    assert again.stdout.split() == ["15"], "the old code's result was served to the file's"


SCALED = "def a() -> int:\n    return 1\n\n\ndef b(a: int, x: int) -> int:\n    return (a + x) * {v}\n"
SCALED_RUN = ("import sys; sys.path.insert(0, sys.argv[1]); from engine import Driver; import {name} as m; "
              "print(Driver({{'x': int(sys.argv[3])}}, m).with_cache(sys.argv[2]).execute(['b'])['b'])")


def test_a_stale_bytecode_cache_python_trusts_does_not_take_the_versions_of_the_file(tmp_path: Path) -> None:
    """An edit that keeps size and mtime under a timestamp bytecode cache: Python's own loader keeps
    running the cache's old code, though the file changed long before the process started. A version
    of the new content that a process with its bytecode elsewhere stored (``PYTHONPYCACHEPREFIX``; a
    store shared with another machine) must not be reused for it: the old code's result would be
    stored under the new code's version."""
    name = f"stale_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(SCALED.format(v=2))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    elsewhere = {"PYTHONPYCACHEPREFIX": str(tmp_path / "elsewhere")}

    def run(x: int, **extra: str) -> str:
        cmd = [sys.executable, "-c", SCALED_RUN.format(name=name), str(tmp_path), str(tmp_path / "store"), str(x)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**env, **extra})
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import {name}"],
                   check=True, env=env)  # Python writes its timestamp cache
    _edit(path, 3, keep_mtime=True, template=SCALED)
    assert run(1, **elsewhere) == "6"  # the new code, its versions stored
    time.sleep(0.2)  # the edit now well before the next process starts
    assert run(5) == "12"  # Python runs the stale cache beside the file: (1 + 5) * 2
    assert run(5, **elsewhere) == "18", "the stale code's result was served to the file's"


CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import {name} as m
    from engine import Driver
    print(m.a(), Driver({{}}, m).with_cache(sys.argv[2]).execute(["b"])["b"])
""")


def test_bytecode_python_trusts_for_an_edited_source_is_versioned_as_what_runs(tmp_path: Path) -> None:
    """Python's own loader runs a timestamp cache whose source was edited keeping size and mtime: the
    old code runs and is versioned as such. The versioner, having compiled the file's content, leaves
    a hash-based cache of it in place of the stale one, so the next process runs the file as written."""
    name = f"pyc_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE.format(v=11))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run(code: str = CHILD.format(name=name)) -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(tmp_path / "store")],
                             capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        ran, b = out.stdout.split()
        return int(ran), int(b)

    assert run(f"import sys; sys.path.insert(0, sys.argv[1]); import {name} as m; print(m.a(), 0)") == (11, 0)
    (pyc,) = (tmp_path / "__pycache__").glob(f"{name}.*.pyc")
    assert pyc.read_bytes()[4:8] == bytes(4)  # Python wrote a timestamp cache
    _edit(path, 12, keep_mtime=True)  # same size, same mtime: Python keeps running the old bytecode
    assert run() == (11, 22)  # the result of the code that ran, versioned by that code
    assert run() == (12, 24), "the old bytecode's result was served to the recompiled code"


def test_code_ripples_loader_imported_is_known_without_compiling_it_again(tmp_path: Path) -> None:
    """The command line, watch mode and the dashboard import pipelines through Ripple's loader,
    which notes the code objects it made: their versions cost no second compile, and an edit after
    the import is still caught (the compile then tells)."""
    from engine.core.loading import load_pipeline

    path = tmp_path / f"loaded_{uuid.uuid4().hex[:8]}.py"
    path.write_text(SOURCE.format(v=11))
    pipe = load_pipeline(str(path))
    dr = Driver({}, *pipe.modules).with_cache(tmp_path / "store")
    assert dr.execute(["b"]) == {"b": 22}
    assert not dr.cache.versioner.sources._compiled  # known from the import itself
    _edit(path, 12)
    again = Driver({}, *pipe.modules).with_cache(tmp_path / "store")
    assert again.execute(["b"]) == {"b": 22}  # the module was not reloaded: its old code ran
    assert again.cache.versioner.sources._compiled  # the edit was checked by compiling
    assert again.cache.code_version(again.graph.nodes["a"]).digest != dr.cache.code_version(dr.graph.nodes["a"]).digest


CLASSY = "class Scaler:\n    def scale(self, x: int) -> int:\n        return x * {v}\n\n\n" \
         "def a() -> int:\n    return 10\n\n\ndef b(a: int) -> int:\n    return Scaler().scale(a)\n"


def test_a_class_method_edited_but_not_reloaded_never_poisons_the_cache(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _name, again, fresh = _notebook(tmp_path, CLASSY, 2, 3)
    assert again == {"b": 20}  # the old method ran
    assert fresh == {"b": 30}, "the old method's result was served to the new one"


ATTRIBUTE = "class Scaler:\n    FACTOR = {v}\n\n    def scale(self, x: int) -> int:\n        return x * self.FACTOR\n\n\n" \
            "def a() -> int:\n    return 10\n\n\ndef b(a: int) -> int:\n    return Scaler().scale(a)\n"


def test_a_class_attribute_edited_but_not_reloaded_never_poisons_the_cache(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """No function changed, so the code check cannot tell; the module's bytecode cache, written at
    the import for the content then, no longer matches the file: the class is versioned from what
    it holds."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    _name, again, fresh = _notebook(tmp_path, ATTRIBUTE, 2, 3)
    assert again == {"b": 20}  # the old attribute's value ran
    assert fresh == {"b": 30}, "the old attribute's result was served to the new class"


def test_ripples_loader_knows_a_module_it_imported_from_other_content(tmp_path: Path) -> None:
    from engine.core.loading import load_pipeline

    path = tmp_path / f"attr_{uuid.uuid4().hex[:8]}.py"
    path.write_text(ATTRIBUTE.format(v=2))
    pipe = load_pipeline(str(path))
    assert Driver({}, *pipe.modules).with_cache(tmp_path / "store").execute(["b"]) == {"b": 20}
    _edit(path, 3, template=ATTRIBUTE)
    assert Driver({}, *pipe.modules).with_cache(tmp_path / "store").execute(["b"]) == {"b": 20}
    sys.modules.pop(pipe.modules[0].__name__)
    fresh = load_pipeline(str(path))
    assert Driver({}, *fresh.modules).with_cache(tmp_path / "store").execute(["b"]) == {"b": 30}


RICH = textwrap.dedent('''
    """A module whose analysis rewrites a lot of its tree: docstrings, locals, lambdas, comprehensions."""
    import functools


    class Box:
        """kept"""
        def __init__(self, v: int) -> None:
            self.v = v


    def helper(x: int) -> int:
        """doc"""
        total = 0
        for i in range(x):
            total += (lambda y: y * 2)(i)
        return total + sum(k for k in range(3)) + len([j for j in range(2)])


    @functools.lru_cache(maxsize=None)
    def memo(x: int) -> int:
        return x + 1


    def a() -> int:
        """The first node."""
        value = helper(3)
        return Box(value).v + memo(1)


    def b(a: int) -> int:
        def inner(z: int) -> int:
            return z - 1
        return inner(a) * {v}
''')


RICH_CHILD = textwrap.dedent("""
    import logging, sys
    sys.path.insert(0, sys.argv[1])
    import {name} as m
    from engine import Driver
    from engine.core.bytecode import nested_code
    logging.basicConfig(level=logging.WARNING)
    dr = Driver({{}}, m).with_cache(sys.argv[2])
    print(dr.execute(["b"])["b"])
    sources = dr.cache.versioner.sources
    (info,) = [i for p, (_sig, i) in sources.seen.items() if p.endswith("{name}.py")]
    by_tree = [c for codes in sources._compiled[info.content_digest].values() for c in codes]
    text = compile(open(info.path, "rb").read(), info.path, "exec", dont_inherit=True)
    key = lambda c: (c.co_firstlineno, c.co_qualname)
    print(sorted(by_tree, key=key) == sorted(nested_code(text), key=key))
""")


def test_a_module_python_imported_is_checked_against_its_own_file_once_parsed(tmp_path: Path) -> None:
    """The library path (a module Python's own loader imported): its content is compiled from the
    tree the analysis parses, before the analysis rewrites it. That must give the very code objects
    the import made, or every function would be taken for stale code and versioned by its bytecode
    (with a warning)."""
    name = f"rich_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(RICH.format(v=2))
    proc = subprocess.run([sys.executable, "-c", RICH_CHILD.format(name=name), str(tmp_path), str(tmp_path / "store")],
                          capture_output=True, text=True, check=True)
    assert "runs code older" not in proc.stderr
    assert proc.stdout.split() == ["24", "True"]  # the code objects of the text, from the tree



CACHED_CHILD = textwrap.dedent("""
    import logging, sys
    sys.path.insert(0, sys.argv[1])
    import {name} as m
    from engine import Driver
    import engine.caching.source_files as source_files
    compiled = []
    def counting(source, path, *args, **kwargs):
        compiled.append(path)
        return compile(source, path, *args, **kwargs)
    source_files.compile = counting  # the module's global shadows the builtin
    logging.basicConfig(level=logging.WARNING)
    print(m.a(), Driver({{}}, m).with_cache(sys.argv[2]).execute(["b"])["b"], len(compiled))
""")


def test_a_version_made_again_reads_the_code_from_the_bytecode_cache_not_a_compile(tmp_path: Path) -> None:
    """The library path, a module Python's own loader imported: to make a version the versioner needs
    what the file compiles to. It compiles the content once and leaves a hash-based bytecode cache of
    it; a later version made of that content (a new store here) reads the code from it, and so does one
    made of an edited content, whose cache Python itself then writes hash-based. An edit keeping
    size and mtime is caught by the hash: Python recompiles and the new code's result is computed."""
    name = f"hashed_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE.format(v=11))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run(store: str) -> tuple[list[int], str]:
        out = subprocess.run([sys.executable, "-c", CACHED_CHILD.format(name=name), str(tmp_path),
                              str(tmp_path / store)], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        return [int(x) for x in out.stdout.split()], out.stderr

    assert run("first") == ([11, 22, 1], "")  # compiled once; its hash-based cache written
    assert run("second") == ([11, 22, 0], ""), "the code was compiled although the bytecode cache holds it"
    _edit(path, 12)
    assert run("second") == ([12, 24, 0], "")  # Python wrote the edited content's cache hash-based
    _edit(path, 13, keep_mtime=True)
    assert run("second") == ([13, 26, 0], "")


def test_a_hash_based_bytecode_cache_gives_the_code_only_of_the_content_it_was_made_of(tmp_path: Path) -> None:
    import py_compile

    from engine.core.bytecode import cached_code

    path = tmp_path / "hashed.py"
    path.write_text(SOURCE.format(v=11))
    content = path.read_bytes()
    for mode in (py_compile.PycInvalidationMode.CHECKED_HASH, py_compile.PycInvalidationMode.UNCHECKED_HASH):
        py_compile.compile(str(path), invalidation_mode=mode)
        assert cached_code(str(path), content) == compile(content, str(path), "exec", dont_inherit=True)
        other = SOURCE.format(v=12).encode()
        assert len(other) == len(content) and cached_code(str(path), other) is None
    py_compile.compile(str(path), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    assert cached_code(str(path), content) is None  # it does not say which content it was made of
    pyc = Path(importlib.util.cache_from_source(str(path)))
    py_compile.compile(str(path), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    pyc.write_bytes(pyc.read_bytes()[:40])  # torn
    assert cached_code(str(path), content) is None
