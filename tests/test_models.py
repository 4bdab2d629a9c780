"""The ``repr`` shared by the attrs models: the text attrs would generate, and no model compiling its own."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import securehost
from securehost._models import model_repr, shared_repr


def _all_attrs_classes() -> list[type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(securehost.__path__, "securehost."):
        if info.name == "securehost.__main__":
            continue  # runs the command line
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed here
            continue
        for value in vars(module).values():
            if isinstance(value, type) and attrs.has(value) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


def test_no_model_compiles_its_own_repr() -> None:
    """Every attrs class of the package shows itself through the shared repr, or through one written by hand."""
    classes = _all_attrs_classes()
    assert len(classes) >= 60
    generated = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        if cls.__repr__.__code__.co_filename.startswith("<attrs generated")  # type: ignore[attr-defined]
    ]
    assert generated == []
    shared = [cls for cls in classes if cls.__repr__ is model_repr]
    assert len(shared) >= len(classes) - 2  # PublicKey and PrivateKey keep their own (no key material shown)


# --- the shared repr gives exactly what attrs generates ---------------------------------------------------------


@attrs.frozen(kw_only=True)
class _InnerGenerated:
    value: int


@shared_repr
@attrs.frozen(kw_only=True, repr=False)
class _InnerShared:
    value: int


@attrs.frozen(kw_only=True)
class _Generated:
    name: str
    secret: bytes = attrs.field(repr=False)
    blob: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    _private: tuple[int, ...] = attrs.field(alias="private")
    inner: Any = None


@shared_repr
@attrs.frozen(kw_only=True, repr=False)
class _Shared:
    name: str
    secret: bytes = attrs.field(repr=False)
    blob: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    _private: tuple[int, ...] = attrs.field(alias="private")
    inner: Any = None


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


# --- misuse is refused when the class is defined ------------------------------------------------------------------


def test_shared_repr_refuses_a_class_that_is_not_attrs() -> None:
    with pytest.raises(TypeError, match=r"decorates attrs classes; put it above @attrs.frozen on .*Plain"):

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
