"""Statistics with fastcalc."""

import fastcalc
from realapp import hookimpl

from realapp_stats.extra import spread


@hookimpl
def summarize(numbers: list[float]) -> dict[str, float]:
    return {"mean": fastcalc.mean(numbers), "spread": spread(numbers)}
