"""What the verified importer knows of one registered module, and the reads that check its bytes before they run.

:class:`Entry` is one module of a registered distribution (its verified path and SHA-256); :func:`read_verified`
reads a module file once and refuses bytes that are not the verified ones; :func:`stage_extension` copies an
extension module's verified bytes to a private directory, so that the copy loaded is the file verified;
:func:`make_spec` builds the module spec, which never names a ``__pycache__`` file.
"""

from __future__ import annotations

import importlib.machinery
import os
from typing import TYPE_CHECKING, Any, Final, final

from securehost._digests import compare_digest
from securehost._fileio import read_file
from securehost._installed.bytecode import private_dir
from securehost._installed.modules import ModuleKind
from securehost._records import Record, setfield
from securehost.exceptions import ConfigurationError, VerificationImportError

if TYPE_CHECKING:
    from pathlib import Path

    from securehost._audit import AuditLog

__all__ = ["Entry", "make_spec", "read_verified", "stage_extension"]

_MAX_MODULE: Final = 512 * 1024 * 1024


@final
class Entry(Record):
    """One registered module: its distribution, name, verified file and digest, kind."""

    __slots__ = ("distribution", "is_package", "kind", "name", "path", "sha256")
    distribution: str
    name: str
    path: str
    sha256: str | None
    is_package: bool
    kind: ModuleKind

    def __init__(  # noqa: PLR0917 - a positional record of six fields
        self, distribution: str, name: str, path: str, sha256: str | None, is_package: bool, kind: ModuleKind
    ) -> None:
        setfield(self, "distribution", distribution)
        setfield(self, "name", name)
        setfield(self, "path", path)
        setfield(self, "sha256", sha256)
        setfield(self, "is_package", is_package)
        setfield(self, "kind", kind)


@final
class VerifiedSpec(importlib.machinery.ModuleSpec):
    """A spec whose ``cached`` is always ``None``: no ``__cached__`` pointing into site-packages."""

    @property
    def cached(self) -> None:
        return None

    @cached.setter
    def cached(self, value: object) -> None:
        pass


def read_verified(entry: Entry, audit: AuditLog | None) -> bytes:
    """Read the module file once and check its SHA-256; raise before anything of it can run.

    Raises:
        VerificationImportError: the file cannot be read, or its bytes are not the verified ones.
    """
    try:
        data = read_file(entry.path, _MAX_MODULE)
    except OSError as exc:
        raise VerificationImportError(
            f"cannot read verified module {entry.name} from {entry.path}: {exc}", name=entry.name, path=entry.path
        ) from exc
    import hashlib  # noqa: PLC0415 - a file is read only on a cache miss; a warm start-up loads no OpenSSL

    digest = hashlib.sha256(data).hexdigest()
    if entry.sha256 is None or not compare_digest(digest, entry.sha256):
        if audit is not None:
            audit.emit("import.verification_failed", plugin=entry.distribution, module=entry.name, path=entry.path)
        raise VerificationImportError(
            f"{entry.path} changed after verification (SHA-256 {digest} != verified {entry.sha256}); not executed",
            name=entry.name,
            path=entry.path,
        )
    return data


def make_spec(entry: Entry, loader: Any) -> importlib.machinery.ModuleSpec:
    """Return the spec of *entry*, served by *loader* (its ``cached`` is always ``None``)."""
    if entry.kind is ModuleKind.NAMESPACE:
        spec = VerifiedSpec(entry.name, loader, origin=None, is_package=True)
        spec.submodule_search_locations = [entry.path]
        return spec
    spec = VerifiedSpec(entry.name, loader, origin=entry.path, is_package=entry.is_package)
    spec.has_location = True
    if entry.is_package:
        spec.submodule_search_locations = [os.path.dirname(entry.path)]
    return spec


def stage_extension(entry: Entry, directory: Path, audit: AuditLog | None) -> str:
    """Copy the verified bytes of an extension module into the private *directory*; return the copy's path.

    Raises:
        VerificationImportError: the file changed after verification, or the copy cannot be written.
    """
    import tempfile  # noqa: PLC0415 - only extension modules need it; it costs a start-up about 2 ms

    data = read_verified(entry, audit)
    suffix = next(s for s in importlib.machinery.EXTENSION_SUFFIXES if entry.path.endswith(s))
    try:
        fd, copy = tempfile.mkstemp(dir=private_dir(directory), suffix=suffix)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except (OSError, ConfigurationError) as exc:
        raise VerificationImportError(f"cannot stage {entry.name} for loading: {exc}", name=entry.name) from exc
    return copy
