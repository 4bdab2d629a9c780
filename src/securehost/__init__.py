"""securehost: a pluggy plugin host that imports only what a trusted key signed.

The public API is re-exported here; the implementation lives in private modules.
"""

from securehost._dependencies import DependencyPolicy
from securehost._discovery import DiscoveryCache
from securehost._importer import VerifiedImporter
from securehost._keys import KeyType, PrivateKey, PublicKey
from securehost._permissions import Permission, PermissionSet
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost._version import __version__

__all__ = [
    "DependencyPolicy",
    "DiscoveryCache",
    "KeyType",
    "Permission",
    "PermissionSet",
    "PrivateKey",
    "PublicKey",
    "Reason",
    "ReasonCode",
    "Verdict",
    "VerifiedImporter",
    "__version__",
]
