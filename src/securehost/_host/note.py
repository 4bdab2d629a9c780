"""A load note: the model of what a load did not do (``notes`` decides when; the first note imports this)."""

from __future__ import annotations

import enum
from typing import Any, final

import attrs

from securehost._models import value_model

__all__ = ["LoadNote", "NoteCode"]


class NoteCode(str, enum.Enum):
    """Machine-readable codes of :class:`LoadNote`."""

    NO_PLUGINS = "no-plugins"
    """No distribution on the search path declares entry points in the group."""
    PATH_MISSING = "path-missing"
    """An entry of the host's ``path`` does not exist."""
    NO_HOOKS = "no-hooks"
    """A loaded plugin implements none of the host's hooks."""
    FOREIGN_MARKER = "foreign-marker"
    """A loaded plugin marks its functions with the ``HookimplMarker`` of another project."""
    UNKNOWN_HOOK = "unknown-hook"
    """A loaded plugin implements a hook the host does not specify (a misspelt name?)."""
    UNSIGNED_DEV = "unsigned-dev"
    """A plugin was loaded without a signature, in development mode (``unsafe_unsigned``)."""
    INSTALL_INTERRUPTED = "install-interrupted"
    """A ``securehost install``, ``upgrade`` or ``uninstall`` in a plugin directory was killed before it finished."""
    STATE_UNWRITABLE = "state-unwritable"
    """A file of the host's state directory (a memo, the file record, bytecode cache entries) could not be written."""


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class LoadNote:
    """Something a load did not do, or did only because it was told to, with what to do about it.

    Attributes:
        code: what kind of note.
        message: one sentence: what happened and what to do.
        plugin: the distribution it is about, if any.
        subject: the group, path entry, hook or marker it is about.
    """

    code: NoteCode
    message: str
    plugin: str | None = None
    subject: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {"code": self.code.value, "message": self.message, "plugin": self.plugin, "subject": self.subject}

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"
