"""A small numerical library."""

from fastcalc.ops import mean

__all__ = ["mean"]
