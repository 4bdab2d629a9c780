"""A second module with its own import of the dependency."""

from fastcalc.ops import spread

__all__ = ["spread"]
