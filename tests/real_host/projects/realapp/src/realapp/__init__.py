"""realapp: a small pluggy application whose third-party plugins securehost loads.

Its hook specifications are :class:`Spec`; :func:`make_host` builds the host and registers the application's own
built-in plugins with ``pm.register()``, as pluggy applications do.
"""

from __future__ import annotations

import os
from typing import Any

import pluggy
from realapp_util import title

GROUP = "realapp.plugins"
hookspec = pluggy.HookspecMarker("realapp")
hookimpl = pluggy.HookimplMarker("realapp")


class Spec:
    """realapp's hooks."""

    @hookspec
    def greet(self, name: str) -> str:  # type: ignore[empty-body]
        """Return a greeting for *name*."""

    @hookspec
    def summarize(self, numbers: list[float]) -> dict[str, float]:  # type: ignore[empty-body]
        """Return named statistics of *numbers*."""


class BuiltinGreeter:
    """realapp's own greeter, registered by realapp itself."""

    @hookimpl
    def greet(self, name: str) -> str:
        return f"Hello, {title(name)}"


def make_host(store: str | os.PathLike[str], state: str | os.PathLike[str], **options: Any) -> Any:
    """Build realapp's plugin host and register the built-in plugins."""
    from securehost import Host

    host = Host(project="realapp", group=GROUP, trust_store=store, hookspecs=Spec, state_dir=state, **options)
    host.manager.register(BuiltinGreeter(), name="realapp.builtin")
    return host
