"""The results of :func:`~securehost.install_plugin` and :func:`~securehost.uninstall_plugin`."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from securehost._models import value_model
from securehost._verdict import Reason, Verdict

__all__ = ["InstallAction", "InstallResult", "UninstallResult"]

InstallAction = Literal["installed", "upgraded", "reinstalled", "downgraded", "refused"]


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class InstallResult:
    """What :func:`~securehost.install_plugin` did: truthy exactly when the wheel was installed.

    Attributes:
        wheel: the wheel as given.
        target: the plugin directory (resolved).
        action: ``installed``, ``upgraded``, ``reinstalled`` (the same version again), ``downgraded`` (only with
            ``allow_downgrade=True``) or ``refused``.
        verdict: the wheel's verification verdict against the trust store.
        reasons: every reason the install was refused: the verdict's and the plugin directory's (an installed
            version, a downgrade, a file of another distribution, an unsafe ``RECORD``); empty when installed.
        replaced: the versions of the same distribution that were removed.
        files: the installed files, relative to *target* (its ``RECORD``).
        recovered: what was done first to an install, upgrade or uninstall that a killed process left unfinished in
            *target* (rolled back, or its leftovers removed), one line each; empty when there was none.
    """

    wheel: str
    target: str
    action: InstallAction
    verdict: Verdict
    reasons: tuple[Reason, ...] = ()
    replaced: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    recovered: tuple[str, ...] = ()

    @property
    def name(self) -> str | None:
        """The canonical distribution name, when the wheel could be read."""
        return self.verdict.name

    @property
    def version(self) -> str | None:
        """The wheel's version, when it could be read."""
        return self.verdict.version

    def __bool__(self) -> bool:
        return not self.reasons

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (the CLI's ``--json`` format)."""
        return {
            "wheel": self.wheel,
            "target": self.target,
            "action": self.action,
            "name": self.name,
            "version": self.version,
            "installed": bool(self),
            "replaced": list(self.replaced),
            "files": list(self.files),
            "reasons": [r.to_json() for r in self.reasons],
            "verdict": self.verdict.to_json(),
            "recovered": list(self.recovered),
        }

    def summary(self) -> str:
        """Return a human-readable summary: one line, then one line per reason (after any recovery first)."""
        what = f"{self.name or self.wheel} {self.version or ''}".strip()
        first = _recovery_lines(self.target, self.recovered)
        if not self:
            lines = [*first, f"{self.wheel}: REFUSED, nothing {'else ' if first else ''}was changed in {self.target}"]
            lines.extend(f"  - {r}" for r in self.reasons)
            return "\n".join(lines)
        head = f"{self.action} {what} into {self.target}"
        if self.replaced:
            head += f" (replaced {', '.join(self.replaced)})"
        return "\n".join([*first, head + f"; signed by {', '.join(s[:16] for s in self.verdict.signers)}"])


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class UninstallResult:
    """What :func:`~securehost.uninstall_plugin` did: truthy exactly when the distribution was removed.

    Attributes:
        name: the canonical distribution name.
        target: the plugin directory (resolved).
        versions: the versions removed (more than one when an earlier tool left several ``.dist-info``).
        files: the files removed, relative to *target*.
        kept: files of its ``RECORD`` that another distribution's ``RECORD`` also lists (left in place).
        reasons: why nothing was removed (not installed, an unsafe ``RECORD``); empty when removed.
        recovered: as :attr:`InstallResult.recovered`.
    """

    name: str
    target: str
    versions: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()
    recovered: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return not self.reasons

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (the CLI's ``--json`` format)."""
        return {
            "name": self.name,
            "target": self.target,
            "uninstalled": bool(self),
            "versions": list(self.versions),
            "files": list(self.files),
            "kept": list(self.kept),
            "reasons": [r.to_json() for r in self.reasons],
            "recovered": list(self.recovered),
        }

    def summary(self) -> str:
        """Return a human-readable summary: one line, then one line per reason or kept file."""
        first = _recovery_lines(self.target, self.recovered)
        if not self:
            lines = [*first, f"{self.name}: REFUSED, nothing {'else ' if first else ''}was removed from {self.target}"]
            lines.extend(f"  - {r}" for r in self.reasons)
            return "\n".join(lines)
        lines = [
            *first,
            f"uninstalled {self.name} {', '.join(self.versions)} from {self.target} ({len(self.files)} files)",
        ]
        lines.extend(f"  kept {path} (another distribution lists it too)" for path in self.kept)
        return "\n".join(lines)


def _recovery_lines(target: str, recovered: tuple[str, ...]) -> list[str]:
    if not recovered:
        return []
    return [f"first finished what a killed install, upgrade or uninstall left in {target}:"] + [
        f"  - {line}" for line in recovered
    ]
