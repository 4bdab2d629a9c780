"""securehost: a pluggy plugin host that imports only what a trusted key signed.

The public API is re-exported here; the implementation lives in private modules.
"""

from pluggy import HookimplMarker

from securehost._audit import AuditEvent, AuditLog
from securehost._context import PluginContext, current_plugin
from securehost._dependencies import DependencyPolicy
from securehost._discovery import DiscoveryCache
from securehost._envelope import Envelope, EnvelopeLimits, Signature, SignatureCheck, check_signatures
from securehost._guard import guard_installed, install_guard
from securehost._host import Host
from securehost._importer import VerifiedImporter
from securehost._keys import KeyType, PrivateKey, PublicKey
from securehost._listing import list_plugins
from securehost._manager import SecurePluginManager, SkippedImpl
from securehost._markers import HookspecMarker
from securehost._permissions import Permission, PermissionSet
from securehost._predicate import PluginPredicate, Subject
from securehost._report import LoadReport, PluginReport
from securehost._statement import PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, Statement
from securehost._stats import HookStats, StatsSnapshot
from securehost._trust import SignerDecision, Threshold, TrustedKey, TrustStore
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost._version import __version__
from securehost._wheel import describe_wheel, require_verified_wheel, sign_wheel, verify_wheel
from securehost.exceptions import (
    ConfigurationError,
    FormatError,
    HookError,
    PermissionDeniedError,
    PluginRejectedError,
    SecurehostError,
    SigningError,
)

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "AuditEvent",
    "AuditLog",
    "ConfigurationError",
    "DependencyPolicy",
    "DiscoveryCache",
    "Envelope",
    "EnvelopeLimits",
    "FormatError",
    "HookError",
    "HookStats",
    "HookimplMarker",
    "HookspecMarker",
    "Host",
    "KeyType",
    "LoadReport",
    "Permission",
    "PermissionDeniedError",
    "PermissionSet",
    "PluginContext",
    "PluginPredicate",
    "PluginRejectedError",
    "PluginReport",
    "PrivateKey",
    "PublicKey",
    "Reason",
    "ReasonCode",
    "SecurePluginManager",
    "SecurehostError",
    "Signature",
    "SignatureCheck",
    "SignerDecision",
    "SigningError",
    "SkippedImpl",
    "Statement",
    "StatsSnapshot",
    "Subject",
    "Threshold",
    "TrustStore",
    "TrustedKey",
    "Verdict",
    "VerifiedImporter",
    "__version__",
    "check_signatures",
    "current_plugin",
    "describe_wheel",
    "guard_installed",
    "install_guard",
    "list_plugins",
    "require_verified_wheel",
    "sign_wheel",
    "verify_wheel",
]
