"""Lifecycle: the optional start, stop and health hooks a plugin may implement, their order and their deadlines.

securehost adds three hook specifications to every host's plugin manager, under the host's project name (a plugin
implements them with the same ``pluggy.HookimplMarker(project)`` as the host's own hooks):

* ``securehost_start(config)``: called once after the plugin is loaded and before :meth:`Host.load` returns, with
  the resolved configuration (also ``current_plugin().config``). Raising, or not returning within the host's
  deadline, holds the plugin back (``PLUGIN_START_FAILED`` / ``PLUGIN_START_TIMEOUT``); the others start.
* ``securehost_stop()``: called before the plugin is unloaded (``unload``, ``reload``, ``disable``, ``close``).
  A failure is logged and audited; the plugin is unloaded anyway.
* ``securehost_health()``: called by :meth:`Host.health`; returns ``"ok"``, ``"degraded"`` or ``"failing"``, or a
  mapping ``{"status": ..., "reason": ...}``. ``None`` (or no implementation) counts as ``"ok"``.

Plugins that depend on each other (``Requires-Dist`` naming another loaded plugin) start dependencies first and stop
in the reverse order. Every call runs through the plugin manager, so it carries the plugin's identity, permissions
and counters like any hook call, and an isolated plugin's call is forwarded to its worker.
"""

from __future__ import annotations

import contextvars
import re
import threading
from typing import TYPE_CHECKING, Any, Final

import pluggy

from securehost._patterns import lazy_pattern
from securehost._records import Record, setfield

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["HEALTH", "START", "STOP", "Outcome", "call_with_deadline", "dependency_order", "lifecycle_spec"]

START: Final = "securehost_start"
STOP: Final = "securehost_stop"
HEALTH: Final = "securehost_health"


_name_re = lazy_pattern(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def lifecycle_spec(project: str) -> type:
    """Return the class of lifecycle hook specifications for *project*'s plugin manager."""
    hookspec = pluggy.HookspecMarker(project)

    class LifecycleSpec:
        """securehost's lifecycle hooks."""

        @hookspec(firstresult=True)
        def securehost_start(self, config: Mapping[str, Any]) -> None:
            """Start with the resolved configuration."""

        @hookspec(firstresult=True)
        def securehost_stop(self) -> None:
            """Release what the plugin holds."""

        @hookspec(firstresult=True)
        def securehost_health(self) -> object:
            """Report ``ok``, ``degraded`` or ``failing`` (or ``{"status": ..., "reason": ...}``)."""

    return LifecycleSpec


def requirement_names(requires: Iterable[str]) -> set[str]:
    """Return the canonical distribution names that ``Requires-Dist`` lines name."""
    names = set()
    for line in requires:
        match = _name_re().match(line)
        if match:
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def dependency_order(requires: Mapping[str, Iterable[str]]) -> list[str]:
    """Order the plugins of *requires* (name → names it depends on) dependencies first, ties by name.

    Dependencies outside *requires* are ignored; the members of a cycle follow in name order after what they need.
    """
    known = set(requires)
    pending = {name: set(deps) & known - {name} for name, deps in requires.items()}
    order: list[str] = []
    while pending:
        ready = sorted(name for name, deps in pending.items() if not deps) or [min(pending)]
        for name in ready:
            del pending[name]
            order.append(name)
        for deps in pending.values():
            deps.difference_update(ready)
    return order


class Outcome(Record):
    """The outcome of one lifecycle call.

    Attributes:
        value: what the hook returned (``None`` when it failed).
        error: ``"ExceptionType: message"`` when it raised or timed out, else ``None``.
        timed_out: the call did not return within its deadline.
    """

    __slots__ = ("error", "timed_out", "value")
    value: Any
    error: str | None
    timed_out: bool

    def __init__(self, *, value: Any = None, error: str | None = None, timed_out: bool = False) -> None:
        setfield(self, "value", value)
        setfield(self, "error", error)
        setfield(self, "timed_out", timed_out)

    @property
    def ok(self) -> bool:
        """``True`` when the call returned in time without raising."""
        return self.error is None


def call_with_deadline(function: Callable[[], Any], timeout: float) -> Outcome:
    """Call *function* in a helper thread and wait at most *timeout* seconds.

    A call that overruns is abandoned, not killed: Python cannot stop a thread. The host unloads the plugin (an
    isolated plugin's worker is killed with it); an in-process plugin's thread runs on as a daemon thread.
    """
    box: dict[str, Any] = {}
    context = contextvars.copy_context()

    def run() -> None:
        try:
            box["value"] = context.run(function)
        except BaseException as exc:  # noqa: BLE001 - every failure of plugin code is an outcome
            try:
                box["error"] = f"{type(exc).__name__}: {exc}"[:300]
            except Exception:  # noqa: BLE001 - a hostile __str__
                box["error"] = type(exc).__name__

    thread = threading.Thread(target=run, name="securehost-lifecycle", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return Outcome(error=f"did not return within {timeout:g} s", timed_out=True)
    if "error" in box:
        return Outcome(error=box["error"])
    return Outcome(value=box.get("value"))
