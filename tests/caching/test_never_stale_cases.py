"""An adversarial matrix of edits real projects make: one edit each, and exactly the nodes that must re-run.

Each case is a tiny pipeline package (``PKG`` is replaced by a unique name), an edit made the way
a user or a tool would make it, and the exact set of nodes that must run again. The test driver
(``test_never_stale.py``; this module holds no tests itself) also checks that every value then equals a run without any cache.
"""

from __future__ import annotations

import os
import sqlite3
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Case:
    id: str
    files: dict[str, str]
    edit: Callable[[Path, str], None]
    expected: set[str]
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path, str], None] | None = None


Edit = Callable[[Path, str], None]
"""An edit gets the project root and the package name that stands for ``PKG``."""


def replace(rel: str, old: str, new: str, *, keep_mtime: bool = False) -> Edit:
    """Edit ``rel`` (under the project root); ``keep_mtime`` restores the old mtime, as ``cp -p``,
    ``rsync -t``, ``tar x`` or an editor that preserves times would."""

    def edit(root: Path, pkg: str) -> None:
        path = root / rel.replace("PKG", pkg)
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} is not unique in {rel}"
        st = path.stat()
        path.write_text(text.replace(old, new, 1))
        if keep_mtime:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    return edit


def write(rel: str, text: str) -> Edit:
    def edit(root: Path, pkg: str) -> None:
        path = root / rel.replace("PKG", pkg)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return edit


def remove(rel: str) -> Edit:
    return lambda root, pkg: (root / rel.replace("PKG", pkg)).unlink()


def setenv(name: str, value: str | None) -> Edit:
    def edit(root: Path, pkg: str) -> None:
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    return edit


def both(*edits: Edit) -> Edit:
    def edit(root: Path, pkg: str) -> None:
        for e in edits:
            e(root, pkg)

    return edit


def _d(s: str) -> str:
    return textwrap.dedent(s).lstrip("\n")


# ------------------------------------------------------------------------------------------------
# 1. code reached at run time

MODEL = {
    "PKG/__init__.py": "",
    "PKG/models.py": _d('''
        import dataclasses

        class Model:
            scale = 2

            def __init__(self, k):
                self.k = k

            def predict(self, x):
                return [v * self.k * self.scale for v in x]

        @dataclasses.dataclass
        class Box:
            n: int

            def total(self):
                return self.n + 1
    '''),
    "PKG/nodes.py": _d('''
        from .models import Box, Model

        def model() -> object:
            return Model(3)

        def box():
            return Box(4)

        def pred(model):
            return model.predict([1, 2])

        def boxed(box):
            return box.total()

        def other() -> int:
            return 7
    '''),
}

DISPATCH = {
    "PKG/__init__.py": "",
    "PKGplugins.py": _d('''
        def run(x):
            return x + 1

        def fast(x):
            return x * 2
    '''),
    "PKG/nodes.py": _d('''
        import functools
        import importlib

        import numpy as np

        def _h_a(x):
            return x + 10

        def _h_b(x):
            return x + 20

        @functools.singledispatch
        def _fmt(x):
            return "?"

        @_fmt.register(int)
        def _fmt_int(x):
            return f"int:{x}"

        def _sq(v):
            return v * v

        _VEC = np.vectorize(_sq)

        def by_globals() -> int:
            return globals()["_h_" + "a"](1)

        def by_import() -> int:
            return importlib.import_module(__package__ + "plugins").run(1)

        def by_getattr() -> int:
            mod = importlib.import_module(__package__ + "plugins")
            return getattr(mod, "fa" + "st")(3)

        def dispatched() -> str:
            return _fmt(5)

        def vectorized() -> list:
            return _VEC(np.arange(3)).tolist()

        def by_thread() -> int:
            import threading
            out = []
            t = threading.Thread(target=lambda: out.append(globals()["_h_b"](1)))
            t.start()
            t.join()
            return out[0]

        def by_pool() -> int:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(2) as pool:
                return sum(pool.map(globals()["_h_" + "b"], [1, 2]))

        def by_literal() -> int:
            return importlib.import_module("PKGconsts").LIMIT

        def untouched() -> int:
            return 1
    '''),
    "PKGconsts.py": "LIMIT = 4\n",
}

