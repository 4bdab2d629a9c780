"""Internal records: the load path's bookkeeping types, as plain ``__slots__`` classes built without generated code.

Public models are ``attrs`` classes (``securehost._models``). Defining one costs about 250 µs when its module is
imported, most of it ``attrs`` compiling the ``__init__`` it writes; a plain class with a written ``__init__`` costs
about 8 µs. A host imports the fourteen internal record types of discovery, the installed-file check, the importer,
the statement check and the orchestra on every start, and no user builds, evolves or serializes them: so they
subclass :class:`Record`, as pluggy keeps its own ``HookImpl`` a plain ``__slots__`` class.

A record behaves as a frozen value model does: assigning or deleting an attribute raises
:class:`attrs.exceptions.FrozenInstanceError`; two records are equal when they are of the same class and their
compared fields are equal (another class gets ``NotImplemented``); the hash covers the compared fields; ``repr``
shows each field (a set sorted, as :func:`securehost._models.stable_repr` does); ``copy``, ``deepcopy`` and
``pickle`` rebuild it. A class declared with ``frozen=False`` is mutable and unhashable, as an ``attrs.define``
class is. A subclass's fields are the parameters of its own ``__init__``, in that order (``__slots__`` must name the
same, in any order); the ``__init__`` sets them through :data:`setfield` (frozen) or plain assignment (mutable). The
class keyword ``ignore`` names fields left out of equality and hash. ``tests/test_records.py`` holds every record of
the package to this.
"""

from __future__ import annotations

import operator
import reprlib
from typing import TYPE_CHECKING, Any, ClassVar

from attrs.exceptions import FrozenInstanceError

from securehost._models import stable_repr

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Record", "setfield"]

#: ``object.__setattr__``: what a frozen record's ``__init__`` sets its fields with.
setfield: Callable[[object, str, object], None] = object.__setattr__


def _getter(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        one = operator.attrgetter(names[0])
        return lambda record: (one(record),)
    return lambda _record: ()


def _rebuild(cls: type[Record], values: tuple[Any, ...]) -> Record:
    record = object.__new__(cls)
    for name, value in zip(cls._fields, values, strict=True):
        object.__setattr__(record, name, value)
    return record


class Record:
    """Base of the internal records (see the module docstring)."""

    __slots__: ClassVar[tuple[str, ...]] = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _values: ClassVar[Callable[[object], tuple[Any, ...]]] = staticmethod(_getter(()))
    _compared: ClassVar[Callable[[object], tuple[Any, ...]]] = staticmethod(_getter(()))

    def __init_subclass__(cls, *, frozen: bool = True, ignore: tuple[str, ...] = ()) -> None:
        super().__init_subclass__()
        slots: object = vars(cls).get("__slots__")
        init: Any = vars(cls).get("__init__")
        while hasattr(init, "__wrapped__"):  # a decorated __init__ (functools.wraps): its fields are the original's
            init = init.__wrapped__
        code = getattr(init, "__code__", None)
        fields = () if code is None else code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
        if not isinstance(slots, tuple) or set(slots) != set(fields) or len(slots) != len(fields):
            raise TypeError(f"{cls.__qualname__}: __slots__ must be a tuple of the parameters of its own __init__")
        if not set(ignore) <= set(fields):
            raise TypeError(f"{cls.__qualname__}: ignore names {sorted(set(ignore) - set(fields))}, not fields")
        cls._fields = fields
        cls._values = staticmethod(_getter(fields))
        cls._compared = staticmethod(_getter(tuple(name for name in fields if name not in ignore)))
        if not frozen:
            cls.__setattr__ = object.__setattr__  # type: ignore[method-assign,assignment]
            cls.__delattr__ = object.__delattr__  # type: ignore[method-assign]
            cls.__hash__ = None  # type: ignore[method-assign,assignment]

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        compared = self.__class__._compared
        return compared(self) == compared(other)

    def __hash__(self) -> int:
        return hash((self.__class__.__qualname__, self.__class__._compared(self)))

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        shown = zip(self._fields, self.__class__._values(self), strict=True)
        fields = ", ".join(f"{name}={stable_repr(value)}" for name, value in shown)
        return f"{self.__class__.__qualname__.rsplit('>.', 1)[-1]}({fields})"

    def __reduce__(
        self,
    ) -> tuple[Callable[[type[Record], tuple[Any, ...]], Record], tuple[type[Record], tuple[Any, ...]]]:
        return _rebuild, (self.__class__, self.__class__._values(self))
