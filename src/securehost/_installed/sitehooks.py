"""The site directory of a load: one listing shared by its plugins, and its start-up hooks vouched for once.

A start-up hook (``*.pth``, ``sitecustomize``, ``usercustomize``) in the site directory runs at every interpreter start,
before securehost can check anything; one that no installed ``RECORD`` lists with a matching hash is a sign of
tampering. Every function here reports problems as :class:`~securehost.Reason` objects and never raises for what it
finds on disk.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final, final

from securehost._digests import compare_digest
from securehost._fileio import read_file
from securehost._installed.archivepaths import import_name
from securehost._installed.recordrows import record_rows
from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from securehost._installed.sitecheck import Hashed

__all__ = ["SiteIndex", "Vouched", "check_startup_hooks", "hook_verdicts", "scan_site", "site_record_hashes"]

_R: Final = ReasonCode
_STARTUP_MODULES: Final = frozenset({"sitecustomize", "usercustomize"})
_MAX_RECORD: Final = 64 * 1024 * 1024
_RECORD_ALGORITHMS: Final = frozenset({"sha256", "sha384", "sha512"})


def site_record_listings(
    site: str,
    dist_info_dirs: Collection[str],
    wanted: Collection[str],
    stats: dict[str, os.stat_result] | None = None,
) -> dict[str, list[tuple[str, str]]]:
    """Return ``{name: [(hash field, dist-info directory), ...]}`` for the *wanted* site-level files.

    Every RECORD of *dist_info_dirs* that lists a name adds a pair, in the order of *dist_info_dirs*. *stats*, when
    given, receives each RECORD's ``lstat`` (by path), taken before it was read.
    """
    found: dict[str, list[tuple[str, str]]] = {}
    needles = tuple(wanted)
    for dist_info in dist_info_dirs:
        path = os.path.join(site, dist_info, "RECORD")
        try:
            if stats is not None:
                stats[path] = os.lstat(path)
            text = read_file(path, _MAX_RECORD).decode("utf-8", "replace")
        except OSError:
            continue
        try:
            rows = record_rows(line for line in text.splitlines() if line.startswith(needles))
        except ValueError:  # not CSV that csv reads (a NUL byte on Python 3.10): this RECORD vouches for nothing
            continue
        for row in rows:
            if len(row) == 3 and row[0] in wanted:
                found.setdefault(row[0], []).append((row[1], dist_info))
    return found


def site_record_hashes(site: str, dist_info_dirs: Collection[str], wanted: Collection[str]) -> dict[str, str]:
    """Return ``{name: hash field}`` for the *wanted* site-level files listed in any RECORD of *dist_info_dirs*."""
    return {name: fields[0][0] for name, fields in site_record_listings(site, dist_info_dirs, wanted).items()}


#: What vouched for a start-up hook: ``(path, lstat)`` of the hook file and of the RECORD that lists it.
Vouched = tuple[tuple[str, os.stat_result], ...]


def hook_verdicts(site: str, hooks: Collection[str], dist_info_dirs: Collection[str]) -> dict[str, Vouched | None]:
    """Judge each start-up hook file in *hooks*: what vouched for it, or ``None`` when no RECORD lists it with its hash.

    Any RECORD of *dist_info_dirs* that lists the file with the hash it has vouches for it: a RECORD that lists it
    with another hash (a plugin's own, say) cannot take it over from the distribution that installed it.
    """
    import base64  # noqa: PLC0415 - only when the site has start-up hooks

    from securehost._installed.sitecheck import read_digest  # noqa: PLC0415 - only when the site has start-up hooks

    record_stats: dict[str, os.stat_result] = {}
    listed = site_record_listings(site, dist_info_dirs, hooks, record_stats)
    verdicts: dict[str, Vouched | None] = {}
    for name in hooks:
        hook = os.path.join(site, name)
        hashed: dict[str, Hashed] = {}
        verdicts[name] = None
        for field, dist_info in listed.get(name, ()):
            algorithm, _, expected = field.partition("=")
            if algorithm not in _RECORD_ALGORITHMS:
                continue
            if algorithm not in hashed:
                hashed[algorithm] = read_digest(hook, name, algorithm, keep=False)
            actual = hashed[algorithm]
            if actual.digest is None or actual.stat is None:
                continue
            encoded = base64.urlsafe_b64encode(bytes.fromhex(actual.digest)).rstrip(b"=").decode("ascii")
            if compare_digest(encoded, expected):
                record = os.path.join(site, dist_info, "RECORD")
                verdicts[name] = ((hook, actual.stat), (record, record_stats[record]))
                break
    return verdicts


def check_startup_hooks(
    site: str,
    hooks: Collection[str],
    dist_info_dirs: Collection[str],
    reasons: list[Reason],
    evidence: list[str],
    *,
    verdicts: Mapping[str, Vouched | None] | None = None,
    watched: list[tuple[str, os.stat_result]] | None = None,
) -> None:
    """Reject start-up hooks (``*.pth``, ``sitecustomize``, ``usercustomize``) in *site* that no RECORD vouches for.

    A hook runs at every interpreter start, before securehost can check anything, so one that no installed
    distribution lists (with a matching hash) is a sign of tampering with the site directory.

    Args:
        site: the site directory.
        hooks: the hook files to judge.
        dist_info_dirs: the ``.dist-info`` directories whose RECORDs may vouch for them.
        reasons: where a reason goes for each hook nothing vouches for.
        evidence: where the name of each vouched hook goes.
        verdicts: :func:`hook_verdicts` for the site, computed once for every plugin in it (default: judge the
            hooks now, reading every RECORD).
        watched: receives what vouched for each hook (see :data:`Vouched`), for a later re-check.
    """
    if not hooks:
        return
    judged = verdicts if verdicts is not None else hook_verdicts(site, hooks, dist_info_dirs)
    for name in sorted(hooks):
        vouched = judged.get(name)
        if vouched is not None:
            evidence.append(name)
            if watched is not None:
                watched.extend(vouched)
        else:
            msg = f"{name}: start-up hook in {site} that no installed RECORD lists with a matching hash"
            reasons.append(Reason(code=_R.INSTALLED_FILE_UNSIGNED, message=msg, subject=name))


@final
class SiteIndex:
    """One listing of a site directory, shared by the checks of every plugin in it during one load.

    Listing the directory once per plugin made start-up quadratic in the number of plugins (100 plugins in one
    directory: 20,000 entries visited). The index keeps what the per-plugin check needs: entries by import name,
    start-up hooks, and ``.dist-info`` directories.

    Attributes:
        site: the directory.
        error: why it could not be listed, or ``None``.
        stat: its ``lstat``, taken before it was listed (``None`` if that failed).
    """

    __slots__ = ("_verdicts", "by_import", "dist_infos", "error", "hooks", "site", "stat")

    def __init__(self, site: str) -> None:
        self.site = site
        self.by_import: dict[str, list[tuple[str, bool]]] = {}
        self.hooks: list[tuple[str, bool]] = []
        self.dist_infos: list[str] = []
        self._verdicts: dict[str, Vouched | None] | None = None
        try:
            self.stat: os.stat_result | None = os.lstat(site)  # before the listing: an entry added later shows
        except OSError:
            self.stat = None
        self.error = scan_site(site, self._add)

    def hook_verdicts(self) -> dict[str, Vouched | None]:
        """:func:`hook_verdicts` for every start-up hook file of the site, judged once (every RECORD read once).

        Judging them again for each plugin read every RECORD in the site once per plugin: quadratic in the plugins
        of a site that has a hook, as almost every ``site-packages`` has (setuptools' ``distutils-precedence.pth``).
        """
        if self._verdicts is None:
            files = [name for name, is_dir in self.hooks if not is_dir]
            self._verdicts = hook_verdicts(self.site, files, self.dist_infos) if files else {}
        return self._verdicts

    def _add(self, entry: os.DirEntry[str]) -> None:
        name = entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        imported = import_name(name, is_dir=is_dir)
        if imported is not None:
            self.by_import.setdefault(imported, []).append((name, is_dir))
        if imported in _STARTUP_MODULES or (name.endswith(".pth") and not is_dir):
            self.hooks.append((name, is_dir))
        elif is_dir and name.endswith(".dist-info"):
            self.dist_infos.append(name)


def scan_site(site: str, on_entry: Callable[[os.DirEntry[str]], None]) -> str | None:
    """Call *on_entry* for every entry of the site directory; return an error message if it cannot be listed."""
    try:
        with os.scandir(site) as entries:
            for entry in entries:
                on_entry(entry)
    except OSError as exc:
        return f"{site} cannot be listed: {exc.strerror}"
    return None
