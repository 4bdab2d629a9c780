"""Which attributes of a plugin module pluggy would never take for a hook implementation, decided without pluggy.

:meth:`pluggy.PluginManager.register` asks ``parse_hookimpl_opts`` about every name in ``dir(plugin)``. pluggy 1.7
answers each with :func:`inspect.getattr_static` (a few microseconds a name); a plugin module's names are mostly
imports, classes, constants and the module's own dunders, which can never be implementations. For a plain module
(``type(plugin) is types.ModuleType``), :func:`inert_module_attribute` recognises those from the module's
``__dict__`` alone, and :class:`~securehost.SecurePluginManager` answers ``None`` for them without asking pluggy;
every other name goes to pluggy's own ``parse_hookimpl_opts``, so what gets registered is pluggy's decision.

A name counts as inert when the module's ``__dict__`` holds it and its value is a class or an instance of exactly
one of a few plain types (``str``, ``int``, ``dict``, a module, a module spec, pluggy's markers, ...). Both ways
pluggy has looked attributes up agree that such a name is not an implementation:

* pluggy 1.7 takes only functions, bound methods, ``staticmethod`` and ``classmethod`` objects, found with
  :func:`inspect.getattr_static`: that returns the ``__dict__`` value, or a data descriptor of ``types.ModuleType``
  of the same name (``__dict__``, ``__annotations__``, ``__class__``), which is none of those either;
* pluggy 1.5 and 1.6 take what ``getattr(plugin, name)`` returns (the same) if :func:`inspect.isroutine` holds for
  it, and no class, none of those plain types and none of those descriptors is a routine.

Nothing here runs plugin code: no attribute of the value is looked up, and its class is compared by identity and
by its real method resolution order (``issubclass(type(value), type)``), never through ``__class__``, ``__hash__``
or ``__eq__`` that a plugin could define.
"""

from __future__ import annotations

import importlib.machinery
import types
from typing import Final

import pluggy

__all__ = ["inert_module_attribute"]

_ABSENT: Final = object()

#: The ids of the exact types whose values are never a hook implementation (none is a function or a method, none
#: defines ``__get__``). Ids, not the types: hashing a value's class would run its metaclass's ``__hash__``.
_INERT_TYPES: Final = frozenset(
    id(inert)
    for inert in (
        str,
        bytes,
        int,
        float,
        complex,
        bool,
        type(None),
        tuple,
        list,
        dict,
        set,
        frozenset,
        types.ModuleType,
        importlib.machinery.ModuleSpec,
        pluggy.HookimplMarker,  # `hookimpl = pluggy.HookimplMarker(...)` in most plugin modules: callable, no __get__
        pluggy.HookspecMarker,
    )
)


def inert_module_attribute(plugin: object, name: str) -> bool:
    """Whether *name* of *plugin* is, by its value alone, not a hook implementation (see the module docstring).

    ``False`` means "ask pluggy", not "an implementation": only a plain module's plain values are judged here.
    """
    if type(plugin) is not types.ModuleType or type(name) is not str:
        return False
    # a name absent from __dict__ (on the type, or from the module's __getattr__) gets the sentinel: pluggy decides
    kind = type(vars(plugin).get(name, _ABSENT))
    return id(kind) in _INERT_TYPES or issubclass(kind, type)
