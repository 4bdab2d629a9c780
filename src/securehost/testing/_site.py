"""An isolated plugin directory for tests: install wheels with ``installer``, tamper with installed plugins.

A :class:`PluginSite` is a ``site-packages`` directory that is never on :data:`sys.path`; a
:class:`~securehost.Host` finds plugins there only because it is given the directory as its ``path``.
Each :class:`SiteTamper` kind, applied to an installed plugin, is guaranteed to make the host reject it with
:attr:`SiteTamper.reason` on the next load or reload.
"""

from __future__ import annotations

import csv
import enum
import importlib.util
import io
import marshal
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

import attrs
from packaging.utils import canonicalize_name, parse_wheel_filename

from securehost._models import value_model
from securehost._verdict import ReasonCode
from securehost.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["InstalledPlugin", "PluginSite", "SiteTamper"]

_MAX_RECORD: Final = 16 * 1024 * 1024


@final
class SiteTamper(str, enum.Enum):
    """Named ways to tamper with an installed plugin after installation (as malware or a careless admin would).

    :attr:`reason` is the reason code the host is guaranteed to report when it next loads the plugin.
    """

    #: Append a line of code to an installed, signed module.
    MODIFY_INSTALLED = "modify-installed"
    #: Put a ``__pycache__/*.pyc`` for a signed module next to it whose header matches the source but whose code
    #: is not the compiled signed source (Python would run it on a plain import).
    PLANT_PYC = "plant-pyc"
    #: Drop a new module into the plugin's package.
    ADD_MODULE = "add-module"
    #: Delete an installed, signed module.
    REMOVE_INSTALLED = "remove-installed"

    @property
    def reason(self) -> ReasonCode:
        """The reason code the host is guaranteed to report for a plugin tampered this way."""
        return _SITE_REASONS[self]


_SITE_REASONS: Final = {
    SiteTamper.MODIFY_INSTALLED: ReasonCode.INSTALLED_FILE_MODIFIED,
    SiteTamper.PLANT_PYC: ReasonCode.INSTALLED_FILE_UNSIGNED,
    SiteTamper.ADD_MODULE: ReasonCode.INSTALLED_FILE_UNSIGNED,
    SiteTamper.REMOVE_INSTALLED: ReasonCode.INSTALLED_FILE_MISSING,
}


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class InstalledPlugin:
    """A distribution installed into a :class:`PluginSite`.

    Attributes:
        name: the canonical distribution name.
        version: the version from the wheel's file name.
        site: the site directory it was installed into.
        dist_info: its ``.dist-info`` directory.
        files: every path of its installed ``RECORD``, relative to :attr:`site` (scripts and data files start
            with ``../``).
    """

    name: str
    version: str
    site: Path
    dist_info: Path
    files: tuple[str, ...]

    @property
    def modules(self) -> tuple[str, ...]:
        """The installed ``.py`` files inside the site directory, relative to it, sorted."""
        return tuple(sorted(f for f in self.files if f.endswith(".py") and not f.startswith("../")))

    def path(self, relative: str) -> Path:
        """Return the absolute path of *relative* (a path of :attr:`files`)."""
        return self.site / relative


def _read_record(dist_info: Path) -> tuple[str, ...]:
    with (dist_info / "RECORD").open(encoding="utf-8", newline="") as handle:
        text = handle.read(_MAX_RECORD)
    return tuple(row[0] for row in csv.reader(io.StringIO(text)) if row and row[0])


