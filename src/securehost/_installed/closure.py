"""The host's installed requirement closure, and which top-level modules installed distributions provide.

The threat model trusts the host and what it has installed to run: plugins may import the host's own distribution
and every distribution it requires, transitively. :class:`HostClosure` computes that set from the installed metadata
(:mod:`importlib_metadata` over :data:`sys.path`): each ``Requires-Dist`` of a distribution in the closure whose
marker holds for this interpreter (with the extras that led to it: ``foo[bar]`` follows ``foo``'s ``extra == "bar"``
requirements) adds the installed distribution of that name. A requirement that is not installed adds nothing (the
host does not import it either). The walk keeps a set of ``(name, extras)`` already visited (cycles end) and stops
at :data:`MAX_DISTRIBUTIONS` distributions (what is left out is not allowed, and the closure says it was truncated).

Each distribution in the closure provides module names, read from its ``RECORD`` (the module and package names of
the ``.py`` and extension files it lists in its site directory; a namespace package contributes its sub-packages,
not the shared namespace), or from ``top_level.txt`` when it has no ``RECORD``. Nothing is computed until asked:
the first question (the first plugin import or requirement that is neither standard library, nor the plugin's own, nor
in the policy's lists) pays for the walk. The walk lists each :data:`sys.path` directory once (through the host's
:class:`~securehost._installed.discovery.DiscoveryCache`, shared with discovery) and reads ``METADATA`` and ``RECORD``
of ``.dist-info`` directories directly, without :mod:`importlib_metadata` (used only for eggs and zip entries).

:func:`module_providers` answers the other question, for the message of a rejection: which installed distribution
provides a module name a plugin imports.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from securehost._fileio import read_file
from securehost._installed.recordrows import record_rows
from securehost._installed.scan import list_path_entry
from securehost._names import canonicalize_name
from securehost._wheel.headers import header_values

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import importlib_metadata

    from securehost._installed.discovery import DiscoveryCache
    from securehost._installed.scan import MetadataLocation

__all__ = ["MAX_DISTRIBUTIONS", "HostClosure", "distribution_modules", "find_distribution", "module_providers"]

#: Distributions the closure holds at most; a larger closure is truncated (fail closed: fewer names allowed).
MAX_DISTRIBUTIONS: Final = 1000
_MAX_METADATA: Final = 16 * 1024 * 1024
_MAX_RECORD: Final = 64 * 1024 * 1024
_SUFFIXES: Final = tuple(sorted({".py", *importlib.machinery.EXTENSION_SUFFIXES}, key=len, reverse=True))


def _prefixes(fullname: str) -> Iterable[str]:
    parts = fullname.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def _strip_suffix(name: str) -> str | None:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def modules_from_record(paths: Iterable[str]) -> frozenset[str]:
    """Return the module names that the ``RECORD`` paths *paths* make importable, at their top-most level.

    ``pkg/__init__.py`` gives ``pkg``; ``mod.py`` gives ``mod``; ``ns/sub/__init__.py`` without ``ns/__init__.py``
    gives ``ns.sub`` (a namespace package is not claimed whole). Paths outside the site directory (``..``), in
    ``.dist-info`` or ``.data`` directories, and names that are not identifiers give nothing.
    """
    files = {p.replace("\\", "/") for p in paths}
    found: set[str] = set()
    for rel in files:
        parts = rel.split("/")
        if ".." in parts or parts[0].endswith((".dist-info", ".data", ".egg-info")) or "__pycache__" in parts:
            continue
        stem = _strip_suffix(parts[-1])
        if stem is None:
            continue
        names = [*parts[:-1], stem]
        if not all(n.isidentifier() for n in names):
            continue
        for i in range(1, len(names) + 1):
            if i == len(names) or "/".join(parts[:i]) + "/__init__.py" in files:
                found.add(".".join(names[:i]) if names[i - 1] != "__init__" else ".".join(names[: i - 1]))
                break
    found.discard("")
    return frozenset(found)


def distribution_modules(dist: importlib_metadata.Distribution) -> frozenset[str]:
    """Return the module names an installed distribution provides (``RECORD``, else ``top_level.txt``)."""
    try:
        files = dist.files
    except (OSError, ValueError):
        files = None
    if files:
        return modules_from_record(str(f) for f in files)
    try:
        text = dist.read_text("top_level.txt") or ""
    except (OSError, ValueError):
        text = ""
    return frozenset(line.strip() for line in text.splitlines() if line.strip().isidentifier())


def find_distribution(name: str, path: Sequence[str] | None = None) -> importlib_metadata.Distribution | None:
    """Return the first installed distribution called *name* on *path* (default :data:`sys.path`), or ``None``."""
    import importlib_metadata  # noqa: PLC0415 - only when a closure or a fix is computed, not on every start-up

    search = list(sys.path if path is None else path)
    for dist in importlib_metadata.distributions(name=name, path=search):
        if isinstance(dist, importlib_metadata.Distribution):
            return dist
    return None


def module_providers(modules: Iterable[str], path: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """Map each module in *modules* to ``(distribution, version, site)`` of the first distribution providing it.

    Modules that no distribution provides are left out. This reads every distribution's ``RECORD`` on *path*: it
    runs only to word the message of a rejection.
    """
    import importlib_metadata  # noqa: PLC0415

    wanted = set(modules)
    found: dict[str, tuple[str, str, str]] = {}
    for dist in importlib_metadata.distributions(path=list(path)):
        if not wanted:
            break
        if not isinstance(dist, importlib_metadata.Distribution):
            continue
        provided = distribution_modules(dist)
        for module in list(wanted):
            if any(prefix in provided for prefix in _prefixes(module)):
                site = str(dist.locate_file(""))
                found[module] = (canonicalize_name(dist.metadata["Name"] or ""), dist.version, site)
                wanted.discard(module)
    return found


@final
class HostClosure:
    """The installed requirement closure of the host's distribution(s), computed on first use and kept.

    Args:
        roots: the host's distribution names, optionally with extras (``"demoapp"``, ``"demoapp[web]"``).
        max_distributions: the most distributions the closure holds (default :data:`MAX_DISTRIBUTIONS`).
        path: where installed distributions are looked up (default :data:`sys.path` when first used).
    """

    __slots__ = (
        "_cache",
        "_computed",
        "_lock",
        "_max",
        "_path",
        "_roots",
        "distributions",
        "missing",
        "modules",
        "truncated",
    )

    def __init__(
        self,
        roots: Iterable[str],
        *,
        max_distributions: int = MAX_DISTRIBUTIONS,
        path: Sequence[str] | None = None,
        cache: DiscoveryCache | None = None,
    ) -> None:
        self._roots = tuple(roots)
        self._cache = cache
        self._max = max_distributions
        self._path = None if path is None else tuple(path)
        self._lock = threading.Lock()
        self._computed = False
        #: canonical name -> installed version, for every distribution in the closure
        self.distributions: Mapping[str, str] = {}
        #: module name -> canonical distribution providing it
        self.modules: Mapping[str, str] = {}
        #: requirements (canonical names) of the closure that are not installed, roots included
        self.missing: tuple[str, ...] = ()
        #: whether :attr:`max_distributions` cut the walk short
        self.truncated = False

    @property
    def roots(self) -> tuple[str, ...]:
        """The host distribution names the closure starts from."""
        return self._roots

    def compute(self) -> HostClosure:
        """Walk the installed metadata once (later calls return at once); return ``self``."""
        with self._lock:
            if not self._computed:
                self._walk()
                self._computed = True
        return self

    def module_owner(self, fullname: str) -> str | None:
        """Return the closure distribution that provides *fullname* (or a package above it), or ``None``."""
        modules = self.compute().modules
        for prefix in _prefixes(fullname):
            owner = modules.get(prefix)
            if owner is not None:
                return owner
        return None

    def has_distribution(self, name: str) -> bool:
        """Whether the distribution *name* is in the closure."""
        return canonicalize_name(name) in self.compute().distributions

    def _walk(self) -> None:
        from packaging.markers import UndefinedComparison, UndefinedEnvironmentName  # noqa: PLC0415
        from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415

        index: dict[str, MetadataLocation] = {}
        for entry in sys.path if self._path is None else self._path:
            for loc in list_path_entry(entry or os.curdir, self._cache).locations:
                index.setdefault(loc.canonical, loc)
        found: dict[str, _Installed | None] = {}
        versions: dict[str, str] = {}
        modules: dict[str, str] = {}
        missing: list[str] = []
        seen: set[tuple[str, frozenset[str]]] = set()
        queue: list[tuple[str, frozenset[str]]] = []
        for root in self._roots:
            try:
                requirement = Requirement(root)
            except InvalidRequirement:
                missing.append(root)
                continue
            queue.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
        while queue:
            name, extras = queue.pop(0)
            if (name, extras) in seen:
                continue
            seen.add((name, extras))
            if name not in found:
                if len(versions) >= self._max:
                    self.truncated = True
                    continue
                location = index.get(name)
                dist = found[name] = _read_installed(location) if location is not None else None
                if dist is None:
                    missing.append(name)
                    continue
                versions[name] = dist.version
                for module in dist.modules:
                    modules.setdefault(module, name)
            dist = found[name]
            if dist is None:
                continue
            for line in dist.requires:
                try:
                    requirement = Requirement(line)
                except InvalidRequirement:
                    continue  # the host's own environment: a line pip could not read either
                try:
                    applies = requirement.marker is None or any(
                        requirement.marker.evaluate({"extra": extra}) for extra in ("", *sorted(extras))
                    )
                except (UndefinedEnvironmentName, UndefinedComparison):
                    applies = False  # the host does not get it installed either
                if applies:
                    queue.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
        self.distributions = versions
        self.modules = modules
        self.missing = tuple(dict.fromkeys(missing))


@final
class _Installed:
    __slots__ = ("modules", "requires", "version")

    def __init__(self, version: str, requires: Sequence[str], modules: frozenset[str]) -> None:
        self.version = version
        self.requires = requires
        self.modules = modules


def _read_installed(loc: MetadataLocation) -> _Installed | None:
    """Read version, requirements and modules of one installed distribution; ``None`` if its metadata is unusable."""
    if loc.kind != "dist-info":
        import importlib_metadata  # noqa: PLC0415 - eggs and zip entries are rare

        dist = importlib_metadata.PathDistribution(Path(loc.path))
        try:
            return _Installed(dist.version or "", tuple(dist.requires or ()), distribution_modules(dist))
        except (OSError, ValueError, TypeError):
            return None
    try:
        raw = read_file(os.path.join(loc.path, "METADATA"), _MAX_METADATA)
        requires = header_values(raw, "Requires-Dist")
        version = next(iter(header_values(raw, "Version")), loc.version or "")
    except (OSError, ValueError):
        return None
    try:
        record = read_file(os.path.join(loc.path, "RECORD"), _MAX_RECORD).decode("utf-8", "replace")
        rows = [row[0] for row in record_rows(record.splitlines()) if row]
        modules = modules_from_record(rows)
    except (OSError, ValueError):
        try:
            text = read_file(os.path.join(loc.path, "top_level.txt"), _MAX_METADATA).decode("utf-8", "replace")
        except OSError:
            text = ""
        modules = frozenset(line.strip() for line in text.splitlines() if line.strip().isidentifier())
    return _Installed(version, tuple(requires), modules)
