"""Tags used for list_available_variables(tag_filter=...)."""
from hamilton.function_modifiers import tag

CASE = {"inputs": {"x": 1}, "outputs": ["feature_a", "feature_b", "metric"], "tag_filter": {"kind": "feature"}}


@tag(kind="feature")
def feature_a(x: int) -> int:
    return x + 1


@tag(kind="feature")
def feature_b(x: int) -> int:
    return x + 2


@tag(kind="metric")
def metric(feature_a: int, feature_b: int) -> int:
    return feature_a * feature_b