CODE_CASES = [
    Case("method of an upstream object", MODEL, replace("PKG/models.py", "v * self.k * self.scale", "v * self.k * self.scale + 1"),
         {"model", "pred"}),
    Case("class attribute", MODEL, replace("PKG/models.py", "scale = 2", "scale = 5"), {"model", "pred"}),
    Case("dataclass method", MODEL, replace("PKG/models.py", "return self.n + 1", "return self.n + 2"), {"box", "boxed"}),
    Case("function reached through globals()", DISPATCH, replace("PKG/nodes.py", "return x + 10", "return x + 11"),
         {"by_globals"}),
    Case("importlib.import_module of a computed name", DISPATCH,
         replace("PKGplugins.py", "return x + 1", "return x + 2"), {"by_import"}),
    Case("getattr with a computed name", DISPATCH, replace("PKGplugins.py", "return x * 2", "return x * 3"),
         {"by_getattr"}),
    Case("function added to a plugin module", DISPATCH,
         replace("PKGplugins.py", "def fast(x):", "def extra(x):\n    return x\n\n\ndef fast(x):"), set()),
    Case("import_module of a literal: attribute read", DISPATCH, replace("PKGconsts.py", "LIMIT = 4", "LIMIT = 5"),
         {"by_literal"}),
    Case("node in the same module edited", MODEL, replace("PKG/nodes.py", "return 7", "return 8"), {"other"}),
    Case("singledispatch registration", DISPATCH, replace("PKG/nodes.py", 'f"int:{x}"', 'f"INT:{x}"'), {"dispatched"}),
    Case("np.vectorize around a project function", DISPATCH, replace("PKG/nodes.py", "return v * v", "return v * v * v"),
         {"vectorized"}),
    Case("helper called in a thread the node starts", DISPATCH, replace("PKG/nodes.py", "return x + 20", "return x + 21"),
         {"by_thread", "by_pool"}),
]

# ------------------------------------------------------------------------------------------------
# 2. environment variables

ENV = {
    "PKG/__init__.py": "",
    "PKG/helpers.py": _d('''
        import os

        def _region():
            return os.environ.get("RIPPLE_T_REGION", "north")
    '''),
    "PKG/nodes.py": _d('''
        import os
        from os import environ

        from .helpers import _region

        def item() -> str:
            return os.environ["RIPPLE_T_ITEM"]

        def getenv() -> str:
            return os.getenv("RIPPLE_T_GETENV", "default")

        def imported() -> str:
            return environ.get("RIPPLE_T_IMPORTED", "x")

        def flag() -> bool:
            return "RIPPLE_T_FLAG" in os.environ

        def helper() -> str:
            return _region()

        def threaded() -> str:
            import threading
            out = []
            t = threading.Thread(target=lambda: out.append(os.getenv("RIPPLE_T_THREAD", "t")))
            t.start()
            t.join()
            return out[0]

        def plain() -> int:
            return 1
    '''),
}
ENV_BASE = {"RIPPLE_T_ITEM": "a", "RIPPLE_T_GETENV": "g"}

ENV_CASES = [
    Case("os.environ[...] value changed", ENV, setenv("RIPPLE_T_ITEM", "b"), {"item"}, ENV_BASE),
    Case("os.getenv value changed", ENV, setenv("RIPPLE_T_GETENV", "h"), {"getenv"}, ENV_BASE),
    Case("os.getenv variable removed", ENV, setenv("RIPPLE_T_GETENV", None), {"getenv"}, ENV_BASE),
    Case("from os import environ; .get", ENV, setenv("RIPPLE_T_IMPORTED", "y"), {"imported"}, ENV_BASE),
    Case("variable appears (in os.environ)", ENV, setenv("RIPPLE_T_FLAG", "1"), {"flag"}, ENV_BASE),
    Case("variable read in a helper module", ENV, setenv("RIPPLE_T_REGION", "south"), {"helper"}, ENV_BASE),
    Case("variable read in a thread", ENV, setenv("RIPPLE_T_THREAD", "u"), {"threaded"}, ENV_BASE),
    Case("unrelated variable changed", ENV, setenv("RIPPLE_T_UNRELATED", "z"), set(), ENV_BASE),
    Case("two variables changed at once", ENV, both(setenv("RIPPLE_T_ITEM", "c"), setenv("RIPPLE_T_FLAG", "1")),
         {"item", "flag"}, ENV_BASE),
]

