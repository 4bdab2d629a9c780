"""securehost: a pluggy plugin host that imports only what a trusted key signed.

The public API is re-exported here; the implementation lives in private modules.
"""

from securehost._envelope import (
    Envelope,
    EnvelopeLimits,
    Signature,
    SignatureCheck,
    check_signatures,
)
from securehost._keys import KeyType, PrivateKey, PublicKey
from securehost._permissions import Permission, PermissionSet
from securehost._statement import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    PluginPredicate,
    Statement,
    Subject,
)
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost._version import __version__

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "Envelope",
    "EnvelopeLimits",
    "KeyType",
    "Permission",
    "PermissionSet",
    "PluginPredicate",
    "PrivateKey",
    "PublicKey",
    "Reason",
    "ReasonCode",
    "Signature",
    "SignatureCheck",
    "Statement",
    "Subject",
    "Verdict",
    "__version__",
    "check_signatures",
]
