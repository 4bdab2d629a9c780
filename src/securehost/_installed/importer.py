"""Import verified plugins from the verified bytes: a ``sys.meta_path`` finder that serves only registered modules.

:class:`VerifiedImporter` is a meta-path finder placed first on :data:`sys.meta_path`. It serves exactly the modules
of the distributions registered with :meth:`VerifiedImporter.add_distribution` (from the module table of
:func:`securehost._installed.distcheck.verify_installed`):

* source modules: the loader takes the code compiled from the verified SHA-256 from the HMAC-protected
  :class:`~securehost._installed.bytecode.BytecodeCache` (a hit reads no source), or else reads the file once,
  hashes those
  bytes, compares them with the verified SHA-256 (a mismatch raises
  :class:`~securehost.exceptions.VerificationImportError` and nothing runs) and compiles exactly those bytes; it
  checks the module's ``import`` statements against the
  :class:`~securehost._installed.dependencies.DependencyPolicy` and
  executes the code.
  ``__pycache__`` is never read; ``__cached__`` is not set, so nothing writes there either;
* extension modules: the verified bytes are written to a private 0700 directory of the host and that copy is loaded
  (then unlinked), so the bytes loaded are the bytes verified. ``__file__`` still names the installed file; an
  extension that finds libraries relative to itself (``$ORIGIN``) will not find them;
* namespace packages inside the distribution: empty modules, nothing to run;
* any other module below a registered name (a file dropped in after verification) is refused.

Imports that plugin code makes of other modules (not yet in :data:`sys.modules`) are checked against the dependency
policy when the finder sees them; an allowed one runs its top level as the host
(:mod:`securehost._installed.libimport`). :meth:`VerifiedImporter.remove_distribution` forgets a distribution and
removes its modules from :data:`sys.modules` (an extension module's shared library stays mapped: CPython cannot
unload it).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from securehost._context import run_as_host
from securehost._installed.bytecode import BytecodeCache, default_state_dir
from securehost._installed.dependencies import Allowance, DependencyPolicy, StaticImport, resolve_import
from securehost._installed.entries import Entry, make_spec, read_verified, stage_extension
from securehost._installed.libimport import library_spec
from securehost._installed.modules import ModuleKind, VerifiedModule
from securehost._installed.shadowing import ShadowCheck
from securehost._names import canonicalize_name
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost._wheel.entrypoints import parse_entry_point_value
from securehost.exceptions import (
    DependencyNotAllowedError,
    PluginRejectedError,
    VerificationImportError,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

    from securehost._audit import AuditLog

__all__ = ["VerifiedImporter"]

_MAX_MODULE: Final = 512 * 1024 * 1024
_IMPORTLIB_FILES: Final = (os.path.dirname(importlib.__file__), "<frozen importlib", __file__)


@final
class VerifiedImporter:
    """Serves registered verified modules from their verified bytes, and nothing else below their names.

    It is a meta path finder and a loader by protocol (``find_spec``, ``invalidate_caches``, ``create_module``,
    ``exec_module``, ``get_code``, ``get_source``, ``is_package``), not by deriving from :mod:`importlib.abc`, whose
    import costs a host's start-up about 4 ms.

    Args:
        cache_dir: the bytecode cache directory; default ``default_state_dir() / "bytecode"``
            (``$XDG_CACHE_HOME/securehost/bytecode``). The cache is integrity-protected, so it is always on.
        key_file: the HMAC key file of the cache; default ``cache_dir.parent / "bytecode.key"``.
        audit: where audit events go (tampered cache entries, failed verifications, reported dependencies).
        dependency_policy: what plugin code may import and require; default ``DependencyPolicy()`` (``"signed"``).
        extension_dir: the private directory for verified copies of extension modules; default
            ``cache_dir.parent / "extensions"``.
        allowance: what the host allows each plugin besides the policy's lists (the host's requirement closure,
            the plugin's approved dependencies), if anything.

    Raises:
        ConfigurationError: a directory or the key file is unsafe.
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        key_file: Path | None = None,
        audit: AuditLog | None = None,
        *,
        dependency_policy: DependencyPolicy | None = None,
        extension_dir: Path | None = None,
        allowance: Allowance | None = None,
    ) -> None:
        cache_dir = Path(cache_dir) if cache_dir is not None else default_state_dir() / "bytecode"
        key_file = Path(key_file) if key_file is not None else cache_dir.parent / "bytecode.key"
        self._cache = BytecodeCache(cache_dir, key_file, audit)
        self._extension_dir = Path(extension_dir) if extension_dir is not None else cache_dir.parent / "extensions"
        self._audit = audit
        self.policy = dependency_policy if dependency_policy is not None else DependencyPolicy()
        self.allowance = allowance
        self._lock = threading.RLock()
        self._entries: dict[str, Entry] = {}
        self._by_distribution: dict[str, frozenset[str]] = {}
        self._shadows = ShadowCheck(self)
        #: code that verified_imports read during a batch, for the import that follows: (sha256, path) -> code
        self._pending: dict[tuple[str, str], tuple[types.CodeType, tuple[StaticImport, ...]]] = {}
        self._batches = 0

    # --- registration ---------------------------------------------------------------------------------------

    def add_distribution(
        self, name: str, modules: Mapping[str, VerifiedModule], *, requires: Iterable[str] = ()
    ) -> None:
        """Register a verified distribution's modules.

        Args:
            name: the distribution name.
            modules: its verified module table (``InstalledDistribution.modules``).
            requires: its ``Requires-Dist`` lines, checked against the dependency policy.

        Raises:
            RuntimeError: a distribution of that name is already registered.
            PluginRejectedError: a module name is already served for another distribution or is a standard-library
                name, or (modes ``"signed"``
                and ``"allowlist"``) a requirement is not allowed.
        """
        canonical = canonicalize_name(name)
        with self._lock:
            if canonical in self._by_distribution:
                raise RuntimeError(f"distribution {canonical} is already registered")
            reasons = [
                Reason(code=ReasonCode.DISTRIBUTION_SHADOWED, message=f"module {m} is already served", subject=m)
                for m in modules
                if m in self._entries
            ]
            # the finder is first on sys.meta_path and serves its names to everyone (see
            # securehost._installed.shadowing)
            reasons.extend(self._shadows.reasons(modules))
            allowed = self.allowance.distributions_for(canonical) if self.allowance is not None else ()
            requirement_reasons = self.policy.check_requirements(
                requires, verified=self._by_distribution.keys(), allowed=allowed
            )
            if self.policy.mode == "report":
                for reason in requirement_reasons:
                    self._emit("import.dependency_reported", plugin=canonical, requirement=reason.subject)
            else:
                reasons.extend(requirement_reasons)
            if reasons:
                verdict = Verdict(subject=canonical, reasons=tuple(reasons), name=canonical)
                raise PluginRejectedError(f"{canonical} cannot be registered: {reasons[0]}", verdict=verdict)
            for fullname, module in modules.items():
                self._entries[fullname] = Entry(
                    canonical, fullname, module.path, module.sha256, module.is_package, module.kind
                )
            self._by_distribution[canonical] = frozenset(modules)

    def remove_distribution(self, name: str) -> None:
        """Forget a distribution and remove its modules from :data:`sys.modules` (no-op if unknown)."""
        canonical = canonicalize_name(name)
        with self._lock:
            names = self._by_distribution.pop(canonical, frozenset())
            for fullname in sorted(names, key=len, reverse=True):
                self._entries.pop(fullname, None)
                module = sys.modules.get(fullname)
                if module is not None and getattr(module.__spec__, "loader", None) is self:
                    del sys.modules[fullname]
                    parent_name, _, child = fullname.rpartition(".")
                    parent = sys.modules.get(parent_name) if parent_name else None
                    if parent is not None and getattr(parent, child, None) is module:
                        delattr(parent, child)

    def derive_key(self, label: bytes) -> bytes:
        """Return a key derived from the bytecode cache's private key for another use (*label*) of the state."""
        return self._cache.derive_key(label)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Within the block, :meth:`add_distribution` resolves each :data:`sys.path` entry once (one host load).

        Code read by :meth:`verified_imports` within the block is kept for the import that follows (one cache lookup
        per module, not two), and dropped when the outermost block ends.
        """
        with self._shadows.batch():
            self._batches += 1
            try:
                yield
            finally:
                self._batches -= 1
                if not self._batches:
                    self._pending.clear()

    def prune_cache(self) -> int | None:
        """Prune the bytecode cache if a day has passed since it was last pruned (see :class:`BytecodeCache`).

        Returns:
            How many unused entries were deleted, or ``None`` when no prune was due.
        """
        return self._cache.prune_if_due()

    def take_unwritten_cache(self) -> tuple[str, int, str] | None:
        """Return ``(cache directory, count, first error)`` of the entries not written since the last call, or None."""
        unwritten = self._cache.take_unwritten()
        return None if unwritten is None else (str(self._cache.directory), *unwritten)

    def seed_listings(self, listed: Mapping[str, frozenset[str]]) -> None:
        """Within a :meth:`batch`, let the shadowing check reuse directory listings made earlier in it.

        *listed* maps a path entry to the top-level names it holds (:attr:`Discovery.listed
        <securehost._installed.discovery.Discovery.listed>`). Outside a batch, this does nothing.
        """
        self._shadows.seed(listed)

    @property
    def distributions(self) -> tuple[str, ...]:
        """The registered distribution names, sorted."""
        return tuple(sorted(self._by_distribution))

    @property
    def distribution_names(self) -> Collection[str]:
        """The registered distribution names (a live view, for membership tests: a load asks once per plugin)."""
        return self._by_distribution.keys()

    @property
    def modules(self) -> Collection[str]:
        """The registered module names (a live view)."""
        return self._entries.keys()

    # --- meta path ------------------------------------------------------------------------------------------

    def install(self) -> None:
        """Put this finder first on :data:`sys.meta_path` (idempotent; moves it back to the front if needed)."""
        with self._lock:
            if not sys.meta_path or sys.meta_path[0] is not self:
                while self in sys.meta_path:
                    sys.meta_path.remove(self)
                sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        """Remove this finder from :data:`sys.meta_path` (idempotent)."""
        with self._lock:
            while self in sys.meta_path:
                sys.meta_path.remove(self)

    def load_entry_point(self, value: str) -> object:
        """Import the module of an entry point from verified bytes, and return the object it names.

        Args:
            value: ``module[:attr]`` of a registered distribution.

        Returns:
            The module, or the attribute named after ``:``.

        Raises:
            EntryPointFormatError: *value* is malformed.
            VerificationImportError: the module is not a registered verified module, one of its modules is already
                imported from elsewhere, a file changed after verification, or the attribute does not exist.
            DependencyNotAllowedError: the plugin imports something the dependency policy does not allow.
        """
        module_name, attr, _ = parse_entry_point_value(value)
        entry = self._entries.get(module_name)
        if entry is None or entry.kind is ModuleKind.NAMESPACE:
            raise VerificationImportError(f"{module_name} is not a module of a verified plugin", name=module_name)
        self.install()
        parts = module_name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            existing = sys.modules.get(prefix)
            if existing is not None and getattr(existing.__spec__, "loader", None) is not self:
                raise VerificationImportError(
                    f"{prefix} is already imported from elsewhere ({getattr(existing, '__file__', None)})", name=prefix
                )
        result: object = importlib.import_module(module_name)
        for part in attr.split(".") if attr else ():
            try:
                result = getattr(result, part)
            except AttributeError as exc:
                raise VerificationImportError(f"{value}: {module_name} has no attribute {attr}") from exc
        return result

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """Return a spec for a registered module, refuse unregistered modules below one, check dependencies.

        Raises:
            VerificationImportError: *fullname* is below a registered module but was not verified.
            DependencyNotAllowedError: plugin code imports a module that the policy does not allow.
        """
        entry = self._entries.get(fullname)
        if entry is not None:
            return make_spec(entry, self)
        parent = fullname.rpartition(".")[0]
        if parent and parent in self._entries:
            raise VerificationImportError(f"{fullname} is not part of the signed distribution", name=fullname)
        if self._entries:
            importer = self._importing_plugin()
            if importer is not None:
                self._check_import(importer, fullname, dynamic=True)
                if self._allowed(importer, fullname):  # the closure and approvals count, as for the check
                    return library_spec(self, fullname, path, target)  # its top level runs as the host
        return None

    def invalidate_caches(self) -> None:
        """Nothing to invalidate: the module table is explicit."""

    # --- loader ---------------------------------------------------------------------------------------------

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        """Create extension modules from a private verified copy; ``None`` (default creation) otherwise.

        Raises:
            VerificationImportError: the extension file changed after verification or cannot be copied.
        """
        entry = self._entries.get(spec.name)
        if entry is None or entry.kind is not ModuleKind.EXTENSION:
            return None
        copy = run_as_host(stage_extension, entry, self._extension_dir, self._audit)
        try:
            loader = importlib.machinery.ExtensionFileLoader(spec.name, copy)
            staged = importlib.machinery.ModuleSpec(spec.name, loader, origin=copy)
            return loader.create_module(staged)
        finally:
            run_as_host(os.unlink, copy)

    def exec_module(self, module: types.ModuleType) -> None:
        """Execute a verified module.

        Raises:
            VerificationImportError: the source changed after verification.
            DependencyNotAllowedError: an ``import`` statement in the module is not allowed by the policy.
        """
        entry = self._entries.get(module.__name__)
        if entry is None:
            raise VerificationImportError(f"{module.__name__} is no longer registered", name=module.__name__)
        if entry.kind is ModuleKind.NAMESPACE:
            return
        if entry.kind is ModuleKind.EXTENSION:
            importlib.machinery.ExtensionFileLoader(entry.name, entry.path).exec_module(module)
            return
        code, imports = self.get_verified_code(entry.name)
        package = entry.name if entry.is_package else entry.name.rpartition(".")[0]
        for name, level, _fromlist in imports:
            resolved = resolve_import(name, level, package)
            if resolved is not None:
                self._check_import(entry, resolved, dynamic=False)
        exec(code, module.__dict__)  # noqa: S102 - exactly the verified bytes, compiled

    def get_verified_code(self, fullname: str) -> tuple[types.CodeType, tuple[StaticImport, ...]]:
        """Read, verify and compile (or fetch from the cache) a registered source module.

        Raises:
            VerificationImportError: not a registered source module, or its file changed after verification.
        """
        entry = self._entries.get(fullname)
        if entry is None or entry.kind is not ModuleKind.SOURCE or entry.sha256 is None:
            raise VerificationImportError(f"{fullname} is not a registered source module", name=fullname)
        return self._code(entry)

    def verified_imports(self, distribution: str, fullname: str, module: VerifiedModule) -> tuple[StaticImport, ...]:
        """Return the ``import`` statements of a verified source module, registered or not; nothing runs.

        Raises:
            VerificationImportError: not a source module, or its file changed after verification.
            SyntaxError: the source does not compile.
        """
        if module.kind is not ModuleKind.SOURCE or module.sha256 is None:
            raise VerificationImportError(f"{fullname} is not a source module", name=fullname)
        entry = Entry(
            canonicalize_name(distribution), fullname, module.path, module.sha256, module.is_package, module.kind
        )
        result = self._code(entry)
        if self._batches:
            self._pending[(module.sha256, entry.path)] = result
        return result[1]

    def _code(self, entry: Entry) -> tuple[types.CodeType, tuple[StaticImport, ...]]:
        assert entry.sha256 is not None
        pending = self._pending.pop((entry.sha256, entry.path), None)
        if pending is not None:
            return pending
        # Reading, hashing and caching are securehost's own work: they run as the host even while a plugin's
        # import is under way (the guard would otherwise judge them against the plugin's permissions).
        # A cache hit is code compiled from exactly the verified digest: the file is not read again, so a change
        # made after verification cannot run either way (a miss reads the file and refuses a changed one).
        cached: tuple[types.CodeType, tuple[StaticImport, ...]] | None = run_as_host(
            self._cache.lookup, entry.sha256, entry.path, plugin=entry.distribution
        )
        if cached is not None:
            return cached
        data = run_as_host(read_verified, entry, self._audit)
        result: tuple[types.CodeType, tuple[StaticImport, ...]] = run_as_host(
            self._cache.code, data, entry.sha256, entry.path, plugin=entry.distribution
        )
        return result

    def get_code(self, fullname: str) -> types.CodeType | None:
        """Return the verified code object (for :mod:`runpy` and :mod:`inspect`); ``None`` for namespaces."""
        entry = self._entries.get(fullname)
        if entry is None or entry.kind is not ModuleKind.SOURCE:
            return None
        return self.get_verified_code(fullname)[0]

    def get_source(self, fullname: str) -> str | None:
        """Return the verified source text (for tracebacks), or ``None``."""
        entry = self._entries.get(fullname)
        if entry is None or entry.kind is not ModuleKind.SOURCE:
            return None
        return importlib.util.decode_source(run_as_host(read_verified, entry, None))

    def is_package(self, fullname: str) -> bool:
        """Whether *fullname* is a registered package."""
        entry = self._entries.get(fullname)
        return entry is not None and entry.is_package

    # --- dependency policy ----------------------------------------------------------------------------------

    def _importing_plugin(self) -> Entry | None:
        """Return the registered module whose code is importing (the first frame outside importlib), if any."""
        frame: types.FrameType | None = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith(_IMPORTLIB_FILES):
            frame = frame.f_back
        if frame is None:
            return None
        spec = frame.f_globals.get("__spec__")
        if spec is None or getattr(spec, "loader", None) is not self:
            return None
        entry: Entry | None = self._entries.get(str(spec.name))
        return entry

    def _allowed(self, importer: Entry, fullname: str) -> bool:
        own = self._by_distribution.get(importer.distribution, frozenset())
        allowance = self.allowance
        allowed = None if allowance is None else functools.partial(allowance.module_allowed_for, importer.distribution)
        return self.policy.module_allowed(fullname, own=own, verified=self._entries, allowed=allowed)

    def _check_import(self, importer: Entry, fullname: str, *, dynamic: bool) -> None:
        if self._allowed(importer, fullname):
            return
        how = "imports" if dynamic else "has an import statement for"
        message = f"{importer.name} ({importer.distribution}) {how} {fullname}"
        if self.policy.mode == "report":
            self._emit(
                "import.dependency_reported", plugin=importer.distribution, module=fullname, importer=importer.name
            )
            return
        self._emit("import.dependency_denied", plugin=importer.distribution, module=fullname, importer=importer.name)
        raise DependencyNotAllowedError(
            f"{message}, which the {self.policy.mode!r} dependency policy does not allow", name=fullname
        )

    def _emit(self, event: str, **data: Any) -> None:
        if self._audit is not None:
            self._audit.emit(event, **data)
