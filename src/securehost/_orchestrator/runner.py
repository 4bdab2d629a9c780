"""The loaded plugins as the orchestrator sees them: capabilities, configuration, lifecycle and health.

The :class:`Orchestra` keeps one :class:`Member` per loaded distribution. The Host adds a member after it registered
the plugin, asks the orchestra to start the new members (dependency order, deadlines), to stop members before it
unregisters them, and for their health. The plugin manager is reached through :class:`ManagerLike`, so this module
needs nothing of the dispatcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from securehost._context import import_as_host
from securehost._log import LazyLogger
from securehost._orchestrator.config import redact, resolve, scrub, secret_values
from securehost._orchestrator.lifecycle import HEALTH, START, STOP, Outcome, call_with_deadline, dependency_order
from securehost._records import Record
from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from securehost._audit import AuditLog
    from securehost._orchestrator.health import HealthReport, HealthState
    from securehost._orchestrator.select import CapabilityRelay

__all__ = ["ManagerLike", "Member", "Orchestra", "configure"]


def _first_use(module: str) -> None:
    """Import ``securehost._orchestrator.<module>`` as the host (cheap once it is imported).

    Selection and health are imported when first used, not at start-up. A plugin's hook may be what uses them first
    (a callback of the host that selects): reading securehost's own files is then still the host's doing, not
    something the guard should judge against the plugin's ``fs.read`` grants.
    """
    import_as_host(f"securehost._orchestrator.{module}")


_logger = LazyLogger("securehost.host")


class ManagerLike(Protocol):
    """What the orchestra needs from :class:`~securehost.SecurePluginManager`."""

    def list_name_plugin(self) -> list[tuple[str, object]]:
        """Return ``(name, plugin)`` pairs."""

    @property
    def hook(self) -> Any:
        """The hook relay: one ``HookCaller`` per hook name."""

    def get_plugin(self, name: str) -> Any | None:
        """Return the plugin registered under *name*, or ``None``."""

    def subset_hook_caller(self, name: str, remove_plugins: Iterable[object]) -> Any:
        """Return a caller of hook *name* without *remove_plugins*."""

    def stats(self) -> Any:
        """Return a ``StatsSnapshot``."""

    def quarantined(self) -> tuple[tuple[str, str], ...]:
        """Return the quarantined ``(plugin, hook)`` pairs."""


class Member(Record, frozen=False):
    """One loaded distribution.

    Attributes:
        name: the canonical distribution name.
        plugins: the names its entry points are registered under.
        capabilities: what it offers (signed and vouched for).
        config: its resolved configuration (secrets included: the plugin gets them).
        secrets: the paths of the secrets in *config*.
        requires: canonical names of the distributions it depends on.
        isolation: ``in-process`` or ``process``.
        started: ``securehost_start`` returned (or the plugin has none).
        last_error: the latest lifecycle failure, secrets scrubbed.
    """

    __slots__ = (
        "capabilities",
        "config",
        "isolation",
        "last_error",
        "name",
        "plugins",
        "requires",
        "secrets",
        "started",
    )  # fmt: skip
    name: str
    plugins: tuple[str, ...]
    capabilities: tuple[str, ...]
    config: dict[str, Any]
    secrets: frozenset[tuple[str, ...]]
    requires: frozenset[str]
    isolation: str
    started: bool
    last_error: str | None

    def __init__(
        self,
        *,
        name: str,
        plugins: tuple[str, ...],
        capabilities: tuple[str, ...] = (),
        config: dict[str, Any] | None = None,
        secrets: frozenset[tuple[str, ...]] = frozenset(),
        requires: frozenset[str] = frozenset(),
        isolation: str = "in-process",
        started: bool = False,
        last_error: str | None = None,
    ) -> None:
        self.name = name
        self.plugins = plugins
        self.capabilities = capabilities
        self.config = {} if config is None else config
        self.secrets = secrets
        self.requires = requires
        self.isolation = isolation
        self.started = started
        self.last_error = last_error

    def redacted(self) -> dict[str, Any]:
        """The configuration with every secret replaced."""
        return redact(self.config, self.secrets)

    def scrub(self, text: str) -> str:
        """*text* with every secret value of the configuration replaced."""
        return scrub(text, secret_values(self.config, self.secrets))


def configure(
    name: str,
    capabilities: tuple[str, ...],
    declared: tuple[Mapping[str, Any], Mapping[str, Any]] | None,
    layers: Iterable[Mapping[str, Any] | None],
) -> tuple[Member, list[Reason]]:
    """Resolve a plugin's configuration: signed defaults < the host's file < the host's mapping.

    Args:
        name: the canonical distribution name.
        capabilities: what the plugin offers.
        declared: the signed ``(schema, defaults)``, or ``None`` when the plugin declares no configuration.
        layers: the host's values for this plugin, lowest precedence first.

    Returns:
        The member to be (its configuration resolved), and a ``CONFIG_INVALID`` reason per failure.
    """
    member = Member(name=name, plugins=(), capabilities=capabilities)
    given = [layer for layer in layers if layer]
    if declared is None:
        if given:
            message = f"the host configures {name}, which declares no configuration schema"
            return member, [Reason(code=ReasonCode.CONFIG_INVALID, message=message)]
        return member, []
    member.config, member.secrets, problems = resolve(declared[0], declared[1], given)
    reasons = [
        Reason(code=ReasonCode.CONFIG_INVALID, message=f"configuration {p}", subject=p.partition(":")[0])
        for p in problems
    ]
    return member, reasons


class Orchestra:
    """The members, their lifecycle calls with deadlines, capability selection and health."""

    def __init__(self, manager: ManagerLike, audit: AuditLog, *, timeout: float) -> None:
        self._manager = manager
        self._audit = audit
        self.timeout = timeout
        self.members: dict[str, Member] = {}

    # --- calls ---------------------------------------------------------------------------------------------------

    def _call(self, plugin: str, hook: str, **kwargs: Any) -> Outcome | None:
        target = self._manager.get_plugin(plugin)
        relay = getattr(self._manager.hook, hook, None)
        impls = relay.get_hookimpls() if relay is not None and target is not None else []
        if not any(impl.plugin is target for impl in impls):
            return None  # the plugin does not implement this lifecycle hook
        # only the plugins implementing the hook: asking every registered plugin is quadratic at load
        others = [impl.plugin for impl in impls if impl.plugin is not target]
        caller = self._manager.subset_hook_caller(hook, remove_plugins=others)
        return call_with_deadline(lambda: caller(**kwargs), self.timeout)

    def _each(self, member: Member, hook: str, **kwargs: Any) -> tuple[list[Any], str | None, bool]:
        """Call *hook* on each plugin of *member* that implements it; stop at the first failure.

        Returns:
            The values returned, the first error (secrets scrubbed) and whether it was a timeout.
        """
        values, error, timed_out = [], None, False
        for plugin in member.plugins:
            outcome = self._call(plugin, hook, **kwargs)
            if outcome is None:
                continue
            if not outcome.ok:
                error, timed_out = member.scrub(f"{plugin}: {outcome.error}"), outcome.timed_out
                break
            values.append(outcome.value)
        return values, error, timed_out

    # --- lifecycle -----------------------------------------------------------------------------------------------

    def start(self, names: Iterable[str]) -> dict[str, Reason]:
        """Start the members *names* in dependency order; return the reason of each that did not start.

        A member whose dependency did not start is not started either.
        """
        wanted = set(names)
        order = [n for n in dependency_order({n: m.requires for n, m in self.members.items()}) if n in wanted]
        failed: dict[str, Reason] = {}
        for name in order:
            member = self.members[name]
            blocked = sorted(d for d in member.requires if d in failed)
            if blocked:
                message = f"not started: it depends on {', '.join(blocked)}, which did not start"
                failed[name] = Reason(code=ReasonCode.PLUGIN_START_FAILED, message=message, subject=blocked[0])
                continue
            values, error, timed_out = self._each(member, START, config=member.config)
            if error is None:
                member.started = True
                if values:
                    self._audit.emit("lifecycle.started", plugin=name, config=member.redacted())
                continue
            member.last_error = error
            code = ReasonCode.PLUGIN_START_TIMEOUT if timed_out else ReasonCode.PLUGIN_START_FAILED
            failed[name] = Reason(code=code, message=f"securehost_start failed: {error}")
            self._audit.emit("lifecycle.failed", plugin=name, phase="start", error=error)
        return failed

    def stop(self, name: str) -> None:
        """Stop the member *name* if it started (a failure is logged and audited, never raised)."""
        member = self.members.get(name)
        if member is None or not member.started:
            return
        member.started = False
        values, error, _ = self._each(member, STOP)
        if error is None:
            if values:
                self._audit.emit("lifecycle.stopped", plugin=name)
            return
        member.last_error = error
        _logger.warning("securehost: stopping %s failed: %s", name, error)
        self._audit.emit("lifecycle.failed", plugin=name, phase="stop", error=error)

    def stop_all(self) -> None:
        """Stop every started member, dependents first."""
        order = dependency_order({n: m.requires for n, m in self.members.items()})
        for name in reversed(order):
            self.stop(name)

    # --- selection -----------------------------------------------------------------------------------------------

    def select(self, query: str) -> tuple[str, ...]:
        """Return the started members offering a capability *query* matches, sorted by name."""
        _first_use("select")
        from securehost._orchestrator.select import offering  # noqa: PLC0415 - selection is not on the start-up path

        return offering({n: m.capabilities for n, m in self.members.items() if m.started}, query)

    def relay(self, query: str) -> CapabilityRelay:
        """Return hook callers restricted to the plugins of :meth:`select`."""
        _first_use("select")
        from securehost._orchestrator.select import CapabilityRelay  # noqa: PLC0415 - see select()

        names = self.select(query)
        return CapabilityRelay(self._manager, query, [p for n in names for p in self.members[n].plugins])

    # --- health --------------------------------------------------------------------------------------------------

    def health(self) -> HealthReport:
        """Ask every started member's health hook (with the deadline) and combine it with counters and quarantine."""
        _first_use("health")
        from securehost._orchestrator.health import (  # noqa: PLC0415 - health is not on the start-up path
            HealthReport,
            PluginHealth,
            parse_reported,
            worst,
        )

        stats = self._manager.stats()
        quarantined = self._manager.quarantined()
        report = []
        for name in sorted(self.members):
            member = self.members[name]
            entries = [e for plugin in member.plugins for e in stats.for_plugin(plugin)]
            pairs = tuple(pair for pair in quarantined if pair[0] in member.plugins)
            implemented = {(e.plugin, e.hook) for e in entries if e.hook not in (START, STOP, HEALTH)}
            states: list[tuple[HealthState, str | None]] = []
            values, error, _ = self._each(member, HEALTH) if member.started else ([], "not started", False)
            if error is not None:
                states.append(("failing", f"health check failed: {error}"))
            states.extend(parse_reported(v) for v in values)
            if pairs:
                every = implemented and implemented <= set(pairs)
                hooks = ", ".join(f"{p}.{h}" for p, h in pairs)
                states.append(("failing" if every else "degraded", f"quarantined: {hooks}"))
            last = max((e for e in entries if e.last_error), key=lambda e: e.errors, default=None)
            errors = sum(e.errors for e in entries if e.hook not in (START, STOP, HEALTH))
            if errors:
                states.append(("degraded", f"{errors} hook error(s) since the counters were last reset"))
            state = worst(*(s for s, _ in states))
            reasons = [r for s, r in states if r and s == state]
            last_error = member.scrub(last.last_error) if last is not None and last.last_error else member.last_error
            report.append(
                PluginHealth(
                    name=name,
                    state=state,
                    reason=member.scrub("; ".join(reasons)) if reasons else None,
                    last_error=last_error,
                    calls=sum(e.calls for e in entries if e.hook not in (START, STOP, HEALTH)),
                    errors=errors,
                    denials=sum(e.denials for e in entries),
                    quarantined=pairs,
                    isolation=member.isolation,
                    capabilities=member.capabilities,
                    config=member.redacted(),
                )
            )
        return HealthReport(plugins=tuple(report))

    def snapshot(self) -> Mapping[str, Member]:
        """The members, by name."""
        return dict(self.members)
