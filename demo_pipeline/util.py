"""Shared helpers and constants for the demo pipeline.

This module contributes **no nodes**: it holds only ``_underscore`` helpers and UPPERCASE constants.
Node modules import them (imported names are never nodes), so editing a helper or a constant here is
a *helper edit*: Ripple re-runs exactly the nodes that reference it, transitively, and nothing else.
Try ``OUTLIER_Z = 3.0`` (``sales`` re-runs, keeps the same rows, and early cutoff stops there) or
``OUTLIER_Z = 4.0`` (the qty-100 lines, z = 3.8, come back in and everything downstream re-runs).
"""

from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"

# Order lines whose revenue is this many robust standard deviations from the median of their
# product are treated as data-entry errors (fat-fingered quantities) and dropped.
OUTLIER_Z = 3.5

# Stores whose revenue per square metre is this many robust SDs above the chain are "standouts".
STANDOUT_Z = 1.0


def _money(value: object) -> float:
    """Parse an exported money string (``"$1,234.50"``, ``"-$3.00"``, ``""``) into a float (NaN if blank)."""
    if value is None or value is pd.NA:
        return float("nan")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace("$", "").replace(",", "")
    if text in ("", "nan", "NaN", "None"):
        return float("nan")
    return float(text)


def _robust_zscore(values: pd.Series) -> pd.Series:
    """Median/MAD z-score: like a z-score, but a few wild values cannot hide themselves."""
    x = values.astype("float64")
    median = float(np.nanmedian(x.to_numpy()))
    mad = float(np.nanmedian(np.abs(x.to_numpy() - median)))
    scale = 1.4826 * mad if mad > 0 else float(np.nanstd(x.to_numpy())) or 1.0
    return (x - median) / scale


def _fmt_money(amount: float) -> str:
    """Human money for the report: $1.23M, $45.6k, $789."""
    sign = "-" if amount < 0 else ""
    a = abs(float(amount))
    if a >= 1e6:
        return f"{sign}${a / 1e6:.2f}M"
    if a >= 1e3:
        return f"{sign}${a / 1e3:.1f}k"
    return f"{sign}${a:,.0f}"
