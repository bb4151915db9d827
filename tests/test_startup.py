"""What a warm run in a new process loads: only what it uses (issue 12's "lean startup"). Costs are
measured in bench/ (``bench/bench_process.py``); this checks the mechanism: modules that only a miss,
a failure, a pool, history or a decorator need stay unimported, and no code is versioned again."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from stores import forget_recorded_runs

#: loaded on demand: their absence is the point (each costs 0.3 to 3 ms at start)
NOT_ON_A_WARM_RUN = {
    "logging", "difflib", "concurrent.futures", "decimal", "fractions", "uuid", "sysconfig", "secrets",
    "hashlib", "hmac", "_hashlib", "sqlite3.dbapi2", "datetime", "traceback", "pkgutil", "textwrap",
    "importlib.metadata", "email", "json", "pickle", "base64", "tomllib",
    "engine.caching.remote", "engine.caching.explain", "engine.caching.predict", "engine.caching.stdlib_values",
    "engine.core.hamilton_graph", "engine.core.deco_digest", "engine.core.materialize", "engine.core.rewrites",
    "engine.core.subdag", "engine.core.scheduler", "engine.core.dask", "engine.store.reports", "engine.lineage",
    "engine.analysis", "engine.cli", "engine.event_types", "engine.caching.decisions",
    "engine.core.decorators", "engine.core.modifiers", "engine.core.items", "engine.core.selection",
    "engine.caching.rows", "engine.core.redact", "engine.caching.observed", "engine.core.variables",
}

CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import warm_pipe
    from engine import Driver
    dr = Driver({}, warm_pipe).with_cache(sys.argv[2])
    assert dr.execute(["total"])["total"] == 12
    v = dr.cache.versioner
    print(v.persisted.reused, len(v.sources._by_content))
    print(" ".join(sorted(sys.modules)))
""")


def test_a_warm_run_loads_only_what_it_uses(tmp_path: Path) -> None:
    # a project's own pyproject.toml without Ripple settings: not parsed (no tomllib)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "warm"\nversion = "1"\n')
    (tmp_path / "warm_pipe.py").write_text(textwrap.dedent("""
        import xxhash  # an installed distribution: its version is part of b's code version

        def a() -> int:
            return 1

        def b(a: int) -> int:
            return a + len(xxhash.xxh64_hexdigest(b"x")) // 16

        def total(a: int, b: int) -> int:
            return (a + b) * 4
    """))
    def run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(tmp_path / "store")],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    run()  # cold: computes and stores everything
    counts, modules = run()
    assert counts.split() == ["0", "0"]  # replayed: no code version even recalled, no file analysed
    loaded = set(modules.split()) & NOT_ON_A_WARM_RUN
    assert not loaded, f"a replayed warm run imported {sorted(loaded)}"
    forget_recorded_runs(tmp_path / "store")
    counts, modules = run()
    assert counts.split() == ["3", "0"]  # node by node: every code version reused, no source file analysed
    loaded = set(modules.split()) & NOT_ON_A_WARM_RUN
    assert not loaded, f"a warm run imported {sorted(loaded)}"


#: what versions code: a replayed run of nodes that refer to nothing but their inputs checks their files
#: and versions none, so it never loads the analysis (a reference to a module global is checked by the
#: versioner: the pipeline above, whose ``b`` names ``xxhash``, loads it)
NOT_ON_A_PURE_REPLAY = {
    "engine.caching.code_version", "engine.caching.source_analysis", "engine.caching.file_index",
    "engine.caching.source_files", "engine.caching.code_helpers", "engine.caching.distributions",
    "engine.caching.code_locations", "engine.caching.statement_reuse", "engine.caching.ast_dump",
    "engine.caching.module_effects",
}

#: what ``ripple run -q`` of a fully cached pipeline, printing to a pipe, does not load: the other
#: commands, the lineage and live sides, rich (nothing to style: plain text), the plan and its
#: estimates (``-q`` shows neither), logging, the event records (its one listener, the ``os._exit``
#: watch, takes only nodes that start and end: none does); it does read the ``--select`` vocabulary
NOT_ON_A_WARM_CLI_RUN = NOT_ON_A_WARM_RUN - {"engine.cli", "engine.core.selection"} | {
    "engine.cli.watch", "engine.cli.tui", "engine.cli.lineage", "engine.cli.cache", "engine.cli._watch_views",
    "engine.live", "rich", "statistics", "engine.analysis.history",
} | NOT_ON_A_PURE_REPLAY

