"""Dependency approvals: an operator's decision that a plugin may use a distribution, pinned to its installed files.

An approval names a plugin and the distributions it may require and import beyond the host's own closure. For each
approved distribution it records its name, version, site directory, the module names it provides and the SHA-256
of each of its installed files, hashed by :func:`approve_dependencies` itself when the operator approves (the installed
``RECORD`` only says *which* files to hash; its hashes are not trusted, and files it lists outside the site
directory, such as console scripts in ``bin/``, are left out: plugins do not import them). At every load,
:func:`check_approved` re-hashes those files like a plugin's own (through the host's stat-cached
:class:`~securehost._installed.filerecord.FileRecord`): a file that changed, went missing or became a symlink is a
``DEPENDENCY_MODIFIED`` reason naming the file, and the plugins that rely on the distribution are rejected.

What an approval does not cover: files of the distribution that ``RECORD`` does not list (a file added later, a
``__pycache__`` file; an approved distribution is imported by Python's own import system, not from verified bytes),
and a change made between the check and the import. See ``docs/verification.md``.

The approvals file is JSON (``{"version": 1, "plugins": {...}, "distributions": {...}}``), written atomically by
:func:`approve_dependencies` and read by :meth:`DependencyApprovals.load`; it is operator configuration, protected
like the trust store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

import attrs

from securehost._fileio import read_file, write_atomic
from securehost._installed.closure import distribution_modules, find_distribution
from securehost._installed.recordrows import record_rows
from securehost._models import value_model
from securehost._names import canonicalize_name
from securehost._records import Record, setfield
from securehost._verdict import Reason, ReasonCode
from securehost.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from securehost._installed.filerecord import FileRecord

__all__ = ["ApprovedDistribution", "DependencyApprovals", "approve_dependencies", "check_approved"]

_FORMAT: Final = 1
#: The approvals file is read whole: larger is refused.
MAX_FILE: Final = 64 * 1024 * 1024
#: Files hashed per approved distribution at most; a larger distribution cannot be approved.
MAX_FILES: Final = 100_000


@final
class ApprovedDistribution(Record):
    """One approved distribution, as installed when it was approved.

    Attributes:
        name: the canonical distribution name.
        version: its installed version.
        site: the site directory it is installed in.
        modules: the module names it provides (from its ``RECORD``).
        files: path relative to *site* → SHA-256 (hex), hashed at approval time.
    """

    __slots__ = ("files", "modules", "name", "site", "version")
    name: str
    version: str
    site: str
    modules: tuple[str, ...]
    files: Mapping[str, str]

    def __init__(
        self, *, name: str, version: str, site: str, modules: tuple[str, ...], files: Mapping[str, str]
    ) -> None:
        setfield(self, "name", name)
        setfield(self, "version", version)
        setfield(self, "site", site)
        setfield(self, "modules", modules)
        setfield(self, "files", files)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form stored in the approvals file."""
        return {
            "version": self.version,
            "site": self.site,
            "modules": list(self.modules),
            "files": dict(sorted(self.files.items())),
        }


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"dependency approvals: {where} must be a list of strings")
    return value