# ------------------------------------------------------------------------------------------------
# 3. bytecode that does not match the source

BYTECODE = {
    "PKG/__init__.py": "",
    "PKG/inner.py": "RATE = 3.5\n",
    "PKGlazy.py": "VALUE = 1.5\n",
    "PKGlib.py": _d('''
        OFFSET = 3.5

        def shift(x):
            return x + OFFSET
    '''),
    "PKG/nodes.py": _d('''
        import PKGlib

        from . import inner

        def shifted() -> float:
            return PKGlib.shift(1.0)

        def rated() -> float:
            return inner.RATE * 2

        def lazy() -> float:
            import PKGlazy
            return PKGlazy.VALUE + 1

        def fixed() -> int:
            return 2
    '''),
}


def _checkout_older(rel: str, old_text: str) -> Edit:
    """``git checkout`` of an older version: old content with an old mtime, same size."""

    def edit(root: Path, pkg: str) -> None:
        path = root / rel.replace("PKG", pkg)
        st = path.stat()
        path.write_text(old_text)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9 * 3600))

    return edit


BYTECODE_CASES = [
    Case("same-size edit, same second, module outside the package", BYTECODE,
         replace("PKGlib.py", "OFFSET = 3.5", "OFFSET = 3.0"), {"shifted"}),
    Case("same-size edit, mtime kept (cp -p), outside the package", BYTECODE,
         replace("PKGlib.py", "OFFSET = 3.5", "OFFSET = 4.5", keep_mtime=True), {"shifted"}),
    Case("same-size edit, mtime kept, inside the package", BYTECODE,
         replace("PKG/inner.py", "RATE = 3.5", "RATE = 2.5", keep_mtime=True), {"rated"}),
    Case("same-size edit of a function body, mtime kept", BYTECODE,
         replace("PKGlib.py", "x + OFFSET", "x - OFFSET", keep_mtime=True), {"shifted"}),
    Case("git checkout of an older file (older mtime)", BYTECODE,
         _checkout_older("PKG/inner.py", "RATE = 1.5\n"), {"rated"}),
    Case("same-size edit, mtime kept, module imported inside a node", BYTECODE,
         replace("PKGlazy.py", "VALUE = 1.5", "VALUE = 7.5", keep_mtime=True), {"lazy"}),
]

# ------------------------------------------------------------------------------------------------
# 4. constants that a lossy repr cannot tell apart

CONSTS = {
    "PKG/__init__.py": "",
    "PKG/nodes.py": _d('''
        import array
        import random
        import re
        import struct
        import types

        import numpy as np

        _RNG = random.Random(42)
        _GEN = np.random.default_rng(42)
        _FMT = struct.Struct("<i")
        _LONG = re.compile("a" * 300 + "(b)")
        _NS = types.SimpleNamespace(table=np.concatenate([np.zeros(1000), np.zeros(1000)]), label="t")
        _ODD = types.SimpleNamespace(raw=array.array("i", [1, 2, 3]), n=1)

        def seeded() -> float:
            return random.Random(_RNG.random()).random()

        def generated() -> float:
            return float(np.random.default_rng(_GEN.integers(1000)).random())

        def packed() -> bytes:
            return _FMT.pack(7)

        def matched() -> bool:
            return bool(_LONG.search("a" * 300 + "b"))

        def summed() -> float:
            return float(_NS.table.sum())

        def odd() -> int:
            return sum(_ODD.raw)

        def plain() -> int:
            return 3
    '''),
}

