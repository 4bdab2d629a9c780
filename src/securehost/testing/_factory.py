"""The wheel factory: wheels from a dict of files (fast, exact) or from a project with ``python -m build`` (real).

Both signs with the test's key unless told otherwise, and can hand back a tampered copy instead. Every wheel goes
into a fresh numbered directory, so that variants of one distribution (signed, unsigned, tampered) never overwrite
each other and each keeps the file name its signature was made for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from packaging.requirements import InvalidRequirement, Requirement

from securehost._signing.private import PrivateKey
from securehost._wheel.wheelfile import sign_wheel
from securehost.exceptions import ConfigurationError, SecurehostError
from securehost.testing._wheels import WheelTamper, build_wheel, tamper_wheel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["BuildUnavailableError", "ProjectBuildError", "WheelFactory", "build_project"]

_TOP_LEVEL_SKIP: Final = frozenset(
    {".git", ".hg", ".nox", ".tox", ".venv", "venv", "build", "dist", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
)
_OUTPUT_TAIL: Final = 40


class ProjectBuildError(SecurehostError):
    """``python -m build`` could not build a wheel of the project; the message ends with its output."""


class BuildUnavailableError(ProjectBuildError, ConfigurationError):
    """The test environment cannot build the project offline: ``build`` or a build requirement is not installed.

    The pytest fixtures turn it into a test failure with this message (what to install).
    """


def _ignore(root: Path, *own: Path) -> Any:
    """An ``ignore`` for :func:`shutil.copytree` of a project; *own* are our directories, possibly inside it."""
    excluded = {os.path.realpath(p) for p in own}

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        if Path(directory) == root:
            skipped |= _TOP_LEVEL_SKIP & set(names)
        skipped.update(n for n in names if os.path.realpath(os.path.join(directory, n)) in excluded)
        return skipped

    return ignore


def _tree_digest(root: Path) -> str:
    """A digest of every file's relative path and content (the cache key of a build)."""
    digest = hashlib.sha256()
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(directory, name)
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _check_requirements(project: Path) -> None:
    """Raise :class:`BuildUnavailableError` unless ``build`` and every build requirement are installed."""
    if importlib.util.find_spec("build") is None:
        raise BuildUnavailableError("building a project needs the 'build' package: pip install build")
    try:
        config = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except FileNotFoundError:
        config = {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProjectBuildError(f"{project}/pyproject.toml cannot be read: {exc}") from exc
    system = config.get("build-system", {})
    requires = system.get("requires", ["setuptools>=40.8.0"]) if isinstance(system, dict) else []
    missing = []
    for text in requires if isinstance(requires, list) else []:
        try:
            requirement = Requirement(str(text))
        except InvalidRequirement as exc:
            raise ProjectBuildError(f"{project}/pyproject.toml: invalid build requirement {text!r}") from exc
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(str(requirement))
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            missing.append(f"{requirement} (installed: {installed})")
    if missing:
        raise BuildUnavailableError(
            f"cannot build {project.name} without network access: build requirements not installed: "
            + ", ".join(missing)
            + " (install them in the test environment, or build with isolation=True)"
        )


def build_project(
    project: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    isolation: bool = False,
    timeout: float = 600,
) -> Path:
    """Build a wheel of *project* with ``python -m build --wheel``; return its path.

    The project is first copied into *directory* (without ``.git``, ``build``, ``dist``, virtual environments and
    caches), so that the build never writes into the project. Without *isolation*, the build runs in the current
    environment (``--no-isolation``), offline, and the project's build requirements must be installed.

    Args:
        project: the project directory (with ``pyproject.toml`` or ``setup.py``).
        directory: a scratch directory of the test's own; the wheel goes to ``<directory>/dist``.
        isolation: let ``build`` create an isolated environment and install the build requirements (network).
        timeout: seconds before the build is abandoned.

    Returns:
        The wheel.

    Raises:
        BuildUnavailableError: ``build`` or (without *isolation*) a build requirement is not installed.
        ProjectBuildError: the project is not a directory, its ``pyproject.toml`` is unreadable, or the build
            failed or timed out (the message ends with the build's output).
        OSError: the project cannot be copied.
    """
    source = Path(project).resolve()
    if not source.is_dir():
        raise ProjectBuildError(f"{source} is not a project directory")
    if not isolation:
        _check_requirements(source)
    elif importlib.util.find_spec("build") is None:
        raise BuildUnavailableError("building a project needs the 'build' package: pip install build")
    work = Path(directory)
    copy = work / "project"
    shutil.copytree(source, copy, ignore=_ignore(source, work), symlinks=True)
    dist = work / "dist"
    command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist)]
    command += [] if isolation else ["--no-isolation"]
    try:
        result = subprocess.run(  # our own interpreter, fixed arguments
            [*command, str(copy)], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ProjectBuildError(f"building {source.name} took longer than {timeout} s") from exc
    wheels = sorted(dist.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        output = (result.stdout + result.stderr).strip().splitlines()[-_OUTPUT_TAIL:]
        raise ProjectBuildError(
            f"python -m build failed for {source} (exit status {result.returncode}, wheels: "
            f"{[w.name for w in wheels]}):\n" + "\n".join(output)
        )
    return wheels[0]


@final
class WheelFactory:
    """Build wheels for a test, sign them with its key, or leave them unsigned, or tamper with them.

    Args:
        directory: where the wheels go (the test's ``tmp_path``); each one in a fresh numbered directory.
        key: the default signing key.
        build_cache: where built projects are kept across tests (by content), if anywhere.
        on_build_unavailable: called with the message when the build tools are missing, before
            :class:`BuildUnavailableError` is raised (the pytest fixture fails the test with it).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        key: PrivateKey,
        *,
        build_cache: str | os.PathLike[str] | None = None,
        on_build_unavailable: Callable[[str], object] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.key = key
        self.build_cache = Path(build_cache) if build_cache is not None else None
        self._on_build_unavailable = on_build_unavailable
        self._counter = itertools.count(1)

    def _next_directory(self) -> Path:
        path = self.directory / f"wheel-{next(self._counter)}"
        path.mkdir(parents=True)
        return path

    def from_files(
        self,
        files: Mapping[str, bytes | str],
        *,
        name: str = "example-plugin",
        version: str = "1.0.0",
        entry_points: Mapping[str, Mapping[str, str]] | None = None,
        requires: Iterable[str] = (),
        tag: str = "py3-none-any",
        permissions: Iterable[str] = (),
        signed: bool = True,
        keys: PrivateKey | Sequence[PrivateKey] | None = None,
        tamper: WheelTamper | str | None = None,
        expires_at: dt.datetime | None = None,
    ) -> Path:
        """Build a wheel of *files* directly (see :func:`securehost.testing.build_wheel`) and sign it.

        Args:
            files: archive path → content.
            name: the distribution name.
            version: the version.
            entry_points: group → entry-point name → ``module:attr``.
            requires: ``Requires-Dist`` values.
            tag: the compatibility tag.
            permissions: the permissions the signed statement requests.
            signed: sign the wheel (``False``: leave it unsigned; *permissions*, *keys* and *expires_at* are then not
                used, so that one helper can build the signed and the unsigned variant of a plugin).
            keys: the signing key or keys (default: the factory's key).
            tamper: return a copy tampered this way (the wheel must be signed).
            expires_at: the statement's expiry.

        Returns:
            The wheel.

        Raises:
            ValueError: an argument is invalid, or *tamper* is given for an unsigned wheel.
            TypeError: an argument has the wrong type.
            SigningError: the statement cannot be built (for instance, *expires_at* is not in the future).
            PermissionFormatError: a permission is malformed.
        """
        self._check_tamper(tamper, signed=signed)
        wheel = build_wheel(
            self._next_directory(),
            files,
            name=name,
            version=version,
            entry_points=entry_points,
            requires=requires,
            tag=tag,
        )
        return self._finish(
            wheel, permissions=permissions, signed=signed, keys=keys, tamper=tamper, expires_at=expires_at
        )

    def from_project(
        self,
        project: str | os.PathLike[str],
        *,
        permissions: Iterable[str] = (),
        signed: bool = True,
        keys: PrivateKey | Sequence[PrivateKey] | None = None,
        tamper: WheelTamper | str | None = None,
        expires_at: dt.datetime | None = None,
        isolation: bool = False,
    ) -> Path:
        """Build a wheel of a project directory with ``python -m build`` (see :func:`build_project`) and sign it.

        Builds are cached by the project's content when the factory has a build cache.

        Raises:
            BuildUnavailableError: ``build`` or a build requirement is not installed (the fixtures fail the test).
            ProjectBuildError: the build failed; the message ends with its output.
            ValueError: *tamper* is given for an unsigned wheel.
            SigningError: the statement cannot be built.
            PermissionFormatError: a permission is malformed.
            OSError: the project cannot be copied.
        """
        self._check_tamper(tamper, signed=signed)
        source = Path(project).resolve()
        try:
            cached = self._cached_build(source, isolation)
        except BuildUnavailableError as exc:
            if self._on_build_unavailable is not None:
                self._on_build_unavailable(str(exc))
            raise
        target = self._next_directory() / cached.name
        shutil.copyfile(cached, target)
        return self._finish(
            target, permissions=permissions, signed=signed, keys=keys, tamper=tamper, expires_at=expires_at
        )

    def _cached_build(self, source: Path, isolation: bool) -> Path:
        """Snapshot the project (without the factory's own directories, which may lie inside it), then build."""
        if not source.is_dir():
            raise ProjectBuildError(f"{source} is not a project directory")
        scratch = self._next_directory()
        own = [self.directory] if self.build_cache is None else [self.directory, self.build_cache]
        shutil.copytree(source, scratch / "snapshot", ignore=_ignore(source, *own), symlinks=True)
        if self.build_cache is None:
            return build_project(scratch / "snapshot", scratch / "build", isolation=isolation)
        key = hashlib.sha256(f"{source}\0{isolation}\0{_tree_digest(scratch / 'snapshot')}".encode()).hexdigest()
        entry = self.build_cache / key[:32]
        wheels = sorted((entry / "dist").glob("*.whl")) if entry.is_dir() else []
        if len(wheels) == 1:
            return wheels[0]
        shutil.rmtree(entry, ignore_errors=True)
        return build_project(scratch / "snapshot", entry, isolation=isolation)

    def sign(
        self,
        wheel: str | os.PathLike[str],
        *,
        permissions: Iterable[str] = (),
        keys: PrivateKey | Sequence[PrivateKey] | None = None,
        expires_at: dt.datetime | None = None,
    ) -> Path:
        """Sign a copy of *wheel*; an already signed wheel gets the keys' signatures added (for thresholds).

        Raises:
            SigningError: the wheel cannot be signed (see :func:`securehost.sign_wheel`).
            PermissionFormatError: a permission is malformed.
        """
        target = self._next_directory() / Path(wheel).name
        shutil.copyfile(wheel, target)
        return sign_wheel(target, self._keys(keys), permissions=permissions, expires_at=expires_at)

    def tamper(self, wheel: str | os.PathLike[str], kind: WheelTamper | str, *, target: str | None = None) -> Path:
        """Return a copy of *wheel* tampered the way *kind* names (see :func:`securehost.testing.tamper_wheel`).

        Raises:
            ValueError: *kind* is unknown or does not apply to the wheel.
        """
        return tamper_wheel(wheel, kind, self._next_directory(), target=target)

    def _keys(self, keys: PrivateKey | Sequence[PrivateKey] | None) -> Sequence[PrivateKey]:
        if keys is None:
            return [self.key]
        return [keys] if isinstance(keys, PrivateKey) else list(keys)

    @staticmethod
    def _check_tamper(tamper: WheelTamper | str | None, *, signed: bool) -> None:
        if tamper is not None:
            WheelTamper(tamper)
            if not signed:
                raise ValueError("tamper= changes a signed wheel: use signed=True, or factory.tamper() on the wheel")

    def _finish(
        self,
        wheel: Path,
        *,
        permissions: Iterable[str],
        signed: bool,
        keys: PrivateKey | Sequence[PrivateKey] | None,
        tamper: WheelTamper | str | None,
        expires_at: dt.datetime | None,
    ) -> Path:
        if not signed:
            return wheel
        sign_wheel(wheel, self._keys(keys), permissions=permissions, expires_at=expires_at)
        return self.tamper(wheel, tamper) if tamper is not None else wheel
