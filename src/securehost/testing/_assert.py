"""Assertions for tests of hosts and plugins, with failure messages that say what actually happened.

They raise :class:`AssertionError` (so they work under any test runner) and hide their own frames from pytest
tracebacks.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, final

from securehost._host.report import LoadReport, PluginReport
from securehost._verdict import ReasonCode, Verdict
from securehost.exceptions import HookError, PermissionDeniedError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = ["Denial", "assert_accepted", "assert_denied", "assert_rejected", "denied"]

_Judged = LoadReport | PluginReport | Verdict


def _codes(reason: ReasonCode | str | Iterable[ReasonCode | str] | None) -> tuple[ReasonCode, ...]:
    if reason is None:
        return ()
    items = [reason] if isinstance(reason, (ReasonCode, str)) else list(reason)
    try:
        return tuple(ReasonCode(item) for item in items)
    except ValueError as exc:
        known = ", ".join(code.value for code in ReasonCode)
        raise ValueError(f"unknown reason code in {items!r}; known codes: {known}") from exc


def _pick(judged: _Judged, name: str | None, wanted: str) -> PluginReport | Verdict:
    __tracebackhide__ = True
    if not isinstance(judged, (LoadReport, PluginReport, Verdict)):
        raise TypeError(f"expected a LoadReport, PluginReport or Verdict, not {type(judged).__name__}")
    if not isinstance(judged, LoadReport):
        if name is not None and judged.name is not None and judged.name != _canonical(name):
            raise AssertionError(f"expected a decision about {name!r}, got one about {judged.name!r}")
        return judged
    if name is None:
        if len(judged.plugins) == 1:
            return judged.plugins[0]
        listing = ", ".join(f"{p.name} ({p.status})" for p in judged.plugins) or "none"
        raise AssertionError(f"name= is needed to expect {wanted}: the report has several plugins: {listing}")
    canonical = _canonical(name)
    if canonical not in judged:
        listing = ", ".join(f"{p.name} ({p.status})" for p in judged.plugins) or "no plugins at all"
        raise AssertionError(
            f"expected {name!r} to be {wanted}, but it is not in the report for group {judged.group!r}: {listing}"
        )
    return judged[canonical]


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name  # noqa: PLC0415 - keep this module's imports light

    return str(canonicalize_name(name))


def _describe(item: PluginReport | Verdict) -> str:
    return "\n".join("    " + line for line in item.summary().splitlines())


def assert_rejected(
    judged: _Judged,
    *,
    name: str | None = None,
    reason: ReasonCode | str | Iterable[ReasonCode | str] | None = None,
) -> PluginReport | Verdict:
    """Assert that a plugin was rejected (or held) and, if *reason* is given, for every one of those reasons.

    Args:
        judged: a :class:`~securehost.LoadReport` (from ``host.load()``), a :class:`~securehost.PluginReport`
            (from ``host.reload()``) or a :class:`~securehost.Verdict` (from :func:`securehost.verify_wheel`).
        name: the distribution to look at in a load report (not needed when it holds a single plugin).
        reason: a reason code (or its value, ``"digest-mismatch"``), or several that must all be present.

    Returns:
        The plugin's report or the verdict, for further checks.

    Raises:
        AssertionError: the plugin is not in the report, was accepted, or was rejected without one of the reasons;
            the message lists the decision with every reason it had.
        TypeError: *judged* is not a report or a verdict.
        ValueError: *reason* names an unknown reason code.
    """
    __tracebackhide__ = True
    expected = _codes(reason)
    wanted = "rejected" + (f" with {', '.join(c.value for c in expected)}" if expected else "")
    item = _pick(judged, name, wanted)
    subject = item.name or item.subject if isinstance(item, Verdict) else item.name
    rejected = item.status in ("rejected", "held") if isinstance(item, PluginReport) else not item.accepted
    if not rejected:
        status = item.status if isinstance(item, PluginReport) else "accepted"
        raise AssertionError(f"expected {subject} to be {wanted}, but it was {status}:\n{_describe(item)}")
    codes = item.verdict.codes if isinstance(item, PluginReport) else item.codes
    missing = [code.value for code in expected if code not in codes]
    if missing:
        raise AssertionError(
            f"expected {subject} to be {wanted}; it was rejected, but without {', '.join(missing)}:\n{_describe(item)}"
        )
    return item


def assert_accepted(judged: _Judged, *, name: str | None = None) -> PluginReport | Verdict:
    """Assert that a plugin passed every check (``accepted``, or ``verified`` by ``host.check()``).

    Returns:
        The plugin's report or the verdict.

    Raises:
        AssertionError: the plugin is not in the report or was not accepted; the message lists every reason.
        TypeError: *judged* is not a report or a verdict.
    """
    __tracebackhide__ = True
    item = _pick(judged, name, "accepted")
    if not item.accepted:
        subject = item.name or item.subject if isinstance(item, Verdict) else item.name
        status = item.status if isinstance(item, PluginReport) else "rejected"
        raise AssertionError(f"expected {subject} to be accepted, but it was {status}:\n{_describe(item)}")
    return item


# --- denials -------------------------------------------------------------------------------------------------


def _denials(error: BaseException) -> list[PermissionDeniedError]:
    """Every permission denial in *error*: itself, its causes, a HookError's errors, an exception group's members."""
    found: list[PermissionDeniedError] = []
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, PermissionDeniedError):
            found.append(current)
        if isinstance(current, HookError):
            stack.extend(exc for _, exc in current.errors)
        stack.extend(getattr(current, "exceptions", ()))  # BaseExceptionGroup (Python >= 3.11)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return found


def _matches(denial: PermissionDeniedError, permission: str | None, plugin: str | None) -> bool:
    if plugin is not None and denial.plugin != plugin:
        return False
    if permission is None:
        return True
    actual = denial.permission or ""
    return actual == permission or (":" not in permission and actual.split(":", 1)[0] == permission)


def _expectation(permission: str | None, plugin: str | None) -> str:
    what = f"a denial of {permission!r}" if permission is not None else "a permission denial"
    return what + (f" for plugin {plugin!r}" if plugin is not None else "")


def _check_error(error: BaseException, permission: str | None, plugin: str | None) -> PermissionDeniedError:
    __tracebackhide__ = True
    denials = _denials(error)
    for denial in denials:
        if _matches(denial, permission, plugin):
            return denial
    expected = _expectation(permission, plugin)
    if not denials:
        raise AssertionError(f"expected {expected}, but {type(error).__name__} was raised: {error}") from error
    listing = "\n".join(f"    plugin {d.plugin!r} was denied {d.permission!r}: {d}" for d in denials)
    raise AssertionError(f"expected {expected}, but other permissions were denied:\n{listing}") from error


def assert_denied(
    target: Callable[[], Any] | BaseException | Any,
    *,
    permission: str | None = None,
    plugin: str | None = None,
) -> PermissionDeniedError:
    """Assert that a call was denied a permission.

    The denial may be the error itself, or be inside it: a :class:`~securehost.HookError` of an isolated hook,
    an exception group, or the cause of another error.

    Args:
        target: a callable taking no arguments (called here), an exception, or a ``pytest.ExceptionInfo``.
        permission: the permission denied, exactly as reported (``"fs.read:/etc/passwd"``; paths are resolved, so
            compare with ``os.path.realpath``), or only its kind (``"fs.read"``); ``None``: any.
        plugin: the name the denied plugin was registered under, if it matters.

    Returns:
        The matching :class:`~securehost.PermissionDeniedError`.

    Raises:
        AssertionError: the call returned, or raised without a matching denial; the message says what happened.
        TypeError: *target* is neither a callable nor an exception.
    """
    __tracebackhide__ = True
    error = getattr(target, "value", target) if not isinstance(target, BaseException) else target
    if not isinstance(error, BaseException):
        if not callable(target):
            raise TypeError(f"expected a callable, an exception or a pytest.ExceptionInfo, not {type(target).__name__}")
        try:
            result = target()
        except Exception as exc:  # noqa: BLE001 - every error is examined for a denial
            return _check_error(exc, permission, plugin)
        raise AssertionError(f"expected {_expectation(permission, plugin)}, but the call returned {result!r}")
    return _check_error(error, permission, plugin)


@final
class Denial:
    """What :func:`denied` caught: :attr:`value` is the matching denial once the ``with`` block has ended."""

    def __init__(self) -> None:
        self._value: PermissionDeniedError | None = None

    @property
    def value(self) -> PermissionDeniedError:
        """The matching denial.

        Raises:
            AttributeError: the ``with`` block has not ended with a matching denial (yet).
        """
        if self._value is None:
            raise AttributeError("no denial was caught (yet)")
        return self._value

    def __repr__(self) -> str:
        return f"<Denial {self._value!r}>"


@contextlib.contextmanager
def denied(permission: str | None = None, *, plugin: str | None = None) -> Iterator[Denial]:
    """Expect the ``with`` block to be denied *permission*, like ``pytest.raises`` (see :func:`assert_denied`).

    Yields:
        A :class:`Denial` whose :attr:`~Denial.value` is the matching error after the block.

    Raises:
        AssertionError: the block ended normally, or raised without a matching denial.
    """
    __tracebackhide__ = True
    caught = Denial()
    try:
        yield caught
    except Exception as exc:  # noqa: BLE001 - every error is examined for a denial
        caught._value = _check_error(exc, permission, plugin)  # the holder is ours
        return
    raise AssertionError(f"expected {_expectation(permission, plugin)}, but the block raised nothing")
