"""numpy arrays through plain nodes, with a private helper."""
import numpy as np

CASE = {"inputs": {"size": 6}, "outputs": ["normalised", "norm"]}


def _scale(a: np.ndarray) -> np.ndarray:
    return a / a.max()


def raw_array(size: int) -> np.ndarray:
    return np.arange(1, size + 1, dtype=float)


def normalised(raw_array: np.ndarray) -> np.ndarray:
    return _scale(raw_array)


def norm(normalised: np.ndarray) -> float:
    return float(np.linalg.norm(normalised))
