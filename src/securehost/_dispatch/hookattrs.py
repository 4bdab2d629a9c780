"""Which attributes of a plugin module pluggy would never take for a hook implementation, decided without pluggy.

:meth:`pluggy.PluginManager.register` asks ``parse_hookimpl_opts`` about every name in ``dir(plugin)``. pluggy 1.7
answers each with :func:`inspect.getattr_static` (a few microseconds a name); a plugin module's names are mostly
imports, classes, constants and the module's own dunders, which can never be implementations. For a plain module
(``type(plugin) is types.ModuleType``), :func:`inert_module_attribute` recognises those from the module's
``__dict__`` alone, and :class:`~securehost.SecurePluginManager` answers ``None`` for them without asking pluggy;
every other name goes to pluggy's own ``parse_hookimpl_opts``, so what gets registered is pluggy's decision.

A name counts as inert when the module's ``__dict__`` holds it and its value is a class or an instance of exactly
one of a few plain types (``str``, ``int``, ``dict``, a module, a module spec, pluggy's markers, ...) or of a type
the host declared with :func:`add_inert_types` (the loader and spec that securehost's verified importer gives every
module it imports, which this layer may not import). Both ways pluggy has looked attributes up agree that such a
name is not an implementation:

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

__all__ = ["add_inert_types", "inert_module_attribute"]

_ABSENT: Final = object()

#: The exact types whose values are never a hook implementation (none is a function or a method, none defines
#: ``__get__``), by id: hashing a value's class would run its metaclass's ``__hash__``. The host adds its own
#: (:func:`add_inert_types`); holding the types keeps them alive, so their ids stay theirs.
_INERT_TYPES: Final[dict[int, type]] = {
    id(inert): inert
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
}
#: What an inert type must not be or have: pluggy takes instances of these for implementations, or would ask.
_ROUTINES: Final = (
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    staticmethod,
    classmethod,
)


def add_inert_types(*kinds: type) -> None:
    """Count values of exactly these types as never a hook implementation too.

    For classes of securehost's own (the verified importer's module loader and spec), so that registering a plugin
    module does not ask pluggy about its ``__loader__`` and ``__spec__``. An instance of such a class is neither a
    function, a method, a ``staticmethod`` nor a ``classmethod`` (what pluggy 1.7 takes), nor a routine by
    :func:`inspect.isroutine` (what pluggy 1.5 and 1.6 take): it derives from none of those and has no ``__get__``.

    Raises:
        TypeError: a class derives from a function or method type or defines ``__get__``: pluggy could take its
            instances, so it is not declared.
    """
    for kind in kinds:
        if not isinstance(kind, type) or issubclass(kind, _ROUTINES) or hasattr(kind, "__get__"):
            raise TypeError(f"{kind!r} is not a class whose instances pluggy never takes for a hook implementation")
    _INERT_TYPES.update((id(kind), kind) for kind in kinds)


def inert_module_attribute(plugin: object, name: str) -> bool:
    """Whether *name* of *plugin* is, by its value alone, not a hook implementation (see the module docstring).

    ``False`` means "ask pluggy", not "an implementation": only a plain module's plain values are judged here.
    """
    if type(plugin) is not types.ModuleType or type(name) is not str:
        return False
    # a name absent from __dict__ (on the type, or from the module's __getattr__) gets the sentinel: pluggy decides
    kind = type(vars(plugin).get(name, _ABSENT))
    return id(kind) in _INERT_TYPES or issubclass(kind, type)
