"""@unpack_fields splits a returned tuple."""
from hamilton.function_modifiers import unpack_fields

CASE = {"inputs": {"values": [4, 8, 15, 16, 23, 42]}, "outputs": ["train", "test", "sizes"]}


@unpack_fields("train", "test")
def split(values: list) -> tuple[list, list]:
    cut = len(values) // 2
    return values[:cut], values[cut:]


def sizes(train: list, test: list) -> tuple:
    return (len(train), len(test))
