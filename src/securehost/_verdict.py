"""Verdicts: the result of every security decision, with machine-readable reasons.

Verification functions never raise for bad input: they collect every problem as a :class:`Reason` and return a
frozen :class:`Verdict`. Only the boundary (the ``Host``, the CLI, ``require_*`` helpers) turns a negative verdict
into an exception.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

import attrs

from securehost._models import value_model

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Reason", "ReasonCode", "Verdict"]


class ReasonCode(str, enum.Enum):
    """Stable, machine-readable reason codes. The values are part of the public API (``--json`` output)."""

    # zip container
    ZIP_UNREADABLE = "zip-unreadable"
    ZIP_TOO_LARGE = "zip-too-large"
    ZIP_TOO_MANY_MEMBERS = "zip-too-many-members"
    ZIP_DUPLICATE_NAME = "zip-duplicate-name"
    ZIP_UNSAFE_PATH = "zip-unsafe-path"
    ZIP_SYMLINK = "zip-symlink"
    ZIP_HEADER_MISMATCH = "zip-header-mismatch"
    ZIP_COMPRESSION_RATIO = "zip-compression-ratio"
    ZIP_MEMBER_TOO_LARGE = "zip-member-too-large"
    ZIP_ENCRYPTED = "zip-encrypted"
    ZIP_UNSUPPORTED = "zip-unsupported"
    ZIP_EXTRA_DATA = "zip-extra-data"
    ZIP_OVERLAPPING_ENTRIES = "zip-overlapping-entries"
    ZIP_CRC_MISMATCH = "zip-crc-mismatch"
    # wheel metadata
    WHEEL_FILENAME_INVALID = "wheel-filename-invalid"
    WHEEL_METADATA_INVALID = "wheel-metadata-invalid"
    RECORD_INVALID = "record-invalid"
    RECORD_MISMATCH = "record-mismatch"
    FORBIDDEN_FILE = "forbidden-file"
    # envelope and statement
    ENVELOPE_MISSING = "envelope-missing"
    ENVELOPE_TOO_LARGE = "envelope-too-large"
    ENVELOPE_MALFORMED = "envelope-malformed"
    PAYLOAD_TYPE_MISMATCH = "payload-type-mismatch"
    STATEMENT_MALFORMED = "statement-malformed"
    PREDICATE_TYPE_MISMATCH = "predicate-type-mismatch"
    STATEMENT_EXPIRED = "statement-expired"
    STATEMENT_NOT_YET_VALID = "statement-not-yet-valid"
    NAME_MISMATCH = "name-mismatch"
    VERSION_MISMATCH = "version-mismatch"
    TAGS_MISMATCH = "tags-mismatch"
    ENTRY_POINTS_MISMATCH = "entry-points-mismatch"
    # subjects (signed files)
    FILE_NOT_SIGNED = "file-not-signed"
    SIGNED_FILE_MISSING = "signed-file-missing"
    DIGEST_MISMATCH = "digest-mismatch"
    # signatures and keys
    SIGNATURE_INVALID = "signature-invalid"
    KEY_UNKNOWN = "key-unknown"
    KEY_REVOKED = "key-revoked"
    KEY_NOT_YET_VALID = "key-not-yet-valid"
    KEY_EXPIRED = "key-expired"
    KEY_OUT_OF_SCOPE = "key-out-of-scope"
    DUPLICATE_SIGNATURE = "duplicate-signature"
    THRESHOLD_NOT_MET = "threshold-not-met"
    PERMISSION_NOT_VOUCHED = "permission-not-vouched"
    CAPABILITY_NOT_VOUCHED = "capability-not-vouched"
    # installed distributions (Host)
    INSTALLED_FILE_MODIFIED = "installed-file-modified"
    INSTALLED_FILE_MISSING = "installed-file-missing"
    INSTALLED_FILE_UNSIGNED = "installed-file-unsigned"
    INSTALLED_FILE_UNSAFE = "installed-file-unsafe"
    EDITABLE_INSTALL = "editable-install"
    DISTRIBUTION_SHADOWED = "distribution-shadowed"
    ENTRY_POINT_INVALID = "entry-point-invalid"
    ENTRY_POINT_OUTSIDE_DISTRIBUTION = "entry-point-outside-distribution"
    ROLLBACK = "rollback"
    PERMISSION_NOT_GRANTED = "permission-not-granted"
    DEPENDENCY_NOT_ALLOWED = "dependency-not-allowed"
    DEPENDENCY_MODIFIED = "dependency-modified"
    IMPORT_FAILED = "import-failed"
    REGISTRATION_FAILED = "registration-failed"
    PLUGIN_NAME_TAKEN = "plugin-name-taken"
    DISABLED = "disabled"
    DISTRIBUTION_METADATA_INVALID = "distribution-metadata-invalid"
    # process isolation
    ISOLATION_UNAVAILABLE = "isolation-unavailable"
    ISOLATION_FAILED = "isolation-failed"
    ISOLATION_UNSUPPORTED = "isolation-unsupported"
    # orchestration: configuration and lifecycle
    CONFIG_INVALID = "config-invalid"
    PLUGIN_START_FAILED = "plugin-start-failed"
    PLUGIN_START_TIMEOUT = "plugin-start-timeout"
    # installing into a plugin directory (securehost install / upgrade / uninstall)
    ALREADY_INSTALLED = "already-installed"
    DOWNGRADE = "downgrade"
    FILE_CONFLICT = "file-conflict"
    NOT_INSTALLED = "not-installed"


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Reason:
    """One reason behind a verdict.

    Attributes:
        code: the machine-readable reason code.
        message: a human-readable sentence.
        subject: what the reason is about (a file name, a key id, a permission), if anything.
    """

    code: ReasonCode
    message: str
    subject: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {"code": self.code.value, "message": self.message, "subject": self.subject}

    def __str__(self) -> str:
        return f"[{self.code.value}] {self.message}"


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Verdict:
    """The outcome of a security decision: accepted only when there is no reason against it.

    A verdict is truthy exactly when it is accepted, so ``if verdict:`` reads naturally.

    Attributes:
        subject: what was judged (a wheel path, a distribution name).
        reasons: every reason for rejection, in the order found; empty when accepted.
        name: the canonical distribution name, when known.
        version: the distribution version, when known.
        signers: key ids whose valid signatures counted towards acceptance.
        permissions: the permissions the signed statement requests.
        evidence: extra facts (statement digest, signing time, ...) for audit trails.
    """

    subject: str
    reasons: tuple[Reason, ...] = ()
    name: str | None = None
    version: str | None = None
    signers: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    evidence: dict[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def accepted(self) -> bool:
        """``True`` when there is no reason against the subject."""
        return not self.reasons

    @property
    def codes(self) -> frozenset[ReasonCode]:
        """The set of reason codes, for quick membership tests."""
        return frozenset(r.code for r in self.reasons)

    def __bool__(self) -> bool:
        return self.accepted

    def with_reasons(self, reasons: Iterable[Reason]) -> Verdict:
        """Return a copy with *reasons* appended."""
        return attrs.evolve(self, reasons=(*self.reasons, *reasons))

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (the CLI's ``--json`` format)."""
        return {
            "subject": self.subject,
            "accepted": self.accepted,
            "name": self.name,
            "version": self.version,
            "signers": list(self.signers),
            "permissions": list(self.permissions),
            "reasons": [r.to_json() for r in self.reasons],
            "evidence": self.evidence,
        }

    def summary(self) -> str:
        """Return a multi-line, human-readable summary."""
        head = f"{self.subject}: {'ACCEPTED' if self.accepted else 'REJECTED'}"
        if self.name:
            head += f" ({self.name} {self.version or '?'})"
        lines = [head]
        lines.extend(f"  - {r}" for r in self.reasons)
        if self.accepted and self.signers:
            lines.append(f"  signed by: {', '.join(self.signers)}")
        return "\n".join(lines)
