"""The deprecated @parametrized_input spelling."""
from hamilton.function_modifiers import parametrized_input

CASE = {"inputs": {"a": 2, "b": 5}, "outputs": ["a_plus", "b_plus"]}


@parametrized_input(parameter="base", variable_inputs={"a": ("a_plus", "a + 1"), "b": ("b_plus", "b + 1")})
def plus_one(base: int) -> int:
    return base + 1
