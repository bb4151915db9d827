"""Report: headline numbers and the final markdown ``report``.

``headline_kpis`` reads the ``revenue``, ``units`` and ``gross_margin`` columns that ``@extract_columns``
on ``clean.sales`` exposes as nodes. ``report`` is the pipeline's final output: a markdown string.
"""

import pandas as pd

from engine import tag

from .util import _fmt_money


@tag(owner="analytics", stage="report")
def headline_kpis(
    sales: pd.DataFrame,
    revenue: pd.Series,
    units: pd.Series,
    gross_margin: pd.Series,
    orders_clean: pd.DataFrame,
    raw_orders: pd.DataFrame,
) -> dict:
    """Chain-wide totals for the year, and how much the cleaning step removed."""
    return {
        "revenue": float(revenue.sum()),
        "units": float(units.sum()),
        "gross_margin": float(gross_margin.sum()),
        "margin_pct": float(gross_margin.sum() / revenue.sum()),
        "order_lines": len(sales),
        "returns": int(sales["is_return"].sum()),
        "stores": int(sales["store_id"].nunique()),
        "weeks": int(sales["week"].nunique()),
        "first_day": sales["order_date"].min().date().isoformat(),
        "last_day": sales["order_date"].max().date().isoformat(),
        "raw_lines": len(raw_orders),
        "duplicates_or_storeless": len(raw_orders) - len(orders_clean),
        "outliers_dropped": len(orders_clean) - len(sales),
        "online_share": float(revenue[sales["channel"] == "web"].sum() / revenue.sum()),
    }


def _table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


@tag(owner="analytics", stage="report")
def report(
    headline_kpis: dict,
    top_stores: pd.DataFrame,
    model_metrics: dict,
    region_scorecard: pd.DataFrame,
    region_spotlight: dict,
) -> str:
    """The weekly business review as markdown: headline, leaderboard, forecast quality, regions."""
    k, m, s = headline_kpis, model_metrics, region_spotlight
    leaderboard = pd.DataFrame(
        {
            "#": range(1, len(top_stores) + 1),
            "store": top_stores["store_id"] + " " + top_stores["store_name"],
            "region": top_stores["region"],
            "revenue": top_stores["revenue"].map(_fmt_money),
            "margin": top_stores["margin_pct"].map("{:.1%}".format),
            "$/sqm": top_stores["revenue_per_sqm"].map("{:,.0f}".format),
            "H2 vs H1": top_stores["growth_h2_vs_h1"].map("{:+.1%}".format),
            "standout": top_stores["standout"].map({True: "yes", False: ""}),
        }
    )
    regions = pd.DataFrame(
        {
            "region": region_scorecard["region"],
            "stores": region_scorecard["stores"],
            "holdout revenue": region_scorecard["revenue"].map(_fmt_money),
            "RMSE": region_scorecard["rmse"].map("{:,.0f}".format),
            "RMSE 90% CI": [
                f"{lo:,.0f}-{hi:,.0f}"
                for lo, hi in zip(region_scorecard["rmse_ci_low"], region_scorecard["rmse_ci_high"])
            ],
            "WAPE": region_scorecard["wape"].map("{:.1%}".format),
            "bias": region_scorecard["bias"].map("{:+,.0f}".format),
            "skill": region_scorecard["skill_vs_baseline"].map("{:+.0%}".format),
            "PI cover": region_scorecard["interval_coverage"].map("{:.0%}".format),
            "hardest store": region_scorecard["hardest_store"],
        }
    )
    spot = s["per_store"]
    spotlight = pd.DataFrame(
        {
            "store": spot["store_id"],
            "actual": spot["actual"].map(_fmt_money),
            "forecast": spot["forecast"].map(_fmt_money),
            "WAPE": spot["wape"].map("{:.1%}".format),
        }
    )
    lines = [
        "# Northwind Outfitters — weekly store revenue review",
        "",
        f"Period {k['first_day']} to {k['last_day']} ({k['weeks']} weeks, {k['stores']} stores).",
        "",
        "## Headline",
        "",
        f"- Revenue **{_fmt_money(k['revenue'])}**, gross margin {_fmt_money(k['gross_margin'])} "
        f"({k['margin_pct']:.1%}), {k['units']:,.0f} units on {k['order_lines']:,} order lines "
        f"({k['returns']} returns, {k['online_share']:.0%} of revenue online).",
        f"- Cleaning: {k['raw_lines']:,} raw lines; {k['duplicates_or_storeless']} duplicate or store-less "
        f"lines and {k['outliers_dropped']} quantity outliers removed.",
        "",
        f"## Top {len(top_stores)} stores by revenue",
        "",
        _table(leaderboard),
        "",
        "## Forecast model (ridge regression, next-week store revenue)",
        "",
        f"- Holdout: {m['rows']} store-weeks. RMSE **{m['rmse']:,.0f}**, WAPE {m['wape']:.1%}, "
        f"R² {m['r2']:.2f}, bias {m['bias']:+,.0f}.",
        f"- Naive 4-week-mean baseline RMSE {m['baseline_rmse']:,.0f} → model skill {m['skill_vs_baseline']:+.0%}.",
        f"- 80% prediction interval covers {m['interval_coverage']:.0%} of holdout weeks "
        f"({m['n_bootstrap']} bootstrap refits).",
        f"- Penalty alpha={m['alpha']:g} chosen by week-blocked {m['cv_folds']}-fold CV (CV RMSE {m['cv_rmse']:,.0f}, "
        f"train RMSE {m['train_rmse']:,.0f}; {m['n_terms']} terms, {m['n_train']} training rows); "
        f"{m['alpha_stability']:.0%} of bootstrap resamples pick the same penalty.",
        "",
        "## Forecast quality by region",
        "",
        _table(regions),
        "",
        f"## Spotlight: {s['region']}",
        "",
        f"WAPE {s['scores']['wape']:.1%}, bias {s['scores']['bias']:+,.0f} per store-week.",
        "",
        _table(spotlight),
        "",
    ]
    return "\n".join(lines)
