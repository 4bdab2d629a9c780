"""What the manager reports of an implementation it left out: a record defined on first use, not at start-up."""

from __future__ import annotations

from typing import final

import attrs

from securehost._models import value_model
from securehost._permissions import PermissionSet

__all__ = ["SkippedImpl"]


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class SkippedImpl:
    """An implementation left out because its plugin lacks a permission that the hook requires.

    Attributes:
        plugin: the plugin name.
        hook: the hook name.
        missing: the required permissions that the plugin's effective permissions do not cover.
    """

    plugin: str
    hook: str
    missing: PermissionSet
