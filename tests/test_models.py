"""The methods shared by the attrs models: what attrs would generate, and no model compiling its own."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import PermissionSet, Reason, ReasonCode, Verdict
from securehost._dispatch.snapshot import HookStats
from securehost._models import model_repr, shared_repr, stable_repr, value_model
from tests._classes import package_classes


def _all_attrs_classes() -> list[type]:
    return package_classes(attrs.has)


def test_no_model_compiles_its_own_repr() -> None:
    """Every attrs class of the package shows itself through the shared repr, or through one written by hand."""
    classes = _all_attrs_classes()
    assert len(classes) >= 52  # the internal records are not attrs classes: tests/test_records.py
    generated = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        if cls.__repr__.__code__.co_filename.startswith("<attrs generated")  # type: ignore[attr-defined]
    ]
    assert generated == []
    shared = [cls for cls in classes if cls.__repr__ is model_repr]
    assert len(shared) >= len(classes) - 2  # PublicKey and PrivateKey keep their own (no key material shown)


def _is_frozen(cls: type) -> bool:
    instance = object.__new__(cls)
    try:
        setattr(instance, attrs.fields(cls)[0].name, None)
    except attrs.exceptions.FrozenInstanceError:
        return True
    return False


def test_frozen_models_compare_and_hash_by_the_shared_methods_and_only_they_do() -> None:
    """Frozen models get the shared __eq__ and __hash__; a mutable one keeps attrs' __eq__ and stays unhashable."""
    classes = [cls for cls in _all_attrs_classes() if attrs.fields(cls)]
    frozen = [cls for cls in classes if _is_frozen(cls)]
    mutable = [cls for cls in classes if not _is_frozen(cls)]
    assert len(frozen) >= 50
    assert len(mutable) >= 2
    for cls in frozen:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if cls.__name__ in {"PublicKey", "PrivateKey"}:
            continue  # compared by key id / not at all, by hand
        assert cls.__eq__.__qualname__ == f"{cls.__qualname__}.__eq__", name
        assert cls.__eq__.__code__.co_filename.endswith("_models.py"), name
        assert cls.__hash__.__code__.co_filename.endswith("_models.py"), name  # type: ignore[union-attr]
    for cls in mutable:
        assert cls.__hash__ is None, cls  # mutable: unhashable, as attrs makes it
        assert not cls.__eq__.__code__.co_filename.endswith("_models.py"), cls


# --- the shared repr gives exactly what attrs generates ---------------------------------------------------------


@attrs.frozen(kw_only=True)
class _InnerGenerated:
    value: int


@shared_repr
@attrs.frozen(kw_only=True, repr=False)
class _InnerShared:
    value: int


def _twins(prefix: str, fields: dict[str, Any], decorator: Any) -> tuple[Any, Any]:
    """A frozen class with the methods attrs generates, and one with *decorator*'s (attrs told not to make them)."""
    generated = attrs.make_class(f"{prefix}Generated", dict(fields), frozen=True, kw_only=True)
    declared = {"repr": False, "eq": False} if decorator is value_model else {"repr": False}
    shared = decorator(attrs.make_class(f"{prefix}Shared", dict(fields), frozen=True, kw_only=True, **declared))
    return generated, shared


_Generated, _Shared = _twins(
    "_",
    {
        "name": attrs.field(),
        "secret": attrs.field(repr=False),
        "blob": attrs.field(repr=lambda b: f"<{len(b)} bytes>"),
        "_private": attrs.field(alias="private"),
        "inner": attrs.field(default=None),
    },
    shared_repr,
)


@given(
    name=st.text(max_size=20),
    secret=st.binary(max_size=8),
    blob=st.binary(max_size=40),
    private=st.tuples(st.integers()) | st.just(()),
    inner=st.none() | st.integers(),
)
def test_shared_repr_is_what_attrs_generates(
    name: str, secret: bytes, blob: bytes, private: tuple[int, ...], inner: int | None
) -> None:
    generated = _Generated(name=name, secret=secret, blob=blob, private=private, inner=inner)
    shared = _Shared(name=name, secret=secret, blob=blob, private=private, inner=inner)
    assert repr(shared) == repr(generated).replace("_Generated(", "_Shared(", 1)
    assert secret == b"" or repr(secret) not in repr(shared)  # a field with repr=False is never shown


