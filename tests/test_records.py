"""The internal records: frozen (or declared mutable), compared, hashed, shown and copied by their fields."""

from __future__ import annotations

import copy
import inspect
import pickle
from typing import Any

import pytest
from attrs.exceptions import FrozenInstanceError
from hypothesis import given
from hypothesis import strategies as st

from securehost._installed.modules import ModuleKind, VerifiedModule
from securehost._records import Record, setfield
from securehost._wheel.entrypoints import EntryPointSpec
from tests._classes import package_classes


def _all_records() -> list[type[Record]]:
    return package_classes(lambda cls: issubclass(cls, Record))


RECORDS = [cls for cls in _all_records() if cls is not Record]
#: Fields whose value the record converts: given a mapping, it keeps a read-only copy.
_MAPPINGS = {"modules"}


def _arguments(cls: type[Record], tag: str = "") -> dict[str, Any]:
    """A distinct value for every parameter of ``cls.__init__`` (defaults included)."""
    params = list(inspect.signature(cls).parameters)
    return {name: ({f"m{tag}": name} if name in _MAPPINGS else f"<{name}{tag}>") for name in params}


def _build(cls: type[Record], arguments: dict[str, Any]) -> Record:
    if any(p.kind is p.POSITIONAL_OR_KEYWORD for p in inspect.signature(cls).parameters.values()):
        return cls(*arguments.values())
    return cls(**arguments)


def _ignored(cls: type[Record]) -> set[str]:
    """The fields left out of equality: one changed, the records stay equal."""
    base = _build(cls, _arguments(cls))
    ignored = set()
    for name in cls._fields:
        arguments = _arguments(cls)
        arguments[name] = _arguments(cls, "-other")[name]
        if _build(cls, arguments) == base:
            ignored.add(name)
    return ignored


def test_every_record_is_found() -> None:
    assert len(RECORDS) >= 14
    assert {cls.__name__ for cls in RECORDS} >= {"Discovery", "InstalledDistribution", "Member", "VerifiedModule"}


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__qualname__)
def test_init_takes_exactly_the_fields_in_order_and_sets_each(cls: type[Record]) -> None:
    assert list(inspect.signature(cls).parameters) == list(cls._fields)
    assert sorted(cls.__slots__) == sorted(cls._fields)
    arguments = _arguments(cls)
    record = _build(cls, arguments)
    for name in cls._fields:
        value = getattr(record, name)
        assert value == arguments[name] or (name in _MAPPINGS and dict(value) == arguments[name]), name


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__qualname__)
def test_a_record_is_frozen_unless_declared_mutable(cls: type[Record]) -> None:
    record = _build(cls, _arguments(cls))
    first = cls._fields[0]
    if vars(cls).get("__hash__", 0) is None:  # declared frozen=False: mutable and unhashable, as attrs.define
        setattr(record, first, "changed")
        assert getattr(record, first) == "changed"
        with pytest.raises(TypeError, match="unhashable"):
            hash(record)
        return
    with pytest.raises(FrozenInstanceError):
        setattr(record, first, "changed")
    with pytest.raises(FrozenInstanceError):
        delattr(record, first)
    with pytest.raises(AttributeError):
        record.not_a_field = 1
    assert getattr(record, first) == _arguments(cls)[first]


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__qualname__)
def test_records_are_equal_exactly_when_their_compared_fields_are(cls: type[Record]) -> None:
    base = _build(cls, _arguments(cls))
    twin = _build(cls, _arguments(cls))
    assert twin == base
    assert (twin != base) is False
    if cls.__hash__ is not None and "modules" not in cls._fields:  # a read-only mapping is unhashable
        assert hash(twin) == hash(base)
    assert base.__eq__(object()) is NotImplemented
    assert base != tuple(_arguments(cls).values())
    ignored = _ignored(cls)
    assert ignored <= {"evidence"}  # InstalledDistribution's evidence, as its attrs field had eq=False
    assert len(ignored) < len(cls._fields)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__qualname__)
def test_repr_shows_the_class_and_every_field(cls: type[Record]) -> None:
    record = _build(cls, _arguments(cls))
    text = repr(record)
    assert text.startswith(f"{cls.__qualname__}(")
    for name in cls._fields:
        assert f"{name}=" in text
    assert "'<" + cls._fields[0] + ">'" in text or cls._fields[0] in _MAPPINGS


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__qualname__)
def test_records_survive_pickling_and_copying(cls: type[Record]) -> None:
    arguments = _arguments(cls)
    record = _build(cls, arguments)
    copies = [copy.copy(record)]
    if "modules" not in cls._fields:  # a read-only mapping neither pickles nor deep-copies, as with attrs
        copies += [copy.deepcopy(record), pickle.loads(pickle.dumps(record))]
    for twin in copies:
        assert type(twin) is cls
        assert twin == record
        assert repr(twin) == repr(record)


