"""Entry points of a verified distribution: each must name a module the distribution itself installed and signed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from securehost._installed.modules import ModuleKind
from securehost._verdict import Reason, ReasonCode
from securehost._wheel.entrypoints import EntryPointSpec, parse_entry_point_value
from securehost.exceptions import EntryPointFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from securehost._installed.modules import VerifiedModule

__all__ = ["check_entry_points"]

_OUTSIDE = ReasonCode.ENTRY_POINT_OUTSIDE_DISTRIBUTION


def check_entry_points(
    entry_points: Iterable[EntryPointSpec | str], verified_modules: Mapping[str, VerifiedModule]
) -> tuple[Reason, ...]:
    """Check that every entry point targets a module of the verified distribution.

    Args:
        entry_points: parsed entry points (from discovery) or raw ``module:attr`` values.
        verified_modules: the module table of :func:`verify_installed`.

    Returns:
        One ``ENTRY_POINT_OUTSIDE_DISTRIBUTION`` reason per entry point whose module is not a (non-namespace)
        module of the distribution: ``os:system``, ``json:loads``, another distribution's module, a relative or
        malformed name. Empty when all are inside.
    """
    reasons: list[Reason] = []
    for entry_point in entry_points:
        value = entry_point.value if isinstance(entry_point, EntryPointSpec) else entry_point
        try:
            module = parse_entry_point_value(value)[0]
        except (EntryPointFormatError, TypeError) as exc:
            msg = f"entry point {str(value)[:80]!r} names no module of the distribution ({exc})"
            reasons.append(Reason(code=_OUTSIDE, message=msg, subject=str(value)[:200]))
            continue
        verified = verified_modules.get(module)
        if verified is None or verified.kind is ModuleKind.NAMESPACE:
            msg = f"entry point {value!r} targets {module!r}, which is not a module of the signed distribution"
            reasons.append(Reason(code=_OUTSIDE, message=msg, subject=value))
    return tuple(reasons)
