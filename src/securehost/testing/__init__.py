"""Test helpers for host applications and plugin authors: keys, trust stores, wheels, plugin sites, hosts, assertions.

Everything here works without pytest; :mod:`securehost.pytest_plugin` wraps it in fixtures. See the guide
"Testing your host and your plugins" (``docs/testing.md``).

* :func:`trust_store_for` and :func:`write_trust_store`: a trust store for throwaway keys, in memory or as a file;
* :func:`build_wheel` (a wheel from a dict of files, directly), :func:`build_project` (``python -m build``),
  :class:`WheelFactory` (both, signed, unsigned or tampered), :func:`tamper_wheel` with the :class:`WheelTamper`
  kinds;
* :class:`PluginSite`: a site directory that ``installer`` installs into, never on :data:`sys.path`, with the
  :class:`SiteTamper` kinds for installed plugins;
* :class:`HostFactory`: hosts bound to a plugin site, closed (and their plugins' modules forgotten) at the end;
* :func:`assert_rejected`, :func:`assert_accepted`, :func:`assert_denied` and :func:`denied`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from securehost._permissions import PermissionSet
from securehost._trust.edit import add_key, revoke, set_threshold
from securehost._trust.model import Threshold, TrustedKey
from securehost._trust.store import TrustStore
from securehost.exceptions import ConfigurationError
from securehost.testing._assert import Denial, assert_accepted, assert_denied, assert_rejected, denied
from securehost.testing._factory import BuildUnavailableError, ProjectBuildError, WheelFactory, build_project
from securehost.testing._host import HostFactory
from securehost.testing._site import InstalledPlugin, PluginSite, SiteTamper
from securehost.testing._wheels import WheelTamper, build_wheel, tamper_wheel, wheel_members

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping

    from securehost._signing.private import PrivateKey

__all__ = [
    "EVERY_BUILTIN_PERMISSION",
    "BuildUnavailableError",
    "Denial",
    "HostFactory",
    "InstalledPlugin",
    "PluginSite",
    "ProjectBuildError",
    "SiteTamper",
    "WheelFactory",
    "WheelTamper",
    "assert_accepted",
    "assert_denied",
    "assert_rejected",
    "build_project",
    "build_wheel",
    "denied",
    "tamper_wheel",
    "trust_store_for",
    "wheel_members",
    "write_trust_store",
]

#: Grants that cover every permission of the built-in kinds (``fs.read:/**``, ``net.connect:*``, ...). Host-defined
#: kinds (``agent.control``) cannot be covered by a wildcard: list them.
EVERY_BUILTIN_PERMISSION: Final = (
    "env.read:*",
    "env.write:*",
    "fs.read:/**",
    "fs.write:/**",
    "net.bind:*",
    "net.connect:*",
    "proc.spawn",
    "sys.native",
)


def trust_store_for(
    *keys: PrivateKey,
    names: Iterable[str] = ("*",),
    vouch: Iterable[str] = EVERY_BUILTIN_PERMISSION,
    revoked: Iterable[PrivateKey | str] = (),
    thresholds: Mapping[str, int] | None = None,
    valid_after: dt.datetime | None = None,
    valid_before: dt.datetime | None = None,
) -> TrustStore:
    """Return an in-memory trust store that trusts *keys* (labelled ``test key 1``, ``test key 2``, ...).

    Args:
        keys: the signing keys whose public halves are trusted.
        names: the distribution-name patterns each key may sign for (default: every distribution).
        vouch: the permissions each key may vouch for (default: every built-in permission; add host-defined kinds
            such as ``agent.control`` yourself; ``()``: none, so that any requested permission is
            ``permission-not-vouched``).
        revoked: keys (or key ids) to revoke.
        thresholds: distribution-name pattern → number of keys that must sign.
        valid_after: the keys count from this instant (UTC-aware).
        valid_before: the keys stop counting at this instant (UTC-aware).

    Returns:
        The trust store.

    Raises:
        TrustStoreError: a pattern, a key id or a window is invalid, or a key is given twice.
        PermissionFormatError: a permission is malformed.
    """
    vouched = PermissionSet.parse(vouch)
    trusted = [
        TrustedKey(
            key=key.public_key,
            label=f"test key {number}",
            names=tuple(names),
            max_permissions=vouched,
            valid_after=valid_after,
            valid_before=valid_before,
        )
        for number, key in enumerate(keys, 1)
    ]
    return TrustStore.from_keys(
        trusted,
        revoked=[item if isinstance(item, str) else item.key_id for item in revoked],
        thresholds=[Threshold(pattern=pattern, count=count) for pattern, count in (thresholds or {}).items()],
    )


def write_trust_store(store: TrustStore, path: str | os.PathLike[str]) -> Path:
    """Write *store* as a trust-store TOML file at *path* (for hosts and the CLI that read files); return the path.

    The file is written with the same editor as ``securehost trust add``, and read back by it, so it loads with
    :meth:`securehost.TrustStore.load`.

    Raises:
        ConfigurationError: *path* exists already, or cannot be written.
        TrustStoreError: the store cannot be represented (never for a store made by :func:`trust_store_for`).
    """
    target = Path(path)
    if os.path.lexists(target):
        raise ConfigurationError(f"{target} exists already; write the trust store to a new file")
    for trusted in store.keys.values():
        add_key(
            target,
            trusted.key,
            label=trusted.label,
            names=trusted.names,
            max_permissions=trusted.max_permissions,
            valid_after=trusted.valid_after,
            valid_before=trusted.valid_before,
        )
    for key_id in sorted(store.revoked):
        revoke(target, key_id)
    for threshold in store.thresholds:
        set_threshold(target, threshold.pattern, threshold.count)
    if not os.path.lexists(target):  # an empty store: nothing above created the file
        target.write_text("version = 1\n", encoding="utf-8")
    return target
