"""The plugin manager: pluggy's, with permissions, counters, isolation and quarantine."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

import pluggy

from securehost._args import require_type
from securehost._audit import AuditLog
from securehost._context import CURRENT, PluginContext, import_as_host
from securehost._dispatch.callers import Entry, call_general, make_entry
from securehost._dispatch.hookattrs import inert_module_attribute
from securehost._dispatch.hookcaller import SecureHookCaller
from securehost._dispatch.stats import Cell, StatsRegistry
from securehost._guard.audithook import install_guard
from securehost._permissions import NO_PERMISSIONS, Permission, PermissionSet

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from pluggy import HookImpl

    from securehost._dispatch.markers import SpecExtras
    from securehost._dispatch.relay import AsyncHookRelay
    from securehost._dispatch.skipped import SkippedImpl
    from securehost._dispatch.snapshot import StatsSnapshot

__all__ = ["SecurePluginManager"]


def _as_permission_set(
    permissions: PermissionSet | Iterable[str | Permission] | None,
) -> PermissionSet:
    if permissions is None:
        return NO_PERMISSIONS
    if isinstance(permissions, PermissionSet):
        return permissions
    if isinstance(permissions, str):
        raise TypeError("permissions takes a PermissionSet or an iterable of permissions, not one string")
    return PermissionSet(frozenset(p if isinstance(p, Permission) else Permission.parse(p) for p in permissions))


class SecurePluginManager(pluggy.PluginManager):
    """A :class:`pluggy.PluginManager` with permissions, per-plugin counters and error isolation.

    pluggy's semantics are unchanged (``firstresult``, old- and new-style wrappers,
    ``tryfirst``/``trylast``, historic hooks, tracing, subset callers). On top:

    * Code the host registers itself (``pm.register(plugin)``, no ``permissions``) is a *host plugin*: it runs
      with its caller's identity (the host's, when host code calls the hook), exactly as under pluggy: the
      guard does not judge it and hook ``requires`` do not apply to it. Its calls are still counted.
    * ``pm.register(plugin, name, permissions=[...])`` (``[]`` for none) registers a *guarded plugin*: a hook
      whose specification ``requires`` permissions does not get the implementations of plugins that lack
      them; each skip is recorded (:meth:`skipped_impls`) and audited (``hook.impl_skipped``). The host
      registers every plugin it loads this way.
    * While an implementation runs, its :class:`~securehost.PluginContext` is current (see
      :func:`securehost.current_plugin`), and the runtime guard, when installed, checks what it
      does.
    * Every (plugin, hook) pair has counters (:meth:`stats`, :meth:`reset_stats`).
    * Errors either propagate (pluggy's behaviour, the default) or are isolated per hook or
      manager-wide; a circuit breaker quarantines an implementation after consecutive failures
      (:meth:`quarantine`, :meth:`restore`).
    * ``await pm.ahook.name(...)`` calls coroutine (and plain) implementations from async code.

    Args:
        project_name: the project name, as for pluggy.
        audit: where security events go (a default :class:`~securehost._audit.AuditLog` logs them).
        isolate: default error isolation for hooks whose specification does not say.
        quarantine_after: default number of consecutive failures that quarantine an implementation
            (``None`` or ``0``: never).
        guard: install the runtime permission guard (process-wide, idempotent, irreversible).

    Raises:
        TypeError: an argument has the wrong type (the message names it).
        ValueError: *quarantine_after* is negative.
    """

    def __init__(
        self,
        project_name: str,
        *,
        audit: AuditLog | None = None,
        isolate: bool = False,
        quarantine_after: int | None = None,
        guard: bool = True,
    ) -> None:
        require_type("SecurePluginManager", "project_name", project_name, str, "a string: the project name")
        require_type("SecurePluginManager", "audit", audit, (AuditLog, type(None)), "a securehost.AuditLog or None")
        for flag, value in (("isolate", isolate), ("guard", guard)):
            require_type("SecurePluginManager", flag, value, bool, "True or False")
        require_type("SecurePluginManager", "quarantine_after", quarantine_after, (int, type(None)), "an int or None")
        if quarantine_after is not None and quarantine_after < 0:
            raise ValueError(f"quarantine_after must be >= 0, got {quarantine_after}")
        self._default_exec = self._secure_multicall
        self._direct = True
        super().__init__(project_name)
        self._inner_hookexec = self._default_exec
        self._audit = audit if audit is not None else AuditLog()
        self._isolate = isolate
        self._quarantine_after = quarantine_after or None
        self._stats = StatsRegistry()
        self._permissions: dict[str, PermissionSet] = {}  # guarded plugins only: a host plugin has no entry
        self._configs: dict[str, Mapping[str, Any]] = {}
        self._entries: dict[HookImpl, Entry] = {}
        self._skipped: list[SkippedImpl] = []
        self._refused: set[HookImpl] = set()
        self._distinfo_pending: list[tuple[object, str]] = []  # see record_distribution
        self._trip_lock = threading.Lock()
        self._ahook: AsyncHookRelay | None = None  # made on first use (see ahook)
        if guard:
            install_guard()

    @property
    def ahook(self) -> AsyncHookRelay:
        """The async hook relay: ``await pm.ahook.name(**kwargs)``.

        Made on first use: a host that only calls hooks synchronously does not import it.
        """
        relay = self._ahook
        if relay is None:
            from securehost._dispatch.relay import AsyncHookRelay  # noqa: PLC0415 - see above

            relay = self._ahook = AsyncHookRelay(self.hook)
        return relay

    # ``_inner_hookexec`` is replaced by tracing and monitoring; the fast path is taken only while
    # it is ours.
    @property
    def _inner_hookexec(
        self,
    ) -> Callable[[str, Sequence[HookImpl], Mapping[str, object], bool], object]:
        return self.__inner_hookexec

    @_inner_hookexec.setter
    def _inner_hookexec(self, value: Callable[[str, Sequence[HookImpl], Mapping[str, object], bool], object]) -> None:
        self.__inner_hookexec = value
        direct = value is self._default_exec
        if direct != self._direct:
            self._direct = direct
            for hook in vars(self.hook).values():  # leave (or return to) the specialised fast path
                if isinstance(hook, SecureHookCaller):
                    hook.invalidate()

    # --- registration ----------------------------------------------------------------------------

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        permissions: PermissionSet | Iterable[str | Permission] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Register a plugin; return its name (``None``: the name is blocked).

        Registration itself is pluggy's (:meth:`pluggy.PluginManager.register`). Without *permissions* the
        plugin is a *host plugin*: it runs as its caller (the host), like any plugin under pluggy. With
        *permissions* (an empty list for none) it is a *guarded plugin* with that identity: the runtime guard
        checks what its implementations do, and implementations of hooks that require more than it has are
        left out.

        Args:
            plugin: the plugin object (module, class instance, ...).
            name: the name to register it under (default: pluggy's canonical name).
            permissions: the plugin's effective permissions (:class:`Host` passes requested ∩ granted ∩
                vouched for); ``None`` (the default) registers a host plugin.
            config: a guarded plugin's resolved, read-only configuration (what :attr:`PluginContext.config`
                holds).

        Raises:
            ValueError: the name or the plugin is already registered.
            TypeError: *permissions* is a single string, or *config* is given without *permissions*.
            PermissionFormatError: a permission string is malformed.
            pluggy.PluginValidationError: an implementation does not match its specification.
        """
        if permissions is None:
            if config is not None:
                raise TypeError(
                    "register(config=...) is for guarded plugins: pass permissions= too (an empty list for none)"
                )
            return self._register(plugin, name, None, None)
        return self._register(plugin, name, _as_permission_set(permissions), config)

    def _register(
        self, plugin: object, name: str | None, effective: PermissionSet | None, config: Mapping[str, Any] | None
    ) -> str | None:
        plugin_name = name or (self.get_canonical_name(plugin) if plugin is not None else "")
        added = bool(plugin_name) and plugin_name not in self._name2plugin
        if added and effective is not None:
            self._permissions[plugin_name] = effective
            if config is not None:
                self._configs[plugin_name] = config
        try:
            registered = super().register(plugin, name)
        except BaseException:
            if added:
                self._permissions.pop(plugin_name, None)
                self._configs.pop(plugin_name, None)
            raise
        finally:
            self._adopt_hook_callers()
        if registered is None and added:
            self._permissions.pop(plugin_name, None)
            self._configs.pop(plugin_name, None)
        return registered

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """Return what pluggy's ``parse_hookimpl_opts`` returns, without asking it about inert attributes.

        A plain module's attributes that can never be implementations (classes, imported modules, strings, numbers,
        containers: ``securehost._dispatch.hookattrs``) get ``None`` at once; pluggy 1.7 would spend an
        :func:`inspect.getattr_static` on each. Every other attribute is pluggy's to judge.
        """
        if inert_module_attribute(plugin, name):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def runs_as_host(self, name: str) -> bool:
        """Return whether *name* is a registered host plugin (registered without permissions: runs as its caller)."""
        return self._name2plugin.get(name) is not None and name not in self._permissions

    def add_hookspecs(self, module_or_class: Any) -> None:
        """Add hook specifications (see :meth:`pluggy.PluginManager.add_hookspecs`).

        Implementations registered earlier whose plugin lacks a newly required permission are
        removed and reported.

        Raises:
            ValueError: no specification was found, or a hook already has one.
            pluggy.PluginValidationError: an earlier implementation does not match its new
                specification.
        """
        before = {name: hook.spec for name, hook in vars(self.hook).items() if isinstance(hook, pluggy.HookCaller)}
        try:
            super().add_hookspecs(module_or_class)
        finally:
            self._adopt_hook_callers()
        for hook_name, hook in vars(self.hook).items():
            if not isinstance(hook, SecureHookCaller) or hook.spec is None or before.get(hook_name) is hook.spec:
                continue
            threshold = self._threshold_for(hook.extras)
            for hookimpl in hook.get_hookimpls():
                if not self._admit(hook, hookimpl, recheck=True):
                    hook._remove_hookimpl(hookimpl)
                    continue
                entry = self._entries.get(hookimpl)
                if entry is not None and entry[3] is not None:
                    entry[3].threshold = threshold
            hook.invalidate()

    def _adopt_hook_callers(self) -> None:
        """Turn the plain hook callers that pluggy just created into securehost ones."""
        for hook_name, hook in list(vars(self.hook).items()):
            if type(hook) is pluggy.HookCaller:
                adopted = SecureHookCaller.adopt(hook, self)
                setattr(self.hook, hook_name, adopted)
                for hookimpl in adopted.get_hookimpls():
                    if not self._admit(adopted, hookimpl):
                        adopted._remove_hookimpl(hookimpl)

    def record_distribution(self, plugin: object, metadata_dir: str) -> None:
        """Record that *plugin* comes from the distribution installed at *metadata_dir* (its ``.dist-info``).

        :meth:`list_plugin_distinfo` (and ``list_plugin_distributions``) return it as pluggy's loader would; the
        :class:`importlib.metadata.PathDistribution` is made when they are first called, so a start-up does not
        import :mod:`importlib.metadata`.
        """
        self._distinfo_pending.append((plugin, metadata_dir))

    def _materialize_distinfo(self) -> None:
        if self._distinfo_pending:
            import importlib.metadata  # noqa: PLC0415 - see record_distribution
            import pathlib  # noqa: PLC0415

            pending, self._distinfo_pending[:] = list(self._distinfo_pending), []
            self._plugin_distinfo.extend(
                (plugin, importlib.metadata.PathDistribution(pathlib.Path(path))) for plugin, path in pending
            )

    def list_plugin_distinfo(self) -> Any:
        """Return ``(plugin, distinfo)`` pairs of the plugins loaded from distributions, as pluggy does."""
        self._materialize_distinfo()
        return super().list_plugin_distinfo()

    def list_plugin_distributions(self) -> Any:
        """Return ``(plugin, importlib.metadata.Distribution)`` pairs, as pluggy (1.6 and later) does.

        Raises:
            AttributeError: the installed pluggy predates ``list_plugin_distributions``.
        """
        self._materialize_distinfo()
        parent = getattr(super(), "list_plugin_distributions", None)
        if parent is None:
            raise AttributeError("list_plugin_distributions needs pluggy 1.6 or later; use list_plugin_distinfo")
        return parent()

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        """Unregister a plugin and its implementations (see pluggy's ``unregister``)."""
        if name is None and plugin is not None:
            name = self.get_name(plugin)
        removed = super().unregister(plugin=plugin, name=name)
        if removed is not None:
            self._plugin_distinfo[:] = [pair for pair in self._plugin_distinfo if pair[0] is not removed]
            self._distinfo_pending[:] = [pair for pair in self._distinfo_pending if pair[0] is not removed]
            for impl in [i for i in self._entries if i.plugin is removed]:
                del self._entries[impl]
            self._refused = {i for i in self._refused if i.plugin is not removed}
            if name is not None:
                self._permissions.pop(name, None)
                self._configs.pop(name, None)
                self._skipped = [s for s in self._skipped if s.plugin != name]
        return removed

    def _admit(self, hook: SecureHookCaller, hookimpl: HookImpl, *, recheck: bool = False) -> bool:
        """Decide (once, again on *recheck*) whether *hookimpl* may join *hook*."""
        if self._name2plugin.get(hookimpl.plugin_name) is not hookimpl.plugin:
            return True  # a bare HookImpl added by host code: runs as its caller
        if not recheck:
            if hookimpl in self._entries:
                return True
            if hookimpl in self._refused:
                return False
        if not self._permitted(hook, hookimpl):
            self._entries.pop(hookimpl, None)
            self._refused.add(hookimpl)
            return False
        if hookimpl not in self._entries:
            self._attach(hook, hookimpl)
        return True

    def _permitted(self, hook: SecureHookCaller, hookimpl: HookImpl) -> bool:
        required = hook.extras.requires
        granted = self._permissions.get(hookimpl.plugin_name)
        if not required or granted is None:  # a host plugin runs as the host
            return True
        missing = granted.missing(required)
        if not missing:
            return True
        skipped: type[SkippedImpl] = import_as_host("securehost._dispatch.skipped").SkippedImpl  # defined on first use
        self._skipped.append(skipped(plugin=hookimpl.plugin_name, hook=hook.name, missing=missing))
        self._audit.emit(
            "hook.impl_skipped",
            plugin=hookimpl.plugin_name,
            hook=hook.name,
            missing=list(missing.strings()),
        )
        return False

    def _attach(self, hook: SecureHookCaller, hookimpl: HookImpl) -> None:
        plugin_name = hookimpl.plugin_name
        context = PluginContext(
            plugin=plugin_name,
            hook=hook.name,
            permissions=self._permissions.get(plugin_name, NO_PERMISSIONS),
            cell=self._stats.cell(plugin_name, hook.name),
            audit=self._audit,
            threshold=self._threshold_for(hook.extras),
            on_trip=self._trip,
            config=self._configs.get(plugin_name),
            as_caller=plugin_name not in self._permissions,
        )
        self._entries[hookimpl] = make_entry(hookimpl, context)

    # --- what hook callers ask -------------------------------------------------------------------

    def _entry_for(self, impl: HookImpl) -> Entry | None:
        entry = self._entries.get(impl)
        if entry is None:
            return make_entry(impl, None)  # not registered through us: runs with its caller's identity
        context = entry[3]
        return None if context is not None and context.quarantined else entry

    def _isolate_for(self, extras: SpecExtras) -> bool:
        return self._isolate if extras.isolate is None else extras.isolate

    def _threshold_for(self, extras: SpecExtras) -> int | None:
        value = self._quarantine_after if extras.quarantine_after is None else extras.quarantine_after
        return value or None

    def _secure_multicall(
        self,
        hook_name: str,
        hook_impls: Sequence[HookImpl],
        caller_kwargs: Mapping[str, object],
        firstresult: bool,
    ) -> object | list[object]:
        """The manager's ``_inner_hookexec``: pluggy's generic path, instrumented."""
        __tracebackhide__ = True
        hook: SecureHookCaller | None = getattr(self.hook, hook_name, None)
        isolate = self._isolate_for(hook.extras) if isinstance(hook, SecureHookCaller) else self._isolate
        entries = [e for e in map(self._entry_for, reversed(hook_impls)) if e is not None]
        result: object | list[object] = call_general(hook_name, entries, caller_kwargs, firstresult, isolate)
        return result

    # --- permissions, counters, quarantine -------------------------------------------------------

    def get_permissions(self, name: str) -> PermissionSet | None:
        """Return the effective permissions of the guarded plugin *name* (``None``: a host plugin, or unknown)."""
        return self._permissions.get(name)

    def skipped_impls(self) -> tuple[SkippedImpl, ...]:
        """Return the implementations left out because their plugin lacks a required permission."""
        return tuple(self._skipped)

    @contextlib.contextmanager
    def plugin_context(
        self,
        plugin: str,
        permissions: PermissionSet,
        *,
        hook: str = "<import>",
        config: Mapping[str, Any] | None = None,
    ) -> Iterator[None]:
        """Run the body as *plugin* with *permissions* (the host imports plugin code this way).

        Denials inside the body are counted for (*plugin*, *hook*) and audited like denials in hook calls.
        """
        context = PluginContext(
            plugin=plugin,
            hook=hook,
            permissions=permissions,
            cell=self._stats.cell(plugin, hook),
            audit=self._audit,
            config=config,
        )
        token = CURRENT.set(context)
        try:
            yield
        finally:
            CURRENT.reset(token)

    def stats_cell(self, plugin: str, hook: str) -> Cell:
        """Return the counters of (*plugin*, *hook*), created on first use (for calls made outside a hook call)."""
        return self._stats.cell(plugin, hook)

    def stats(self) -> StatsSnapshot:
        """Return the counters of every (plugin, hook) pair that was called, failed or denied."""
        snapshot: StatsSnapshot = import_as_host("securehost._dispatch.snapshot").take(self._stats)
        return snapshot

    def reset_stats(self, plugin: str | None = None, hook: str | None = None) -> None:
        """Zero the counters of the matching (plugin, hook) pairs (``None`` matches every name)."""
        self._stats.reset(plugin, hook)

    def _contexts(self, plugin: str, hook: str) -> list[PluginContext]:
        return [
            e[3] for i, e in self._entries.items() if e[3] is not None and e[3].plugin == plugin and e[3].hook == hook
        ]

    def _trip(self, context: PluginContext) -> None:
        with self._trip_lock:
            if context.quarantined:
                return
            context.quarantined = True
        self._invalidate(context.hook)
        self._audit.emit("hook.quarantined", plugin=context.plugin, hook=context.hook, after=context.threshold)

    def quarantine(self, plugin: str, hook: str) -> bool:
        """Take *plugin*'s implementation of *hook* out of every call (``False``: none taken)."""
        changed = False
        for context in self._contexts(plugin, hook):
            with self._trip_lock:
                changed = changed or not context.quarantined
                context.quarantined = True
        if changed:
            self._invalidate(hook)
            self._audit.emit("hook.quarantined", plugin=plugin, hook=hook, after=None)
        return changed

    def restore(self, plugin: str, hook: str) -> bool:
        """Put a quarantined implementation back; return ``False`` if it was not quarantined."""
        changed = False
        for context in self._contexts(plugin, hook):
            with self._trip_lock:
                changed = changed or context.quarantined
                context.quarantined = False
            context._cell.clear_streak()
        if changed:
            self._invalidate(hook)
            self._audit.emit("hook.restored", plugin=plugin, hook=hook)
        return changed

    def quarantined(self) -> tuple[tuple[str, str], ...]:
        """Return the quarantined (plugin, hook) pairs, sorted."""
        return tuple(sorted({(e[3].plugin, e[3].hook) for e in self._entries.values() if e[3] and e[3].quarantined}))

    def _invalidate(self, hook_name: str) -> None:
        hook = getattr(self.hook, hook_name, None)
        if isinstance(hook, SecureHookCaller):
            hook.invalidate()
