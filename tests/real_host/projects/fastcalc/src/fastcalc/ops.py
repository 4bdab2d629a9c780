"""Operations."""


def mean(values: list[float]) -> float:
    """The arithmetic mean of *values*."""
    return sum(values) / len(values)


def spread(values: list[float]) -> float:
    """The largest minus the smallest of *values*."""
    return max(values) - min(values)
