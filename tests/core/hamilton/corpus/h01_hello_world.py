"""Hamilton's hello world: plain functions, Series inputs, no decorators."""
import pandas as pd

CASE = {"inputs": {"spend": [10.0, 10.0, 20.0, 40.0, 40.0, 50.0], "signups": [1.0, 10.0, 50.0, 100.0, 200.0, 400.0]},
        "series_inputs": True,
        "outputs": ["avg_3wk_spend", "spend_per_signup", "spend_zero_mean_unit_variance"]}


def avg_3wk_spend(spend: pd.Series) -> pd.Series:
    return spend.rolling(3).mean()


def spend_per_signup(spend: pd.Series, signups: pd.Series) -> pd.Series:
    return spend / signups


def spend_mean(spend: pd.Series) -> float:
    return spend.mean()


def spend_zero_mean(spend: pd.Series, spend_mean: float) -> pd.Series:
    return spend - spend_mean


def spend_std_dev(spend: pd.Series) -> float:
    return spend.std()


def spend_zero_mean_unit_variance(spend_zero_mean: pd.Series, spend_std_dev: float) -> pd.Series:
    return spend_zero_mean / spend_std_dev
