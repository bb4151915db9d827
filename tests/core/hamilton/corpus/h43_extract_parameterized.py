"""@parameterize stacked with @extract_fields via parameterize_values + config."""
from hamilton.function_modifiers import config, extract_fields

CASE = {"configs": [{"level": "full"}, {"level": "lite"}], "inputs": {"xs": [1.0, 2.0, 6.0]},
        "outputs": ["mean", "maximum"]}


@config.when(level="full")
@extract_fields({"mean": float, "maximum": float})
def stats__full(xs: list) -> dict:
    return {"mean": sum(xs) / len(xs), "maximum": max(xs)}


@config.when(level="lite")
@extract_fields({"mean": float, "maximum": float})
def stats__lite(xs: list) -> dict:
    return {"mean": xs[0], "maximum": xs[-1]}
