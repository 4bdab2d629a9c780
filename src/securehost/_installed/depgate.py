"""The host's dependency gate: one plugin's every missing dependency, found before anything of it runs, with the fix.

:class:`DependencyGate` joins the three sources of what a plugin may import and require — the host's
:class:`~securehost._installed.dependencies.DependencyPolicy`, the host's installed requirement closure
(:class:`~securehost._installed.closure.HostClosure`) and the operator's approvals for that plugin
(:mod:`securehost._installed.approvals`) — and is the importer's
:class:`~securehost._installed.dependencies.Allowance`, so the import-time checks and :meth:`DependencyGate.reasons`
agree.

:meth:`DependencyGate.reasons` is what ``Host.load()`` and ``Host.check()`` (and ``securehost list``) both run for
each verified plugin: every ``Requires-Dist`` and every ``import`` statement of every verified source module of the
plugin (read from the verified bytes, compiled, never executed), each one that is not allowed a
``DEPENDENCY_NOT_ALLOWED`` reason, plus a ``DEPENDENCY_MODIFIED`` reason for each file of an approved distribution
that changed. Each ``DEPENDENCY_NOT_ALLOWED`` message names the distribution that provides the module (looked up
only then) and the one command that approves all of the plugin's missing distributions at once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING, Final, final

from securehost._installed.approvals import DependencyApprovals, check_approved
from securehost._installed.closure import find_distribution, module_providers
from securehost._installed.dependencies import DependencyPolicy, resolve_import
from securehost._installed.modules import ModuleKind
from securehost._log import LazyLogger
from securehost._verdict import Reason, ReasonCode
from securehost.exceptions import VerificationImportError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    from securehost._audit import AuditLog
    from securehost._installed.closure import HostClosure
    from securehost._installed.dependencies import StaticImport
    from securehost._installed.discovery import DiscoveryCache
    from securehost._installed.filerecord import FileRecord
    from securehost._installed.modules import VerifiedModule

__all__ = ["DependencyGate", "make_gate"]

_logger = LazyLogger("securehost.host")
_R: Final = ReasonCode


@final
class DependencyGate:
    """What each plugin may import and require, and the reasons against a plugin, with the fix.

    Args:
        policy: the host's dependency policy.
        closure: the host's requirement closure (``None``: the policy has ``host_dependencies=False``).
        approvals_file: the operator's dependency approvals (read at every load; missing means none).
        files: the host's file record for re-checking approved files (``None``: hash every file).
        audit: where reported (``"report"`` mode) dependencies go.
        search_path: the plugin search path, for naming the distribution that provides a module.

    Raises:
        ConfigurationError: the approvals file is malformed.
    """

    def __init__(
        self,
        *,
        policy: DependencyPolicy,
        closure: HostClosure | None,
        approvals_file: Path,
        files: FileRecord | None,
        audit: AuditLog,
        search_path: Sequence[str] | None,
    ) -> None:
        self.policy = policy
        self.closure = closure
        self.approvals_file = approvals_file
        self._files = files
        self._audit = audit
        self._search = search_path
        self._lock = threading.Lock()
        self._approvals = DependencyApprovals.load(approvals_file)
        self._checked: dict[str, list[Reason]] = {}
        self._verified: dict[str, frozenset[str]] = {}
        self._warned = False

    # --- the importer's allowance ------------------------------------------------------------------------------

    def distributions_for(self, plugin: str) -> Collection[str]:
        """Canonical distribution names *plugin* may require: the host's closure and the plugin's approvals.

        The closure is computed only when a name is looked up that the approvals do not hold.
        """
        return _Names(self._approvals.plugins.get(plugin, frozenset()), self.closure)

    def module_allowed_for(self, plugin: str, fullname: str) -> bool:
        """Whether *plugin* may import *fullname* by the host's closure or the plugin's approvals."""
        if self.closure is not None and self.closure.module_owner(fullname) is not None:
            return True
        parts = fullname.split(".")
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        return any(not prefixes.isdisjoint(d.modules) for d in self._approvals.for_plugin(plugin))

    # --- one load ----------------------------------------------------------------------------------------------

    def begin(self) -> None:
        """Start a load: read the approvals file again and forget which approved distributions were checked.

        Raises:
            ConfigurationError: the approvals file is malformed.
        """
        with self._lock:
            self._approvals = DependencyApprovals.load(self.approvals_file)
            self._checked = {}
            self._verified = {}

    def note_verified(self, plugin: str, modules: Collection[str]) -> None:
        """Record a plugin that :meth:`Host.check` found verified: in ``"signed"`` mode later plugins may import it."""
        self._verified[plugin] = frozenset(modules)

    def effective_policy(self, plugin: str) -> DependencyPolicy:
        """The policy with *plugin*'s closure and approvals spelt out (for an isolated worker's importer)."""
        modules = set(self.policy.allowed_modules)
        if self.closure is not None:
            modules.update(self.closure.compute().modules)
        for approved in self._approvals.for_plugin(plugin):
            modules.update(approved.modules)
        distributions = self.policy.allowed_distributions | set(self.distributions_for(plugin))
        return DependencyPolicy(
            mode=self.policy.mode,
            allowed_modules=modules,
            allowed_distributions=distributions,
            host_dependencies=False,
        )

    def approval_reasons(self, plugin: str) -> list[Reason]:
        """Re-check the files of every distribution approved for *plugin* (each distribution once per load)."""
        reasons: list[Reason] = []
        for approved in self._approvals.for_plugin(plugin):
            with self._lock:
                found = self._checked.get(approved.name)
                if found is None:
                    found = self._checked[approved.name] = check_approved(approved, self._files)
            reasons.extend(found)
        return reasons

    def reasons(
        self,
        plugin: str,
        modules: Mapping[str, VerifiedModule],
        requires: Sequence[str],
        *,
        imports_of: Callable[[str, VerifiedModule], tuple[StaticImport, ...]],
        verified_modules: Collection[str],
        verified_distributions: Collection[str],
    ) -> list[Reason]:
        """Return every reason against *plugin*'s dependencies: approvals that changed, requirements, imports.

        In ``"report"`` mode the requirements and imports that are not allowed are audit events, not reasons.

        Args:
            plugin: the canonical plugin name.
            modules: its verified module table.
            requires: its ``Requires-Dist`` lines.
            imports_of: returns the ``import`` statements of one verified source module (from the verified bytes).
            verified_modules: the module names of the other verified plugins (``"signed"`` mode allows them).
            verified_distributions: their canonical names.
        """
        reasons = self.approval_reasons(plugin)
        allowed = self.distributions_for(plugin)
        if self._verified:
            verified_distributions = {*verified_distributions, *self._verified}
            verified_modules = {*verified_modules, *(m for mods in self._verified.values() for m in mods)}
        required = self.policy.check_requirements(requires, verified=verified_distributions, allowed=allowed)
        missing: dict[str, list[str]] = {}
        own = modules.keys()

        def host_allows(name: str) -> bool:
            return self.module_allowed_for(plugin, name)

        for fullname, module in sorted(modules.items()):
            if module.kind is not ModuleKind.SOURCE:
                continue  # namespace packages run nothing; extension modules cannot be read (see the docs)
            try:
                imports = imports_of(fullname, module)
            except (VerificationImportError, SyntaxError, ValueError, RecursionError, MemoryError):
                continue  # a changed file is already a reason; a module that does not compile fails at import
            package = fullname if module.is_package else fullname.rpartition(".")[0]
            for name, level, _ in imports:
                resolved = resolve_import(name, level, package)
                if resolved is None or resolved in missing:
                    if resolved is not None:
                        missing[resolved].append(fullname)
                    continue
                if not self.policy.module_allowed(resolved, own=own, verified=verified_modules, allowed=host_allows):
                    missing[resolved] = [fullname]
        if self.policy.mode == "report":
            for reason in required:
                self._audit.emit("import.dependency_reported", plugin=plugin, requirement=reason.subject)
            for module_name, importers in missing.items():
                self._audit.emit("import.dependency_reported", plugin=plugin, module=module_name, importer=importers[0])
            return reasons
        return reasons + self._explain(plugin, required, missing)

    def _explain(self, plugin: str, required: Sequence[Reason], missing: Mapping[str, list[str]]) -> list[Reason]:
        """Word the reasons: which distribution provides each module, and the one fix for all of them."""
        if not required and not missing:
            return []
        search = [*(self._search if self._search is not None else ()), *sys.path]
        providers = module_providers(missing, search) if missing else {}
        sites: dict[str, str] = {}
        # only the distributions not allowed: a line that does not parse is no distribution to install or approve
        wanted = sorted({str(r.subject) for r in required if r.code is _R.DEPENDENCY_NOT_ALLOWED})
        for name in wanted:
            dist = find_distribution(name, search)
            if dist is not None:
                sites[name] = str(dist.locate_file(""))
        for dist_name, _version, site in providers.values():
            sites.setdefault(dist_name, site)
        absent = [name for name in wanted if name not in sites]
        unprovided = sorted(m for m in missing if m not in providers)
        fix = self._fix(plugin, sites, absent, unprovided)
        out: list[Reason] = []
        for reason in required:
            if reason.code is not _R.DEPENDENCY_NOT_ALLOWED:
                out.append(reason)
                continue
            where = "installed" if reason.subject in sites else "not installed on the search path"
            message = f"requires {reason.subject} ({where}), {self._not_allowed()}. {fix}"
            out.append(Reason(code=_R.DEPENDENCY_NOT_ALLOWED, message=message, subject=reason.subject))
        for module_name, importers in missing.items():
            provider = providers.get(module_name)
            source = (
                f"from distribution {provider[0]} {provider[1]}"
                if provider is not None
                else "no installed distribution provides it"
            )
            others = f" (and {len(importers) - 1} more)" if len(importers) > 1 else ""
            message = f"{importers[0]}{others} imports {module_name} ({source}), {self._not_allowed()}. {fix}"
            out.append(Reason(code=_R.DEPENDENCY_NOT_ALLOWED, message=message, subject=module_name))
        return out

    def _not_allowed(self) -> str:
        text = f"which the {self.policy.mode!r} dependency policy does not allow"
        if self.closure is None:
            return text + " (host dependencies are off: host_dependencies=False)"
        closure = self.closure.compute()
        missing_roots = [r for r in closure.roots if not closure.has_distribution(r.partition("[")[0])]
        if missing_roots:
            if not self._warned:
                self._warned = True
                _logger.warning(
                    "securehost: the host distribution %s is not installed: plugins may import only the standard "
                    "library, pluggy and what the dependency policy lists (pass Host(host_distribution=...))",
                    ", ".join(missing_roots),
                )
            return text + (
                f"; note: the host distribution {', '.join(missing_roots)} is not installed, so its dependencies "
                "are not allowed either (pass Host(host_distribution=NAME))"
            )
        text += f": it is neither the host ({', '.join(closure.roots)}) nor one of its installed dependencies"
        if closure.truncated:
            text += f" (the host's closure was cut at {len(closure.distributions)} distributions)"
        return text

    def _fix(self, plugin: str, sites: Mapping[str, str], absent: Sequence[str], unprovided: Sequence[str]) -> str:
        """The one fix for all of *plugin*'s missing dependencies: the approval command, or the policy by name."""
        parts: list[str] = []
        if absent or unprovided:
            parts.append(f"install {', '.join([*absent, *(f'a distribution providing {m}' for m in unprovided)])}")
        if sites or absent:
            import shlex  # noqa: PLC0415 - only to explain a missing dependency, not on every start-up

            command = ["securehost", "deps", "approve", "--approvals", str(self.approvals_file), "--plugin", plugin]
            for site in sorted(set(sites.values())):
                command += ["--path", site]
            command += sorted({*sites, *absent})
            parts.append(f"approve with integrity: {shlex.join(command)}")
        names = sorted({*sites, *absent})
        by_name = [f"allowed_distributions={names!r}"] if names else []
        by_name += [f"allowed_modules={list(unprovided)!r}"] if unprovided else []
        parts.append(f"or allow by name, without integrity: DependencyPolicy({', '.join(by_name)})")
        return f"To allow every missing dependency of {plugin}: " + "; then ".join(parts[:-1]) + "; " + parts[-1]