CONST_CASES = [
    Case("random.Random seed", CONSTS, replace("PKG/nodes.py", "random.Random(42)", "random.Random(43)"), {"seeded"}),
    Case("numpy default_rng seed", CONSTS, replace("PKG/nodes.py", "default_rng(42)", "default_rng(41)"), {"generated"}),
    Case("struct.Struct format", CONSTS, replace("PKG/nodes.py", 'Struct("<i")', 'Struct(">i")'), {"packed"}),
    Case("long regex edited at its end", CONSTS, replace("PKG/nodes.py", '"(b)"', '"(c)"'), {"matched"}),
    Case("namespace holding a large array (middle element)", CONSTS,
         replace("PKG/nodes.py", "np.zeros(1000), np.zeros(1000)", "np.zeros(1000), [1.0], np.zeros(999)"), {"summed"}),
    Case("namespace attribute not used by the code", CONSTS, replace("PKG/nodes.py", 'label="t"', 'label="u"'),
         {"summed"}),
    Case("comment next to a seeded generator", CONSTS,
         replace("PKG/nodes.py", "_RNG = random.Random(42)", "_RNG = random.Random(42)  # fixed seed"), set()),
    Case("object with a member the fingerprint refuses", CONSTS, replace("PKG/nodes.py", "[1, 2, 3]", "[1, 2, 4]"),
         {"odd"}),
]

# ------------------------------------------------------------------------------------------------
# 5. reads the audit hook alone misses


def _db(root: Path, pkg: str = "") -> None:
    con = sqlite3.connect(root / "data" / "db.sqlite")
    con.execute("CREATE TABLE t (v INTEGER)")
    con.execute("INSERT INTO t VALUES (1), (2)")
    con.commit()
    con.close()


def _db_insert(root: Path, pkg: str = "") -> None:
    con = sqlite3.connect(root / "data" / "db.sqlite")
    con.execute("INSERT INTO t VALUES (40)")
    con.commit()
    con.close()


def _parquet(root: Path, pkg: str = "", values: tuple[int, ...] = (1, 2)) -> None:
    import pandas as pd

    pd.DataFrame({"v": list(values)}).to_parquet(root / "data" / "t.parquet")


def _relink(root: Path, pkg: str = "") -> None:
    link = root / "data" / "current.txt"
    link.unlink()
    link.symlink_to("v2.txt")


def _link(root: Path, pkg: str = "") -> None:
    (root / "data" / "current.txt").symlink_to("v1.txt")


READS = {
    "PKG/__init__.py": "",
    "data/in/a.csv": "1\n",
    "data/in/b.csv": "2\n",
    "data/v1.txt": "same\n",
    "data/v2.txt": "other\n",
    "data/table.py": "x = 1\n",
    "data/tool.txt": "tool input\n",
    "PKG/nodes.py": _d('''
        import glob
        import os
        import sqlite3
        import subprocess
        import sys
        from pathlib import Path

        ROOT = Path(__file__).resolve().parent.parent
        DATA = ROOT / "data"

        def globbed() -> list:
            return sorted(os.path.basename(p) for p in glob.glob(str(DATA / "in" / "*.csv")))

        def pglobbed() -> list:
            return sorted(p.name for p in (DATA / "in").glob("*.csv"))

        def listed() -> int:
            return len(os.listdir(DATA / "in"))

        def scanned() -> int:
            return sum(1 for _ in os.scandir(DATA / "in"))

        def iterated() -> int:
            return len(list((DATA / "in").iterdir()))

        def walked() -> int:
            return sum(len(files) for _, _, files in os.walk(DATA))

        def queried() -> int:
            con = sqlite3.connect(DATA / "db.sqlite")
            try:
                return con.execute("SELECT sum(v) FROM t").fetchone()[0]
            finally:
                con.close()

        def optional_open() -> str:
            try:
                return (DATA / "extra.txt").read_text()
            except FileNotFoundError:
                return "none"

        def optional_exists() -> bool:
            return os.path.exists(DATA / "flag.txt")

        def optional_isfile() -> bool:
            return os.path.isfile(DATA / "flag.txt")

        def optional_path_exists() -> bool:
            return (DATA / "marker.txt").exists()

        def linked() -> str:
            return (DATA / "current.txt").read_text()

        def pydata() -> str:
            return (DATA / "table.py").read_text()

        def threaded() -> str:
            import threading
            out = []
            t = threading.Thread(target=lambda: out.append((DATA / "v2.txt").read_text()))
            t.start()
            t.join()
            return out[0]

        def via_subprocess() -> str:
            cmd = [sys.executable, "-c", "import sys; print(open(sys.argv[1]).read(), end='')", "data/tool.txt"]
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True).stdout

        PARQUET = DATA / "t.parquet"

        def from_parquet() -> int:
            import pandas as pd
            return int(pd.read_parquet(PARQUET)["v"].sum())

        def untouched() -> int:
            return 5
    '''),
}

