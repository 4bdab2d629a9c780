"""Install a verified wheel into a plugin directory, replace an older version cleanly, uninstall exactly its files.

:func:`install_plugin` copies the wheel into a private scratch directory, verifies that copy against the trust
store, and installs exactly those bytes with :mod:`installer` into a staging directory. Only then does it touch the
plugin directory: every file of the old version (and its bytecode caches) is renamed into a backup, every staged
file renamed into place, and on any failure all of it is renamed back (:class:`~securehost._install.journal.Journal`),
so the old version stays installed. The scratch directory is a hidden ``.securehost-install-*`` directory inside
the plugin directory (renames stay on one file system) and is removed afterwards. A process killed in the middle
leaves it behind with its write-ahead journal; the next install, upgrade or uninstall in the directory rolls that
change back first (:func:`~securehost._install.journal.recover`) and says so in its result.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

import attrs
from packaging.utils import canonicalize_name
from packaging.version import Version

from securehost._install.journal import JOURNAL_LOG, SCRATCH_PREFIX, Journal, exclusive, prune_empty, recover
from securehost._install.result import InstallAction, InstallResult, UninstallResult
from securehost._install.target import (
    InstalledDistribution,
    confined,
    read_distribution,
    read_target,
    unsafe_reasons,
)
from securehost._trust.store import TrustStore
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost._wheel.wheelfile import verify_wheel
from securehost.exceptions import WheelFormatError

__all__ = ["install_plugin", "uninstall_plugin"]

_R = ReasonCode
_SCRATCH = SCRATCH_PREFIX


def _check_path_argument(value: object, argument: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{argument} must be a str or os.PathLike, not {type(value).__name__}")
    return Path(value)


def install_plugin(
    wheel: str | os.PathLike[str],
    *,
    target: str | os.PathLike[str],
    store: TrustStore,
    upgrade: bool = False,
    allow_downgrade: bool = False,
    now: dt.datetime | None = None,
) -> InstallResult:
    """Verify *wheel* against *store* and install exactly the verified bytes into the plugin directory *target*.

    Refused (nothing changes, the result lists every reason) when the wheel's verdict is negative, when the
    distribution is installed already and *upgrade* is false (``already-installed``), when the wheel is older than
    an installed version and *allow_downgrade* is false (``downgrade``), when an installed ``RECORD`` of that
    distribution names a path outside *target* (``installed-file-unsafe``), or when a file to install exists and is
    not the old version's (``file-conflict``: another distribution's, or nobody's). With *upgrade*, every installed
    version of the distribution is replaced (also several ``.dist-info`` left by ``pip install --target``).

    Args:
        wheel: the wheel file.
        target: the plugin directory (created if missing, and removed again if the install is refused while it is
            still empty), the directory a host gets as ``Host(path=[...])``.
        store: the trust store that must accept the wheel.
        upgrade: replace an installed version of the same distribution (the same version is reinstalled).
        allow_downgrade: with *upgrade*, allow replacing a newer installed version.
        now: judge expiry and key windows at this time (default: now).

    Returns:
        The result; truthy exactly when the wheel was installed.

    Raises:
        TypeError: an argument has the wrong type (the message names it).
        ConfigurationError: another install, upgrade or uninstall is changing *target* at the same time.
        WheelFormatError: ``installer`` refused the verified wheel.
        OSError: the wheel cannot be read, or *target* cannot be created or written (a failure while files are
            being swapped puts the old version back first).
    """
    source = _check_path_argument(wheel, "wheel")
    root = _check_path_argument(target, "target")
    if not isinstance(store, TrustStore):
        raise TypeError(f"store must be a TrustStore, not {type(store).__name__}")
    if not isinstance(upgrade, bool) or not isinstance(allow_downgrade, bool):
        raise TypeError("upgrade and allow_downgrade must be bool")
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such wheel file")
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    result: InstallResult | None = None
    try:
        with exclusive(root) as locked:
            recovered = tuple(recover(root)) if locked else ()
            result = _install_locked(source, root, store, upgrade=upgrade, allow_downgrade=allow_downgrade, now=now)
            if recovered:
                result = attrs.evolve(result, recovered=recovered)
    finally:
        if created and not result:  # a refused (or failed) install leaves no empty plugin directory behind
            with contextlib.suppress(OSError):
                root.rmdir()  # only if still empty
    return result


def _install_locked(
    source: Path, root: Path, store: TrustStore, *, upgrade: bool, allow_downgrade: bool, now: dt.datetime | None
) -> InstallResult:
    scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH, dir=root))
    try:
        copy = scratch / "wheel" / source.name
        copy.parent.mkdir()
        shutil.copyfile(source, copy)  # the bytes verified below are the bytes installed: nobody else can write here
        verdict = attrs.evolve(verify_wheel(copy, store, now=now), subject=str(source))
        refused = _refusal(str(source), root, verdict)
        reasons = list(verdict.reasons)
        existing: tuple[InstalledDistribution, ...] = ()
        action: InstallAction = "installed"
        if verdict.name is not None and verdict.version is not None:
            name = canonicalize_name(verdict.name)
            existing = tuple(d for d in read_target(root) if d.name == name)
            action, version_reasons = _judge_versions(verdict.version, existing, root, upgrade, allow_downgrade)
            reasons += version_reasons
            for dist in existing:
                reasons += unsafe_reasons(dist)
        if reasons:
            return attrs.evolve(refused, reasons=tuple(reasons))
        staged_root = scratch / "staged"
        staged = read_distribution(staged_root, _run_installer(copy, staged_root, verdict.name or source.name))
        conflicts = _conflicts(root, staged, existing)
        if conflicts:
            return attrs.evolve(refused, reasons=tuple(conflicts))
        _swap(root, scratch, staged_root, staged, existing)
        return InstallResult(
            wheel=str(source),
            target=str(root),
            action=action,
            verdict=verdict,
            replaced=tuple(d.version for d in existing),
            files=staged.files,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _refusal(wheel: str, root: Path, verdict: Verdict) -> InstallResult:
    return InstallResult(wheel=wheel, target=str(root), action="refused", verdict=verdict)


def _judge_versions(
    version: str, existing: tuple[InstalledDistribution, ...], root: Path, upgrade: bool, allow_downgrade: bool
) -> tuple[InstallAction, list[Reason]]:
    if not existing:
        return "installed", []
    installed = ", ".join(d.version for d in existing)
    if not upgrade:
        reason = Reason(
            code=_R.ALREADY_INSTALLED,
            message=f"{existing[0].name} {installed} is installed in {root} already; upgrade it instead "
            "(securehost upgrade, or upgrade=True)",
            subject=existing[0].name,
        )
        return "refused", [reason]
    new = Version(version)
    older = [d for d in existing if d.parsed_version is None or d.parsed_version > new]
    if older and not allow_downgrade:
        reason = Reason(
            code=_R.DOWNGRADE,
            message=f"{existing[0].name} {', '.join(d.version for d in older)} is installed; {version} is older (or "
            "the installed version is not a PEP 440 version): pass --allow-downgrade (allow_downgrade=True) if "
            "the downgrade is intended",
            subject=existing[0].name,
        )
        return "refused", [reason]
    if older:
        return "downgraded", []
    if all(d.parsed_version == new for d in existing):
        return "reinstalled", []
    return "upgraded", []


def _run_installer(wheel: Path, root: Path, name: str) -> str:
    """Install *wheel* into the empty staging directory *root* with ``installer``; return its ``.dist-info`` name.

    The layout is that of ``pip install --target``: modules and data at the top, scripts in ``bin``, headers in
    ``include/NAME``; no bytecode is compiled.

    Raises:
        WheelFormatError: ``installer`` refused the wheel.
        OSError: a file cannot be written.
    """
    from installer import install  # noqa: PLC0415 - imported only to install
    from installer.destinations import SchemeDictionaryDestination  # noqa: PLC0415
    from installer.sources import WheelFile  # noqa: PLC0415

    scheme = {
        "purelib": str(root),
        "platlib": str(root),
        "data": str(root),
        "scripts": str(root / "bin"),
        "headers": str(root / "include" / name),
    }
    destination = SchemeDictionaryDestination(
        scheme, interpreter=sys.executable, script_kind="posix", bytecode_optimization_levels=()
    )
    try:
        with WheelFile.open(wheel) as source:
            install(source, destination, additional_metadata={"INSTALLER": b"securehost\n"})
            return str(source.dist_info_dir)
    except OSError:
        raise
    except Exception as exc:  # installer's own errors have no common base (InvalidWheelSource, ValueError, ...)
        raise WheelFormatError(f"installer refused {wheel.name}: {type(exc).__name__}: {exc}") from exc


def _conflicts(root: Path, staged: InstalledDistribution, existing: tuple[InstalledDistribution, ...]) -> list[Reason]:
    replaced = {path for dist in existing for path in dist.files}
    replaced_infos = {dist.dist_info for dist in existing}
    owners: dict[str, str] = {}
    for dist in read_target(root):
        if dist.dist_info not in replaced_infos:
            for path in dist.files:
                owners.setdefault(path, f"{dist.name} {dist.version}")
    reasons = []
    for path in staged.files:
        where = confined(root, path)
        if where is None:
            reasons.append(
                Reason(
                    code=_R.FILE_CONFLICT,
                    message=f"{path} would be written through a link that leaves {root}",
                    subject=path,
                )
            )
        elif path in owners:
            reasons.append(
                Reason(
                    code=_R.FILE_CONFLICT,
                    message=f"{path} belongs to {owners[path]}, installed in {root}: uninstall it first",
                    subject=path,
                )
            )
        elif path not in replaced and os.path.lexists(root / path):
            reasons.append(
                Reason(
                    code=_R.FILE_CONFLICT,
                    message=f"{path} exists in {root} and no installed distribution lists it: move it away first",
                    subject=path,
                )
            )
    if staged.dist_info not in replaced_infos and os.path.lexists(root / staged.dist_info):
        reasons.append(
            Reason(
                code=_R.FILE_CONFLICT,
                message=f"{staged.dist_info} exists in {root} without a RECORD: move it away first",
                subject=staged.dist_info,
            )
        )
    return reasons


def _old_files(root: Path, dists: tuple[InstalledDistribution, ...], keep: set[str]) -> list[str]:
    """Return the files of *dists* to take away, each once.

    That is their RECORD paths, the bytecode caches of their modules, and the rest of their ``.dist-info``
    directories, never a path in *keep*.
    """
    paths: dict[str, None] = {}
    for dist in dists:
        for path in dist.files:
            if path in keep:
                continue
            if os.path.lexists(root / path):
                paths[path] = None
            source = root / path
            cache = source.parent / "__pycache__"
            if path.endswith(".py") and cache.is_dir():
                for cached in sorted(cache.glob(f"{source.stem}.*.pyc")):
                    if cached.is_file() and not cached.is_symlink():
                        paths[cached.relative_to(root).as_posix()] = None
        info = root / dist.dist_info
        if info.is_dir() and not info.is_symlink():
            for directory, _, names in os.walk(info):
                for entry in names:
                    paths[(Path(directory) / entry).relative_to(root).as_posix()] = None
    return list(paths)


def _swap(
    root: Path,
    scratch: Path,
    staged_root: Path,
    staged: InstalledDistribution,
    existing: tuple[InstalledDistribution, ...],
) -> None:
    backup = scratch / "backup"
    journal = Journal(root, scratch / JOURNAL_LOG)
    removed: list[str] = []
    try:
        for path in _old_files(root, existing, set()):
            journal.move(root / path, backup / path)
            removed.append(path)
        for path in staged.files:
            journal.move(staged_root / path, root / path)
        journal.commit()
    except BaseException as exc:
        journal.close()
        _undo(journal, root, backup, exc)
        raise
    prune_empty(root, [*removed, *(f"{d.dist_info}/RECORD" for d in existing)])


def _undo(journal: Journal, root: Path, backup: Path, exc: BaseException) -> None:
    """Roll *journal* back; when some file cannot be put back, keep *backup* and say where it is.

    Raises:
        OSError: some renames could not be undone (the message lists them and names the kept backup).
    """
    problems = journal.rollback()
    if problems and backup.exists():
        kept = Path(tempfile.mkdtemp(prefix=".securehost-backup-", dir=root))
        os.rename(backup, kept / "files")
        raise OSError(
            f"the change to {root} failed ({exc}) and {len(problems)} file(s) could not be put back; the old "
            f"files are in {kept / 'files'}: " + "; ".join(problems[:5])
        ) from exc


def uninstall_plugin(name: str, *, target: str | os.PathLike[str]) -> UninstallResult:
    """Remove every installed version of the distribution *name* from the plugin directory *target*.

    Exactly the files of its ``RECORD`` go (with the bytecode caches of its modules and the rest of its
    ``.dist-info``), never a path outside *target*: a ``RECORD`` that names one refuses the whole uninstall
    (``installed-file-unsafe``). A file that another distribution's ``RECORD`` lists too is kept. Directories left
    empty are removed.

    Args:
        name: the distribution name (any spelling: ``Acme_CSV`` is ``acme-csv``).
        target: the plugin directory.

    Returns:
        The result; truthy exactly when the distribution was removed (``not-installed`` otherwise, with the
        distributions that are installed).

    Raises:
        TypeError: an argument has the wrong type (the message names it).
        ConfigurationError: another install, upgrade or uninstall is changing *target* at the same time.
        OSError: *target* cannot be read, or a file cannot be moved (what was moved already is put back first).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    root = _check_path_argument(target, "target")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such plugin directory")
    root = root.resolve()
    with exclusive(root) as locked:
        recovered = tuple(recover(root)) if locked else ()
        result = _uninstall_locked(canonicalize_name(name), root)
        return attrs.evolve(result, recovered=recovered) if recovered else result


