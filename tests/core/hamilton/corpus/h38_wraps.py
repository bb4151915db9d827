"""A node wrapped by a functools.wraps decorator is read through __wrapped__."""
import functools

CASE = {"inputs": {"x": 3}, "outputs": ["logged"]}


def _log_calls(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@_log_calls
def logged(x: int) -> int:
    return x * 7
