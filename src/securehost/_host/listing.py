"""``list_plugins``: what ``securehost list`` shows, the installed plugins of a group and their verdicts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from securehost._host.host import Host
from securehost._host.support import default_state_root
from securehost._names import canonicalize_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from securehost._host.report import LoadReport
    from securehost._installed.dependencies import DependencyPolicy
    from securehost._isolation.policy import ProcessIsolation
    from securehost._trust.store import TrustStore

__all__ = ["list_plugins"]


def list_plugins(
    *,
    group: str,
    store: TrustStore | str | os.PathLike[str],
    path: Sequence[str | os.PathLike[str]] | None = None,
    grants: Mapping[str, Iterable[str]] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    isolation: str | ProcessIsolation | Mapping[str, str | ProcessIsolation] = "in-process",
    project: str | None = None,
    host_distribution: str | Sequence[str] | None = None,
    dependency_policy: DependencyPolicy | None = None,
    dependency_approvals: str | os.PathLike[str] | None = None,
) -> LoadReport:
    """Verify the installed plugins of *group* without importing any (what ``securehost list`` shows).

    Without *state_dir*, rollback protection has no history to compare with (a scratch directory is used).
    *isolation* is the host's (as for :class:`Host`): each report's ``isolation`` says where the plugin would run and
    which protections this system would give its worker. The dependency policy is the host's too: with *project*
    (the host's project name), its distribution's closure is allowed and its default approvals file is read, as a
    ``Host(project=...)`` does; *host_distribution*, *dependency_policy* and *dependency_approvals* are as for
    :class:`Host`.

    Raises:
        TrustStoreError: the trust store is malformed.
        ConfigurationError: the state directory is unusable.
    """
    with tempfile.TemporaryDirectory(prefix="securehost-list-") as scratch:
        if dependency_approvals is None and project is not None:
            base = default_state_root() / canonicalize_name(project)
            dependency_approvals = (Path(state_dir) if state_dir is not None else base) / "dependency-approvals.json"
        host = Host(
            project=project or "securehost-list",
            group=group,
            trust_store=store,
            grants=grants,
            path=path,
            state_dir=state_dir if state_dir is not None else scratch,
            guard=False,
            isolation=isolation,
            host_distribution=host_distribution,
            dependency_policy=dependency_policy,
            dependency_approvals=dependency_approvals,
        )
        try:
            return host.check()
        finally:
            host.audit.close()
