"""The Host: discover → verify → import verified bytes → register, one plugin at a time, never all-or-nothing.

For each distribution that exposes entry points in the host's group, and **before importing anything of it**, the
host reads the DSSE envelope from its ``.dist-info``, verifies it against the trust store, re-hashes every installed
file the statement lists and walks the plugin's package directories for unsigned files, checks that its entry points
target its own signed modules, refuses rollbacks and statements that expired, and holds back plugins that ask for
permissions the host has not granted. Only then are its modules imported — from the bytes that were hashed — and its
entry points registered with a :class:`~securehost.SecurePluginManager`. Every decision is an audit event.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, final

import pluggy

from securehost._audit import AuditLog
from securehost._dispatch.hookattrs import add_inert_types
from securehost._dispatch.manager import SecurePluginManager
from securehost._host.arguments import check_host_arguments
from securehost._host.judge import Judge, parse_pins
from securehost._host.notes import BeforeLoadRelay
from securehost._host.pipeline import LoadPipeline
from securehost._host.report import LoadReport, PluginReport
from securehost._host.state import HostState
from securehost._host.support import default_state_root, parse_grants
from securehost._installed.dependencies import DependencyPolicy
from securehost._installed.depgate import make_gate
from securehost._installed.discovery import DiscoveryCache, discover
from securehost._installed.entries import VerifiedSpec
from securehost._installed.filerecord import FileRecord
from securehost._installed.importer import VerifiedImporter
from securehost._isolation.choice import parse_isolation
from securehost._log import LazyLogger
from securehost._names import canonicalize_name
from securehost._orchestrator.config import canonical, load_config_file
from securehost._orchestrator.lifecycle import lifecycle_spec
from securehost._orchestrator.runner import Orchestra
from securehost._signing.memo import SignatureMemo
from securehost._trust.memo import TrustStoreMemo
from securehost._trust.store import TrustStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from securehost._isolation.policy import ProcessIsolation
    from securehost._isolation.supervisor import WorkerPool
    from securehost._orchestrator.health import HealthReport
    from securehost._orchestrator.select import CapabilityRelay

__all__ = ["Host"]

_logger = LazyLogger("securehost.host")

# every module the verified importer loads carries these as __loader__ and __spec__: registering a plugin module
# need not ask pluggy about them (securehost._dispatch.hookattrs)
add_inert_types(VerifiedImporter, VerifiedSpec)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@final
class Host(LoadPipeline):
    """A plugin host for one entry-point group.

    Args:
        project: the host's project name (pluggy's project name for its markers).
        group: the entry-point group plugins register under.
        trust_store: a :class:`TrustStore` or the path of a trust-store TOML file.
        hookspecs: a module or class (or a sequence of them) with the host's hook specifications.
        grants: the permissions the host gives, by canonical distribution-name glob (``{"acme-*": ["db.write"]}``).
            A plugin that requests a permission no matching grant covers is held back.
        path: where to look for plugins (default: :data:`sys.path` at load time).
        state_dir: where rollback state and the bytecode cache live (default: ``$XDG_STATE_HOME/securehost/<project>``).
        pins: distribution name → version that is accepted even if a higher version was accepted before (a
            deliberate downgrade).
        dependency_policy: what plugin code may import (default: ``"signed"`` mode, with ``pluggy`` allowed); in
            every mode the host's distribution and its installed requirement closure are allowed too (unless the
            policy says ``host_dependencies=False``), and each plugin's approved dependencies.
        host_distribution: the host's own distribution name(s), extras allowed (``"demoapp[web]"``), whose installed
            requirement closure plugins may import (default: the distribution named like *project*; if none is
            installed, only the standard library, ``pluggy`` and the policy's lists are allowed).
        dependency_approvals: the operator's dependency approvals file, written by ``securehost deps approve``
            (default: ``dependency-approvals.json`` in the state directory).
        audit: an :class:`AuditLog`; default one that logs to ``securehost.audit`` and, with *audit_sink*, to a file.
        audit_sink: path of an append-only JSON-lines audit file (ignored when *audit* is given).
        max_statement_age: reject statements issued longer ago than this (freeze protection), if given.
        isolate: isolate hook errors by default (see :class:`SecurePluginManager`).
        quarantine_after: consecutive failures that quarantine an implementation (``None``: never).
        guard: install the runtime permission guard (``False`` is insecure: every :meth:`load` logs a warning).
        isolation: where plugins run: ``"in-process"`` (default), ``"process"`` (a worker confined by the operating
            system, with :class:`WorkerLimits` defaults), a :class:`ProcessIsolation` (limits, required protections),
            or a mapping of canonical distribution-name globs to one of these (the first matching glob wins; a name
            no glob matches runs in-process).
        clock: returns the current UTC time (for tests).
        discovery_cache: reuse entry-point scans across loads.
        config: each plugin's configuration values, by distribution name; they overlay *config_file*, which
            overlays the plugin's signed defaults. A plugin whose result fails its signed schema is held back.
        config_file: a TOML file with one table of configuration values per distribution name.
        lifecycle_timeout: seconds each ``securehost_start``, ``securehost_stop`` and ``securehost_health`` call may
            take (see :doc:`/plugin-authors`).
        paranoid: read and hash every installed file, and compile and compare every ``__pycache__`` file, on every
            load. By default the host keeps a record of what it verified (``installed.record`` in the state
            directory, HMAC-protected) and only re-checks files whose ``lstat`` identity (device, inode, size, mtime,
            ctime) changed; see :doc:`/threat-model` for what that trusts.
        refuse_bytecode: reject a plugin with any ``__pycache__`` file in its packages, even one that is exactly the
            compiled signed source (install plugins with ``--no-compile``).
        unsafe_unsigned: **insecure, for developing a plugin**: exact distribution names that are loaded although
            they are unsigned or editable installs, with the permissions granted to them (see
            :mod:`securehost._host.devmode` and :doc:`/host`). Every load warns.

    Raises:
        TypeError: an argument has the wrong type (``path="site"`` instead of ``path=["site"]``, a list for
            ``grants``, ...); the message names the argument and what to pass.
        TrustStoreError: the trust-store file is malformed.
        PermissionFormatError: a granted permission is malformed.
        ConfigurationError: the state directory or the audit sink is unusable, a pinned version is invalid, or
            the configuration file cannot be read.
    """

    def __init__(
        self,
        *,
        project: str,
        group: str,
        trust_store: TrustStore | str | os.PathLike[str],
        hookspecs: object | Sequence[object] | None = None,
        grants: Mapping[str, Iterable[str]] | None = None,
        path: Sequence[str | os.PathLike[str]] | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        pins: Mapping[str, str] | None = None,
        dependency_policy: DependencyPolicy | None = None,
        host_distribution: str | Sequence[str] | None = None,
        dependency_approvals: str | os.PathLike[str] | None = None,
        audit: AuditLog | None = None,
        audit_sink: str | os.PathLike[str] | None = None,
        max_statement_age: dt.timedelta | None = None,
        isolate: bool = False,
        quarantine_after: int | None = None,
        guard: bool = True,
        clock: Callable[[], dt.datetime] | None = None,
        discovery_cache: DiscoveryCache | None = None,
        isolation: str | ProcessIsolation | Mapping[str, str | ProcessIsolation] = "in-process",
        config: Mapping[str, Mapping[str, Any]] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        lifecycle_timeout: float = 10.0,
        paranoid: bool = False,
        refuse_bytecode: bool = False,
        unsafe_unsigned: Iterable[str] | None = None,
    ) -> None:
        check_host_arguments(locals())
        self.project = project
        self.group = group
        self._grants = parse_grants(grants)
        self._isolation = parse_isolation(isolation)
        self._pools: dict[str, WorkerPool] = {}
        self._zygotes = None  # fork servers for isolated plugins' workers: made with the first isolated plugin
        self._probed: dict[str, Any] = {}  # what the kernel provides workers, probed once by check()
        self.path = None if path is None else tuple(os.fspath(p) for p in path)
        base = Path(state_dir) if state_dir is not None else default_state_root() / canonicalize_name(project)
        self.state_dir = base
        self._state = HostState(base)
        pinned = parse_pins(pins)
        self._owns_audit = audit is None  # a log the caller passed in may be shared: closing it is the caller's job
        self.audit = audit if audit is not None else AuditLog(Path(audit_sink) if audit_sink is not None else None)
        self.importer = VerifiedImporter(
            base / "bytecode", base / "bytecode.key", self.audit, extension_dir=base / "ext"
        )
        self._memo = SignatureMemo(base / "signatures.memo", self.importer.derive_key(b"signature memo"), self.audit)
        # the store is read here, once the state key exists: its parts are remembered (securehost._trust.memo)
        self._trust_memo: TrustStoreMemo | None = None
        if isinstance(trust_store, TrustStore):
            self.store = trust_store
        else:
            key = self.importer.derive_key(b"trust store")
            self._trust_memo = TrustStoreMemo(base / "trust-store.memo", key, self.audit)
            self.store = self._trust_memo.load(trust_store)
        self._files = (
            None
            if paranoid
            else FileRecord(base / "installed.record", self.importer.derive_key(b"installed file record"), self.audit)
        )
        # a cache of its own keeps its scans in the file record too: the next start-up finds them there
        self._cache = discovery_cache if discovery_cache is not None else DiscoveryCache(record=self._files)
        self._deps = make_gate(
            project=project,
            host_distribution=host_distribution,
            policy=dependency_policy,
            approvals_file=Path(dependency_approvals or base / "dependency-approvals.json"),
            files=self._files,
            audit=self.audit,
            search_path=self.path,
            cache=self._cache,
        )
        self.importer.policy, self.importer.allowance = self._deps.policy, self._deps
        self._judge = Judge(
            group=group,
            store=self.store,
            memo=self._memo,
            files=self._files,
            refuse_bytecode=refuse_bytecode,
            deps=self._deps,
            importer=self.importer,
            state=self._state,
            pins=pinned,
            max_age=max_statement_age,
            grants=self._grants,
        )
        self._unsafe_unsigned: frozenset[str] = frozenset()
        if unsafe_unsigned is not None:  # the development mode's module is imported only when it is asked for
            from securehost._host.devmode import parse_unsafe_unsigned  # noqa: PLC0415

            self._unsafe_unsigned = parse_unsafe_unsigned(unsafe_unsigned)
        self.manager = SecurePluginManager(
            project, audit=self.audit, isolate=isolate, quarantine_after=quarantine_after, guard=guard
        )
        for spec in hookspecs if isinstance(hookspecs, (list, tuple)) else ([hookspecs] if hookspecs else []):
            self.manager.add_hookspecs(spec)
        self.manager.add_hookspecs(lifecycle_spec(project))
        self._config = {canonical(name): dict(values) for name, values in (config or {}).items()}
        self._config_file = load_config_file(config_file) if config_file is not None else {}
        self._orchestra = Orchestra(self.manager, self.audit, timeout=lifecycle_timeout)
        self._guard = guard
        self._clock = clock or _utcnow
        self._lock = threading.RLock()
        self._loaded: dict[str, PluginReport] = {}
        self._claims: dict[str, str] = {}  # plugin names taken by plugins verified in this check()
        self._holders: dict[str, str] = {}  # plugin name -> the loaded distribution that registered it
        self._has_loaded = False
        self._warned_hooks: set[str] = set()  # hooks used before the first load (warned once each)

    # --- public API ---------------------------------------------------------------------------------------------

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hook relay: ``host.hook.name(**kwargs)`` (before the first :meth:`load`, each hook used warns once)."""
        if self._has_loaded:
            return self.manager.hook
        return cast(
            "pluggy.HookRelay", BeforeLoadRelay(self.manager.hook, lambda: self._has_loaded, self._warned_hooks)
        )

    @property
    def ahook(self) -> Any:
        """The async hook relay: ``await host.ahook.name(**kwargs)``."""
        return self.manager.ahook

    @property
    def plugins(self) -> Mapping[str, PluginReport]:
        """Reports of the currently loaded plugins, by distribution name."""
        return dict(self._loaded)

    def select(self, capability: str) -> tuple[str, ...]:
        """Return the started plugins (distribution names, sorted) that offer *capability*.

        *capability* may also be a pattern (``data.*``, ``*``).

        Raises:
            CapabilityFormatError: *capability* is neither a capability nor a pattern.
        """
        return self._orchestra.select(capability)

    def hook_for(self, capability: str) -> CapabilityRelay:
        """Return a hook relay restricted to the plugins of :meth:`select`: ``host.hook_for(cap).name(**kwargs)``.

        Calls have the same permission checks, counters, quarantine and isolation as :attr:`hook`.

        Raises:
            CapabilityFormatError: *capability* is neither a capability nor a pattern.
        """
        return self._orchestra.relay(capability)

    def health(self) -> HealthReport:
        """Return one :class:`PluginHealth` per loaded plugin (its health hook is called, with the deadline)."""
        with self._lock:
            return self._orchestra.health()

    def load(self) -> LoadReport:
        """Discover, verify, import and register every plugin of the group; one bad plugin never stops the others.

        Plugins already loaded are reported as they are and not verified again (use :meth:`reload`), unless their
        installation changed since (another ``.dist-info`` directory, or discovery now finds something against it,
        such as a second copy): then they are unloaded and judged again.

        Returns:
            One report per candidate distribution.

        Raises:
            ConfigurationError: the state file cannot be written (the versions accepted by this load are not
                recorded, so rollback protection would not know them). The plugins the load accepted stay loaded
                (:attr:`plugins` lists them), and the next load tries to write the file again. The other files of
                the state directory (memos, the file record, the bytecode cache) only save work: one that cannot be
                written is a ``state-unwritable`` note in the report.
        """
        if not self._guard:
            _logger.warning(
                "securehost: loading plugins of %s with the runtime permission guard off (guard=False): "
                "hook requirements still apply, but file, network and process use is not checked",
                self.project,
            )
        if self._unsafe_unsigned:
            _logger.warning(
                "securehost: loading plugins of %s with unsafe_unsigned=%s: these load UNSIGNED if installed so, "
                "for plugin development only",
                self.project,
                sorted(self._unsafe_unsigned),
            )
        self._has_loaded = True
        return self._run(import_plugins=True)

    def check(self) -> LoadReport:
        """Verify every plugin of the group like :meth:`load` does, without importing or registering anything."""
        return self._run(import_plugins=False)

    def unload(self, name: str) -> bool:
        """Unregister a loaded plugin and forget its modules; return whether it was loaded."""
        canonical = canonicalize_name(name)
        with self._lock:
            report = self._loaded.get(canonical)
            if report is None:
                return False
            self._orchestra.stop(canonical)
            self._drop(canonical, report)
            self.audit.emit("plugin.unloaded", plugin=canonical, version=report.version)
            return True

    def _drop(self, canonical: str, report: PluginReport) -> None:
        with self._lock:
            self._loaded.pop(canonical, None)
            self._orchestra.members.pop(canonical, None)
            for plugin_name in report.plugins:
                self.manager.unregister(name=plugin_name)
                if self._holders.get(plugin_name) == canonical:
                    del self._holders[plugin_name]
            pool = self._pools.pop(canonical, None)
            if pool is not None:
                pool.close()
            self.importer.remove_distribution(canonical)

    def reload(self, name: str) -> PluginReport:
        """Unload *name* if loaded, then discover, verify and load it again.

        Raises:
            KeyError: no distribution of that name exposes entry points in the group.
        """
        canonical = canonicalize_name(name)
        with self._lock, self.importer.batch():
            self.unload(canonical)
            self._judge.begin()
            self._deps.begin()
            for dist in discover(self.group, self.path, cache=self._cache).distributions:
                if dist.name == canonical:
                    report = self._process(dist, self._clock(), import_plugins=True)
                    self._save_memos()
                    return self._start([report], {dist.name: dist})[0]
        raise KeyError(f"no distribution {canonical!r} in entry-point group {self.group!r}")

    def disable(self, name: str) -> None:
        """Disable *name* (persistently) and unload it if loaded."""
        canonical = canonicalize_name(name)
        with self._lock:
            self._state.set_disabled(canonical, True)
            self.unload(canonical)
            self.audit.emit("plugin.disabled", plugin=canonical)

    def enable(self, name: str) -> None:
        """Enable *name* again (persistently); it is loaded by the next :meth:`load` or :meth:`reload`."""
        canonical = canonicalize_name(name)
        with self._lock:
            self._state.set_disabled(canonical, False)
            self.audit.emit("plugin.enabled", plugin=canonical)

    def implementations(self, hook_name: str) -> list[str]:
        """Return the names of the plugins that implement *hook_name*, in call order (first called first)."""
        caller = getattr(self.manager.hook, hook_name, None)
        if caller is None:
            return []
        return [impl.plugin_name for impl in reversed(caller.get_hookimpls())]

    def close(self) -> None:
        """Unload every plugin, remove the importer from :data:`sys.meta_path` and close the audit sink it opened.

        An :class:`AuditLog` passed in as *audit* stays open: it may be shared, and closing it is the caller's job.
        """
        with self._lock:
            self._orchestra.stop_all()  # dependents first
            for name in list(self._loaded):
                self.unload(name)
            if self._zygotes is not None:
                self._zygotes.close()
            self.importer.uninstall()
            if self._owns_audit:
                self.audit.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