def test_a_set_field_is_shown_sorted() -> None:
    from securehost._installed.scan import Listing

    listing = Listing(locations=(), editable_names=frozenset({"zeta", "alpha", "mid"}))
    assert repr(listing) == (
        "Listing(locations=(), editable_names=frozenset({'alpha', 'mid', 'zeta'}), interrupted=(), tops=None)"
    )


def test_a_record_inside_itself_is_shown_as_ellipsis() -> None:
    from securehost._orchestrator.lifecycle import Outcome

    box: list[object] = []
    outcome = Outcome(value=box)
    box.append(outcome)
    assert repr(outcome) == "Outcome(value=[...], error=None, timed_out=False)"


def test_a_subclass_must_list_its_fields_as_a_tuple_holding_the_ignored_ones() -> None:
    with pytest.raises(TypeError, match="__slots__ must be a tuple of the parameters"):

        class Text(Record):
            __slots__ = "one"

            def __init__(self, one: int) -> None:
                setfield(self, "one", one)

    with pytest.raises(TypeError, match="__slots__ must be a tuple of the parameters"):

        class Inherited(Record):
            __slots__ = ("one",)

    with pytest.raises(TypeError, match="__slots__ must be a tuple of the parameters"):

        class Extra(Record):
            __slots__ = ("one", "two")

            def __init__(self, one: int) -> None:
                setfield(self, "one", one)

    with pytest.raises(TypeError, match=r"ignore names \['gone'\], not fields"):

        class Missing(Record, ignore=("gone",)):
            __slots__ = ("one",)

            def __init__(self, one: int) -> None:
                setfield(self, "one", one)

    class Fine(Record, ignore=("note",)):
        __slots__ = ("note", "one")

        def __init__(self, one: int, note: str) -> None:
            setfield(self, "one", one)
            setfield(self, "note", note)

    assert Fine(1, "a") == Fine(1, "b")
    assert Fine(1, "a") != Fine(2, "a")
    assert hash(Fine(1, "a")) == hash(Fine(1, "b"))
    assert repr(Fine(1, "a")) == "Fine(one=1, note='a')"


def test_a_decorated_init_gives_the_fields_of_the_function_it_wraps() -> None:
    """A wrapper that keeps ``__wrapped__`` (``functools.wraps``; mutmut's trampolines) hides no field."""
    import functools

    def logged(init: Any) -> Any:
        @functools.wraps(init)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            init(*args, **kwargs)

        return wrapper

    class Wrapped(Record):
        __slots__ = ("one", "two")

        @logged
        def __init__(self, one: int, *, two: str) -> None:
            setfield(self, "one", one)
            setfield(self, "two", two)

    assert Wrapped._fields == ("one", "two")
    assert Wrapped(1, two="b") == Wrapped(1, two="b")
    assert repr(Wrapped(1, two="b")) == "Wrapped(one=1, two='b')"
    with pytest.raises(TypeError, match="__slots__ must be a tuple of the parameters"):

        class Short(Record):
            __slots__ = ("one",)

            @logged
            def __init__(self, one: int, two: str) -> None:
                setfield(self, "one", one)


_text = st.text(max_size=8)


@given(
    first=st.tuples(_text, st.none() | _text, st.booleans()), second=st.tuples(_text, st.none() | _text, st.booleans())
)
def test_verified_modules_are_equal_iff_their_fields_are(
    first: tuple[str, str | None, bool], second: tuple[str, str | None, bool]
) -> None:
    def make(values: tuple[str, str | None, bool]) -> VerifiedModule:
        return VerifiedModule(path=values[0], sha256=values[1], is_package=values[2], kind=ModuleKind.SOURCE)

    a, b = make(first), make(second)
    assert (a == b) is (first == second)
    if first == second:
        assert hash(a) == hash(b)
        assert repr(a) == repr(b)


@given(values=st.lists(_text, min_size=5, max_size=5))
def test_entry_point_specs_round_trip_through_pickle(values: list[str]) -> None:
    spec = EntryPointSpec(group=values[0], name=values[1], value=values[2], module=values[3], attr=values[4])
    twin = pickle.loads(pickle.dumps(spec))
    assert twin == spec
    assert (twin.group, twin.name, twin.value, twin.module, twin.attr, twin.extras) == (*values, ())
