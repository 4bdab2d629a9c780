"""``list_plugins``: what ``securehost list`` shows, the installed plugins of a group and their verdicts."""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

from securehost._host.host import Host

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from securehost._host.report import LoadReport
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
) -> LoadReport:
    """Verify the installed plugins of *group* without importing any (what ``securehost list`` shows).

    Without *state_dir*, rollback protection has no history to compare with (a scratch directory is used).
    *isolation* is the host's (as for :class:`Host`): each report's ``isolation`` says where the plugin would run and
    which protections this system would give its worker.

    Raises:
        TrustStoreError: the trust store is malformed.
        ConfigurationError: the state directory is unusable.
    """
    with tempfile.TemporaryDirectory(prefix="securehost-list-") as scratch:
        host = Host(
            project="securehost-list",
            group=group,
            trust_store=store,
            grants=grants,
            path=path,
            state_dir=state_dir if state_dir is not None else scratch,
            guard=False,
            isolation=isolation,
        )
        try:
            return host.check()
        finally:
            host.audit.close()
