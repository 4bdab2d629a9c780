"""The signer policy: do the signatures on a statement come from enough trusted keys?

:meth:`securehost.TrustStore.evaluate` applies these rules to each signature check, in order:

1. Revocation wins over everything: a signature by a revoked key never counts, whatever its status,
   window or scope (``KEY_REVOKED``). :meth:`~securehost.TrustStore.lookup` still returns revoked
   keys, so that the envelope verifier checks their signatures and the reason stays precise.
2. Otherwise the status decides: ``invalid`` → ``SIGNATURE_INVALID``, ``unknown-key`` →
   ``KEY_UNKNOWN``, ``duplicate`` → ``DUPLICATE_SIGNATURE``; an unrecognised status counts as an
   invalid signature, and a ``valid`` one for a key that is not in the store as an unknown key.
3. A ``valid`` signature counts only if its key is inside its validity window ``[valid_after,
   valid_before)`` (``KEY_NOT_YET_VALID`` / ``KEY_EXPIRED``) and one of its ``names`` patterns
   matches the canonical distribution name (``KEY_OUT_OF_SCOPE``). A key counts once, however many
   valid signatures it made (the others are ``DUPLICATE_SIGNATURE``).

The threshold is the highest ``count`` among the threshold patterns that match the name (default 1).
Fewer unique counted keys is ``THRESHOLD_NOT_MET``. Each requested permission must be covered by
the ``max_permissions`` of at least ``threshold`` counted keys (``PERMISSION_NOT_VOUCHED``), and each declared
capability by the ``capabilities`` patterns of at least ``threshold`` counted keys (``CAPABILITY_NOT_VOUCHED``). A
rejected decision lists every per-signature reason before these; an accepted one only reports them
as ``ignored`` (TUF semantics: extra bad signatures do not reject, which also lets a publisher keep
signing with a rotated-out, revoked key during a transition).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final, Protocol, final

import attrs

from securehost._models import value_model
from securehost._permissions import NO_PERMISSIONS, PermissionSet
from securehost._trust.model import TrustedKey, show
from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from securehost._permissions import Permission

__all__ = ["SignatureCheckLike", "SignerDecision", "evaluate_signers", "permission_set"]

CANONICAL_NAME_RE: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_STATUS: Final = {
    "invalid": (ReasonCode.SIGNATURE_INVALID, "is not valid"),
    "unknown-key": (ReasonCode.KEY_UNKNOWN, "was made by a key that is not in the trust store"),
    "duplicate": (ReasonCode.DUPLICATE_SIGNATURE, "repeats a key that already signed"),
}
_UNRECOGNISED: Final = (ReasonCode.SIGNATURE_INVALID, "has an unrecognised check status")


def permission_set(permissions: Iterable[Permission]) -> PermissionSet:
    """Build a :class:`PermissionSet` from parsed permissions."""
    # Any: mypy's attrs plugin types PermissionSet's converter=frozenset argument as an
    # unsolvable Iterable[_T_co], so no typed argument is accepted.
    frozen: Any = frozenset(permissions)
    return PermissionSet(frozen) if frozen else NO_PERMISSIONS


class SignatureCheckLike(Protocol):
    """What :meth:`securehost.TrustStore.evaluate` needs from one checked envelope signature.

    ``status`` is ``"valid"``, ``"invalid"``, ``"unknown-key"`` or ``"duplicate"`` (a ``str`` enum
    with those values works too).
    """

    @property
    def keyid(self) -> str:
        """The key id the signature claims (untrusted)."""

    @property
    def status(self) -> str:
        """The result of checking the signature with the key the trust store returned."""


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class SignerDecision:
    """Who signed, and whether that is enough, for one distribution; truthy when accepted.

    Attributes:
        name: the canonical distribution name that was judged.
        counted: unique key ids whose signatures counted, in signature order.
        threshold: how many unique keys were required.
        vouched: the requested permissions that at least ``threshold`` counted keys cover.
        reasons: every reason for rejection; empty when accepted.
        ignored: problems with signatures that did not matter (only when accepted).
    """

    name: str
    counted: tuple[str, ...]
    threshold: int
    vouched: PermissionSet
    reasons: tuple[Reason, ...]
    ignored: tuple[Reason, ...] = ()

    @property
    def accepted(self) -> bool:
        """``True`` when there is no reason against the signers."""
        return not self.reasons

    def __bool__(self) -> bool:
        return self.accepted


def _key_problems(trusted: TrustedKey, what: str, canonical: str, now: datetime) -> list[Reason]:
    problems: list[Reason] = []
    subject = trusted.key_id
    window = trusted.window_reason(now)
    if window is ReasonCode.KEY_NOT_YET_VALID:
        message = f"{what}: the key is not valid before {trusted.valid_after}"
        problems.append(Reason(code=window, message=message, subject=subject))
    elif window is ReasonCode.KEY_EXPIRED:
        message = f"{what}: the key expired at {trusted.valid_before}"
        problems.append(Reason(code=window, message=message, subject=subject))
    if not (CANONICAL_NAME_RE.fullmatch(canonical) and trusted.covers_name(canonical)):
        names = ", ".join(trusted.names)
        message = f"{what}: the key may not sign for {show(canonical)} (names: {names})"
        problems.append(Reason(code=ReasonCode.KEY_OUT_OF_SCOPE, message=message, subject=subject))
    return problems


def evaluate_signers(
    *,
    keys: Mapping[str, TrustedKey],
    revoked: frozenset[str],
    threshold: int,
    canonical: str,
    requested: PermissionSet,
    checks: Sequence[SignatureCheckLike],
    now: datetime,
    capabilities: Sequence[str] = (),
) -> SignerDecision:
    """Apply the rules of this module; see :meth:`securehost.TrustStore.evaluate`."""
    counted: list[str] = []
    problems: list[Reason] = []
    for check in checks:
        keyid, status = check.keyid, getattr(check.status, "value", check.status)
        what = f"signature by key {show(keyid, 72)}"
        trusted = keys.get(keyid)
        if keyid in revoked:
            message = f"{what}: the key is revoked"
            problems.append(Reason(code=ReasonCode.KEY_REVOKED, message=message, subject=keyid))
        elif trusted is None or status != "valid":
            code, text = _STATUS["unknown-key"] if status == "valid" else _STATUS.get(status, _UNRECOGNISED)
            problems.append(Reason(code=code, message=f"{what} {text}", subject=keyid))
        elif found := _key_problems(trusted, f"{what} ({trusted.label})", canonical, now):
            problems.extend(found)
        elif keyid in counted:
            code, text = _STATUS["duplicate"]
            message = f"{what} ({trusted.label}) {text}"
            problems.append(Reason(code=code, message=message, subject=keyid))
        else:
            counted.append(keyid)
    decisive: list[Reason] = []
    if len(counted) < threshold:
        message = f"{len(counted)} of {threshold} required trusted signatures for {show(canonical)}"
        code = ReasonCode.THRESHOLD_NOT_MET
        decisive.append(Reason(code=code, message=message, subject=canonical))
    vouched: list[Permission] = []
    # Sorted by text: PermissionSet's own order cannot compare a missing scope with a scope.
    for permission in sorted(requested.permissions, key=str):
        vouchers = sum(1 for k in counted if keys[k].max_permissions.covers(permission))
        if vouchers >= threshold:
            vouched.append(permission)
        else:
            message = f"{permission} is vouched for by {vouchers} of {threshold} required signers"
            code = ReasonCode.PERMISSION_NOT_VOUCHED
            decisive.append(Reason(code=code, message=message, subject=str(permission)))
    for capability in sorted(set(capabilities)):
        vouchers = sum(1 for k in counted if keys[k].covers_capability(capability))
        if vouchers < threshold:
            message = f"capability {capability} is vouched for by {vouchers} of {threshold} required signers"
            code = ReasonCode.CAPABILITY_NOT_VOUCHED
            decisive.append(Reason(code=code, message=message, subject=capability))
    # A rejection reports every signature problem (one of them may be why a permission lacks
    # vouchers); an acceptance only lists them as ignored.
    reasons = (*problems, *decisive) if decisive else ()
    ignored = () if decisive else tuple(problems)
    return SignerDecision(
        name=canonical,
        counted=tuple(counted),
        threshold=threshold,
        vouched=permission_set(vouched),
        reasons=reasons,
        ignored=ignored,
    )
