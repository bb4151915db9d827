"""@check_output_custom with a user-written validator."""
from hamilton.data_quality.base import DataValidator, ValidationResult
from hamilton.function_modifiers import check_output_custom

CASE = {"inputs": {"x": 4}, "outputs": ["even"]}


class IsEven(DataValidator):
    def __init__(self, importance: str = "warn"):
        super().__init__(importance=importance)

    def applies_to(self, datatype: type) -> bool:
        return datatype is int

    def description(self) -> str:
        return "value is even"

    @classmethod
    def name(cls) -> str:
        return "is_even"

    def validate(self, data: int) -> ValidationResult:
        return ValidationResult(passes=data % 2 == 0, message=f"{data} is odd", diagnostics={})


@check_output_custom(IsEven(importance="fail"))
def even(x: int) -> int:
    return x * 3
