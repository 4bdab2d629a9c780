"""The data processor's tasks: transform, filter, aggregate, normalize (records are lists of numbers or dicts)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

TRANSFORMS: dict[str, Callable[[float, float], float]] = {
    "multiply": operator.mul,
    "add": operator.add,
    "power": operator.pow,
}
FILTERS: dict[str, Callable[[float, float], bool]] = {"greater": operator.gt, "less": operator.lt, "equal": operator.eq}


def _values(task: Mapping[str, Any], limit: int) -> list[float]:
    values = task.get("values")
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values):
        raise ValueError("task 'values' must be a list of numbers")
    if len(values) > limit:
        raise ValueError(f"{len(values)} values, more than max_records={limit}")
    return [float(v) for v in values]


def run(capability: str, task: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any] | None:
    values = _values(task, int(config.get("max_records", 10000)))
    digits = int(config.get("precision", 2))
    if capability == "data.transform":
        op = str(task.get("op"))
        if op not in TRANSFORMS or (op == "power" and not config.get("allow_power", True)):
            raise ValueError(f"unknown or disabled transform {op!r}")
        result: Any = [round(TRANSFORMS[op](v, float(task.get("operand", 1))), digits) for v in values]
    elif capability == "data.filter":
        op = str(task.get("op"))
        if op not in FILTERS:
            raise ValueError(f"unknown filter {op!r}")
        result = [v for v in values if FILTERS[op](v, float(task.get("operand", 0)))]
    elif capability == "data.aggregate":
        op = str(task.get("op"))
        table = {"sum": math.fsum, "avg": lambda v: math.fsum(v) / len(v), "min": min, "max": max}
        if op not in table or not values:
            raise ValueError(f"unknown aggregate {op!r} or no values")
        result = round(table[op](values), digits)
    elif capability == "data.normalize":
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        result = [round((v - low) / span, digits) for v in values]
    else:
        return None
    return {"capability": capability, "result": result}
