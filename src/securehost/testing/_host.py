"""Hosts for tests, bound to a plugin site and closed at the end of the test.

Each host keeps its state under the test's directory; closing removes every trace of the plugins it imported.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

from securehost._host.host import Host

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from securehost._installed.importer import VerifiedImporter
    from securehost._trust.store import TrustStore
    from securehost.testing._site import PluginSite

__all__ = ["HostFactory"]


def _under(path: object, roots: Sequence[str]) -> bool:
    if not isinstance(path, str):
        return False
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root + os.sep) for root in roots)


@final
class HostFactory:
    """Make :class:`~securehost.Host` objects that load plugins from one plugin site; close them all at the end.

    Each host gets its own state directory (rollback state, bytecode cache) and JSON-lines audit file under
    *directory*. :meth:`close` closes every host, takes each host's importer off :data:`sys.meta_path`, and removes
    from :data:`sys.modules` every module that a host's importer loaded or whose file lies in the plugin site (or in
    another ``path`` under *directory* given to a host).
    Modules of the standard library that plugin code imported stay imported, as after any import.

    Args:
        site: the plugin site the hosts look in.
        trust_store: the default trust store (a :class:`~securehost.TrustStore` or a trust-store file).
        directory: where state directories and audit files go (the test's ``tmp_path``).
    """

    def __init__(
        self, site: PluginSite, trust_store: TrustStore | str | os.PathLike[str], directory: str | os.PathLike[str]
    ) -> None:
        self.site = site
        self.trust_store = trust_store
        self.directory = Path(directory)
        self._hosts: list[Host] = []
        self._importers: list[VerifiedImporter] = []
        self._roots: set[str] = {os.path.realpath(site.root)}
        self._counter = itertools.count(1)
        self._closed = False

    @property
    def hosts(self) -> tuple[Host, ...]:
        """Every host made so far, in order."""
        return tuple(self._hosts)

    def __call__(
        self,
        *,
        project: str,
        group: str | None = None,
        hookspecs: object | Sequence[object] | None = None,
        grants: Mapping[str, Iterable[str]] | None = None,
        trust_store: TrustStore | str | os.PathLike[str] | None = None,
        path: Sequence[str | os.PathLike[str]] | None = None,
        guard: bool = True,
        **options: Any,
    ) -> Host:
        """Make a host that loads plugins from the site (closed by :meth:`close`).

        Args:
            project: the host's project name (as in its ``HookspecMarker``).
            group: the entry-point group (default ``"<project>.plugins"``).
            hookspecs: the hook specifications.
            grants: the permissions the host grants, by distribution-name glob.
            trust_store: a trust store for this host instead of the factory's.
            path: where to look for plugins instead of the site (more directories: ``[site.path, other]``).
            guard: install the runtime guard (process-wide and irreversible; see the testing guide).
            options: further :class:`~securehost.Host` arguments (``pins``, ``isolate``, ``clock``, ...);
                ``state_dir`` and ``audit_sink`` default to fresh paths under the factory's directory.

        Returns:
            The host.

        Raises:
            RuntimeError: the factory is closed.
            TrustStoreError: the trust-store file is malformed.
            PermissionFormatError: a granted permission is malformed.
            ConfigurationError: the state directory or the audit sink is unusable.
        """
        if self._closed:
            raise RuntimeError("this host factory is closed (its test has ended)")
        number = next(self._counter)
        options.setdefault("state_dir", self.directory / f"host-{number}" / "state")
        if "audit" not in options:
            options.setdefault("audit_sink", self.directory / f"host-{number}" / "audit.jsonl")
        host = Host(
            project=project,
            group=group if group is not None else f"{project}.plugins",
            trust_store=trust_store if trust_store is not None else self.trust_store,
            hookspecs=hookspecs,
            grants=grants,
            path=path if path is not None else [self.site.path],
            guard=guard,
            **options,
        )
        self._hosts.append(host)
        self._importers.append(host.importer)
        # Only directories of the test's own are cleaned: a host may also be pointed at the real site-packages.
        own = [os.path.realpath(self.directory), *self._roots]
        self._roots.update(r for r in map(os.path.realpath, host.path or ()) if _under(r, own))
        return host

    def close(self) -> None:
        """Close every host and remove what its plugins left in :data:`sys.modules` and :data:`sys.meta_path`.

        Idempotent. Every host is closed even if closing one fails; the first failure is raised afterwards.

        Raises:
            Exception: closing a host failed (the first such error).
        """
        self._closed = True
        errors: list[Exception] = []
        while self._hosts:
            host = self._hosts.pop()
            try:
                host.close()
            except Exception as exc:  # noqa: BLE001 - every host must be closed; the first error is re-raised
                errors.append(exc)
        importers = self._importers
        for importer in importers:
            importer.uninstall()
        roots = sorted(self._roots)
        for name, module in list(sys.modules.items()):
            spec = getattr(module, "__spec__", None)
            loader = getattr(spec, "loader", None)
            if any(loader is importer for importer in importers) or _under(getattr(module, "__file__", None), roots):
                del sys.modules[name]
        self._importers = []
        if errors:
            raise errors[0]

    def __enter__(self) -> HostFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
