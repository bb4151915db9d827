"""Generate the demo's shipped CSVs deterministically (plain numpy, fixed seed).

Run once from the repository root and commit the output::

    python demo_pipeline/data/make_data.py            # or: ... make_data.py OUTDIR

This folder has no ``__init__.py``, so this script is not a pipeline module and contributes no nodes.

The data tells the story of a small retail chain ("Northwind Outfitters"): 20 stores in five
regions, 48 products in six categories, one year of order lines (2023). The order export is
realistically messy, which is what ``demo_pipeline/clean.py`` is for:

* ~1.5% of lines are exported twice (same ``order_id``);
* ``unit_price`` is a money string (``"$1,234.50"``), some rows carry a blank price (use the list price);
* a few lines have no ``store_id`` (point-of-sale glitch);
* a handful of quantities are fat-fingered (x100), which the robust z-score outlier filter removes;
* ~1% are returns (negative quantity).

Demand per store-week is driven by store size and format, a regional level, yearly seasonality, a
gentle trend and holiday uplift, so the model in ``model.py`` has something real to learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEED = 20230101
OUT = Path(__file__).resolve().parent

REGIONS = ["North", "South", "East", "West", "Central"]
REGION_LEVEL = {"North": 1.00, "South": 1.15, "East": 0.90, "West": 1.25, "Central": 0.80}
REGION_TREND = {"North": 0.10, "South": 0.25, "East": -0.10, "West": 0.30, "Central": 0.00}
CITIES = {
    "North": ["Fargo", "Duluth", "Bismarck"],
    "South": ["Austin", "Tampa", "Mobile"],
    "East": ["Boston", "Albany", "Newark"],
    "West": ["Portland", "Fresno", "Reno"],
    "Central": ["Omaha", "Wichita", "Tulsa"],
}
FORMATS = {"flagship": 1.8, "mall": 1.2, "street": 0.9, "outlet": 0.7}
CATEGORIES = {
    # category: (price low, price high, cost ratio, popularity)
    "Footwear": (60, 140, 0.55, 1.0),
    "Outerwear": (80, 160, 0.50, 0.7),
    "Apparel": (25, 70, 0.45, 1.4),
    "Camping": (50, 150, 0.60, 0.6),
    "Accessories": (15, 40, 0.35, 1.2),
    "Nutrition": (12, 30, 0.65, 1.0),
}
HOLIDAYS = [
    ("2023-01-02", "New Year's Day (observed)"),
    ("2023-01-16", "Martin Luther King Jr. Day"),
    ("2023-02-20", "Presidents' Day"),
    ("2023-05-29", "Memorial Day"),
    ("2023-07-04", "Independence Day"),
    ("2023-09-04", "Labor Day"),
    ("2023-11-23", "Thanksgiving"),
    ("2023-11-24", "Black Friday"),
    ("2023-12-25", "Christmas Day"),
]
START = np.datetime64("2023-01-02")  # a Monday
WEEKS = 52


def _money(x: float) -> str:
    return f"${x:,.2f}"


def main(out: Path = OUT) -> None:
    """Write the four CSVs into ``out`` (default: this folder)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    # ---- stores ------------------------------------------------------------------------------
    store_rows = []
    store_ids, store_scale, store_region, store_trend = [], [], [], []
    n = 0
    for region in REGIONS:
        for k in range(4):
            n += 1
            sid = f"S{n:02d}"
            fmt = list(FORMATS)[int(rng.choice(4, p=[0.15, 0.35, 0.35, 0.15]))]
            size = int(rng.normal({"flagship": 2400, "mall": 1400, "street": 800, "outlet": 1800}[fmt], 150))
            opened = np.datetime64("2008-01-01") + int(rng.integers(0, 14 * 365))
            city = CITIES[region][k % 3]
            name = f"{city} {fmt.title()}" + ("" if k < 3 else " II")
            store_rows.append(f"{sid},{name},{region},{city},{fmt},{size},{opened}")
            store_ids.append(sid)
            # demand scale: format, size (sub-linear), region, and a store-specific quality factor
            scale = FORMATS[fmt] * (size / 1400) ** 0.5 * REGION_LEVEL[region] * rng.lognormal(0, 0.15)
            store_scale.append(scale)
            store_region.append(region)
            store_trend.append(REGION_TREND[region] + rng.normal(0, 0.08))
    (out / "stores.csv").write_text(
        "store_id,store_name,region,city,format,size_sqm,opened\n" + "\n".join(store_rows) + "\n",
        newline="\n",
    )

    # ---- products ----------------------------------------------------------------------------
    product_rows = []
    prod_ids, prod_price, prod_pop = [], [], []
    p = 0
    for cat, (lo, hi, cost_ratio, pop) in CATEGORIES.items():
        for k in range(8):
            p += 1
            pid = f"P{p:03d}"
            price = round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 2) - 0.01
            cost = round(price * cost_ratio * rng.uniform(0.9, 1.1), 2)
            product_rows.append(f"{pid},{cat} item {k + 1},{cat},{price:.2f},{cost:.2f}")
            prod_ids.append(pid)
            prod_price.append(price)
            prod_pop.append(pop * rng.lognormal(0, 0.3))
    (out / "products.csv").write_text(
        "product_id,product_name,category,list_price,unit_cost\n" + "\n".join(product_rows) + "\n",
        newline="\n",
    )
    prod_p = np.array(prod_pop) / np.sum(prod_pop)

    # ---- holidays ----------------------------------------------------------------------------
    (out / "holidays.csv").write_text(
        "date,holiday\n" + "\n".join(f"{d},{h}" for d, h in HOLIDAYS) + "\n", newline="\n"
    )
    holiday_weeks = {(np.datetime64(d) - START).astype(int) // 7 for d, _ in HOLIDAYS}

    # ---- orders ------------------------------------------------------------------------------
    lines = []
    order_id = 100000
    for w in range(WEEKS):
        season = 1 + 0.3 * np.sin(2 * np.pi * (w - 10) / 52)
        holiday = 1.7 if w in holiday_weeks else 1.0
        for s, sid in enumerate(store_ids):
            trend = 1 + store_trend[s] * w / 52
            lam = 5.6 * store_scale[s] * season * holiday * trend
            for _ in range(int(rng.poisson(lam))):
                order_id += 1
                day = START + 7 * w + int(rng.integers(0, 7))
                prod = int(rng.choice(len(prod_ids), p=prod_p))
                qty = 1 + int(rng.poisson(0.7))
                if rng.random() < 0.01:
                    qty = -qty  # return
                if rng.random() < 0.0012:
                    qty *= 100  # fat-fingered quantity
                price = prod_price[prod]
                if rng.random() < 0.2:
                    price = round(price * (1 - rng.choice([0.1, 0.2, 0.3])), 2)  # promotion
                price_s = "" if rng.random() < 0.01 else _money(price)
                store_s = "" if rng.random() < 0.004 else sid
                channel = "web" if rng.random() < 0.18 else "store"
                price_s = f'"{price_s}"' if "," in price_s else price_s
                row = f"{order_id},{day},{store_s},{prod_ids[prod]},{qty},{price_s},{channel}"
                lines.append(row)
                if rng.random() < 0.015:
                    lines.append(row)  # duplicated export
    (out / "orders.csv").write_text(
        "order_id,order_date,store_id,product_id,quantity,unit_price,channel\n" + "\n".join(lines) + "\n",
        newline="\n",
    )
    total = sum(
        (out / f).stat().st_size for f in ("orders.csv", "stores.csv", "products.csv", "holidays.csv")
    )
    print(
        f"wrote {len(lines)} order lines, {len(store_ids)} stores, {len(prod_ids)} products; {total / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