READ_CASES = [
    Case("glob: a matching file added", READS, write("data/in/c.csv", "3\n"),
         {"globbed", "pglobbed", "listed", "scanned", "iterated", "walked"}),
    Case("listdir: a file removed", READS, remove("data/in/b.csv"),
         {"globbed", "pglobbed", "listed", "scanned", "iterated", "walked"}),
    Case("sqlite3.connect database changed", READS, _db_insert, {"queried"}),
    Case("optional file opened, absent, then appears", READS, write("data/extra.txt", "here"),
         {"optional_open", "walked"}),
    Case("os.path.exists flag appears", READS, write("data/flag.txt", ""), {"optional_exists", "optional_isfile", "walked"}),
    Case("Path.exists marker appears", READS, write("data/marker.txt", ""), {"optional_path_exists", "walked"},),
    Case("symlink re-pointed", READS, _relink, {"linked"}),
    Case("data file whose name ends in .py", READS, replace("data/table.py", "x = 1", "x = 2"), {"pydata"}),
    Case("file read in a thread the node starts", READS, replace("data/v2.txt", "other", "OTHER"),
         {"threaded"}),
    Case("file named by a string constant, read by a subprocess", READS, replace("data/tool.txt", "tool", "TOOL"),
         {"via_subprocess"}),
    Case("parquet read by pyarrow's C++ reader, named by a module constant", READS,
         lambda root, pkg: _parquet(root, pkg, (5, 6)), {"from_parquet"}),
    Case("content of a listed file edited", READS, replace("data/in/a.csv", "1", "9"), set()),
    Case("unrelated file added outside the data folder", READS, write("notes/todo.txt", "x"), set()),
]

for _case in READ_CASES:
    _case.setup = both(_db, _link, _parquet)

# ------------------------------------------------------------------------------------------------
# 6. values

VALUES = {
    "PKG/__init__.py": "",
    "PKG/shapes.py": _d('''
        class Point:
            def __init__(self, x):
                self.x = x

            def norm(self):
                return abs(self.x)
    '''),
    "PKG/nodes.py": _d('''
        import pandas as pd

        from .shapes import Point

        def point():
            return Point(-3)

        def size(point) -> int:
            return point.norm()

        def ordered() -> dict:
            return {"a": 1, "b": 2}

        def keys(ordered) -> list:
            return list(ordered)

        def frame():
            df = pd.DataFrame({"v": [1, 2]})
            df.attrs["unit"] = "kg"
            return df

        def unit(frame) -> str:
            return frame.attrs["unit"]

        def series():
            return pd.Series([1.0, 2.0], index=pd.date_range("2024-01-01", periods=2, freq="D"))

        def freq(series) -> str:
            return series.index.freqstr

        def other() -> int:
            return 9
    '''),
}

VALUE_CASES = [
    Case("project class instance: its class edited", VALUES,
         replace("PKG/shapes.py", "return abs(self.x)", "return abs(self.x) + 1"), {"point", "size"}),
    Case("dict insertion order changed", VALUES, replace("PKG/nodes.py", '{"a": 1, "b": 2}', '{"b": 2, "a": 1}'),
         {"ordered", "keys"}),
    Case("DataFrame.attrs changed", VALUES, replace("PKG/nodes.py", '"kg"', '"lb"'), {"frame", "unit"}),
    Case("index freq dropped (same values)", VALUES,
         replace("PKG/nodes.py", 'index=pd.date_range("2024-01-01", periods=2, freq="D")',
                 'index=pd.DatetimeIndex(["2024-01-01", "2024-01-02"])'), {"series", "freq"}),
    Case("same dict built another way", VALUES, replace("PKG/nodes.py", '{"a": 1, "b": 2}', 'dict(a=1, b=2)'),
         {"ordered"}),
]

