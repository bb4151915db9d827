"""@load_from.json into a dict, injected into one of two parameters."""
from hamilton.function_modifiers import load_from, source

CASE = {"files": {"settings_path": ("settings.json", '{"rate": 0.5, "name": "x"}')}, "inputs": {"amount": 8.0},
        "outputs": ["charged"]}


@load_from.json(path=source("settings_path"), inject_="settings")
def charged(settings: dict, amount: float) -> float:
    return amount * settings["rate"]
