"""securehost: a pluggy plugin host that imports only what a trusted key signed.

The public API is re-exported here; the implementation lives in private modules. Names are imported on first use
(PEP 562), so that ``import securehost`` — and the pytest plugin, which pytest loads in every run of a project that
has securehost installed — costs almost nothing until something is used.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from securehost._version import __version__

# A library does not configure logging: securehost's records go through securehost._log, which adds a NullHandler
# to the "securehost" logger before the first one, so that without a handler of the application's they go nowhere
# rather than to stderr through logging's last-resort handler.

if TYPE_CHECKING:
    from pluggy import HookimplMarker

    from securehost._audit import AuditEvent, AuditLog
    from securehost._context import PluginContext, current_plugin
    from securehost._dispatch.manager import SecurePluginManager
    from securehost._dispatch.markers import HookspecMarker
    from securehost._dispatch.skipped import SkippedImpl
    from securehost._dispatch.snapshot import HookStats, StatsSnapshot
    from securehost._guard.audithook import guard_installed, install_guard
    from securehost._host.host import Host
    from securehost._host.listing import list_plugins
    from securehost._host.note import LoadNote, NoteCode
    from securehost._host.report import LoadReport, PluginReport
    from securehost._install.api import install_plugin, uninstall_plugin
    from securehost._install.result import InstallResult, UninstallResult
    from securehost._installed.approvals import DependencyApprovals, approve_dependencies
    from securehost._installed.dependencies import DependencyPolicy
    from securehost._installed.discovery import DiscoveryCache
    from securehost._installed.importer import VerifiedImporter
    from securehost._isolation.policy import ProcessIsolation, WorkerLimits
    from securehost._orchestrator.health import HealthReport, PluginHealth
    from securehost._orchestrator.select import CapabilityRelay
    from securehost._permissions import Permission, PermissionSet
    from securehost._signing.envelope import Envelope, EnvelopeLimits, Signature, SignatureCheck, check_signatures
    from securehost._signing.keys import KeyType, PublicKey
    from securehost._signing.predicate import ConfigDeclaration, PluginPredicate, Subject
    from securehost._signing.private import PrivateKey
    from securehost._signing.statement import PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, Statement
    from securehost._trust.model import Threshold, TrustedKey
    from securehost._trust.store import SignerDecision, TrustStore
    from securehost._verdict import Reason, ReasonCode, Verdict
    from securehost._wheel.wheelfile import describe_wheel, require_verified_wheel, sign_wheel, verify_wheel
    from securehost.exceptions import (
        ConfigurationError,
        FormatError,
        HookError,
        PermissionDeniedError,
        PluginRejectedError,
        SecurehostError,
        SecurehostWarning,
        SigningError,
    )

_LAZY: dict[str, str] = {
    "AuditEvent": "securehost._audit",
    "AuditLog": "securehost._audit",
    "CapabilityRelay": "securehost._orchestrator.select",
    "ConfigDeclaration": "securehost._signing.predicate",
    "HealthReport": "securehost._orchestrator.health",
    "PluginHealth": "securehost._orchestrator.health",
    "check_signatures": "securehost._signing.envelope",
    "ConfigurationError": "securehost.exceptions",
    "current_plugin": "securehost._context",
    "DependencyApprovals": "securehost._installed.approvals",
    "DependencyPolicy": "securehost._installed.dependencies",
    "approve_dependencies": "securehost._installed.approvals",
    "describe_wheel": "securehost._wheel.wheelfile",
    "DiscoveryCache": "securehost._installed.discovery",
    "Envelope": "securehost._signing.envelope",
    "EnvelopeLimits": "securehost._signing.envelope",
    "FormatError": "securehost.exceptions",
    "guard_installed": "securehost._guard.audithook",
    "HookError": "securehost.exceptions",
    "HookimplMarker": "pluggy",
    "HookspecMarker": "securehost._dispatch.markers",
    "HookStats": "securehost._dispatch.snapshot",
    "Host": "securehost._host.host",
    "install_guard": "securehost._guard.audithook",
    "install_plugin": "securehost._install.api",
    "InstallResult": "securehost._install.result",
    "KeyType": "securehost._signing.keys",
    "list_plugins": "securehost._host.listing",
    "LoadNote": "securehost._host.note",
    "LoadReport": "securehost._host.report",
    "PAYLOAD_TYPE": "securehost._signing.statement",
    "NoteCode": "securehost._host.note",
    "Permission": "securehost._permissions",
    "PermissionDeniedError": "securehost.exceptions",
    "PermissionSet": "securehost._permissions",
    "PluginContext": "securehost._context",
    "PluginPredicate": "securehost._signing.predicate",
    "PluginRejectedError": "securehost.exceptions",
    "PluginReport": "securehost._host.report",
    "ProcessIsolation": "securehost._isolation.policy",
    "PREDICATE_TYPE": "securehost._signing.statement",
    "PrivateKey": "securehost._signing.private",
    "PublicKey": "securehost._signing.keys",
    "Reason": "securehost._verdict",
    "ReasonCode": "securehost._verdict",
    "require_verified_wheel": "securehost._wheel.wheelfile",
    "SecurehostError": "securehost.exceptions",
    "SecurehostWarning": "securehost.exceptions",
    "SecurePluginManager": "securehost._dispatch.manager",
    "sign_wheel": "securehost._wheel.wheelfile",
    "Signature": "securehost._signing.envelope",
    "SignatureCheck": "securehost._signing.envelope",
    "SignerDecision": "securehost._trust.store",
    "SigningError": "securehost.exceptions",
    "SkippedImpl": "securehost._dispatch.skipped",
    "Statement": "securehost._signing.statement",
    "STATEMENT_TYPE": "securehost._signing.statement",
    "StatsSnapshot": "securehost._dispatch.snapshot",
    "Subject": "securehost._signing.predicate",
    "Threshold": "securehost._trust.model",
    "TrustedKey": "securehost._trust.model",
    "TrustStore": "securehost._trust.store",
    "uninstall_plugin": "securehost._install.api",
    "UninstallResult": "securehost._install.result",
    "Verdict": "securehost._verdict",
    "VerifiedImporter": "securehost._installed.importer",
    "WorkerLimits": "securehost._isolation.policy",
    "verify_wheel": "securehost._wheel.wheelfile",
}

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "AuditEvent",
    "AuditLog",
    "CapabilityRelay",
    "ConfigDeclaration",
    "ConfigurationError",
    "DependencyApprovals",
    "DependencyPolicy",
    "DiscoveryCache",
    "Envelope",
    "EnvelopeLimits",
    "FormatError",
    "HealthReport",
    "HookError",
    "HookStats",
    "HookimplMarker",
    "HookspecMarker",
    "Host",
    "InstallResult",
    "KeyType",
    "LoadNote",
    "LoadReport",
    "NoteCode",
    "Permission",
    "PermissionDeniedError",
    "PermissionSet",
    "PluginContext",
    "PluginHealth",
    "PluginPredicate",
    "PluginRejectedError",
    "PluginReport",
    "PrivateKey",
    "ProcessIsolation",
    "PublicKey",
    "Reason",
    "ReasonCode",
    "SecurePluginManager",
    "SecurehostError",
    "SecurehostWarning",
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
    "UninstallResult",
    "Verdict",
    "VerifiedImporter",
    "WorkerLimits",
    "__version__",
    "approve_dependencies",
    "check_signatures",
    "current_plugin",
    "describe_wheel",
    "guard_installed",
    "install_guard",
    "install_plugin",
    "list_plugins",
    "require_verified_wheel",
    "sign_wheel",
    "uninstall_plugin",
    "verify_wheel",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'securehost' has no attribute {name!r}")
    loaded = sys.modules.get(module)
    if loaded is None:
        # A plugin's call may be the first to ask (``from securehost import ...`` in plugin code): reading
        # securehost's own files is then the host's doing. No plugin can be running before ``_context`` is imported.
        context = sys.modules.get("securehost._context")
        loaded = importlib.import_module(module) if context is None else context.import_as_host(module)
    value = getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