# ------------------------------------------------------------------------------------------------
# 7. needless re-runs that must not happen

NEEDLESS = {
    "PKG/__init__.py": "",
    "PKG/nodes.py": _d('''
        import os

        def _scale(v):
            return v * 2

        def squares() -> list:
            return [i * i for i in range(4)]

        def pairs() -> dict:
            return {k: v for k, v in zip("ab", range(2))}

        def nested() -> list:
            return [x + y for x in range(2) for y in range(2)]

        def mapped() -> list:
            return list(map(lambda v: _scale(v), range(3)))

        def gen() -> int:
            return sum(n for n in range(5))

        def local() -> int:
            total = 0
            for i in range(3):
                total += i
            return total

        def env() -> str:
            return os.getenv("RIPPLE_T_KEEP", "k")

        _SCALERS = [lambda v, k=k: v * k for k in range(3)]

        def _factory(k):
            def scaled(x, k=k):
                return x * k
            return scaled

        _BY_FACTORY = _factory(2)

        def defaulted() -> int:
            return _SCALERS[2](10)

        def made() -> int:
            return _BY_FACTORY(10)
    '''),
}

NEEDLESS_CASES = [
    Case("comprehension variable renamed", NEEDLESS, replace("PKG/nodes.py", "[i * i for i in range(4)]",
                                                            "[j * j for j in range(4)]"), set()),
    Case("dict comprehension variables renamed", NEEDLESS, replace("PKG/nodes.py", "{k: v for k, v in zip",
                                                                  "{key: val for key, val in zip"), set()),
    Case("nested comprehension variables renamed", NEEDLESS,
         replace("PKG/nodes.py", "[x + y for x in range(2) for y in range(2)]",
                 "[a + b for a in range(2) for b in range(2)]"), set()),
    Case("lambda parameter renamed", NEEDLESS, replace("PKG/nodes.py", "lambda v: _scale(v)", "lambda w: _scale(w)"),
         set()),
    Case("generator expression variable renamed", NEEDLESS, replace("PKG/nodes.py", "sum(n for n in range(5))",
                                                                   "sum(m for m in range(5))"), set()),
    Case("function local renamed", NEEDLESS, replace("PKG/nodes.py", "total = 0\n    for i in range(3):\n        total += i\n"
                                                                     "    return total",
                                                     "acc = 0\n    for i in range(3):\n        acc += i\n    return acc"),
         set()),
    Case("comment and blank lines", NEEDLESS, replace("PKG/nodes.py", "import os\n", "import os  # env\n\n"), set()),
    Case("environment variable set to the same value", NEEDLESS, setenv("RIPPLE_T_KEEP", "k"), set(),
         {"RIPPLE_T_KEEP": "k"}),
    Case("comprehension body really changed", NEEDLESS, replace("PKG/nodes.py", "[i * i for i in range(4)]",
                                                               "[i * i * i for i in range(4)]"), {"squares"}),
    Case("lambda body really changed", NEEDLESS, replace("PKG/nodes.py", "lambda v: _scale(v)", "lambda v: _scale(v) + 1"),
         {"mapped"}),
    Case("lambda default evaluated in a comprehension", NEEDLESS,
         replace("PKG/nodes.py", "for k in range(3)]", "for k in range(1, 4)]"), {"defaulted"}),
    Case("default of a function made by a factory", NEEDLESS,
         replace("PKG/nodes.py", "_factory(2)", "_factory(3)"), {"made"}),
    Case("helper reached by a lambda changed", NEEDLESS, replace("PKG/nodes.py", "return v * 2", "return v * 3"),
         {"mapped"}),
]


# ------------------------------------------------------------------------------------------------
# 8. data a class holds that module code put there after its statement (a registry filled at
# import): not in the class's source, so versioned as it is at run time, with its nested classes';
# and module values a node reads through globals()

