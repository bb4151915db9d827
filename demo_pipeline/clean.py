"""Clean: dedupe, fix types, repair prices, drop data-entry errors, and join into one sales table.

``sales`` is decorated with ``@extract_columns``: besides the joined frame itself, its ``revenue``,
``units`` and ``gross_margin`` columns become nodes of their own (``pd.Series``), which the report's
headline numbers depend on directly.
"""

import numpy as np
import pandas as pd

from engine import extract_columns, tag

from .util import OUTLIER_Z, _money, _robust_zscore


@tag(owner="data-eng", stage="clean")
def orders_clean(raw_orders: pd.DataFrame) -> pd.DataFrame:
    """Order lines with duplicates removed, types fixed and lines without a store dropped."""
    frame = raw_orders.drop_duplicates(subset="order_id", keep="first")
    frame = frame[frame["store_id"].notna()]
    return pd.DataFrame(
        {
            "order_id": frame["order_id"].astype("int64"),
            "order_date": pd.to_datetime(frame["order_date"], format="%Y-%m-%d"),
            "store_id": frame["store_id"].astype(str),
            "product_id": frame["product_id"].astype(str),
            "quantity": pd.to_numeric(frame["quantity"], errors="coerce").astype("int64"),
            "unit_price": frame["unit_price"].map(_money).astype("float64"),
            "channel": frame["channel"].astype(str),
        }
    ).reset_index(drop=True)


@tag(owner="data-eng", stage="clean")
def products(raw_products: pd.DataFrame) -> pd.DataFrame:
    """Product master with numeric prices and the list margin."""
    frame = raw_products.astype({"list_price": "float64", "unit_cost": "float64"})
    frame = frame.assign(list_margin=1.0 - frame["unit_cost"] / frame["list_price"])
    return frame.reset_index(drop=True)


@tag(owner="data-eng", stage="clean")
def stores(raw_stores: pd.DataFrame) -> pd.DataFrame:
    """Store master with parsed opening dates and store age in years (as of the end of the data)."""
    frame = raw_stores.copy()
    frame["opened"] = pd.to_datetime(frame["opened"], format="%Y-%m-%d")
    frame["age_years"] = (pd.Timestamp("2024-01-01") - frame["opened"]).dt.days / 365.25
    frame["size_sqm"] = frame["size_sqm"].astype("float64")
    return frame.reset_index(drop=True)


@extract_columns("revenue", "units", "gross_margin")
@tag(owner="analytics", stage="clean")
def sales(orders_clean: pd.DataFrame, products: pd.DataFrame, stores: pd.DataFrame) -> pd.DataFrame:
    """One row per valid order line, joined with product and store attributes.

    Blank prices fall back to the list price; lines whose quantity is more than ``OUTLIER_Z`` robust
    standard deviations (log scale) from the chain's typical line are dropped as data-entry errors.
    """
    joined = orders_clean.merge(products, on="product_id", how="inner", validate="many_to_one")
    joined = joined.merge(
        stores[["store_id", "store_name", "region", "format", "size_sqm"]],
        on="store_id",
        how="inner",
        validate="many_to_one",
    )
    price = joined["unit_price"].fillna(joined["list_price"])
    revenue = joined["quantity"] * price
    # Basket sizes are heavy-tailed, so data-entry errors are judged on the log scale.
    z = _robust_zscore(np.log(joined["quantity"].abs().clip(lower=1)))
    keep = (z.abs() <= OUTLIER_Z).to_numpy()
    out = joined.assign(
        unit_price=price,
        revenue=revenue,
        units=joined["quantity"].astype("float64"),
        gross_margin=revenue - joined["quantity"] * joined["unit_cost"],
        week=joined["order_date"] - pd.to_timedelta(joined["order_date"].dt.day_of_week, unit="D"),
    )[keep]
    out = out.sort_values(["order_date", "order_id"], kind="stable").reset_index(drop=True)
    out["is_return"] = np.asarray(out["quantity"] < 0)
    return out
