"""securehost: a pluggy plugin host that imports only what a trusted key signed.

The public API is re-exported here; the implementation lives in private modules.
"""

from pluggy import HookimplMarker

from securehost._context import PluginContext, current_plugin
from securehost._guard import guard_installed, install_guard
from securehost._keys import KeyType, PrivateKey, PublicKey
from securehost._manager import SecurePluginManager, SkippedImpl
from securehost._markers import HookspecMarker
from securehost._permissions import Permission, PermissionSet
from securehost._stats import HookStats, StatsSnapshot
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost._version import __version__

__all__ = [
    "HookStats",
    "HookimplMarker",
    "HookspecMarker",
    "KeyType",
    "Permission",
    "PermissionSet",
    "PluginContext",
    "PrivateKey",
    "PublicKey",
    "Reason",
    "ReasonCode",
    "SecurePluginManager",
    "SkippedImpl",
    "StatsSnapshot",
    "Verdict",
    "__version__",
    "current_plugin",
    "guard_installed",
    "install_guard",
]