def _uninstall_locked(wanted: str, root: Path) -> UninstallResult:
    everything = read_target(root)
    dists = tuple(d for d in everything if d.name == wanted)
    if not dists:
        present = ", ".join(f"{d.name} {d.version}" for d in everything) or "nothing"
        reason = Reason(
            code=_R.NOT_INSTALLED, message=f"{wanted} is not installed in {root} (installed: {present})", subject=wanted
        )
        return UninstallResult(name=wanted, target=str(root), reasons=(reason,))
    reasons = [r for dist in dists for r in unsafe_reasons(dist)]
    if reasons:
        return UninstallResult(name=wanted, target=str(root), reasons=tuple(reasons))
    shared = {path for d in everything if d not in dists for path in d.files}
    kept = sorted({path for d in dists for path in d.files if path in shared})
    scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH, dir=root))
    removed: list[str] = []
    try:
        journal = Journal(root, scratch / JOURNAL_LOG)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    try:
        for path in _old_files(root, dists, shared):
            journal.move(root / path, scratch / "files" / path)
            removed.append(path)
        journal.commit()
    except BaseException as exc:
        journal.close()
        try:
            _undo(journal, root, scratch / "files", exc)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    shutil.rmtree(scratch, ignore_errors=True)
    prune_empty(root, [*removed, *(f"{d.dist_info}/RECORD" for d in dists)])
    return UninstallResult(
        name=wanted,
        target=str(root),
        versions=tuple(d.version for d in dists),
        files=tuple(removed),
        kept=tuple(kept),
    )
