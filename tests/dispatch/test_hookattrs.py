"""Registration skips a plain module's inert attributes without asking pluggy, and registers what pluggy would."""

from __future__ import annotations

import functools
import importlib.machinery
import inspect
import types
from typing import Any

import pluggy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import SecurePluginManager
from securehost._dispatch.hookattrs import add_inert_types, inert_module_attribute

hookimpl = pluggy.HookimplMarker("proj")
hookspec = pluggy.HookspecMarker("proj")


class _Spec:
    @hookspec
    def work(self, x: int) -> int:  # type: ignore[empty-body]
        """A hook."""


def _marked_function() -> Any:
    @hookimpl
    def work(x: int) -> int:
        return x

    return work


class _Descriptor:
    """A non-data descriptor: a routine to pluggy 1.5 and 1.6 (``inspect.ismethoddescriptor``)."""

    def __get__(self, obj: object, owner: type | None = None) -> object:
        return self


class _CallableWithMarker:
    def __call__(self, x: int) -> int:
        return x


def _marked(value: Any) -> Any:
    value.proj_impl = {}
    return value


class _MarkedClass:
    """A class carrying the marker attribute: still not an implementation."""

    proj_impl: dict[str, Any] = {}  # noqa: RUF012 - the marker attribute pluggy looks for


#: values a plugin module may hold, implementations or not, plain or odd
_VALUES: dict[str, Any] = {
    "text": "a string",
    "number": 3,
    "flag": True,
    "nothing": None,
    "table": {"a": 1},
    "items": [1, 2],
    "pair": (1, 2),
    "blob": b"x",
    "module": types,
    "spec": importlib.machinery.ModuleSpec("x", None),
    "cls": _MarkedClass,
    "metaclass": type,
    "marked_function": _marked_function(),
    "plain_function": lambda x: x,
    "marked_static": staticmethod(_marked_function()),
    "marked_classmethod": classmethod(_marked_function()),
    "builtin": len,
    "marked_descriptor": _marked(_Descriptor()),
    "marked_callable": _marked(_CallableWithMarker()),
    "partial": functools.partial(_marked_function(), 1),
    "marker": hookimpl,
    "spec_marker": hookspec,
}


def _pluggy_16_rule(plugin: object, name: str) -> object:
    """pluggy 1.5/1.6's parse_hookimpl_opts, copied from its source (getattr, then inspect.isroutine)."""
    method = getattr(plugin, name)
    if not inspect.isroutine(method):
        return None
    res = getattr(method, "proj_impl", None)
    return res if isinstance(res, dict) else None


def _module(contents: dict[str, Any]) -> types.ModuleType:
    module = types.ModuleType("plugin_under_test")
    vars(module).update(contents)
    return module


@given(
    st.dictionaries(
        st.sampled_from(sorted(_VALUES)) | st.sampled_from(["__class__", "__dict__", "__annotations__"]),
        st.sampled_from(sorted(_VALUES)),
        max_size=8,
    )
)
def test_every_attribute_is_judged_as_pluggy_judges_it(layout: dict[str, str]) -> None:
    module = _module({name: _VALUES[value] for name, value in layout.items()})
    secure, plain = SecurePluginManager("proj"), pluggy.PluginManager("proj")
    for name in dir(module):
        assert secure.parse_hookimpl_opts(module, name) == plain.parse_hookimpl_opts(module, name), name
        if inert_module_attribute(module, name):
            # and the earlier rule agrees: an inert name is no implementation under pluggy 1.5 and 1.6 either
            assert _pluggy_16_rule(module, name) is None, name


def test_a_module_registers_the_same_implementations_as_under_pluggy() -> None:
    module = _module({"work": _marked_function(), "helper": _marked_function(), **_VALUES})
    secure, plain = SecurePluginManager("proj"), pluggy.PluginManager("proj")
    for pm in (secure, plain):
        pm.register(module, name="plugin")
    got = {(impl.plugin_name, impl.function) for hook in vars(secure.hook).values() for impl in hook.get_hookimpls()}
    want = {(impl.plugin_name, impl.function) for hook in vars(plain.hook).values() for impl in hook.get_hookimpls()}
    assert got == want
    assert len(want) == 5  # work, helper, marked_function, marked_static, marked_classmethod