CLI_CHILD = textwrap.dedent("""
    import sys
    from engine.cli import main
    code = main(["run", sys.argv[1], "-q", "--cache-dir", sys.argv[2]])
    print(code)
    print(" ".join(sorted(sys.modules)))
""")


def test_a_warm_ripple_run_loads_only_what_it_uses(tmp_path: Path) -> None:
    pipe = tmp_path / "warm_cli.py"
    pipe.write_text("def a() -> int:\n    return 1\n\n\ndef total(a: int) -> int:\n    return a * 4\n")

    def run() -> tuple[str, set[str]]:
        env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
        out = subprocess.run([sys.executable, "-c", CLI_CHILD, str(pipe), str(tmp_path / "store")],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        return lines[-2], set(lines[-1].split())

    code, _ = run()  # cold: the table of what ran is drawn
    assert code == "0"
    code, modules = run()
    assert code == "0"
    loaded = modules & NOT_ON_A_WARM_CLI_RUN
    assert not loaded, f"a warm `ripple run` imported {sorted(loaded)}"


CONSOLE_CHILD = textwrap.dedent("""
    import atexit, gc, os, sys
    store = sys.argv[2]
    base = gc.get_freeze_count()  # 3.12 starts with objects of its own in the permanent generation

    def held() -> bool:  # the store's database still open in this process
        fds = os.listdir("/proc/self/fd")
        return any(os.path.realpath(f"/proc/self/fd/{fd}").startswith(os.path.join(store, "meta.sqlite")) for fd in fds)

    atexit.register(lambda: print("frozen" if gc.get_freeze_count() > base else "swept", "open" if held() else "closed"))
    sys.argv = ["ripple", "run", sys.argv[1], "-q", "--cache-dir", store, *sys.argv[3:]]
    from engine.cli import console
    sys.exit(console())
""")


def test_the_ripple_command_skips_the_final_collections_only_when_no_node_ran_in_it(tmp_path: Path) -> None:
    """``engine.cli.console`` (the ``ripple`` script and ``python -m engine.cli``): a warm run closes the
    store and leaves the interpreter's final collections out (``engine._gc.exit_unswept``); a run in
    which nodes ran, whose objects may hold what only those collections finalize, keeps them; so does
    one sending lineage."""
    import tomllib

    scripts = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["ripple"] == "engine.cli:console"
    pipe = tmp_path / "ends.py"
    pipe.write_text("def a() -> int:\n    return 1\n\n\ndef total(a: int) -> int:\n    return a * 4\n")

    def run(*extra: str) -> str:
        out = subprocess.run([sys.executable, "-c", CONSOLE_CHILD, str(pipe), str(tmp_path / "store"), *extra],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()[-1]

    assert run() == "swept closed"  # cold: both nodes ran here
    assert run() == "frozen closed"  # warm: nothing ran; the store was closed first all the same
    # a lineage transport may hold events until it is collected
    assert run("--lineage", f"file:{tmp_path / 'lineage.jsonl'}").startswith("swept ")
    pipe.write_text(pipe.read_text().replace("a * 4", "a * 5"))
    assert run() == "swept closed"  # an edit: total ran


def test_loading_the_engine_starts_no_collection_of_its_own() -> None:
    """``import engine`` runs with the collector paused: its modules live on, so every collection
    their loading started rescanned them for nothing (~2 ms of a warm run). With a threshold that
    collects at every allocation, only the allocations before the pause begins start any (unpaused:
    ~5,000 on 3.11, ~1,000 on 3.12, against ~170 and ~70)."""
    code = textwrap.dedent("""
        import gc
        started = []
        gc.callbacks.append(lambda phase, info: started.append(phase) if phase == "start" else None)
        gc.set_threshold(1)
        import engine
        gc.set_threshold(700)
        print(len(started), gc.isenabled())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count, enabled = out.stdout.split()
    assert int(count) < 400 and enabled == "True"