CLASS_DATA = {
    "PKG/__init__.py": "",
    "PKG/reg.py": _d('''
        import os
        import threading

        class Reg:
            items = {}
            names = []
            _lock = threading.Lock()

            class Inner:
                table = {}

        class Other:
            values = {}

        class Plugin:
            registry = {}

            def __init_subclass__(cls, **kw):
                super().__init_subclass__(**kw)
                Plugin.registry[cls.__name__] = cls

        class Fast(Plugin):
            speed = 1

        Reg.items["k"] = 1
        Reg.limit = 3
        Reg.Inner.table["t"] = 2
        setattr(Reg, "factor", int(os.environ.get("RIPPLE_T_FACTOR", "1")))
        Other.values["v"] = 1
    '''),
    "PKG/plugins.py": _d('''
        from .reg import Reg

        Reg.names.append("a")
    '''),
    "PKG/nodes.py": _d('''
        from . import plugins  # noqa: F401 - fills Reg.names
        from .reg import Other, Plugin, Reg

        G_LIMIT = 3

        def item() -> int:
            return Reg.items["k"]

        def limit() -> int:
            return Reg.limit

        def inner() -> int:
            return Reg.Inner.table["t"]

        def names() -> int:
            return len(Reg.names)

        def factor() -> int:
            return Reg.factor

        def locked() -> int:
            with Reg._lock:
                return 1

        def other() -> int:
            return Other.values["v"]

        def plugin() -> int:
            return Plugin.registry["Fast"].speed

        def from_globals() -> int:
            return globals()["G_" + "LIMIT"]
    '''),
}
USES_REG = {"item", "limit", "inner", "names", "factor", "locked"}

CLASS_DATA_CASES = [
    Case("class registry filled at import", CLASS_DATA, replace("PKG/reg.py", 'Reg.items["k"] = 1', 'Reg.items["k"] = 2'),
         USES_REG),
    Case("class attribute assigned after the class", CLASS_DATA, replace("PKG/reg.py", "Reg.limit = 3", "Reg.limit = 4"),
         USES_REG),
    Case("nested class's data filled at import", CLASS_DATA,
         replace("PKG/reg.py", 'Reg.Inner.table["t"] = 2', 'Reg.Inner.table["t"] = 5'), USES_REG),
    Case("class list appended by another module", CLASS_DATA,
         replace("PKG/plugins.py", 'Reg.names.append("a")', 'Reg.names.append("a")\nReg.names.append("b")'), USES_REG),
    Case("class attribute set from an environment variable at import", CLASS_DATA, setenv("RIPPLE_T_FACTOR", "2"),
         USES_REG),
    Case("another class's data changed", CLASS_DATA, replace("PKG/reg.py", 'Other.values["v"] = 1', 'Other.values["v"] = 3'),
         {"other"}),
    Case("subclass a class registered in its own data", CLASS_DATA, replace("PKG/reg.py", "speed = 1", "speed = 2"),
         {"plugin"}),
    Case("module value read through globals()", CLASS_DATA, replace("PKG/nodes.py", "G_LIMIT = 3", "G_LIMIT = 4"),
         {"from_globals"}),
]

# ------------------------------------------------------------------------------------------------
# 9. what a module does at import besides binding names (a seed, an option): part of its defs

EFFECTS = {
    "PKG/__init__.py": "",
    "PKG/helpers.py": _d('''
        import numpy as np

        np.random.seed(3)

        def _noise() -> float:
            return float(np.random.rand())
    '''),
    "PKG/nodes.py": _d('''
        import decimal
        import operator
        import random

        from .helpers import _noise

        random.seed(1)
        decimal.getcontext().prec = 5
        _pick = operator.itemgetter("x")

        def draw() -> float:
            return random.random()

        def noisy() -> float:
            return _noise()

        def plain() -> int:
            return 1

        def picked() -> int:
            return _pick({"x": 1, "y": 2})

        def third() -> str:
            return str(decimal.Decimal(1) / decimal.Decimal(3))

        if __name__ == "__main__":
            print("main")
    '''),
}

IN_NODES = {"draw", "noisy", "plain", "picked", "third"}

