"""@extract_fields on a dict."""
from hamilton.function_modifiers import extract_fields

CASE = {"inputs": {"values": [3, 1, 4, 1, 5]}, "outputs": ["lo", "hi", "span"]}


@extract_fields({"lo": int, "hi": int})
def bounds(values: list) -> dict:
    return {"lo": min(values), "hi": max(values)}


def span(lo: int, hi: int) -> int:
    return hi - lo