def test_shared_repr_of_nested_models_and_local_classes() -> None:
    nested = _Shared(name="a", secret=b"", blob=b"xy", private=(1,), inner=_InnerShared(value=3))
    assert repr(nested) == "_Shared(name='a', blob=<2 bytes>, _private=(1,), inner=_InnerShared(value=3))"

    def make() -> type:
        @shared_repr
        @attrs.define(repr=False)
        class Local:
            items: list[Any]

        return Local

    local = make()(items=[1])
    assert repr(local) == "Local(items=[1])"  # no "make.<locals>." prefix, as attrs shows it


def test_shared_repr_shows_an_object_inside_itself_as_ellipsis() -> None:
    @attrs.define
    class Generated:
        items: list[Any]

    @shared_repr
    @attrs.define(repr=False)
    class Shared:
        items: list[Any]

    generated, shared = Generated(items=[1]), Shared(items=[1])
    generated.items.append(generated)
    shared.items.append(shared)
    assert repr(shared) == "Shared(items=[1, ...])" == repr(generated).replace("Generated", "Shared")
    assert repr(shared) == "Shared(items=[1, ...])"  # and again: the guard was released


class _Tags(frozenset[int]):
    pass


@given(st.lists(st.integers() | st.text(max_size=5), max_size=12), st.sampled_from([set, frozenset, _Tags]))
def test_a_set_field_is_shown_with_its_elements_sorted_whatever_order_it_was_built_in(
    items: list[object], kind: type
) -> None:
    forward, backward = kind(items), kind(reversed(items))
    assert stable_repr(forward) == stable_repr(backward)
    assert eval(stable_repr(forward), {"_Tags": _Tags}) == forward  # still the text that rebuilds it
    assert sorted(stable_repr(forward)) == sorted(repr(forward))  # the same characters, in another order
    if len(set(items)) < 2:
        assert stable_repr(forward) == repr(forward)


def test_equal_models_holding_sets_print_the_same_text() -> None:
    """A set's own repr follows its hash table: built in another order, an equal set prints otherwise."""

    @value_model
    @attrs.frozen(repr=False, eq=False)
    class Tagged:
        tags: frozenset[int]

    first, second = Tagged(frozenset([1, 9])), Tagged(frozenset([9, 1]))
    assert repr(first.tags) != repr(second.tags)  # the premise: CPython keeps insertion order on a collision
    assert first == second
    assert repr(first) == repr(second) == "Tagged(tags=frozenset({1, 9}))"


def test_a_permission_set_prints_the_same_under_every_hash_seed(tmp_path: Any) -> None:
    """What failed once in CI: a PermissionSet unpickled under another seed printed its permissions in another order."""
    code = (
        "import pickle, sys; from securehost import PermissionSet; "
        "p = PermissionSet.parse(['db.write', 'fs.read:/srv/**', 'net.connect:api.example.com:443']); "
        "print(repr(p)); print(repr(pickle.loads(pickle.dumps(p))))"
    )
    seen = set()
    for seed in range(8):
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        )
        seen.update(result.stdout.splitlines())
    assert len(seen) == 1, seen


# --- the shared __eq__ and __hash__ are what attrs generates -------------------------------------------------------


_EqGenerated, _EqShared = _twins(
    "_Eq",
    {
        "name": attrs.field(),
        "label": attrs.field(eq=str.lower),
        "note": attrs.field(eq=False),
        "weight": attrs.field(hash=False),
        "items": attrs.field(default=()),
    },
    value_model,
)


_values = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a", "b"]),
        "label": st.sampled_from(["x", "X", "y"]),
        "note": st.sampled_from(["n", "m"]),
        "weight": st.integers(0, 2),
        "items": st.sampled_from([(), (1,), (1, 2)]),
    }
)


