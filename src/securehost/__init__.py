"""securehost: a pluggy plugin host that imports only what a trusted key signed.

The public API is re-exported here; the implementation lives in private modules.
"""

from securehost._audit import AuditEvent, AuditLog
from securehost._dependencies import DependencyPolicy
from securehost._discovery import DiscoveryCache
from securehost._envelope import Envelope, EnvelopeLimits, Signature, SignatureCheck, check_signatures
from securehost._importer import VerifiedImporter
from securehost._keys import KeyType, PrivateKey, PublicKey
from securehost._permissions import Permission, PermissionSet
from securehost._predicate import PluginPredicate, Subject
from securehost._statement import PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, Statement
from securehost._trust import SignerDecision, Threshold, TrustedKey, TrustStore
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost._version import __version__

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "AuditEvent",
    "AuditLog",
    "DependencyPolicy",
    "DiscoveryCache",
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
    "SignerDecision",
    "Statement",
    "Subject",
    "Threshold",
    "TrustStore",
    "TrustedKey",
    "Verdict",
    "VerifiedImporter",
    "__version__",
    "check_signatures",
]
