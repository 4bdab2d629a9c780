"""Unit conversion table."""

_TO_METRES = {"m": 1.0, "km": 1000.0, "mi": 1609.344, "ft": 0.3048}


def convert(value: float, source: str, target: str) -> float:
    return value * _TO_METRES[source] / _TO_METRES[target]
