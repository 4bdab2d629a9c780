"""Load reports: for every candidate plugin, the decision with every reason, signers, version and permissions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, final

import attrs

from securehost._models import value_model
from securehost._verdict import Verdict

if TYPE_CHECKING:
    from securehost._audit import AuditLog
    from securehost._host.note import LoadNote
    from securehost._installed.discovery import DiscoveredDistribution
    from securehost._orchestrator.runner import Member

__all__ = ["LoadReport", "PluginReport", "PluginStatus", "describe_isolation", "make_report"]

PluginStatus = Literal["accepted", "rejected", "held", "disabled", "verified"]


def describe_isolation(isolation: Mapping[str, Any]) -> str:
    """One line: ``in-process``, or ``process (userns netns pidns landlock=7 seccomp no_new_privs rlimits; uid 0)``."""
    if isolation.get("mode") != "process":
        return str(isolation.get("mode", "?"))
    protections = isolation.get("protections") or {}
    on = []
    for key in ("userns", "netns", "pidns", "landlock", "seccomp", "no_new_privs", "rlimits"):
        value = protections.get(key)
        if key == "landlock" and value:
            on.append(f"landlock={value}")
        elif value:
            on.append(key)
    missing = sorted(isolation.get("unavailable") or {})
    uid = f"; uid {protections['uid']}" if "uid" in protections else ""
    text = f"process ({' '.join(on) or 'no protection'}{uid})"
    if isolation.get("planned"):
        text = "would run in a " + text
    return text + (f", missing: {', '.join(missing)}" if missing else "")


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class PluginReport:
    """The decision about one installed distribution.

    Attributes:
        name: the canonical distribution name.
        version: its installed version, when known.
        status: ``accepted`` (imported and registered), ``verified`` (passed every check; nothing imported, as in
            :meth:`Host.check`), ``held`` (trusted, but it asks for permissions the host has not granted),
            ``rejected`` or ``disabled``.
        verdict: the verdict with every reason, the signers and the requested permissions.
        granted: the effective permissions the plugin runs with (empty unless accepted).
        plugins: the names under which its entry points were registered with the plugin manager.
        location: its ``.dist-info`` directory.
        isolation: where an accepted plugin runs: ``{"mode": "in-process"}``, or for ``"process"`` the protections
            actually in force (``userns``, ``netns``, ``pidns``, ``landlock`` (the ABI, 0 for none), ``seccomp``,
            ``no_new_privs``, ``rlimits`` (name -> limit), ``uid``), ``unavailable`` (protection -> why not),
            ``workers`` and ``require``. ``None`` for a plugin that was not started.
        capabilities: what the plugin offers (signed and vouched for).
        config: its resolved configuration with every secret redacted (``None`` when it declares none).
        unsigned: judged in development mode (``Host(unsafe_unsigned=[...])``): no signature was checked.
    """

    name: str
    version: str | None
    status: PluginStatus
    verdict: Verdict
    granted: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    location: str | None = None
    isolation: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    capabilities: tuple[str, ...] = ()
    config: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    unsigned: bool = False

    @property
    def accepted(self) -> bool:
        """``True`` when the plugin passed every check (``accepted`` or ``verified``)."""
        return self.status in ("accepted", "verified")

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "signers": list(self.verdict.signers),
            "requested": list(self.verdict.permissions),
            "granted": list(self.granted),
            "plugins": list(self.plugins),
            "location": self.location,
            "reasons": [r.to_json() for r in self.verdict.reasons],
            "isolation": None if self.isolation is None else dict(self.isolation),
            "capabilities": list(self.capabilities),
            "config": None if self.config is None else dict(self.config),
            "unsigned": self.unsigned,
        }

    def summary(self) -> str:
        """Return a short human-readable block."""
        head = f"{self.name} {self.version or '?'}: {self.status.upper()}"
        lines = [head]
        if self.unsigned:
            lines.append("  UNSIGNED: development mode (unsafe_unsigned), nothing about it was verified")
        if self.verdict.signers:
            lines.append(f"  signed by: {', '.join(s[:16] for s in self.verdict.signers)}")
        if self.verdict.permissions:
            lines.append(f"  requests:  {', '.join(self.verdict.permissions)}")
        if self.granted:
            lines.append(f"  granted:   {', '.join(self.granted)}")
        if self.capabilities:
            lines.append(f"  offers:    {', '.join(self.capabilities)}")
        if self.isolation is not None and self.isolation.get("mode") == "process":
            lines.append(f"  runs:      {describe_isolation(self.isolation)}")
        lines.extend(f"  - {r}" for r in self.verdict.reasons)
        return "\n".join(lines)


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class LoadReport:
    """The outcome of :meth:`Host.load` or :meth:`Host.check`: one :class:`PluginReport` per candidate.

    Attributes:
        group: the entry-point group.
        plugins: one report per candidate distribution.
        warnings: what the load did not do, or did only because it was told to (:class:`LoadNote`: no plugin in
            the group, a missing path entry, a plugin that implements no hook of the host or an unknown one, a
            development-mode plugin). Each was also logged on ``securehost.host``.
    """

    group: str
    plugins: tuple[PluginReport, ...] = ()
    warnings: tuple[LoadNote, ...] = ()

    @property
    def accepted(self) -> tuple[PluginReport, ...]:
        """Reports of plugins that passed every check."""
        return tuple(p for p in self.plugins if p.accepted)

    @property
    def rejected(self) -> tuple[PluginReport, ...]:
        """Reports of plugins that were rejected or held."""
        return tuple(p for p in self.plugins if p.status in ("rejected", "held"))

    @property
    def all_accepted(self) -> bool:
        """``True`` when no candidate was rejected or held (disabled ones do not count against)."""
        return not self.rejected

    def __getitem__(self, name: str) -> PluginReport:
        for plugin in self.plugins:
            if plugin.name == name:
                return plugin
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.plugins)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "group": self.group,
            "plugins": [p.to_json() for p in self.plugins],
            "warnings": [w.to_json() for w in self.warnings],
        }

    def summary(self) -> str:
        """Return a human-readable report."""
        lines = [p.summary() for p in self.plugins] + [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines) or f"no plugins found for entry-point group {self.group!r}"


def make_report(  # noqa: PLR0917 - one report's parts
    audit: AuditLog,
    dist: DiscoveredDistribution,
    status: PluginStatus,
    verdict: Verdict,
    granted: tuple[str, ...],
    plugins: tuple[str, ...] = (),
    isolation: Mapping[str, Any] | None = None,
    member: Member | None = None,
) -> PluginReport:
    """Return the report on *dist* and emit its ``plugin.<status>`` audit event (every reason, signer, permission)."""
    report = PluginReport(
        name=dist.name,
        version=dist.version,
        status=status,
        verdict=verdict,
        granted=granted,
        plugins=plugins,
        location=str(dist.metadata_dir),
        isolation=isolation,
        capabilities=member.capabilities if member is not None else (),
        config=member.redacted() if member is not None and member.config else None,
        unsigned=bool(verdict.evidence.get("unsigned")),
    )
    audit.emit(
        f"plugin.{status}",
        plugin=dist.name,
        version=dist.version,
        signers=list(verdict.signers),
        requested=list(verdict.permissions),
        granted=list(granted),
        reasons=[r.to_json() for r in verdict.reasons],
        location=str(dist.metadata_dir),
        **({"isolation": dict(isolation)} if isolation is not None else {}),
        **({"capabilities": list(member.capabilities)} if member is not None and member.capabilities else {}),
        **({"unsigned": True} if report.unsigned else {}),
    )
    return report
