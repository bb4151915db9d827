"""Model: forecast next week's store revenue with ridge regression, then evaluate it per region.

* ``train_test_split`` (``@extract_fields``) yields ``train_frame`` and ``test_frame``: the last
  ``holdout_weeks`` weeks are held out.
* ``fitted_model`` is the expensive node (~1-2 s): ridge regression on pairwise feature interactions,
  the penalty chosen by week-blocked k-fold cross-validation, then ``N_BOOTSTRAP`` bootstrap resamples
  that each repeat the selection and refit, for honest prediction intervals. It does not depend on any region setting, so it stays cached while you
  change ``holdout_region``.
* ``region_slices`` is a ``Parallelizable`` fan-out: one item per region's holdout rows.
  ``region_evaluation`` runs once per region; ``region_scorecard`` (``Collect``) gathers them.
* ``region_spotlight`` takes a closer look at one region (config/input ``holdout_region``) and fails
  loudly when that region has no holdout rows — the demo's resume switch.
"""

import numpy as np
import pandas as pd

from engine import Collect, Parallelizable, extract_fields, tag

ID_COLUMNS = ("store_id", "region", "format", "week", "week_index", "target")
RIDGE_ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
CV_FOLDS = 5
N_BOOTSTRAP = 250
SEED = 7
INTERVAL = (0.1, 0.9)


@extract_fields({"train_frame": pd.DataFrame, "test_frame": pd.DataFrame})
@tag(owner="ml", stage="model")
def train_test_split(feature_matrix: pd.DataFrame, holdout_weeks: int = 8) -> dict:
    """Time-based split: the last ``holdout_weeks`` weeks are the test set."""
    weeks = int(holdout_weeks)
    if weeks < 1:
        raise ValueError(f"holdout_weeks must be at least 1, got {holdout_weeks!r}.")
    cutoff = feature_matrix["week_index"].max() - weeks
    train = feature_matrix[feature_matrix["week_index"] <= cutoff].reset_index(drop=True)
    test = feature_matrix[feature_matrix["week_index"] > cutoff].reset_index(drop=True)
    if train["week_index"].nunique() < CV_FOLDS:
        raise ValueError(f"holdout_weeks={weeks} leaves too few training weeks; use fewer holdout weeks.")
    return {"train_frame": train, "test_frame": test}


def _feature_names(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ID_COLUMNS]


