"""Verify an installed distribution against its verified subject map, before anything of it is imported.

Input: the ``.dist-info`` directory and the verified ``subjects`` (archive path -> SHA-256 hex) of the signed
statement. Output: a frozen :class:`InstalledDistribution` with the verified module table for the importer, every
reason against the installation, and evidence. Nothing is raised for what is found on disk.

What is checked (see :mod:`securehost._installed.archivepaths` for where files land,
:mod:`securehost._installed.sitecheck` for the
walks and the ``__pycache__`` policy):

* every signed file that lands in the site directory is re-hashed (``INSTALLED_FILE_MODIFIED``,
  ``INSTALLED_FILE_MISSING``; a symlink, special file or symlinked parent is ``INSTALLED_FILE_UNSAFE``);
* every top-level directory of the distribution is walked completely: any file or directory that was not signed is
  ``INSTALLED_FILE_UNSIGNED`` (an extra module, extension, lone ``.pyc``, a nested namespace directory, a data file).
  Consequence: a namespace package shared with another distribution is rejected; securehost does not support it;
* site-directory siblings whose import name equals one of the distribution's top-level names (``acme_csv.py`` or
  ``acme_csv.cpython-311-x86_64-linux-gnu.so`` next to ``acme_csv/``) are ``INSTALLED_FILE_UNSIGNED``;
* start-up hooks in the site directory (``*.pth``, ``sitecustomize``, ``usercustomize``) must be listed with a
  matching hash in some installed ``RECORD``, else ``INSTALLED_FILE_UNSIGNED``; a start-up hook that the plugin
  itself signed is ``FORBIDDEN_FILE``, the rule of wheel verification (it would run outside securehost);
* a ``__pycache__`` file is accepted only if its code is what compiling the verified source gives
  (:mod:`securehost._installed.pyccheck`); the installed ``RECORD`` never vouches for one;
* signed sourceless ``.pyc`` modules are ``INSTALLED_FILE_UNSAFE``: securehost only imports verified source and
  extension modules.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from securehost._digests import compare_digest, fingerprint
from securehost._installed.archivepaths import import_name, map_archive_path, module_for_path
from securehost._installed.modules import ModuleKind, VerifiedModule
from securehost._installed.sitehooks import SiteIndex, check_startup_hooks
from securehost._names import canonicalize_name
from securehost._records import Record, setfield
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost._version import __version__
from securehost._wheel.headers import header_values
from securehost.exceptions import WheelFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Set

    from securehost._installed.filerecord import FileRecord
    from securehost._installed.sitecheck import RecordIndex

__all__ = ["InstalledDistribution", "ModuleKind", "VerifiedModule", "verify_installed"]

_R: Final = ReasonCode
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_STARTUP_MODULES: Final = frozenset({"sitecustomize", "usercustomize"})


@final
class InstalledDistribution(Record, ignore=("evidence",)):
    """The result of checking an installed distribution against its signed file list.

    Attributes:
        name: the canonical distribution name (from the ``.dist-info`` directory name).
        version: the version from the directory name.
        site_dir: the directory holding the distribution.
        metadata_dir: the ``.dist-info`` directory.
        modules: the verified module table ``fullname -> VerifiedModule`` (read-only) for the importer.
        top_level: the distribution's top-level names in the site directory.
        requires: the ``Requires-Dist`` lines of the verified ``METADATA``.
        reasons: every reason against the installation; empty when it may be imported.
        evidence: unverified files (scripts, headers, data), accepted cache files, checked start-up hooks.
    """

    __slots__ = (
        "evidence",
        "metadata_dir",
        "modules",
        "name",
        "reasons",
        "requires",
        "site_dir",
        "top_level",
        "version",
    )  # fmt: skip
    name: str
    version: str | None
    site_dir: Path
    metadata_dir: Path
    modules: Mapping[str, VerifiedModule]
    top_level: tuple[str, ...]
    requires: tuple[str, ...]
    reasons: tuple[Reason, ...]
    evidence: dict[str, Any]

    def __init__(
        self,
        *,
        name: str,
        version: str | None,
        site_dir: Path,
        metadata_dir: Path,
        modules: Mapping[str, VerifiedModule],
        top_level: tuple[str, ...],
        requires: tuple[str, ...],
        reasons: tuple[Reason, ...],
        evidence: dict[str, Any] | None = None,
    ) -> None:
        setfield(self, "name", name)
        setfield(self, "version", version)
        setfield(self, "site_dir", site_dir)
        setfield(self, "metadata_dir", metadata_dir)
        setfield(self, "modules", types.MappingProxyType(dict(modules)))
        setfield(self, "top_level", top_level)
        setfield(self, "requires", requires)
        setfield(self, "reasons", reasons)
        setfield(self, "evidence", {} if evidence is None else evidence)

    @property
    def accepted(self) -> bool:
        """``True`` when nothing was found against the installation."""
        return not self.reasons

    def verdict(self) -> Verdict:
        """Return the verdict for this check."""
        return Verdict(
            subject=str(self.metadata_dir),
            reasons=self.reasons,
            name=self.name,
            version=self.version,
            evidence=dict(self.evidence),
        )


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _remembered(outcome: object, raw_name: str, version: str, md: Path) -> InstalledDistribution | None:
    """The check that :meth:`FileRecord.recheck` gave back (``None`` for none, or one of another shape)."""
    if not isinstance(outcome, tuple) or len(outcome) != 4:
        return None
    requires, evidence, table, tops = outcome
    modules = {
        name: VerifiedModule(path=path, sha256=sha256, is_package=is_package, kind=ModuleKind(kind))
        for name, path, sha256, is_package, kind in table
    }
    return InstalledDistribution(
        name=canonicalize_name(raw_name),
        version=version or None,
        site_dir=md.parent,
        metadata_dir=md,
        modules=modules,
        top_level=tuple(tops),
        requires=tuple(requires),
        reasons=(),
        evidence=evidence,
    )


#: What every check's outcome depends on in this process: this securehost, the interpreter's cache tag and magic.
_CONTEXT: Final = f"{__version__}\0{sys.implementation.cache_tag}:{importlib.util.MAGIC_NUMBER.hex()}\0"


def _fingerprint(subjects: Mapping[str, str], *, refuse_bytecode: bool, subjects_digest: str | None = None) -> str:
    """What a distribution's check depends on besides the files it looks at.

    That is the signed files (named by *subjects_digest*, the digest of the signed payload they come from, when the
    caller has it: the same payload has the same subjects), the bytecode policy, the interpreter (cache files are
    compared with what it compiles) and this version of securehost.
    """
    if subjects_digest is not None:
        return fingerprint(f"{_CONTEXT}{refuse_bytecode}\0payload\0{subjects_digest}".encode())
    parts = [f"{_CONTEXT}{refuse_bytecode}\0"]
    for path, sha256 in sorted(subjects.items()):
        if not isinstance(path, str) or not isinstance(sha256, str):
            raise TypeError("subjects must map str archive paths to str SHA-256 digests")
        parts.append(f"{path}\0{sha256}\n")
    return fingerprint("".join(parts).encode())


def _ancestors(rel: str) -> Iterable[str]:
    parts = rel.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def _build_modules(
    site: str, files: Mapping[str, str], dist_info: str, reasons: list[Reason]
) -> dict[str, VerifiedModule]:
    table: dict[str, VerifiedModule] = {}
    for rel in sorted(files):
        parts = rel.split("/")
        if parts[0] == dist_info or "__pycache__" in parts[:-1]:
            continue
        found = module_for_path(rel)
        if found is None:
            continue
        name, is_package, kind = found
        if kind == "bytecode":
            msg = f"{rel}: sourceless bytecode; securehost imports only verified source and extension modules"
            reasons.append(Reason(code=_R.INSTALLED_FILE_UNSAFE, message=msg, subject=rel))
            continue
        if name in table:
            msg = f"{rel}: module {name} is provided by two signed files"
            reasons.append(Reason(code=_R.INSTALLED_FILE_UNSAFE, message=msg, subject=rel))
            continue
        module_kind = ModuleKind.SOURCE if kind == "source" else ModuleKind.EXTENSION
        table[name] = VerifiedModule(
            path=os.path.join(site, rel), sha256=files[rel], is_package=is_package, kind=module_kind
        )
    dirs = {parent for rel in files for parent in _ancestors(rel) if parent.split("/")[0] != dist_info}
    names = set(table)
    for rel_dir in dirs:
        found = module_for_path(f"{rel_dir}/__init__.py")
        if found is not None and "__pycache__" not in rel_dir.split("/"):
            names.add(f"{found[0]}.__dir__")  # a directory: a namespace package unless it has an __init__
    for name in sorted(names):
        parts = name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            parent = table.get(prefix)
            if parent is None:
                path = os.path.join(site, *parts[:i])
                table[prefix] = VerifiedModule(path=path, sha256=None, is_package=True, kind=ModuleKind.NAMESPACE)
            elif not parent.is_package:
                msg = f"module {prefix} is both a module and the parent of {name}"
                reasons.append(Reason(code=_R.INSTALLED_FILE_UNSAFE, message=msg, subject=prefix))
    return table


def _requires(metadata: bytes | None, reasons: list[Reason], subject: str) -> tuple[str, ...]:
    if metadata is None:
        msg = f"{subject} is not among the signed files"
        reasons.append(Reason(code=_R.DISTRIBUTION_METADATA_INVALID, message=msg, subject=subject))
        return ()
    try:
        return tuple(value.strip() for value in header_values(metadata, "Requires-Dist"))
    except (ValueError, TypeError, LookupError) as exc:  # compat32 is very lenient: test_distcheck forces it
        msg = f"{subject} cannot be parsed: {exc}"
        reasons.append(Reason(code=_R.DISTRIBUTION_METADATA_INVALID, message=msg, subject=subject))
        return ()


_INSTALLER_FILES: Final = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "securehost.dsse.json"})


def _unsigned_record_rows(
    record: RecordIndex,
    files: Mapping[str, str],
    owned_dirs: Set[str],
    dist_info: str,
    elsewhere: Mapping[str, list[str]],
) -> list[Reason]:
    """Files that the installed RECORD says this distribution installed in the site directory, but nobody signed.

    The package walk only sees the plugin's own top-level directories; an extra top-level module (or anything else
    the installer put next to them) is found here. Allowed: signed files, the files installers add to the
    ``.dist-info``, ``__pycache__`` files of signed modules (judged by the walk), and the signed ``.data`` files
    (scripts, headers, data) wherever the installer put them (``../../bin/x``, or ``bin/x`` under ``pip --target``):
    they are never imported, and are listed in the evidence.
    """
    placed = {path for paths in elsewhere.values() for path in paths}
    reasons = []
    for rel in record.entries:
        if rel.startswith(("../", "/")) or rel in files:
            continue
        if any(rel == path or rel.endswith("/" + path) for path in placed):
            continue
        head, _, base = rel.rpartition("/")
        if head == dist_info and base in _INSTALLER_FILES:
            continue
        parent, _, cache_dir = head.rpartition("/")
        if cache_dir == "__pycache__" and (
            parent in owned_dirs or (not parent and f"{base.partition('.')[0]}.py" in files)
        ):
            continue
        msg = f"{rel}: the installed RECORD lists it for this distribution, but the signed statement does not"
        reasons.append(Reason(code=_R.INSTALLED_FILE_UNSIGNED, message=msg, subject=rel))
    return reasons


def verify_installed(
    metadata_dir: str | os.PathLike[str],
    subjects: Mapping[str, str],
    *,
    site_index: SiteIndex | None = None,
    record: FileRecord | None = None,
    refuse_bytecode: bool = False,
    subjects_digest: str | None = None,
) -> InstalledDistribution:
    """Check an installed distribution against its verified subject map.

    Args:
        metadata_dir: the installed ``.dist-info`` directory (from discovery).
        subjects: the verified statement's subjects, archive path -> SHA-256 hex.
        site_index: a listing of the site directory taken during this load, shared between the plugins in it
            (default: list the directory now).
        record: the host's record of files verified before, by ``lstat`` identity: an unchanged file is not read
            again, an unchanged cache file not compiled again (``None``, the paranoid mode: read and hash every file,
            compile and compare every cache file).
        refuse_bytecode: refuse every ``__pycache__`` file of the plugin, even one that is the compiled signed
            source.
        subjects_digest: the SHA-256 of the signed statement payload *subjects* come from, which then names them in
            the file record instead of the sorted list of every path and digest (``None``: the list).

    Returns:
        The verified module table with every reason and the evidence; never raises for what is on disk.

    Raises:
        TypeError: *subjects* is not a mapping of strings to strings.
    """
    md = Path(metadata_dir)
    site, dist_info = md.parent, md.name
    site_str = str(site)
    md_stat = _lstat(str(md)) if record is not None else None  # before anything in it is read
    stem = dist_info[: -len(".dist-info")] if dist_info.endswith(".dist-info") else dist_info
    raw_name, _, version = stem.partition("-")
    fingerprint = None
    if record is not None and md_stat is not None:
        fingerprint = _fingerprint(subjects, refuse_bytecode=refuse_bytecode, subjects_digest=subjects_digest)
        remembered = _remembered(record.recheck(str(md), fingerprint), raw_name, version, md)
        if remembered is not None:  # nothing the last clean check looked at has changed
            return remembered
    # the full check: a warm start whose files are all as remembered never gets here, nor imports what it needs
    from securehost._installed.sitecheck import PackageWalker, RecordIndex, hash_installed  # noqa: PLC0415

    reasons: list[Reason] = []
    unverified: dict[str, list[str]] = {}
    files: dict[str, str] = {}
    for path, digest in sorted(subjects.items()):
        if not isinstance(path, str) or not isinstance(digest, str):
            raise TypeError("subjects must map str archive paths to str SHA-256 digests")
        if _HEX64.fullmatch(digest) is None:
            reasons.append(Reason(code=_R.INSTALLED_FILE_UNSAFE, message=f"{path}: malformed digest", subject=path))
            continue
        try:
            destination, rel = map_archive_path(path, dist_info)
        except WheelFormatError as exc:
            reasons.append(Reason(code=_R.INSTALLED_FILE_UNSAFE, message=str(exc), subject=path))
            continue
        if destination != "site":
            unverified.setdefault(destination, []).append(rel)
        elif rel in files:
            msg = f"{rel}: two signed files install to the same path"
            reasons.append(Reason(code=_R.INSTALLED_FILE_UNSAFE, message=msg, subject=path))
        else:
            files[rel] = digest

    owned_dirs = {parent for rel in files for parent in _ancestors(rel)}
    tops = sorted({rel.split("/", 1)[0] for rel in files} - {dist_info})
    walker = PackageWalker(
        site_str, files, owned_dirs, RecordIndex(site_str, str(md)), files=record, refuse_bytecode=refuse_bytecode
    )
    for top in tops:
        if top in owned_dirs:
            walker.walk(top)

    checked_dirs: set[str] = set()
    metadata_rel = f"{dist_info}/METADATA"
    metadata: bytes | None = None
    seen = walker.stats
    watched: list[tuple[str, os.stat_result | None]] = [(str(md), md_stat), (walker.record.path, walker.record.stat)]
    for rel, digest in files.items():
        keep = rel == metadata_rel
        hashed = hash_installed(site_str, rel, checked_dirs, keep=keep, st=seen.get(rel), files=record)
        watched.append((os.path.join(site_str, rel), hashed.stat))
        if hashed.problem is not None:
            reasons.append(hashed.problem)
        elif hashed.digest is None or not compare_digest(hashed.digest, digest):
            msg = f"{rel} was modified after signing (SHA-256 {hashed.digest} != signed {digest})"
            reasons.append(Reason(code=_R.INSTALLED_FILE_MODIFIED, message=msg, subject=rel))
        elif keep:
            metadata = hashed.content

    # The wheel rule, applied to what was signed: a start-up hook (.pth, sitecustomize, usercustomize where Python
    # would run it) is refused even when a trusted key signed it, since it runs outside securehost.
    from securehost._wheel.startup import forbidden_files  # noqa: PLC0415 - the full check only

    reasons.extend(forbidden_files(subjects))

    top_names = {name for top in tops if (name := import_name(top, is_dir=top in owned_dirs)) is not None}
    index = site_index if site_index is not None and site_index.site == site_str else SiteIndex(site_str)
    for name_, entries in ((n, index.by_import.get(n, ())) for n in sorted(top_names)):
        for entry_name, _is_dir in entries:
            if entry_name not in tops:
                msg = f"{entry_name}: unsigned sibling that shadows or alters the import of {name_!r}"
                reasons.append(Reason(code=_R.INSTALLED_FILE_UNSIGNED, message=msg, subject=entry_name))
    hooks: list[str] = []
    for entry_name, is_dir in index.hooks:
        if entry_name in tops or import_name(entry_name, is_dir=is_dir) in top_names:
            continue
        if is_dir:
            msg = f"{entry_name}: start-up hook package in {site_str}"
            reasons.append(Reason(code=_R.INSTALLED_FILE_UNSIGNED, message=msg, subject=entry_name))
        else:
            hooks.append(entry_name)
    if index.error is not None:
        reasons.append(Reason(code=_R.INSTALLED_FILE_UNSAFE, message=index.error, subject=site_str))
    hooks_ok: list[str] = []
    if hooks:  # the site's RECORDs are read once per load, when there is a hook to vouch for (linear in plugins)
        vouched: list[tuple[str, os.stat_result]] = []
        verdicts = index.hook_verdicts()
        check_startup_hooks(site_str, hooks, index.dist_infos, reasons, hooks_ok, verdicts=verdicts, watched=vouched)
        watched.extend(vouched)

    reasons.extend(walker.reasons)
    if walker.record.error is not None:  # what the installer recorded cannot be checked: never skip that silently
        msg = f"{walker.record.error}; reinstall the plugin (installers write one row of 3 fields per file)"
        reasons.append(Reason(code=_R.INSTALLED_FILE_UNSAFE, message=msg, subject=f"{dist_info}/RECORD"))
    reasons.extend(_unsigned_record_rows(walker.record, files, owned_dirs, dist_info, unverified))
    modules = _build_modules(site_str, files, dist_info, reasons)
    requires = _requires(metadata, reasons, metadata_rel)
    evidence: dict[str, Any] = {
        "files_verified": len(files),
        "unverified_files": {scheme: sorted(paths) for scheme, paths in sorted(unverified.items())},
        "pycache_accepted": walker.pycache_accepted,
        "startup_hooks_verified": hooks_ok,
    }
    watched[1:1] = [(site_str, index.stat), *walker.watched]  # directories first: what a planted file changes
    if record is not None and fingerprint is not None and not reasons:
        known = [(path, st) for path, st in watched if st is not None]
        if len(known) == len(watched):
            table = [(name, m.path, m.sha256, m.is_package, m.kind.value) for name, m in modules.items()]
            record.remember_check(str(md), fingerprint, known, (list(requires), evidence, table, tops))
    return InstalledDistribution(
        name=canonicalize_name(raw_name),
        version=version or None,
        site_dir=site,
        metadata_dir=md,
        modules=modules,
        top_level=tuple(tops),
        requires=requires,
        reasons=tuple(reasons),
        evidence=evidence,
    )
