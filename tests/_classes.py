"""Every class the securehost package defines, for tests that hold each model or record of the package to a rule."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

import securehost

if TYPE_CHECKING:
    from collections.abc import Callable


def package_classes(keep: Callable[[type], bool]) -> list[type]:
    """The classes defined in securehost's modules for which *keep* is true, sorted by module and qualified name.

    Modules of an optional extra that is not installed here are skipped; ``securehost.__main__`` (which runs the
    command line) is not imported.
    """
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(securehost.__path__, "securehost."):
        if info.name == "securehost.__main__":
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__ and keep(value):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]
