"""A node's value, shown or written: ``ripple show`` and ``ripple run -o DIR``.

Formats: ``text`` (a DataFrame as a table with its shape, head and dtypes; a string in full;
anything else by its ``repr``), ``json``, ``csv`` (frames, series, lists of rows) and ``parquet``
(frames; needs pyarrow or fastparquet).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

from engine.errors import UsageError

FORMATS = ("text", "json", "csv", "parquet")
HEAD_ROWS = 10


def is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "dtypes") and hasattr(value, "head")


def is_series(value: Any) -> bool:
    return type(value).__name__ == "Series" and hasattr(value, "to_frame")


def to_jsonable(value: Any) -> Any:
    """A JSON document of ``value``: frames as a list of records, arrays as lists, the rest by ``str``."""
    if is_frame(value):
        return json.loads(value.to_json(orient="records", date_format="iso", default_handler=str))
    if is_series(value):
        return json.loads(value.to_json(orient="index", date_format="iso", default_handler=str))
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return value.tolist()
    return json.loads(json.dumps(value, default=_default))


def _default(obj: Any) -> Any:
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    return str(obj)


def csv_text(value: Any, name: str) -> str:
    if is_frame(value):
        return str(value.to_csv(index=False))
    if is_series(value):
        return str(value.to_frame().to_csv())
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        import csv
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in value for k in r)))
        w.writeheader()
        w.writerows(value)
        return buf.getvalue()
    raise UsageError(f"{name} is a {type(value).__name__}, not a table; --format csv needs a DataFrame, a Series "
                     "or a list of dicts (use --format json or text).")


def parquet_bytes(value: Any, name: str) -> bytes:
    if is_series(value):
        value = value.to_frame()
    if not is_frame(value):
        raise UsageError(f"{name} is a {type(value).__name__}, not a DataFrame; --format parquet needs a DataFrame "
                         "(use --format json or text).")
    import io

    buf = io.BytesIO()
    try:
        value.to_parquet(buf)
    except ImportError as exc:
        raise UsageError(f"--format parquet needs pyarrow ({exc}); pip install pyarrow, or use --format csv.") from None
    return buf.getvalue()


def _fitting_columns(head: Any, width: int) -> list[Any]:
    """As many leading columns of ``head`` as fit in ``width`` characters (at least one)."""
    cols, used = [], 1
    for col in head.columns:
        cells = [len(str(col))] + [len(str(v)) for v in head[col].tolist()]
        need = min(max(cells), 40) + 3
        if cols and used + need > width:
            break
        cols.append(col)
        used += need
    return cols


def text_renderables(value: Any, name: str, width: int = 10_000) -> list[Any]:
    """Rich renderables for ``--format text``; a frame shows the columns that fit in ``width``."""
    from rich.table import Table
    from rich.text import Text

    if isinstance(value, str):
        return [Text(value)]
    if is_series(value):
        value = value.to_frame()
    if is_frame(value):
        rows, cols = value.shape
        head = value.head(HEAD_ROWS)
        shown = _fitting_columns(head, width)
        title = Text(f"{name}: DataFrame {rows} rows × {cols} columns", style="bold")
        table = Table()
        for col in shown:
            table.add_column(str(col), overflow="ellipsis", max_width=40, no_wrap=True)
        for row in head[shown].itertuples(index=False):
            table.add_row(*(str(v) for v in row))
        dtypes = Text("dtypes: " + ", ".join(f"{c}: {t}" for c, t in value.dtypes.items()), style="dim")
        more = []
        if rows > len(head) or len(shown) < cols:
            hidden = [f"{rows - len(head)} more rows"] if rows > len(head) else []
            hidden += [f"{cols - len(shown)} more columns"] if len(shown) < cols else []
            more = [Text(f"… {', '.join(hidden)} (--format csv for all)", style="dim")]
        return [title, table, *more, dtypes]
    from rich.pretty import Pretty

    return [Pretty(value, max_length=200, max_string=10_000)]


def data(value: Any, name: str, fmt: str) -> bytes | str:
    """``value`` in a file format (not ``text``)."""
    if fmt == "json":
        return json.dumps(to_jsonable(value), indent=2, default=str) + "\n"
    if fmt == "csv":
        return csv_text(value, name)
    if fmt == "parquet":
        return parquet_bytes(value, name)
    if fmt == "pickle":
        return pickle.dumps(value)
    if fmt == "txt":
        return value if isinstance(value, str) else repr(value)
    raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")


def natural_format(value: Any) -> str:
    """How ``run -o DIR`` writes a value: frames as parquet (csv without pyarrow), text as txt,
    JSON-able values as json, the rest as pickle."""
    if is_frame(value) or is_series(value):
        import importlib.util

        return "parquet" if is_frame(value) and importlib.util.find_spec("pyarrow") else "csv"
    if isinstance(value, str):
        return "txt"
    try:
        json.dumps(value)
        return "json"
    except (TypeError, ValueError):
        return "pickle"


def write(path: Path, payload: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(payload, str):
        tmp.write_text(payload, encoding="utf-8")
    else:
        tmp.write_bytes(payload)
    tmp.replace(path)


def write_outputs(outputs: dict[str, Any], folder: str | Path) -> list[Path]:
    """Each output to ``folder/NAME.EXT``; returns the files written."""
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise UsageError(f"-o {folder}: {folder} is a file, not a folder; give a folder for the outputs.")
    written = []
    for name, value in outputs.items():
        fmt = natural_format(value)
        path = root / f"{name}.{fmt}"
        write(path, data(value, name, fmt))
        written.append(path)
    return written