def test_pluggy_is_asked_only_about_attributes_that_may_be_implementations(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    original = pluggy.PluginManager.parse_hookimpl_opts

    def spy(self: pluggy.PluginManager, plugin: object, name: str) -> Any:
        asked.append(name)
        return original(self, plugin, name)

    monkeypatch.setattr(pluggy.PluginManager, "parse_hookimpl_opts", spy)
    module = _module(
        {"os": types, "CONSTANT": 3, "Model": _MarkedClass, "hookimpl": hookimpl, "work": _marked_function()}
    )
    pm = SecurePluginManager("proj")
    pm.add_hookspecs(_Spec)
    pm.register(module, name="plugin")
    assert pm.hook.work(x=2) == [2]
    assert sorted(asked) == ["work"]  # not __name__, __doc__, __spec__, os, CONSTANT, Model or hookimpl


def test_only_plain_modules_are_judged_here() -> None:
    class Module(types.ModuleType):
        pass

    subclassed = Module("m")
    subclassed.CONSTANT = 3  # type: ignore[attr-defined]
    assert not inert_module_attribute(subclassed, "CONSTANT")  # its type may resolve names differently
    assert not inert_module_attribute(_MarkedClass, "proj_impl")  # classes and instances: pluggy decides
    assert not inert_module_attribute(_MarkedClass(), "proj_impl")
    module = _module({"CONSTANT": 3})
    assert inert_module_attribute(module, "CONSTANT")
    assert not inert_module_attribute(module, "absent")  # not in __dict__: the module's __getattr__ may answer
    vars(module)[3] = 4  # a module's __dir__ may list anything; pluggy's lookup refuses a name that is no string
    assert not inert_module_attribute(module, 3)  # type: ignore[arg-type]


def test_a_value_cannot_pass_for_inert_nor_run_code_while_judged() -> None:
    ran: list[str] = []

    class Meta(type):
        def __hash__(cls) -> int:
            ran.append("hash")
            return 0

        def __eq__(cls, other: object) -> bool:
            ran.append("eq")
            return False

    class Disguised(metaclass=Meta):
        @property  # type: ignore[misc]
        def __class__(self) -> type:  # claims to be a class (isinstance(x, type) would believe it)
            ran.append("__class__")
            return type

        def __get__(self, obj: object, owner: type | None = None) -> object:
            return self

    module = _module({"work": _marked(Disguised()), "Model": Disguised})
    assert not inert_module_attribute(module, "work")  # not taken for a class: pluggy decides
    assert inert_module_attribute(module, "Model")  # a class, whatever its metaclass
    assert ran == []


class _Declared:
    """A plain class declared inert below (kept alive by the module, as the host's own classes are)."""


class _SubOfDeclared(_Declared):
    pass


def test_declared_types_are_inert_exactly() -> None:
    add_inert_types(_Declared)
    module = _module({"declared": _Declared(), "sub": _SubOfDeclared(), "work": _marked_function()})
    assert inert_module_attribute(module, "declared")
    assert not inert_module_attribute(module, "sub")  # exact types only: a subclass may add __get__
    assert not inert_module_attribute(module, "work")
    secure, plain = SecurePluginManager("proj"), pluggy.PluginManager("proj")
    for name in dir(module):
        assert secure.parse_hookimpl_opts(module, name) == plain.parse_hookimpl_opts(module, name), name


class _StaticLike(staticmethod):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(
    "kind",
    [_Descriptor, _StaticLike, types.FunctionType, classmethod, "not a class"],
    ids=["defines __get__", "a staticmethod", "the function type", "classmethod", "not a class"],
)
def test_a_type_pluggy_could_take_is_not_declared(kind: Any) -> None:
    with pytest.raises(TypeError, match="never takes for a hook implementation"):
        add_inert_types(kind)
    module = _module({"value": _marked(_Descriptor())})
    assert not inert_module_attribute(module, "value")


def test_the_host_declares_the_verified_importers_loader_and_spec() -> None:
    import securehost._host.host  # noqa: F401 - declares them on import
    from securehost._installed.entries import VerifiedSpec
    from securehost._installed.importer import VerifiedImporter

    assert not hasattr(VerifiedSpec, "__get__")
    assert not hasattr(VerifiedImporter, "__get__")
    module = _module({"__spec__": VerifiedSpec("plugin_under_test", None)})
    assert inert_module_attribute(module, "__spec__")
