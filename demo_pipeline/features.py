"""Features: per-store weekly sales and the model's feature matrix.

* ``weekly_store_sales`` — a complete store x week grid (weeks with no sales are zeros, not gaps).
* ``revenue_rolling_4w`` / ``_8w`` / ``_13w`` — one ``@parameterize``d function, three nodes: trailing
  mean revenue per store over several windows, lagged one week so a row never sees its own target.
* ``revenue_trend`` — chosen by config: the default fits a least-squares slope over the trailing
  ``TREND_WINDOW`` weeks; ``--config trend_method=ewm`` uses the difference of a fast and a slow
  exponentially weighted mean instead.
* ``store_profile`` / ``top_stores`` — the per-store leaderboard the report shows.
"""

import numpy as np
import pandas as pd

from engine import config, parameterize, tag, value

from .util import STANDOUT_Z, _robust_zscore

TREND_WINDOW = 8


@tag(owner="analytics", stage="features")
def weekly_store_sales(sales: pd.DataFrame, stores: pd.DataFrame, holidays: pd.DataFrame) -> pd.DataFrame:
    """Revenue, units, margin and order lines per store and week, with a holiday-week flag."""
    agg = sales.groupby(["store_id", "week"], as_index=False).agg(
        revenue=("revenue", "sum"),
        units=("units", "sum"),
        gross_margin=("gross_margin", "sum"),
        lines=("order_id", "count"),
    )
    weeks = pd.date_range(sales["week"].min(), sales["week"].max(), freq="7D")
    grid = pd.MultiIndex.from_product([stores["store_id"].sort_values(), weeks], names=["store_id", "week"])
    full = agg.set_index(["store_id", "week"]).reindex(grid, fill_value=0).reset_index()
    holiday_weeks = set(holidays["date"] - pd.to_timedelta(holidays["date"].dt.day_of_week, unit="D"))
    full["holiday_week"] = full["week"].isin(holiday_weeks).astype("float64")
    full["week_index"] = ((full["week"] - weeks[0]).dt.days // 7).astype("int64")
    full = full.merge(stores[["store_id", "region", "format", "size_sqm", "age_years"]], on="store_id")
    return full.sort_values(["store_id", "week"], kind="stable").reset_index(drop=True)


@parameterize(
    revenue_rolling_4w=dict(window=value(4)),
    revenue_rolling_8w=dict(window=value(8)),
    revenue_rolling_13w=dict(window=value(13)),
)
def revenue_rolling(weekly_store_sales: pd.DataFrame, window: int) -> pd.Series:
    """Trailing ``window``-week mean revenue per store, excluding the current week."""
    by_store = weekly_store_sales.groupby("store_id", sort=False)["revenue"]
    return by_store.transform(lambda s: s.shift(1).rolling(window, min_periods=window).mean()).rename(
        f"rolling_{window}w"
    )


def _trailing_slope(series: pd.Series, window: int) -> pd.Series:
    """Least-squares slope of the previous ``window`` values (per week), NaN until enough history."""
    t = np.arange(window, dtype="float64")
    t -= t.mean()
    denom = float((t**2).sum())
    return (
        series.shift(1)
        .rolling(window, min_periods=window)
        .apply(lambda y: float(t @ (y - y.mean())) / denom, raw=True)
    )


@config.when_not(trend_method="ewm")
@tag(owner="analytics", stage="features", method="slope")
def revenue_trend__slope(weekly_store_sales: pd.DataFrame) -> pd.Series:
    """Week-over-week revenue trend per store: slope of a line through the trailing weeks."""
    by_store = weekly_store_sales.groupby("store_id", sort=False)["revenue"]
    return by_store.transform(lambda s: _trailing_slope(s, TREND_WINDOW)).rename("trend")


@config.when(trend_method="ewm")
@tag(owner="analytics", stage="features", method="ewm")
def revenue_trend__ewm(weekly_store_sales: pd.DataFrame) -> pd.Series:
    """Revenue trend per store: fast minus slow exponentially weighted mean, per week of lag."""
    by_store = weekly_store_sales.groupby("store_id", sort=False)["revenue"]

    def _ewm_gap(s: pd.Series) -> pd.Series:
        prev = s.shift(1)
        fast = prev.ewm(halflife=2, min_periods=TREND_WINDOW).mean()
        slow = prev.ewm(halflife=8, min_periods=TREND_WINDOW).mean()
        return (fast - slow) / 6.0  # the two half-lives are ~6 weeks apart in mean age

    return by_store.transform(_ewm_gap).rename("trend")


@tag(owner="analytics", stage="features")
def feature_matrix(
    weekly_store_sales: pd.DataFrame,
    revenue_rolling_4w: pd.Series,
    revenue_rolling_8w: pd.Series,
    revenue_rolling_13w: pd.Series,
    revenue_trend: pd.Series,
) -> pd.DataFrame:
    """Model-ready rows: one per store-week with full history; ``target`` is that week's revenue."""
    w = weekly_store_sales
    frame = pd.DataFrame(
        {
            "store_id": w["store_id"],
            "region": w["region"],
            "format": w["format"],
            "week": w["week"],
            "week_index": w["week_index"],
            "rolling_4w": revenue_rolling_4w,
            "rolling_8w": revenue_rolling_8w,
            "rolling_13w": revenue_rolling_13w,
            "trend": revenue_trend,
            "holiday_week": w["holiday_week"],
            "log_size": np.log(w["size_sqm"]),
            "age_years": w["age_years"],
            "week_sin": np.sin(2 * np.pi * w["week"].dt.isocalendar().week.astype("float64") / 52.0),
            "week_cos": np.cos(2 * np.pi * w["week"].dt.isocalendar().week.astype("float64") / 52.0),
            "target": w["revenue"],
        }
    )
    formats = pd.get_dummies(w["format"], prefix="fmt", dtype="float64")
    frame = pd.concat([frame, formats], axis=1)
    return frame.dropna(subset=["rolling_13w", "trend"]).reset_index(drop=True)


@tag(owner="analytics", stage="features")
def store_profile(weekly_store_sales: pd.DataFrame, stores: pd.DataFrame) -> pd.DataFrame:
    """One row per store: annual revenue, margin, revenue per sqm, H2-vs-H1 growth, standout flag."""
    w = weekly_store_sales
    half = w["week_index"] >= (w["week_index"].max() + 1) // 2
    totals = w.groupby("store_id").agg(
        revenue=("revenue", "sum"),
        gross_margin=("gross_margin", "sum"),
        units=("units", "sum"),
        lines=("lines", "sum"),
    )
    h1 = w[~half].groupby("store_id")["revenue"].sum()
    h2 = w[half].groupby("store_id")["revenue"].sum()
    profile = stores.set_index("store_id")[["store_name", "region", "format", "size_sqm"]].join(totals)
    profile["margin_pct"] = profile["gross_margin"] / profile["revenue"]
    profile["revenue_per_sqm"] = profile["revenue"] / profile["size_sqm"]
    profile["growth_h2_vs_h1"] = h2 / h1 - 1.0
    profile["sqm_zscore"] = _robust_zscore(profile["revenue_per_sqm"])
    profile["standout"] = profile["sqm_zscore"] >= STANDOUT_Z
    return profile.reset_index().sort_values("revenue", ascending=False, kind="stable").reset_index(drop=True)


@tag(owner="analytics", stage="report")
def top_stores(store_profile: pd.DataFrame, top_n: int = 10) -> pd.DataFrame:
    """The ``top_n`` stores by annual revenue (override with ``--input top_n=5``)."""
    return store_profile.head(int(top_n)).reset_index(drop=True)
