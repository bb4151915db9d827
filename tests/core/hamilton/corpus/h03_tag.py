"""@tag and @tag_outputs."""
from hamilton.function_modifiers import extract_fields, tag, tag_outputs

CASE = {"inputs": {"x": 2}, "outputs": ["squared", "a", "b"], "tags": {"squared": {"owner": "ml"}, "a": {"kind": "first"}}}


@tag(owner="ml", stage="features")
def squared(x: int) -> int:
    return x * x


@tag_outputs(a={"kind": "first"}, b={"kind": "second"})
@extract_fields({"a": int, "b": int})
def pair(squared: int) -> dict:
    return {"a": squared + 1, "b": squared + 2}