@final
class PluginSite:
    """An isolated plugin directory: ``<root>/site-packages``, with ``<root>/prefix`` for scripts and data.

    Args:
        root: a directory of the test's own (``tmp_path``); created if needed.

    Raises:
        OSError: the directories cannot be created.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.path = self.root / "site-packages"
        self.prefix = self.root / "prefix"
        self.path.mkdir(parents=True, exist_ok=True)
        self._installed: dict[str, InstalledPlugin] = {}

    def __repr__(self) -> str:
        return f"<PluginSite {self.path}>"

    def __iter__(self) -> Iterator[InstalledPlugin]:
        return iter(list(self._installed.values()))

    def __getitem__(self, name: str) -> InstalledPlugin:
        return self._installed[canonicalize_name(name)]

    def install(self, wheel: str | os.PathLike[str]) -> InstalledPlugin:
        """Install *wheel* with ``installer`` (no bytecode compilation), as ``python -m installer`` would.

        Nothing is verified: tampered and unsigned wheels install, which is what a test of the host needs.

        Returns:
            The installed plugin.

        Raises:
            ConfigurationError: ``installer`` is not installed, or a distribution of that name is already installed
                here (uninstall it first).
            ValueError: the wheel's file name is invalid.
            OSError: a file cannot be read or written.
            zipfile.BadZipFile: *wheel* is not a zip archive.
        """
        try:
            from installer import install  # noqa: PLC0415 - an optional test dependency
            from installer.destinations import SchemeDictionaryDestination  # noqa: PLC0415
            from installer.sources import WheelFile  # noqa: PLC0415
        except ImportError as exc:
            raise ConfigurationError("installing wheels needs the 'installer' package: pip install installer") from exc
        path = Path(wheel)
        name, version, _, _ = parse_wheel_filename(path.name)
        if name in self._installed:
            raise ConfigurationError(f"{name} is already installed in {self.path}; uninstall it first")
        scheme = {"purelib": str(self.path), "platlib": str(self.path)}
        scheme |= {key: str(self.prefix / key) for key in ("scripts", "headers", "data")}
        destination = SchemeDictionaryDestination(
            scheme, interpreter=sys.executable, script_kind="posix", bytecode_optimization_levels=()
        )
        with WheelFile.open(path) as source:
            dist_info = self.path / source.dist_info_dir
            install(source, destination, additional_metadata={})
        plugin = InstalledPlugin(
            name=name, version=str(version), site=self.path, dist_info=dist_info, files=_read_record(dist_info)
        )
        self._installed[name] = plugin
        return plugin

    def uninstall(self, name: str) -> None:
        """Remove an installed distribution and the directories it leaves empty.

        Every file of its ``RECORD`` goes, with the bytecode caches of its modules (as ``pip uninstall`` does).

        Raises:
            KeyError: no distribution of that name was installed here.
            OSError: a file cannot be removed.
        """
        plugin = self._installed.pop(canonicalize_name(name))
        directories: set[Path] = set()
        for relative in plugin.files:
            target = Path(os.path.normpath(plugin.site / relative))
            if not target.is_relative_to(self.root):
                continue  # never delete outside the site's root, whatever RECORD says
            target.unlink(missing_ok=True)
            if target.suffix == ".py":  # as pip does: the module's bytecode caches go with it
                for cached in target.parent.glob(f"__pycache__/{target.stem}.*.pyc"):
                    cached.unlink()
            directories.update(p for p in target.parents if p.is_relative_to(self.root) and p != self.root)
        shutil.rmtree(plugin.dist_info, ignore_errors=True)
        for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
            cache = directory / "__pycache__"
            if cache.is_dir() and not any(cache.iterdir()):
                cache.rmdir()
            if directory not in (self.path, self.prefix) and directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()

    def tamper(self, plugin: InstalledPlugin | str, kind: SiteTamper | str, *, target: str | None = None) -> Path:
        """Tamper with an installed plugin in the way *kind* names; return the file changed, created or removed.

        Args:
            plugin: the installed plugin or its name.
            kind: a :class:`SiteTamper` or its value (``"plant-pyc"``).
            target: the installed module to work on, relative to the site (default: the first module of
                :attr:`InstalledPlugin.modules`).

        Raises:
            KeyError: the plugin was not installed here.
            ValueError: *kind* is unknown, the plugin has no module (or *target* is not one), *kind* needs a
                package and the module is a top-level module, or (``plant-pyc``) the module does not compile.
            OSError: a file cannot be written.
        """
        kind = SiteTamper(kind)
        installed = plugin if isinstance(plugin, InstalledPlugin) else self[plugin]
        modules = installed.modules
        chosen = target if target is not None else (modules[0] if modules else None)
        if chosen is None or chosen not in modules:
            raise ValueError(f"{installed.name} has no installed module {chosen!r} (modules: {list(modules)})")
        source = installed.path(chosen)
        package = source.parent
        if kind in (SiteTamper.PLANT_PYC, SiteTamper.ADD_MODULE) and package == installed.site:
            raise ValueError(f"{kind.value} needs a module inside a package; {chosen} is a top-level module")
        if kind is SiteTamper.MODIFY_INSTALLED:
            with source.open("ab") as handle:
                handle.write(b"\n__import__('os').getpid()  # tampered after installation\n")
            return source
        if kind is SiteTamper.REMOVE_INSTALLED:
            source.unlink()
            return source
        if kind is SiteTamper.ADD_MODULE:
            added = package / "_securehost_planted.py"
            added.write_bytes(b"import os\n")
            return added
        tag = sys.implementation.cache_tag
        planted = package / "__pycache__" / f"{source.stem}.{tag}.pyc"
        # the signed source's code plus one statement, behind a header that matches the installed source: Python
        # would run it on a plain import
        payload = source.read_bytes() + b"\n__import__('os').getpid()  # planted bytecode\n"
        try:
            code = compile(payload, str(source), "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            raise ValueError(f"{chosen} does not compile, so no .pyc can be planted for it: {exc}") from exc
        st = source.stat()
        header = importlib.util.MAGIC_NUMBER + bytes(4)
        header += (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        header += (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        planted.parent.mkdir(exist_ok=True)
        planted.write_bytes(header + marshal.dumps(code))
        return planted
