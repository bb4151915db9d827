"""@inject binding single parameters to source() and value()."""
from hamilton.function_modifiers import inject, source, value

CASE = {"inputs": {"width": 4, "height": 5}, "outputs": ["area", "padded"]}


@inject(w=source("width"), h=source("height"))
def area(w: int, h: int) -> int:
    return w * h


@inject(pad=value(3))
def padded(area: int, pad: int) -> int:
    return area + pad