@final
class _Names(Collection[str]):
    """Approved names, then the closure's, which is computed only if a lookup gets that far."""

    __slots__ = ("_approved", "_closure")

    def __init__(self, approved: frozenset[str], closure: HostClosure | None) -> None:
        self._approved = approved
        self._closure = closure

    def _all(self) -> frozenset[str]:
        closure = () if self._closure is None else self._closure.compute().distributions
        return self._approved | frozenset(closure)

    def __contains__(self, name: object) -> bool:
        if name in self._approved:
            return True
        return self._closure is not None and isinstance(name, str) and self._closure.has_distribution(name)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._all()))

    def __len__(self) -> int:
        return len(self._all())


def make_gate(
    *,
    project: str,
    host_distribution: str | Sequence[str] | None,
    policy: DependencyPolicy | None,
    approvals_file: Path,
    files: FileRecord | None,
    audit: AuditLog,
    search_path: Sequence[str] | None,
    cache: DiscoveryCache | None = None,
) -> DependencyGate:
    """Build the host's gate: its policy (default ``"signed"`` with ``pluggy``), closure and approvals.

    Raises:
        TypeError: *host_distribution* or *policy* has the wrong type.
        ConfigurationError: the approvals file is malformed.
    """
    if policy is None:
        policy = DependencyPolicy(allowed_modules=["pluggy"], allowed_distributions=["pluggy"])
    elif not isinstance(policy, DependencyPolicy):
        raise TypeError(f"dependency_policy must be a DependencyPolicy, not {type(policy).__name__}")
    if host_distribution is None:
        roots: tuple[str, ...] = (project,)
    elif isinstance(host_distribution, str):
        roots = (host_distribution,)
    elif isinstance(host_distribution, (list, tuple)) and all(isinstance(r, str) for r in host_distribution):
        roots = tuple(host_distribution)
    else:
        raise TypeError(f"host_distribution must be a name or a list of names, not {type(host_distribution).__name__}")
    from securehost._installed.closure import HostClosure  # noqa: PLC0415

    closure = HostClosure(roots, cache=cache) if policy.host_dependencies else None
    return DependencyGate(
        policy=policy,
        closure=closure,
        approvals_file=approvals_file,
        files=files,
        audit=audit,
        search_path=search_path,
    )
