"""Default parameter values, private helpers and module constants."""
OFFSET = 7


def _double(x: int) -> int:
    return 2 * x


def base(n: int, k: int = 3) -> int:
    return n * k


def shifted(base: int) -> int:
    return _double(base) + OFFSET


def labelled(shifted: int, label: str = "v") -> str:
    return f"{label}={shifted}"

CASE = {"inputs": {"n": 4}, "outputs": ["base", "shifted", "labelled"]}