def _design(frame: pd.DataFrame, names: list[str], mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Standardised base features plus all pairwise products (including squares)."""
    base = (frame[names].to_numpy(dtype="float64") - mu) / sigma
    i, j = np.triu_indices(base.shape[1])
    return np.hstack([base, base[:, i] * base[:, j]])


def _ridge_path(x: np.ndarray, y: np.ndarray, alphas: tuple[float, ...]) -> list[tuple[np.ndarray, float]]:
    """Closed-form ridge (unpenalised intercept) for each penalty; the Gram matrix is built once.

    Penalties are per row, so an alpha means the same thing for any number of training rows.
    """
    xm, ym = x.mean(axis=0), float(y.mean())
    xc = x - xm
    gram = xc.T @ xc
    rhs = xc.T @ (y - ym)
    eye = np.eye(gram.shape[0]) * len(y)
    fits = []
    for alpha in alphas:
        coef = np.linalg.solve(gram + alpha * eye, rhs)
        fits.append((coef, ym - float(xm @ coef)))
    return fits


def _blocked_cv(x: np.ndarray, y: np.ndarray, week: np.ndarray) -> np.ndarray:
    """RMSE per alpha under k-fold CV whose folds are contiguous blocks of weeks (no look-ahead leaks
    through neighbouring weeks the way random folds would)."""
    blocks = np.array_split(np.unique(week), CV_FOLDS)
    sq_err = np.zeros(len(RIDGE_ALPHAS))
    for block in blocks:
        held = np.isin(week, block)
        for a, (coef, icept) in enumerate(_ridge_path(x[~held], y[~held], RIDGE_ALPHAS)):
            sq_err[a] += float(np.sum((x[held] @ coef + icept - y[held]) ** 2))
    return np.sqrt(sq_err / len(y))


@tag(owner="ml", stage="model", cost="expensive")
def fitted_model(train_frame: pd.DataFrame) -> dict:
    """Ridge regression on pairwise feature interactions.

    The penalty is chosen by week-blocked k-fold CV; then ``N_BOOTSTRAP`` bootstrap resamples each
    re-run that selection and refit, which gives prediction intervals that include the uncertainty of
    choosing the penalty (and is what makes this node take a second or two).
    """
    names = _feature_names(train_frame)
    raw = train_frame[names].to_numpy(dtype="float64")
    mu = raw.mean(axis=0)
    sigma = raw.std(axis=0)
    sigma[sigma == 0] = 1.0
    x = _design(train_frame, names, mu, sigma)
    y = train_frame["target"].to_numpy(dtype="float64")
    week = train_frame["week_index"].to_numpy()

    cv_rmse = _blocked_cv(x, y, week)
    best = int(np.argmin(cv_rmse))
    alpha = RIDGE_ALPHAS[best]
    coef, icept = _ridge_path(x, y, (alpha,))[0]
    residuals = y - (x @ coef + icept)

    rng = np.random.default_rng(SEED)
    boot_coef = np.empty((N_BOOTSTRAP, x.shape[1]))
    boot_icept = np.empty(N_BOOTSTRAP)
    boot_alpha = np.empty(N_BOOTSTRAP)
    for b in range(N_BOOTSTRAP):
        idx = rng.integers(0, len(y), len(y))
        pick = RIDGE_ALPHAS[int(np.argmin(_blocked_cv(x[idx], y[idx], week[idx])))]
        boot_alpha[b] = pick
        boot_coef[b], boot_icept[b] = _ridge_path(x[idx], y[idx], (pick,))[0]

    return {
        "feature_names": names,
        "mu": mu,
        "sigma": sigma,
        "coef": coef,
        "intercept": icept,
        "alpha": float(alpha),
        "cv_rmse": float(cv_rmse[best]),
        "cv_rmse_by_alpha": {float(a): float(r) for a, r in zip(RIDGE_ALPHAS, cv_rmse)},
        "train_rmse": float(np.sqrt(np.mean(residuals**2))),
        "residuals": residuals,
        "boot_coef": boot_coef,
        "boot_intercept": boot_icept,
        "boot_alpha": boot_alpha,
        "alpha_stability": float(np.mean(boot_alpha == alpha)),
        "n_train": len(y),
        "n_terms": int(x.shape[1]),
    }


@tag(owner="ml", stage="evaluate")
def test_predictions(fitted_model: dict, test_frame: pd.DataFrame) -> pd.DataFrame:
    """Holdout rows with the point forecast, an 80% prediction interval and the naive baseline."""
    m = fitted_model
    x = _design(test_frame, m["feature_names"], m["mu"], m["sigma"])
    point = x @ m["coef"] + m["intercept"]
    rng = np.random.default_rng(SEED + 1)
    draws = x @ m["boot_coef"].T + m["boot_intercept"]  # rows x bootstrap models
    draws = draws + rng.choice(m["residuals"], size=draws.shape, replace=True)
    low, high = np.quantile(draws, INTERVAL, axis=1)
    out = test_frame[["store_id", "region", "format", "week", "target", "rolling_4w"]].rename(
        columns={"rolling_4w": "baseline"}
    )
    return out.assign(prediction=point, low=low, high=high, error=point - out["target"].to_numpy())


def _scores(frame: pd.DataFrame) -> dict:
    y = frame["target"].to_numpy(dtype="float64")
    pred = frame["prediction"].to_numpy(dtype="float64")
    base = frame["baseline"].to_numpy(dtype="float64")
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    base_rmse = float(np.sqrt(np.mean((base - y) ** 2)))
    denom = float(np.sum((y - y.mean()) ** 2))
    return {
        "rows": len(y),
        "rmse": rmse,
        "mae": float(np.mean(np.abs(pred - y))),
        "wape": float(np.sum(np.abs(pred - y)) / max(float(np.sum(np.abs(y))), 1e-9)),
        "bias": float(np.mean(pred - y)),
        "r2": float(1.0 - np.sum((pred - y) ** 2) / denom) if denom > 0 else float("nan"),
        "baseline_rmse": base_rmse,
        "skill_vs_baseline": float(1.0 - rmse / base_rmse) if base_rmse > 0 else float("nan"),
        "interval_coverage": float(np.mean((y >= frame["low"].to_numpy()) & (y <= frame["high"].to_numpy()))),
    }


@tag(owner="ml", stage="evaluate")
def model_metrics(test_predictions: pd.DataFrame, fitted_model: dict) -> dict:
    """Holdout accuracy of the model and of the naive 4-week-mean baseline, plus the CV choice."""
    scores = _scores(test_predictions)
    scores.update(
        alpha=fitted_model["alpha"],
        cv_rmse=fitted_model["cv_rmse"],
        train_rmse=fitted_model["train_rmse"],
        n_train=fitted_model["n_train"],
        n_terms=fitted_model["n_terms"],
        n_bootstrap=int(len(fitted_model["boot_intercept"])),
        alpha_stability=fitted_model["alpha_stability"],
        cv_folds=CV_FOLDS,
    )
    return scores


def region_slices(test_predictions: pd.DataFrame) -> Parallelizable[pd.DataFrame]:
    """Fan out: one item per region's holdout predictions (regions in alphabetical order)."""
    for _region, frame in test_predictions.groupby("region", sort=True):
        yield frame.reset_index(drop=True)


def region_evaluation(region_slices: pd.DataFrame, model_metrics: dict) -> dict:
    """Per-region scores, a bootstrap confidence interval for the RMSE, and RMSE vs the chain's."""
    scores = _scores(region_slices)
    sq = (region_slices["prediction"] - region_slices["target"]).to_numpy(dtype="float64") ** 2
    rng = np.random.default_rng(SEED + 2)
    boot = np.sqrt(sq[rng.integers(0, len(sq), size=(2000, len(sq)))].mean(axis=1))
    lo, hi = np.quantile(boot, [0.05, 0.95])
    worst = region_slices.assign(abs_err=region_slices["error"].abs()).groupby("store_id")["abs_err"].mean()
    scores.update(
        region=str(region_slices["region"].iloc[0]),
        stores=int(region_slices["store_id"].nunique()),
        revenue=float(region_slices["target"].sum()),
        rmse_ci_low=float(lo),
        rmse_ci_high=float(hi),
        rmse_index=scores["rmse"] / model_metrics["rmse"],
        hardest_store=str(worst.idxmax()),
    )
    return scores


def region_scorecard(region_evaluation: Collect[dict]) -> pd.DataFrame:
    """Gather the per-region evaluations into one table, best-forecast region first."""
    frame = pd.DataFrame(list(region_evaluation))
    cols = [
        "region",
        "stores",
        "rows",
        "revenue",
        "rmse",
        "rmse_ci_low",
        "rmse_ci_high",
        "rmse_index",
        "wape",
        "bias",
        "skill_vs_baseline",
        "interval_coverage",
        "hardest_store",
    ]
    return frame[cols].sort_values(["wape", "region"], kind="stable").reset_index(drop=True)


@tag(owner="ml", stage="evaluate")
def region_spotlight(test_predictions: pd.DataFrame, holdout_region: str = "North") -> dict:
    """A closer look at one region's holdout: per-store accuracy. Fails if the region has no rows."""
    rows = test_predictions[test_predictions["region"] == holdout_region]
    if rows.empty:
        known = ", ".join(sorted(test_predictions["region"].unique()))
        raise ValueError(
            f"holdout has no rows for region {holdout_region!r}; known regions are {known} "
            f"(set --config holdout_region=<one of them>, or drop the setting to use the default)."
        )
    per_store = (
        rows.assign(abs_err=rows["error"].abs())
        .groupby("store_id")
        .agg(actual=("target", "sum"), forecast=("prediction", "sum"), mae=("abs_err", "mean"))
        .reset_index()
    )
    per_store["wape"] = (
        rows.assign(abs_err=rows["error"].abs()).groupby("store_id")["abs_err"].sum().to_numpy()
        / per_store["actual"].to_numpy()
    )
    return {"region": holdout_region, "scores": _scores(rows), "per_store": per_store}