EFFECT_CASES = [
    Case("random.seed at import edited", EFFECTS, replace("PKG/nodes.py", "random.seed(1)", "random.seed(2)"),
         IN_NODES),
    Case("decimal context set at import edited", EFFECTS, replace("PKG/nodes.py", "prec = 5", "prec = 3"), IN_NODES),
    Case("np.random.seed at import in a helper's module edited", EFFECTS,
         replace("PKG/helpers.py", "np.random.seed(3)", "np.random.seed(4)"), {"noisy"}),
    Case("the __main__ block edited", EFFECTS, replace("PKG/nodes.py", 'print("main")', 'print("other")'), set()),
    Case("operator.itemgetter constant's key (a C type named after operator.py)", EFFECTS,
         replace("PKG/nodes.py", 'itemgetter("x")', 'itemgetter("y")'), {"picked"}),
]

# ------------------------------------------------------------------------------------------------
# 10. reads a node's run does not show: a fan-out's (recorded per item, as a plain node's are),
#     a cached helper's (read for its first caller only), beside the store

FANOUT = {
    "PKG/__init__.py": "",
    "PKG/plugins.py": "def _fast(x):\n    return x * 2\n",
    "data/factor.txt": "2\n",
    "data/count.txt": "3\n",
    "PKG/nodes.py": _d('''
        import importlib
        from pathlib import Path

        from engine import Collect, Parallelizable

        DATA = Path(__file__).resolve().parent.parent / "data"

        def regions() -> Parallelizable[int]:
            yield from range(int((DATA / "count.txt").read_text()))

        def scaled(regions: int) -> int:
            return regions * int((DATA / "factor.txt").read_text())

        def plugged(scaled: int) -> int:
            mod = importlib.import_module(__package__ + ".plugins")
            return getattr(mod, "_fa" + "st")(scaled)

        def total(plugged: Collect[int]) -> int:
            return sum(plugged)

        def report(total: int) -> str:
            return f"total {total}"

        def other() -> int:
            return 1
    '''),
}

BESIDE_STORE = {  # the store is .ripple in the project root
    "PKG/__init__.py": "",
    ".ripple-notes.txt": "first\n",
    "PKG/nodes.py": _d('''
        from pathlib import Path

        ROOT = Path(__file__).resolve().parent.parent

        def notes() -> str:
            return (ROOT / "".join([".rip", "ple-", "no", "tes.txt"])).read_text()  # no constant names it

        def other() -> int:
            return 1
    '''),
}

CACHED_HELPER = {
    "PKG/__init__.py": "",
    "data/shared.txt": "one\n",
    "PKG/nodes.py": _d('''
        import functools
        from pathlib import Path

        SHARED = Path(__file__).resolve().parent.parent / "data" / "shared.txt"

        @functools.cache
        def _load() -> str:
            return SHARED.read_text()

        def first() -> str:
            return _load() + "1"

        def second() -> str:
            return _load() + "2"  # a cache hit here: nothing is read while this node runs

        def _through() -> str:
            return _load()

        def third() -> str:
            return _through() + "3"  # reaches the cached helper through a plain one

        def other() -> int:
            return 3
    '''),
}

FANOUT_CASES = [
    Case("a file a functools.cache helper read for the first of its callers edited", CACHED_HELPER,
         replace("data/shared.txt", "one", "two"), {"first", "second", "third"}),
    Case("a file whose path begins with the store folder's path edited", BESIDE_STORE,
         replace(".ripple-notes.txt", "first", "second"), {"notes"}),
    Case("a file a fan-out's per-item node reads edited", FANOUT, replace("data/factor.txt", "2", "5"),
         {"scaled", "plugged", "total", "report"}),
    Case("a file a fan-out's expander reads edited", FANOUT, replace("data/count.txt", "3", "4"),
         {"regions", "scaled", "plugged", "total", "report"}),
    Case("code a fan-out's per-item node reaches through getattr edited", FANOUT,
         replace("PKG/plugins.py", "return x * 2", "return x * 3"), {"plugged", "total", "report"}),
]

CASES: list[Case] = [*CODE_CASES, *ENV_CASES, *BYTECODE_CASES, *CONST_CASES, *READ_CASES, *VALUE_CASES,
                     *NEEDLESS_CASES, *CLASS_DATA_CASES, *EFFECT_CASES, *FANOUT_CASES]
