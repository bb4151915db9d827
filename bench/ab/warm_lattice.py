"""For ``bench/bench_ab.py``: a warm run of the 1,000-node lattice in a new process, as a user's
script makes it (``Driver(...).with_cache().execute``). The whole process is what is compared.

    python bench/bench_ab.py bench/ab/warm_lattice.py /tmp/base . --rounds 61

The lattice is written once (a temp folder); each checkout keeps its own store there, warmed by
bench_ab's first runs."""

import os
import sys
import tempfile

HERE = os.path.join(tempfile.gettempdir(), "ripple-ab-lattice")
if not os.path.exists(os.path.join(HERE, "ab_lattice.py")):  # once: nothing of it is timed after
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from pathlib import Path

    from bench_process import _age, lattice

    os.makedirs(HERE, exist_ok=True)
    Path(HERE, "ab_lattice.py").write_text(lattice(1000)[0])
    _age(Path(HERE, "ab_lattice.py"))
sys.path.insert(0, HERE)
import ab_lattice  # noqa: E402

import engine  # noqa: E402

store = os.path.join(HERE, ".store" + os.path.dirname(engine.__file__).replace(os.sep, "_"))
engine.Driver({}, ab_lattice).with_cache(store).execute(["n999"])
