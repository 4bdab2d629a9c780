"""The verified module table: what the verified importer serves, and how (kept small: the plugin worker imports it).

:func:`securehost._installed.distcheck.verify_installed` builds the table from a checked installed distribution; the
host hands it to :class:`~securehost.VerifiedImporter`, and to an isolated plugin's worker as plain data.
"""

from __future__ import annotations

import enum
from typing import final

from securehost._records import Record, setfield

__all__ = ["ModuleKind", "VerifiedModule"]


@final
class ModuleKind(str, enum.Enum):
    """How the verified importer loads a module."""

    SOURCE = "source"
    EXTENSION = "extension"
    NAMESPACE = "namespace"


@final
class VerifiedModule(Record):
    """One module of a verified distribution.

    Attributes:
        path: the installed file (the directory, for a namespace package), an absolute path.
        sha256: the verified SHA-256 (hex) of the file; ``None`` for a namespace package, which has no code.
        is_package: whether the module is a package (has submodules).
        kind: source, extension or namespace.
    """

    __slots__ = ("is_package", "kind", "path", "sha256")
    path: str
    sha256: str | None
    is_package: bool
    kind: ModuleKind

    def __init__(self, *, path: str, sha256: str | None, is_package: bool, kind: ModuleKind) -> None:
        setfield(self, "path", path)
        setfield(self, "sha256", sha256)
        setfield(self, "is_package", is_package)
        setfield(self, "kind", kind)
