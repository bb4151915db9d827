"""Sanity checks for the demo pipeline's shipped data and its pure-Python logic (no engine run)."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "demo_pipeline" / "data"
CSVS = ("orders.csv", "products.csv", "stores.csv", "holidays.csv")


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="") as fh:
        return list(csv.DictReader(fh))


def test_shipped_files_exist_and_are_small() -> None:
    sizes = {name: (DATA / name).stat().st_size for name in CSVS}
    assert all(size > 0 for size in sizes.values())
    assert sum(sizes.values()) < 450 * 1024, sizes
    assert not (DATA / "__init__.py").exists(), "data/ must not be a package (make_data.py is no module)"


def test_generator_is_deterministic_and_matches_shipped_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("_demo_make_data", DATA / "make_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in CSVS:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), (
            f"{name} differs from generator output"
        )


def test_schemas_and_deliberate_mess() -> None:
    stores = _rows("stores.csv")
    products = _rows("products.csv")
    orders = _rows("orders.csv")
    holidays = _rows("holidays.csv")
    assert len(stores) == 20 and len({s["region"] for s in stores}) == 5
    assert len(products) == 48
    assert len(holidays) >= 5
    assert list(orders[0]) == [
        "order_id",
        "order_date",
        "store_id",
        "product_id",
        "quantity",
        "unit_price",
        "channel",
    ]
    ids = [o["order_id"] for o in orders]
    assert len(ids) - len(set(ids)) > 50, "duplicated export lines are part of the story"
    assert any(o["store_id"] == "" for o in orders), "some lines have no store"
    assert any(o["unit_price"] == "" for o in orders), "some lines have no price"
    assert all(o["unit_price"].startswith("$") for o in orders if o["unit_price"])
    assert any(abs(int(o["quantity"])) >= 100 for o in orders), "fat-fingered quantities exist"
    assert any(int(o["quantity"]) < 0 for o in orders), "returns exist"
    known_stores = {s["store_id"] for s in stores}
    known_products = {p["product_id"] for p in products}
    assert {o["store_id"] for o in orders if o["store_id"]} <= known_stores
    assert {o["product_id"] for o in orders} <= known_products


def test_cleaning_logic_removes_the_mess() -> None:
    from demo_pipeline import clean, ingest

    raw = ingest.raw_orders()
    cleaned = clean.orders_clean(raw)
    assert cleaned["order_id"].is_unique
    assert cleaned["store_id"].notna().all()
    sales = clean.sales(cleaned, clean.products(ingest.raw_products()), clean.stores(ingest.raw_stores()))
    assert sales["quantity"].abs().max() < 100, "robust z-score filter drops the x100 quantities"
    assert len(cleaned) - len(sales) < 50, "and little else"
    assert sales["unit_price"].notna().all()
    for column in ("revenue", "units", "gross_margin"):  # the @extract_columns outputs
        assert column in sales.columns


def test_failure_switch_names_the_region() -> None:
    import pandas as pd

    from demo_pipeline import model

    frame = pd.DataFrame(
        {
            "store_id": ["S01"],
            "region": ["North"],
            "target": [10.0],
            "prediction": [9.0],
            "baseline": [8.0],
            "low": [5.0],
            "high": [12.0],
            "error": [-1.0],
        }
    )
    assert model.region_spotlight(frame, "North")["region"] == "North"
    with pytest.raises(ValueError, match="no rows for region 'Atlantis'"):
        model.region_spotlight(frame, "Atlantis")
