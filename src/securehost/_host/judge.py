"""The verdict on one installed plugin before anything of it runs: statement, files, dependencies, policy.

:class:`Judge` holds what the host judges with (trust store, signature memo, file record, dependency gate, state,
pins, grants) and, within one load, one listing per site directory shared by the plugins installed there.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from typing import TYPE_CHECKING, Final, final

from securehost._host.recall import recall_statement, remember_statement
from securehost._host.support import read_envelope, same_version
from securehost._installed.distcheck import InstalledDistribution, verify_installed
from securehost._installed.entrycheck import check_entry_points
from securehost._installed.sitehooks import SiteIndex
from securehost._names import canonicalize_name, parse_version, version_above
from securehost._permissions import NO_PERMISSIONS, PermissionSet
from securehost._trust.verify import ENVELOPE_FILENAME, StatementCheck, check_statement
from securehost._verdict import Reason, ReasonCode
from securehost.exceptions import ConfigurationError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

    from packaging.version import Version

    from securehost._host.state import HostState
    from securehost._installed.depgate import DependencyGate
    from securehost._installed.discovery import DiscoveredDistribution
    from securehost._installed.filerecord import FileRecord
    from securehost._installed.importer import VerifiedImporter
    from securehost._signing.memo import SignatureMemo
    from securehost._trust.store import TrustStore

__all__ = ["Judge", "parse_pins"]

_R: Final = ReasonCode


def parse_pins(pins: Mapping[str, str] | None) -> dict[str, Version]:
    """Parse *pins* (distribution name → version accepted even below a version accepted before).

    Raises:
        ConfigurationError: a pinned version is not a valid version.
    """
    if not pins:
        return {}
    from packaging.version import InvalidVersion  # noqa: PLC0415 - pins are rare; a load without them skips packaging

    parsed: dict[str, Version] = {}
    for name, version in pins.items():
        try:
            parsed[canonicalize_name(name)] = parse_version(version)
        except InvalidVersion as exc:
            raise ConfigurationError(f"pins[{name!r}]: {version!r} is not a valid version") from exc
    return parsed


@final
class Judge:
    """Judges installed plugins for one host (see the module docstring)."""

    def __init__(
        self,
        *,
        group: str,
        store: TrustStore,
        memo: SignatureMemo,
        files: FileRecord | None,
        refuse_bytecode: bool,
        deps: DependencyGate,
        importer: VerifiedImporter,
        state: HostState,
        pins: Mapping[str, Version],
        max_age: dt.timedelta | None,
        grants: Sequence[tuple[str, PermissionSet]],
    ) -> None:
        self._group = group
        self._store = store
        self._memo = memo
        self._files = files
        self._refuse_bytecode = refuse_bytecode
        self._deps = deps
        self._importer = importer
        self._state = state
        self._pins = pins
        self._max_age = max_age
        self._grants = grants
        self._site_indexes: dict[str, SiteIndex] = {}
        self._granted: dict[str, PermissionSet] = {}

    def begin(self) -> None:
        """Start a load: site directories are listed afresh, once each."""
        self._site_indexes = {}

    def judge(
        self, dist: DiscoveredDistribution, now: dt.datetime
    ) -> tuple[StatementCheck, InstalledDistribution | None, list[Reason], PermissionSet]:
        """Judge *dist* at *now*: its statement, installed files, entry points, dependencies, rollback, age, grants.

        Returns:
            The statement check, the installed check (``None`` when the statement is not trusted), every reason
            against the plugin, and its effective permissions (requested ∩ granted ∩ vouched for).
        """
        reasons = list(dist.reasons)
        try:
            check = self._check_statement(dist, now)
        except OSError as exc:
            unreadable = Reason(code=_R.ENVELOPE_MALFORMED, message=f"cannot read {ENVELOPE_FILENAME}: {exc}")
            return StatementCheck(statement=None, envelope=None), None, [*reasons, unreadable], NO_PERMISSIONS
        reasons.extend(check.reasons)
        if check.statement is None:
            return check, None, reasons, NO_PERMISSIONS
        predicate = check.statement.predicate
        if predicate.name != dist.name:
            reasons.append(
                Reason(code=_R.NAME_MISMATCH, message=f"statement is for {predicate.name}, installed is {dist.name}")
            )
        if not same_version(predicate.version, dist.version):
            reasons.append(
                Reason(
                    code=_R.VERSION_MISMATCH,
                    message=f"statement is for {predicate.version}, installed is {dist.version}",
                )
            )
        signed_eps = dict(predicate.entry_points.get(self._group, {}))
        installed_eps = {ep.name: ep.value for ep in dist.entry_points}
        if signed_eps != installed_eps:
            reasons.append(
                Reason(
                    code=_R.ENTRY_POINTS_MISMATCH,
                    message=f"installed entry points {installed_eps} differ from the signed {signed_eps}",
                )
            )
        site = str(dist.metadata_dir.parent)
        index = self._site_indexes.get(site)
        if index is None:
            index = self._site_indexes[site] = SiteIndex(site)
        installed = verify_installed(
            dist.metadata_dir,
            check.statement.subject_map(),
            site_index=index,
            record=self._files,
            refuse_bytecode=self._refuse_bytecode,
            subjects_digest=check.evidence.get("payload_sha256"),
        )
        reasons.extend(installed.reasons)
        reasons.extend(check_entry_points(dist.entry_points, installed.modules))
        if not check.reasons:  # the plugin's code is compiled (never run) to read its imports: only trusted code
            reasons.extend(
                self._deps.reasons(
                    dist.name,
                    installed.modules,
                    installed.requires,
                    imports_of=functools.partial(self._importer.verified_imports, dist.name),
                    verified_modules=self._importer.modules,
                    verified_distributions=self._importer.distribution_names,
                )
            )
        reasons.extend(self.rollback(dist.name, predicate.version))
        if self._max_age is not None and predicate.issued_at + self._max_age < now:
            reasons.append(
                Reason(
                    code=_R.STATEMENT_EXPIRED,
                    message=f"statement issued {predicate.issued_at} is older than the host's limit of {self._max_age}",
                )
            )
        requested = check.requested  # the statement's own permissions, parsed by the check
        granted = self.granted(dist.name)
        for permission in requested:
            if not granted.covers(permission):
                reasons.append(
                    Reason(
                        code=_R.PERMISSION_NOT_GRANTED,
                        message=f"requests {permission}, which the host has not granted to {dist.name}",
                        subject=str(permission),
                    )
                )
        return check, installed, reasons, requested.restrict(granted, check.vouched)

    def _check_statement(self, dist: DiscoveredDistribution, now: dt.datetime) -> StatementCheck:
        """Check *dist*'s envelope at *now*: recalled from the file record when the file is unchanged, else read.

        Raises:
            OSError: the envelope file exists but cannot be read safely.
        """
        path = f"{dist.metadata_dir}{os.sep}{ENVELOPE_FILENAME}"
        if self._files is not None:
            recalled = recall_statement(self._files, path, self._store, now)
            if recalled is not None:
                return recalled
        read = read_envelope(path)
        check = check_statement(None if read is None else read[0], self._store, now=now, memo=self._memo)
        if self._files is not None and read is not None:
            remember_statement(self._files, path, read[1], check)
        return check

    def rollback(self, name: str, version: str) -> list[Reason]:
        """A ``rollback`` reason if *version* is older than one accepted before and not pinned."""
        highest = self._state.highest(name)
        if highest is None or not version_above(highest, version) or self._pins.get(name) == parse_version(version):
            return []
        return [
            Reason(
                code=_R.ROLLBACK,
                message=f"version {version} is older than {highest}, accepted before (pin it to allow a downgrade)",
                subject=version,
            )
        ]

    def granted(self, name: str) -> PermissionSet:
        """The permissions the host's grants give the distribution *name* (the grants are fixed: kept per name)."""
        known = self._granted.get(name)
        if known is None:
            merged = frozenset(
                p for pattern, perms in self._grants if fnmatch.fnmatchcase(name, pattern) for p in perms
            )
            known = self._granted[name] = PermissionSet(merged) if merged else NO_PERMISSIONS
        return known
