"""Run one corpus module through real Hamilton and through Ripple, and compare.

Each module under ``corpus/`` is written as a Hamilton user writes it and carries a ``CASE`` dict:
``inputs``, ``outputs``, optionally ``configs`` (one run per config), ``files`` (config key ->
(file name, content) written to a temp folder, the key's value is the path), ``dynamic`` (needs
Hamilton's dynamic execution), ``power_user`` (``@resolve``), ``compare`` (outputs whose values are
compared when others are metadata) and ``series_inputs`` (list inputs become pandas Series).
"""

from __future__ import annotations

import importlib.util
import itertools
import pickle
import re
import sys
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"
_COUNTER = itertools.count()

_ENGINE_IMPORTS = re.compile(
    r"from hamilton(?:\.function_modifiers(?:\.\w+)?|\.htypes|\.data_quality\.base|\.plugins\.h_pandas) import")


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("h*.py"))


def engine_source(text: str) -> str:
    """The same module with its Hamilton imports swapped for ``from engine import``."""
    out = _ENGINE_IMPORTS.sub("from engine import", text)
    assert "hamilton" not in out.replace("hamilton_exclude", ""), "a Hamilton import was left in the engine copy"
    return out


def import_source(text: str, folder: Path, stem: str) -> Any:
    """Import ``text`` as a fresh module file under ``folder`` (a new name each time)."""
    name = f"{stem}_{next(_COUNTER)}"
    path = folder / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def case_of(path: Path) -> dict[str, Any]:
    ns: dict[str, Any] = {}
    text = path.read_text()
    start = text.index("CASE = ")
    end = text.find("\n\n", start)
    end = len(text) if end < 0 else end
    exec(text[start:end], ns)
    return ns["CASE"]


def write_files(case: dict[str, Any], folder: Path) -> dict[str, str]:
    cfg: dict[str, str] = {}
    for key, (fname, content) in case.get("files", {}).items():
        path = folder / fname
        if isinstance(content, str) and content.startswith("frame:"):
            import pandas as pd

            col, vals = content[len("frame:"):].split("=")
            pd.DataFrame({col: [int(v) for v in vals.split(",")]}).to_parquet(path)
        elif isinstance(content, str):
            path.write_text(content)
        elif content is not None:
            path.write_bytes(pickle.dumps(content))
        cfg[key] = str(path)
    return cfg


def configs_of(case: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    files = write_files(case, folder)
    out = []
    for cfg in case.get("configs", [{}]):
        cfg = {**cfg, **files}
        if case.get("power_user"):
            cfg["hamilton.enable_power_user_mode"] = True
        out.append(cfg)
    return out


def inputs_of(case: dict[str, Any]) -> dict[str, Any]:
    inputs = dict(case.get("inputs", {}))
    if case.get("series_inputs"):
        import pandas as pd

        inputs = {k: pd.Series(v) for k, v in inputs.items()}
    return inputs


def run_hamilton(module: Any, cfg: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    from hamilton import base, driver
    from hamilton.execution import executors

    builder = driver.Builder().with_modules(module).with_config(cfg).with_adapters(base.DictResult())
    if case.get("dynamic"):
        builder = builder.enable_dynamic_execution(allow_experimental_mode=True).with_local_executor(
            executors.SynchronousLocalTaskExecutor())
    return builder.build().execute(case["outputs"], inputs=inputs_of(case))


def assert_same(expected: dict[str, Any], actual: dict[str, Any], names: list[str]) -> None:
    import numpy as np
    import pandas as pd

    for name in names:
        want, got = expected[name], actual[name]
        if isinstance(want, pd.Series):
            pd.testing.assert_series_equal(got, want, check_names=False)
        elif isinstance(want, pd.DataFrame):
            pd.testing.assert_frame_equal(got, want)
        elif isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want)
        else:
            assert type(got) is type(want) and got == want, (name, want, got)