@given(_values, _values)
def test_shared_eq_and_hash_are_what_attrs_generates(first: dict[str, Any], second: dict[str, Any]) -> None:
    generated = (_EqGenerated(**first), _EqGenerated(**second))
    shared = (_EqShared(**first), _EqShared(**second))
    assert (shared[0] == shared[1]) is (generated[0] == generated[1])
    assert (shared[0] != shared[1]) is (generated[0] != generated[1])
    if shared[0] == shared[1]:
        assert hash(shared[0]) == hash(shared[1])
    # the hash covers exactly the fields attrs' hash covers: equal attrs hashes, equal shared hashes
    if hash(generated[0]) == hash(generated[1]):
        assert hash(shared[0]) == hash(shared[1])


@pytest.mark.parametrize("fields", [0, 1, 2])
def test_shared_eq_with_no_one_or_many_fields(fields: int) -> None:
    body = {f"f{i}": attrs.field(default=i) for i in range(fields)}
    cls = value_model(attrs.make_class(f"Made{fields}", body, frozen=True, repr=False, eq=False))
    assert cls() == cls()
    assert hash(cls()) == hash(cls())
    if fields:
        assert cls() != cls(f0=7)
        assert hash(cls()) != hash(cls(f0=7))


def test_shared_eq_refuses_other_classes_and_values() -> None:
    value = _EqShared(name="a", label="x", note="n", weight=1)
    twin = _EqGenerated(name="a", label="x", note="n", weight=1)
    assert value.__eq__(twin) is NotImplemented
    assert value != twin
    assert value != ("a", "x")
    assert value.__eq__(None) is NotImplemented
    assert {value, _EqShared(name="a", label="X", note="m", weight=1)} == {value}  # equal, so one set member


def test_shared_methods_name_their_class_in_tracebacks() -> None:
    assert _EqShared.__eq__.__qualname__ == "_EqShared.__eq__"
    assert _EqShared.__hash__.__qualname__ == "_EqShared.__hash__"  # type: ignore[union-attr]
    assert _EqShared.__eq__.__module__ == __name__


# --- misuse is refused when the class is defined ------------------------------------------------------------------


def test_shared_repr_refuses_a_class_that_is_not_attrs() -> None:
    with pytest.raises(
        TypeError, match=r"shared_repr decorates attrs classes; put it above the attrs decorator of .*Plain"
    ):

        @shared_repr
        class Plain:
            pass


def test_shared_repr_refuses_a_class_whose_repr_attrs_generated() -> None:
    with pytest.raises(TypeError, match=r"Forgot has its own __repr__ \(or attrs generated one\): declare it with"):

        @shared_repr
        @attrs.frozen
        class Forgot:
            value: int


def test_shared_repr_refuses_a_class_with_its_own_repr() -> None:
    with pytest.raises(TypeError, match="Own has its own __repr__"):

        @shared_repr
        @attrs.frozen(repr=False)
        class Own:
            value: int

            def __repr__(self) -> str:
                return "mine"


def test_value_model_refuses_a_class_whose_eq_attrs_generated() -> None:
    with pytest.raises(
        TypeError, match=r"Forgot has its own __eq__ \(or attrs generated one\): declare it with eq=False"
    ):

        @value_model
        @attrs.frozen(repr=False)
        class Forgot:
            value: int


def test_value_model_refuses_a_class_that_is_not_attrs() -> None:
    with pytest.raises(TypeError, match=r"value_model decorates attrs classes"):

        @value_model
        class Plain:
            pass


def _public_models() -> list[object]:
    reason = Reason(code=ReasonCode.STATEMENT_MALFORMED, message="m", subject="s")
    return [
        PermissionSet.parse(["db.write", "fs.read:/srv/**"]),
        reason,
        Verdict(subject="acme.whl", reasons=(reason,), evidence={"digest": "ab"}),
        HookStats(plugin="p", hook="h", calls=3, min_ns=1, max_ns=9),
    ]


@pytest.mark.parametrize("model", _public_models(), ids=lambda m: type(m).__name__)
def test_models_survive_pickling_copying_and_evolving_equal_and_with_the_same_hash(model: object) -> None:
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model), attrs.evolve(model)):
        assert twin == model
        assert (twin != model) is False
        assert hash(twin) == hash(model)
        assert repr(twin) == repr(model)
