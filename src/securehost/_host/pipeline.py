"""The load pipeline of :class:`~securehost.Host`: discover, judge, import and register one distribution at a time.

:class:`LoadPipeline` holds the steps of :meth:`Host.load` and :meth:`Host.check` (``_run``), one distribution's
verdict and import (``_process``, ``_import``, ``_start_isolated``) and its report (``_finish``). It is a base class
of ``Host`` and works on the host's state, which it declares below; ``host.py`` keeps the public API and the
collaborators' construction.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import ChainMap
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from securehost._audit import AuditLog
from securehost._dispatch.manager import SecurePluginManager
from securehost._host.judge import Judge
from securehost._host.naming import blocked_reason, record_distinfo, taken_reasons
from securehost._host.notes import load_notes
from securehost._host.report import LoadReport, PluginReport, PluginStatus, make_report
from securehost._host.state import HostState
from securehost._host.support import import_reason
from securehost._installed.discovery import DiscoveredDistribution, DiscoveryCache, discover
from securehost._installed.distcheck import InstalledDistribution
from securehost._installed.filerecord import FileRecord
from securehost._installed.importer import VerifiedImporter
from securehost._isolation.choice import isolation_for
from securehost._orchestrator.config import freeze
from securehost._orchestrator.lifecycle import requirement_names
from securehost._orchestrator.runner import Member, Orchestra, configure
from securehost._permissions import PermissionSet
from securehost._signing.memo import SignatureMemo
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost.exceptions import (
    PluginRejectedError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from securehost._installed.depgate import DependencyGate
    from securehost._isolation.policy import IsolationChoice, ProcessIsolation
    from securehost._isolation.supervisor import WorkerPool
    from securehost._isolation.zygote import Zygotes
    from securehost._trust.memo import TrustStoreMemo

__all__ = ["LoadPipeline"]

_R = ReasonCode
#: reasons the operator can fix without a new signature: the plugin is held back, not rejected
_HOLD: Final = frozenset({_R.PERMISSION_NOT_GRANTED, _R.CONFIG_INVALID})
#: ``securehost._isolation.host.IN_PROCESS``, not imported from there: that module (the worker supervisor, asyncio,
#: msgspec) is imported only by a host that isolates a plugin, not on every start-up.
_IN_PROCESS: Final[Mapping[str, Any]] = MappingProxyType({"mode": "in-process"})


class LoadPipeline:
    """The steps of a load (see the module docstring); ``Host`` provides every attribute declared here."""

    project: str
    group: str
    path: tuple[str, ...] | None
    audit: AuditLog
    importer: VerifiedImporter
    manager: SecurePluginManager
    _state: HostState
    _judge: Judge
    _deps: DependencyGate
    _memo: SignatureMemo
    _files: FileRecord | None
    _trust_memo: TrustStoreMemo | None
    _cache: DiscoveryCache
    _orchestra: Orchestra
    _isolation: tuple[tuple[str, IsolationChoice], ...]
    _pools: dict[str, WorkerPool]
    _zygotes: Zygotes | None
    _probed: dict[str, Any]
    _guard: bool
    _clock: Callable[[], dt.datetime]
    _lock: threading.RLock
    _loaded: dict[str, PluginReport]
    _claims: dict[str, str]
    _holders: dict[str, str]
    _config: dict[str, dict[str, Any]]
    _config_file: dict[str, dict[str, Any]]
    _unsafe_unsigned: frozenset[str]

    if TYPE_CHECKING:

        def unload(self, name: str) -> bool:
            """See :meth:`Host.unload`."""

        def _drop(self, canonical: str, report: PluginReport) -> None:
            """See ``Host._drop``."""

    # --- the pipeline -------------------------------------------------------------------------------------------

    def _run(self, *, import_plugins: bool) -> LoadReport:
        # one state write per load, not one per accepted plugin; sys.path entries resolved once per load
        with self._lock, self._state.deferred(), self.importer.batch():
            now = self._clock()
            self._deps.begin()
            reports = []
            self._judge.begin()
            self._claims = {}
            dists = {}
            before = {id(r) for r in self._loaded.values()}  # reported as they are: no notes again
            found = discover(self.group, self.path, cache=self._cache)
            self.importer.seed_listings(found.listed)
            for dist in found.distributions:
                dists[dist.name] = dist
                loaded = self._loaded.get(dist.name)
                if loaded is not None:
                    if loaded.location == str(dist.metadata_dir) and dist.accepted:
                        reports.append(loaded)
                        continue
                    if import_plugins:  # upgraded, moved or now shadowed since it was loaded: judge it again
                        self.unload(dist.name)
                reports.append(self._process(dist, now, import_plugins=import_plugins))
            unwritten = self._save_memos()
            plugins = tuple(self._start(reports, dists))
            now_loaded = [(r.name, r.plugins) for r in plugins if r.status == "accepted" and id(r) not in before]
            unsigned = [r.name for r in plugins if r.unsigned and r.accepted]
            notes = load_notes(self.manager, found, self.path, now_loaded, unsigned=unsigned, unwritten=unwritten)
            return LoadReport(group=self.group, plugins=plugins, warnings=notes)

    def _start(self, reports: list[PluginReport], dists: Mapping[str, DiscoveredDistribution]) -> list[PluginReport]:
        """Start the members loaded just now; hold back (and unload) each that does not start."""
        fresh = [r.name for r in reports if r.status == "accepted" and not self._orchestra.members[r.name].started]
        failed = self._orchestra.start(fresh)
        for name in failed:
            self._drop(name, self._loaded[name])
        return [
            self._finish(dists[r.name], "held", r.verdict.with_reasons([failed[r.name]]), ()) if r.name in failed else r
            for r in reports
        ]

    def _process(self, dist: DiscoveredDistribution, now: dt.datetime, *, import_plugins: bool) -> PluginReport:
        name = dist.name
        blocked = blocked_reason(dist, self.manager)
        if self._state.is_disabled(name) or blocked is not None:
            disabled = Reason(code=_R.DISABLED, message=f"{name} is disabled by the host")
            verdict = Verdict(subject=name, name=name, version=dist.version, reasons=(blocked or disabled,))
            return self._finish(dist, "disabled", verdict, ())
        check, installed, reasons, effective = self._judge.judge(dist, now)
        if self._unsafe_unsigned:
            from securehost._host.devmode import dev_installed, dev_mode_applies  # noqa: PLC0415 - asked for only

            if dev_mode_applies(self._unsafe_unsigned, dist, reasons):
                installed = dev_installed(dist)
                reasons, effective = list(installed.reasons), self._judge.granted(name)
        holders = ChainMap(self._claims, self._holders)  # one lookup per entry point, not one pass over all loaded
        reasons.extend(taken_reasons(dist, self.manager, holders))
        predicate = check.statement.predicate if check.statement is not None else None
        verdict = Verdict(
            subject=name,
            name=name,
            version=dist.version,
            signers=check.signers,
            permissions=predicate.permissions if predicate is not None else (),
            reasons=tuple(reasons),
            evidence={**check.evidence, **(installed.evidence if installed is not None else {})},
        )
        declared = None if predicate is None else predicate.config
        member, problems = configure(
            name,
            predicate.capabilities if predicate is not None else (),
            None if declared is None else (declared.schema, declared.defaults),
            [self._config_file.get(name), self._config.get(name)],
        )
        reasons.extend(problems)
        verdict = verdict.with_reasons(reasons[len(verdict.reasons) :])
        if reasons:
            held = all(r.code in _HOLD for r in reasons)
            return self._finish(dist, "held" if held else "rejected", verdict, ())
        if not import_plugins:
            assert installed is not None  # no reasons means the installed check ran
            self._deps.note_verified(name, installed.modules)
            from securehost._isolation.host import planned_isolation  # noqa: PLC0415 - see _IN_PROCESS

            planned = planned_isolation(isolation_for(self._isolation, name), self._probed)
            return self._finish(dist, "verified", verdict, effective.strings(), isolation=planned)
        assert installed is not None  # no reasons means the installed check ran
        member.requires = frozenset(requirement_names(installed.requires))
        return self._import(dist, verdict, installed, effective, member)

    def _save_memos(self) -> list[tuple[str, str, str, str]]:
        """Write the state files that changed; return ``(what, path, error, consequence)`` for each not written."""
        unwritten = []
        for what, state, then in (
            ("the trust-store memo", self._trust_memo, "parses the trust store again"),
            ("the signature memo", self._memo, "verifies the signatures it could have recalled again"),
            ("the installed-file record", self._files, "hashes the files and scans the search path again"),
        ):
            failure = state.save() if state is not None else None
            if failure is not None:
                assert state is not None  # a failure comes from a save
                unwritten.append((what, state.path, failure, then))
        cache = self.importer.take_unwritten_cache()
        if cache is not None:
            directory, count, failure = cache
            what = f"{count} bytecode cache {'entry' if count == 1 else 'entries'} in"
            unwritten.append((what, directory, failure, "compiles those modules again"))
        self.importer.prune_cache()  # at most once a day: the code of plugins upgraded or removed since
        return unwritten

    def _import(
        self,
        dist: DiscoveredDistribution,
        verdict: Verdict,
        installed: InstalledDistribution,
        effective: PermissionSet,
        member: Member,
    ) -> PluginReport:
        name = dist.name
        choice = isolation_for(self._isolation, name)
        if choice is not None:
            return self._start_isolated(dist, verdict, installed, effective, choice, member=member)
        config = freeze(member.config)
        registered: list[str] = []
        try:
            self.importer.add_distribution(name, installed.modules, requires=installed.requires)
        except PluginRejectedError as exc:
            return self._finish(dist, "rejected", verdict.with_reasons(exc.verdict.reasons), ())
        registering = False
        try:
            for ep in dist.entry_points:
                plugin_name = self._plugin_name(dist, ep.name)
                registering = False
                with self.manager.plugin_context(plugin_name, effective, config=config):
                    obj = self.importer.load_entry_point(ep.value)
                registering = True
                # registration runs plugin code too (pluggy calls dir(plugin): a module's __dir__, a class's
                # __getattr__): as the plugin, like its import
                with self.manager.plugin_context(plugin_name, effective, config=config):
                    self.manager.register(obj, name=plugin_name, permissions=effective, config=config)
                registered.append(plugin_name)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a hostile or broken plugin must not stop the host
            # pluggy may keep a plugin whose registration failed half-way: remove every name of this distribution
            for ep in dist.entry_points:
                plugin_name = self._plugin_name(dist, ep.name)
                if plugin_name in registered or self.manager.get_plugin(plugin_name) is not None:
                    self.manager.unregister(name=plugin_name)
            self.importer.remove_distribution(name)
            reason = import_reason(exc, registering=registering)
            return self._finish(dist, "rejected", verdict.with_reasons([reason]), ())
        if not installed.evidence.get("unsigned"):  # a development build must not raise the rollback floor
            self._state.record(name, installed.version or verdict.version or "0")
        member.plugins = tuple(registered)
        return self._accept(dist, verdict, effective, member, _IN_PROCESS)

    def _accept(
        self,
        dist: DiscoveredDistribution,
        verdict: Verdict,
        effective: PermissionSet,
        member: Member,
        isolation: Mapping[str, Any],
    ) -> PluginReport:
        member.isolation = str(isolation.get("mode", "in-process"))
        self._orchestra.members[dist.name] = member
        record_distinfo(self.manager, member.plugins, dist)
        report = self._finish(dist, "accepted", verdict, effective.strings(), member.plugins, isolation, member)
        self._loaded[dist.name] = report
        self._holders.update(dict.fromkeys(report.plugins, dist.name))
        return report

    def _start_isolated(
        self,
        dist: DiscoveredDistribution,
        verdict: Verdict,
        installed: InstalledDistribution,
        effective: PermissionSet,
        choice: ProcessIsolation,
        *,
        member: Member,
    ) -> PluginReport:
        from securehost._host.isolated import launch_worker  # noqa: PLC0415 - see _IN_PROCESS
        from securehost._isolation.zygote import Zygotes  # noqa: PLC0415 - likewise

        if self._zygotes is None:
            self._zygotes = Zygotes()

        name = dist.name
        entry_points = [(self._plugin_name(dist, ep.name), ep.value) for ep in dist.entry_points]
        outcome = launch_worker(
            project=self.project,
            dist=dist,
            entry_points=entry_points,
            installed=installed,
            policy=self._deps.effective_policy(name),
            permissions=effective,
            isolation=choice,
            guard=self._guard,
            config=member.config,
            audit=self.audit,
            manager=self.manager,
            zygotes=self._zygotes,
        )
        if isinstance(outcome, Reason):
            return self._finish(dist, "rejected", verdict.with_reasons([outcome]), ())
        pool, isolation = outcome
        self._pools[name] = pool
        self._state.record(name, installed.version or verdict.version or "0")
        member.plugins = tuple(plugin_name for plugin_name, _ in entry_points)
        return self._accept(dist, verdict, effective, member, isolation)

    @staticmethod
    def _plugin_name(dist: DiscoveredDistribution, entry_point: str) -> str:
        return entry_point  # pluggy's name (see securehost._host.naming); the distribution is in the report

    def _finish(  # noqa: PLR0917 - one report's parts
        self,
        dist: DiscoveredDistribution,
        status: PluginStatus,
        verdict: Verdict,
        granted: tuple[str, ...],
        plugins: tuple[str, ...] = (),
        isolation: Mapping[str, Any] | None = None,
        member: Member | None = None,
    ) -> PluginReport:
        if status == "verified":
            self._claims.update(dict.fromkeys((ep.name for ep in dist.entry_points), dist.name))
        return make_report(self.audit, dist, status, verdict, granted, plugins, isolation, member)
