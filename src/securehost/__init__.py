"""securehost: a pluggy plugin host that imports only what a trusted key signed.

The public API is re-exported here; the implementation lives in private modules. Names are imported on first use
(PEP 562), so that ``import securehost`` — and the pytest plugin, which pytest loads in every run of a project that
has securehost installed — costs almost nothing until something is used.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from securehost._version import __version__

# A library does not configure logging: without a handler of the application's, records go nowhere rather than to
# stderr through logging's last-resort handler.
logging.getLogger("securehost").addHandler(logging.NullHandler())

if TYPE_CHECKING:
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

_LAZY: dict[str, str] = {
    "AuditEvent": "securehost._audit",
    "AuditLog": "securehost._audit",
    "check_signatures": "securehost._envelope",
    "ConfigurationError": "securehost.exceptions",
    "current_plugin": "securehost._context",
    "DependencyPolicy": "securehost._dependencies",
    "describe_wheel": "securehost._wheel",
    "DiscoveryCache": "securehost._discovery",
    "Envelope": "securehost._envelope",
    "EnvelopeLimits": "securehost._envelope",
    "FormatError": "securehost.exceptions",
    "guard_installed": "securehost._guard",
    "HookError": "securehost.exceptions",
    "HookimplMarker": "pluggy",
    "HookspecMarker": "securehost._markers",
    "HookStats": "securehost._stats",
    "Host": "securehost._host",
    "install_guard": "securehost._guard",
    "KeyType": "securehost._keys",
    "list_plugins": "securehost._listing",
    "LoadReport": "securehost._report",
    "PAYLOAD_TYPE": "securehost._statement",
    "Permission": "securehost._permissions",
    "PermissionDeniedError": "securehost.exceptions",
    "PermissionSet": "securehost._permissions",
    "PluginContext": "securehost._context",
    "PluginPredicate": "securehost._predicate",
    "PluginRejectedError": "securehost.exceptions",
    "PluginReport": "securehost._report",
    "PREDICATE_TYPE": "securehost._statement",
    "PrivateKey": "securehost._keys",
    "PublicKey": "securehost._keys",
    "Reason": "securehost._verdict",
    "ReasonCode": "securehost._verdict",
    "require_verified_wheel": "securehost._wheel",
    "SecurehostError": "securehost.exceptions",
    "SecurePluginManager": "securehost._manager",
    "sign_wheel": "securehost._wheel",
    "Signature": "securehost._envelope",
    "SignatureCheck": "securehost._envelope",
    "SignerDecision": "securehost._trust",
    "SigningError": "securehost.exceptions",
    "SkippedImpl": "securehost._manager",
    "Statement": "securehost._statement",
    "STATEMENT_TYPE": "securehost._statement",
    "StatsSnapshot": "securehost._stats",
    "Subject": "securehost._predicate",
    "Threshold": "securehost._trust",
    "TrustedKey": "securehost._trust",
    "TrustStore": "securehost._trust",
    "Verdict": "securehost._verdict",
    "VerifiedImporter": "securehost._importer",
    "verify_wheel": "securehost._wheel",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'securehost' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