def _parse_distribution(name: str, value: object) -> ApprovedDistribution:
    if not isinstance(value, dict):
        raise ConfigurationError(f"dependency approvals: distributions[{name!r}] must be a table")
    version, site, files = value.get("version"), value.get("site"), value.get("files")
    if not isinstance(version, str) or not isinstance(site, str) or not isinstance(files, dict):
        raise ConfigurationError(f"dependency approvals: distributions[{name!r}] needs version, site and files")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ConfigurationError(f"dependency approvals: distributions[{name!r}].files maps paths to SHA-256")
    modules = _strings(value.get("modules", []), f"distributions[{name!r}].modules")
    return ApprovedDistribution(name=name, version=version, site=site, modules=tuple(modules), files=files)


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class DependencyApprovals:
    """The approvals file: which plugin may use which approved distribution.

    Attributes:
        plugins: canonical plugin name → canonical names of the distributions approved for it.
        distributions: canonical name → the approved distribution.
    """

    plugins: Mapping[str, frozenset[str]] = attrs.field(factory=dict)
    distributions: Mapping[str, ApprovedDistribution] = attrs.field(factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DependencyApprovals:
        """Read the approvals file at *path*; a file that does not exist holds no approvals.

        Raises:
            ConfigurationError: the file cannot be read or is malformed.
        """
        try:
            data = read_file(os.fspath(path), MAX_FILE)
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise ConfigurationError(f"cannot read dependency approvals {path}: {exc}") from exc
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise ConfigurationError(f"dependency approvals {path} is not valid JSON: {exc}") from exc
        if not isinstance(document, dict) or document.get("version") != _FORMAT:
            raise ConfigurationError(f'dependency approvals {path}: expected an object with "version": {_FORMAT}')
        plugins, dists = document.get("plugins", {}), document.get("distributions", {})
        if not isinstance(plugins, dict) or not isinstance(dists, dict):
            raise ConfigurationError(f"dependency approvals {path}: plugins and distributions must be objects")
        parsed = {canonicalize_name(k): _parse_distribution(canonicalize_name(k), v) for k, v in dists.items()}
        links: dict[str, frozenset[str]] = {}
        for plugin, names in plugins.items():
            approved = frozenset(canonicalize_name(n) for n in _strings(names, f"plugins[{plugin!r}]"))
            unknown = sorted(approved - parsed.keys())
            if unknown:
                raise ConfigurationError(f"dependency approvals {path}: plugin {plugin} names unknown {unknown}")
            links[canonicalize_name(plugin)] = approved
        return cls(plugins=links, distributions=parsed)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON document of the approvals file."""
        return {
            "version": _FORMAT,
            "plugins": {name: sorted(dists) for name, dists in sorted(self.plugins.items())},
            "distributions": {name: d.to_json() for name, d in sorted(self.distributions.items())},
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the approvals file atomically (mode 0600).

        Raises:
            ConfigurationError: the file cannot be written.
        """
        data = json.dumps(self.to_json(), indent=1, sort_keys=True).encode() + b"\n"
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, prefix=".approvals-", durable=True)
        except OSError as exc:
            raise ConfigurationError(f"cannot write dependency approvals {path}: {exc}") from exc

    def for_plugin(self, plugin: str) -> tuple[ApprovedDistribution, ...]:
        """Return the distributions approved for *plugin* (canonical name)."""
        return tuple(self.distributions[name] for name in sorted(self.plugins.get(plugin, ())))


def _record_paths(dist: Any, site: Path) -> tuple[list[str], list[str]]:
    """Split the ``RECORD`` paths of *dist* into those inside *site* (relative, normalised) and those outside."""
    inside: list[str] = []
    outside: list[str] = []
    root = os.path.realpath(site)
    try:
        text = dist.read_text("RECORD") or ""
    except (OSError, ValueError):
        text = ""
    # read here, not through ``dist.files``: importlib_metadata leaves out files that do not exist
    try:
        rows = record_rows(text.splitlines())
    except ValueError:  # a NUL byte (Python 3.10's csv refuses it): no usable RECORD
        rows = []
    for row in rows:
        if not row or not row[0]:
            continue
        rel = row[0].replace("\\", "/")
        full = os.path.normpath(os.path.join(root, rel))
        if os.path.isabs(rel) or not full.startswith(root + os.sep):
            outside.append(rel)
            continue
        inside.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return sorted(set(inside)), outside


