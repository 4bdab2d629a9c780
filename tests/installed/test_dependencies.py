"""Tests for securehost._installed.dependencies: the import scanner and relative-import resolution."""

from __future__ import annotations

import importlib.util

import pytest

from securehost._installed.dependencies import resolve_import, static_imports

SOURCE = """
import a.b
from . import c
from ..d import e, f
from g import *
def with_import():
    import i
    def inner():
        from .j import k
def without_import():
    return 1
"""


def test_static_imports_finds_every_import_statement_with_its_level_and_names() -> None:
    found = static_imports(compile(SOURCE, "m.py", "exec"))
    assert sorted(found) == sorted(
        [
            ("a.b", 0, ()),
            ("", 1, ("c",)),
            ("d", 2, ("e", "f")),
            ("g", 0, ("*",)),
            ("i", 0, ()),
            ("j", 1, ("k",)),
        ]
    )
    assert len(found) == len(set(found))
    assert static_imports(compile("import x\nimport x\n", "m.py", "exec")) == (("x", 0, ()),)
    assert static_imports(compile("x = 1\n", "m.py", "exec")) == ()


@pytest.mark.parametrize(
    ("name", "level", "package"),
    [
        ("b", 1, "a.pkg"),
        ("b", 2, "a.pkg"),
        ("", 1, "a.pkg"),
        ("", 2, "a.pkg"),
        ("b.c", 3, "x.y.z"),
        ("b", 2, "x.y.z"),
        ("x", 0, ""),
        ("x.y", 0, "p"),
        ("b", 1, "a"),
    ],
)
def test_resolve_import_agrees_with_importlib(name: str, level: int, package: str) -> None:
    assert resolve_import(name, level, package) == importlib.util.resolve_name("." * level + name, package)


@pytest.mark.parametrize(
    ("name", "level", "package"),
    [("b", 3, "a.pkg"), ("b", 2, "a"), ("b", 1, "")],
    ids=["beyond-the-top", "beyond-a-top-level-package", "no-package"],
)
def test_resolve_import_returns_none_where_importlib_raises(name: str, level: int, package: str) -> None:
    assert resolve_import(name, level, package) is None
    with pytest.raises((ImportError, ValueError)):
        importlib.util.resolve_name("." * level + name, package)


def test_an_absolute_import_without_a_name_resolves_to_nothing() -> None:
    assert resolve_import("", 0, "p") is None


def test_policy_allows_what_the_host_allows_besides_its_lists() -> None:
    from securehost._installed.dependencies import DependencyPolicy

    policy = DependencyPolicy(mode="allowlist")
    assert policy.host_dependencies is True
    assert not policy.module_allowed("fastcalc.ops", own=(), verified=())
    assert policy.module_allowed("fastcalc.ops", own=(), verified=(), allowed=lambda name: name == "fastcalc.ops")
    assert not policy.module_allowed("fastcalc", own=(), verified=(), allowed=lambda name: False)
    assert policy.check_requirements(["FastCalc>=1"], verified=(), allowed={"fastcalc"}) == ()
    assert [r.subject for r in policy.check_requirements(["fastcalc"], verified=(), allowed={"other"})] == ["fastcalc"]
    with pytest.raises(TypeError, match="host_dependencies"):
        DependencyPolicy(host_dependencies="no")  # type: ignore[arg-type]
