"""The securehost exception tree.

Every error securehost raises on purpose derives from :class:`SecurehostError`. The tree is grouped by origin:

* :class:`FormatError` (also a :class:`ValueError`): bytes from outside — a wheel, an envelope, a key, a trust
  store, a permission string — are malformed. Its leaves name what was being parsed.
* :class:`RejectedError`: well-formed input that a security decision rejected. It carries the verdict with every
  reason, so callers never have to parse a message.
* :class:`PermissionDeniedError` (also a :class:`PermissionError`): a plugin did something its permissions do not
  allow.
* :class:`ConfigurationError`: the host or the operator configured securehost in a way it cannot work with.
* :class:`IsolationError`: the out-of-process worker failed.

Caller mistakes (wrong argument types, wrong call order) raise the builtin :class:`TypeError` or
:class:`RuntimeError` and are not part of this tree. Foreign exceptions (from ``zipfile``, ``json``,
``cryptography``, ``tomllib``) never escape unwrapped: they are chained as ``__cause__``.

Warnings that securehost issues through :mod:`warnings` (a mistake in the calling code that is not an error, such as
a hook used before ``Host.load()``) are :class:`SecurehostWarning`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from securehost._verdict import ReasonCode

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CapabilityFormatError",
    "ConfigDeclarationError",
    "ConfigurationError",
    "ConfinementUnavailableError",
    "DependencyNotAllowedError",
    "EntryPointFormatError",
    "EnvelopeFormatError",
    "FormatError",
    "HookError",
    "IsolationError",
    "KeyFormatError",
    "NotTransferableError",
    "PermissionDeniedError",
    "PermissionFormatError",
    "PluginRejectedError",
    "ProtocolViolationError",
    "RecordFormatError",
    "RejectedError",
    "RemotePluginError",
    "SecurehostError",
    "SecurehostWarning",
    "SigningError",
    "TrustStoreError",
    "VerificationImportError",
    "WheelFormatError",
    "WorkerCrashedError",
    "WorkerTimeoutError",
]


class SecurehostError(Exception):
    """Root of every error that securehost raises on purpose."""


class SecurehostWarning(UserWarning):
    """A warning about how securehost is used (issued through :mod:`warnings`, pointing at the calling line)."""


# --- malformed input -------------------------------------------------------------------------------------------


class FormatError(SecurehostError, ValueError):
    """Untrusted bytes could not be parsed; the message says what and where."""


class KeyFormatError(FormatError):
    """A key (PEM, OpenSSH, ``allowed_signers`` line) is malformed, unsupported or too weak."""


class EnvelopeFormatError(FormatError):
    """A DSSE envelope or the in-toto statement inside it is malformed.

    Attributes:
        code: the reason code a verifier reports for this error: ``ENVELOPE_MALFORMED``
            (the default), ``ENVELOPE_TOO_LARGE``, ``PAYLOAD_TYPE_MISMATCH``,
            ``STATEMENT_MALFORMED`` or ``PREDICATE_TYPE_MISMATCH``.
    """

    def __init__(self, message: str, *, code: ReasonCode = ReasonCode.ENVELOPE_MALFORMED) -> None:
        super().__init__(message)
        self.code = code


class WheelFormatError(FormatError):
    """A wheel (zip container, file name, ``WHEEL`` or ``METADATA`` file) is malformed or unsafe."""


class RecordFormatError(WheelFormatError):
    """A wheel's ``RECORD`` file is malformed."""


class PermissionFormatError(FormatError):
    """A permission string does not follow the permission grammar."""


class CapabilityFormatError(FormatError):
    """A capability or capability pattern does not follow the capability grammar."""


class ConfigDeclarationError(FormatError):
    """A plugin's declaration is unusable: its ``[tool.securehost]`` table, its configuration schema or defaults."""


class EntryPointFormatError(FormatError):
    """An entry point (its ``module:attr`` value, its name, or the ``entry_points.txt`` file) is malformed."""


class TrustStoreError(FormatError):
    """A trust store file is malformed; the message names the file and the entry.

    A trust store never loads half-way: one bad entry rejects the whole file.
    """


# --- security decisions ----------------------------------------------------------------------------------------


class RejectedError(SecurehostError):
    """A security decision rejected its input.

    Attributes:
        verdict: the verdict object that lists every reason (see :class:`securehost.Verdict`).
    """

    def __init__(self, message: str, *, verdict: Any) -> None:
        super().__init__(message)
        self.verdict = verdict


class PluginRejectedError(RejectedError):
    """A plugin (a wheel or an installed distribution) failed verification."""


class SigningError(SecurehostError):
    """A wheel could not be signed (for instance, its files do not match its own ``RECORD``)."""


class PermissionDeniedError(SecurehostError, PermissionError):
    """A plugin attempted something outside its effective permissions.

    Attributes:
        plugin: name of the plugin that was denied, or ``None`` if unknown.
        permission: the permission that would have been needed, as a string.
    """

    def __init__(self, message: str, *, plugin: str | None = None, permission: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.permission = permission


class HookError(SecurehostError):
    """One or more plugin implementations of a hook failed while errors were isolated.

    Attributes:
        hook: the hook name.
        errors: ``(plugin name, exception)`` pairs in call order.
        results: what the implementations that did not fail returned (a list, or one value for a
            ``firstresult`` hook).
    """

    def __init__(
        self,
        message: str,
        *,
        hook: str,
        errors: Sequence[tuple[str, BaseException]],
        results: Any = None,
    ) -> None:
        super().__init__(message)
        self.hook = hook
        self.errors = tuple(errors)
        self.results = results


class VerificationImportError(SecurehostError, ImportError):
    """Importing a verified plugin module was refused; none of the module's bytes were executed.

    Raised by the verified importer when the bytes on disk no longer hash to the verified digest (the file changed
    after verification), when a module below a verified package is not part of the signed distribution, or when a
    module of a plugin is already imported from elsewhere. It is an :class:`ImportError`, so ``import`` statements
    and ``importlib`` report it the usual way.
    """


class DependencyNotAllowedError(VerificationImportError):
    """Plugin code imported a module that the dependency policy does not allow."""


# --- configuration and isolation -------------------------------------------------------------------------------


class ConfigurationError(SecurehostError):
    """The host or operator configuration cannot work (conflicting options, missing state directory, ...)."""


class IsolationError(SecurehostError):
    """The out-of-process plugin worker could not be started or failed."""


class ConfinementUnavailableError(IsolationError):
    """The operating system cannot provide a protection that the host required for a worker."""


class WorkerCrashedError(IsolationError):
    """The plugin's worker process died (or closed its channel) before it answered the call."""


class WorkerTimeoutError(IsolationError, TimeoutError):
    """The plugin's worker did not answer within the call's deadline; it was killed."""


class ProtocolViolationError(IsolationError):
    """The worker sent a frame that is malformed, oversized, unexpected or replayed; it was killed."""


class RemotePluginError(IsolationError):
    """An isolated plugin raised an exception in its worker; its type name, message and traceback are text.

    Attributes:
        remote_type: the exception's qualified type name, as the worker reported it (untrusted text).
        remote_traceback: the worker's formatted traceback (untrusted text).
    """

    def __init__(self, message: str, *, remote_type: str, remote_traceback: str) -> None:
        super().__init__(message)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback


class NotTransferableError(IsolationError, TypeError):
    """A hook argument or result cannot cross the process boundary (only plain data can); the message names it."""