def snapshot(name: str, path: Sequence[str] | None = None) -> tuple[ApprovedDistribution, list[str]]:
    """Hash the installed files of the distribution *name* found on *path* (default :data:`sys.path`).

    Returns:
        The approved distribution and the ``RECORD`` paths left out (outside the site directory).

    Raises:
        ConfigurationError: the distribution is not installed, has no ``RECORD``, has too many files, or one of
            its files cannot be hashed safely (a symlink, a special file, missing).
    """
    from securehost._installed.sitecheck import hash_installed  # noqa: PLC0415 - approving is a command, not a load

    dist = find_distribution(name, path)
    if dist is None:
        raise ConfigurationError(f"{name} is not installed on the search path; install it first, then approve it")
    canonical = canonicalize_name(dist.metadata["Name"] or name)
    site = Path(str(dist.locate_file(""))).resolve()
    inside, outside = _record_paths(dist, site)
    if not inside:
        raise ConfigurationError(f"{canonical} has no RECORD of installed files: it cannot be approved with integrity")
    if len(inside) > MAX_FILES:
        raise ConfigurationError(f"{canonical} has {len(inside)} files, more than {MAX_FILES}: it cannot be approved")
    files: dict[str, str] = {}
    checked: set[str] = set()
    for rel in inside:
        hashed = hash_installed(str(site), rel, checked)
        if hashed.problem is not None:
            if hashed.problem.code is ReasonCode.INSTALLED_FILE_MISSING and rel.endswith(".pyc"):
                continue  # a compiled file RECORD lists and someone cleaned up: nothing to pin
            raise ConfigurationError(f"cannot approve {canonical}: {hashed.problem.message}")
        assert hashed.digest is not None
        files[rel] = hashed.digest
    approved = ApprovedDistribution(
        name=canonical,
        version=dist.version,
        site=str(site),
        modules=tuple(sorted(distribution_modules(dist))),
        files=files,
    )
    return approved, outside


def approve_dependencies(
    approvals_file: str | os.PathLike[str], plugin: str, names: Iterable[str], *, path: Sequence[str] | None = None
) -> tuple[DependencyApprovals, list[str]]:
    """Approve the distributions *names* for *plugin*, hashing their installed files now; write the approvals file.

    An approval of a distribution already approved (for any plugin) replaces its record: every plugin that uses it
    now depends on the files as they are now.

    Args:
        approvals_file: the approvals file (created if missing).
        plugin: the plugin's distribution name.
        names: the distributions to approve.
        path: where they are installed (default :data:`sys.path`).

    Returns:
        The new approvals and the ``RECORD`` paths left out (outside their site directories).

    Raises:
        ValueError: *names* is empty.
        ConfigurationError: a distribution cannot be approved, or the file cannot be read or written.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        raise ValueError("name at least one distribution to approve")
    current = DependencyApprovals.load(approvals_file)
    snapshots = [snapshot(name, path) for name in wanted]  # every one hashed before anything is written
    dists = dict(current.distributions)
    left_out: list[str] = []
    for approved, outside in snapshots:
        dists[approved.name] = approved
        left_out.extend(f"{approved.name}: {rel}" for rel in outside)
    plugins = dict(current.plugins)
    key = canonicalize_name(plugin)
    plugins[key] = plugins.get(key, frozenset()) | {a.name for a, _ in snapshots}
    result = DependencyApprovals(plugins=plugins, distributions=dists)
    result.save(approvals_file)
    return result, left_out


def check_approved(approved: ApprovedDistribution, files: FileRecord | None) -> list[Reason]:
    """Re-hash an approved distribution's files; return a ``DEPENDENCY_MODIFIED`` reason for each one that changed.

    Args:
        approved: the approval.
        files: the host's file record (``None``: read and hash every file).
    """
    from securehost._installed.sitecheck import hash_installed  # noqa: PLC0415 - only for approved distributions

    reasons: list[Reason] = []
    checked: set[str] = set()
    for rel, digest in approved.files.items():
        hashed = hash_installed(approved.site, rel, checked, files=files)
        if hashed.problem is not None:
            problem = hashed.problem.message
        elif hashed.digest != digest:
            problem = f"{rel} was modified"
        else:
            continue
        message = (
            f"approved dependency {approved.name} {approved.version}: {problem} since it was approved "
            f"(in {approved.site}); reinstall it, or approve it again if the change is expected"
        )
        reasons.append(Reason(code=ReasonCode.DEPENDENCY_MODIFIED, message=message, subject=f"{approved.name}:{rel}"))
    return reasons
