"""The verified module table: what the verified importer serves, and how (kept small: the plugin worker imports it).

:func:`securehost._installed.distcheck.verify_installed` builds the table from a checked installed distribution; the
host hands it to :class:`~securehost.VerifiedImporter`, and to an isolated plugin's worker as plain data.
"""

from __future__ import annotations

import enum
from typing import final

import attrs

from securehost._models import value_model

__all__ = ["ModuleKind", "VerifiedModule"]


@final
class ModuleKind(str, enum.Enum):
    """How the verified importer loads a module."""

    SOURCE = "source"
    EXTENSION = "extension"
    NAMESPACE = "namespace"


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class VerifiedModule:
    """One module of a verified distribution.

    Attributes:
        path: the installed file (the directory, for a namespace package), an absolute path.
        sha256: the verified SHA-256 (hex) of the file; ``None`` for a namespace package, which has no code.
        is_package: whether the module is a package (has submodules).
        kind: source, extension or namespace.
    """

    path: str
    sha256: str | None
    is_package: bool
    kind: ModuleKind
