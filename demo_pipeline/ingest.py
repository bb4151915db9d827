"""Ingest: load the shipped CSV exports from ``demo_pipeline/data/``.

The three main tables are read through ``Path``-typed parameters with defaults. Those parameters are
*inputs* of the pipeline (override them with ``--input orders_csv=/some/other.csv``), and because they
are ``Path``s Ripple versions them by the file's **content**: edit ``orders.csv`` and exactly the
nodes downstream of ``raw_orders`` re-run.

``holidays`` reads its file without declaring it. Ripple still notices: the files a node opens while
it runs are recorded with their content versions, so editing ``holidays.csv`` re-runs ``holidays``.
"""

from pathlib import Path

import pandas as pd

from engine import tag

from .util import DATA_DIR


@tag(owner="data-eng", stage="ingest", source="pos-export")
def raw_orders(orders_csv: Path = DATA_DIR / "orders.csv") -> pd.DataFrame:
    """Order lines exactly as the point-of-sale export ships them (messy on purpose)."""
    return pd.read_csv(
        orders_csv,
        dtype={"order_id": "int64", "store_id": str, "product_id": str, "unit_price": str, "channel": str},
    )


@tag(owner="data-eng", stage="ingest", source="erp")
def raw_products(products_csv: Path = DATA_DIR / "products.csv") -> pd.DataFrame:
    """Product master data: category, list price and unit cost."""
    return pd.read_csv(products_csv)


@tag(owner="data-eng", stage="ingest", source="erp")
def raw_stores(stores_csv: Path = DATA_DIR / "stores.csv") -> pd.DataFrame:
    """Store master data: region, format, floor space."""
    return pd.read_csv(stores_csv)


@tag(owner="data-eng", stage="ingest", source="calendar")
def holidays() -> pd.DataFrame:
    """Public holidays; reads ``data/holidays.csv`` without declaring it as an input."""
    frame = pd.read_csv(DATA_DIR / "holidays.csv")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame
