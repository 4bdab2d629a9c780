"""Tests for securehost._installed.dependencies: the import scanner and relative-import resolution."""

from __future__ import annotations

import dis
import importlib.util
import sysconfig
import types
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from securehost._installed.dependencies import DependencyMode, DependencyPolicy, resolve_import, static_imports
from securehost._verdict import Reason, ReasonCode

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
    # the very first instruction (Python 3.10 has no RESUME before it) read with no EXTENDED_ARG left over
    assert static_imports(compile("from . import c\n", "m.py", "exec")) == (("", 1, ("c",)),)


def _reference_imports(code: types.CodeType) -> tuple[tuple[str, int, tuple[str, ...]], ...]:
    """What static_imports must give, read through :func:`dis.get_instructions` (slower, and the documented API)."""
    found = []
    stack = [code]
    while stack:
        current = stack.pop()
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
        consts: list[object] = []
        for instruction in dis.get_instructions(current):
            if instruction.opname in ("LOAD_CONST", "LOAD_SMALL_INT"):
                consts.append(instruction.argval)
            elif instruction.opname == "IMPORT_NAME":
                level = consts[-2] if len(consts) >= 2 and isinstance(consts[-2], int) else 0
                fromlist = consts[-1] if consts and isinstance(consts[-1], tuple) else ()
                found.append((str(instruction.argval), level, tuple(str(item) for item in fromlist)))
                consts.clear()
    return tuple(dict.fromkeys(found))


def _stdlib_sources() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.glob("*.py") if p.stat().st_size < 200_000)


def test_static_imports_reads_what_dis_reads_over_the_standard_library() -> None:
    checked = 0
    for path in _stdlib_sources():
        try:
            code = compile(path.read_bytes(), str(path), "exec")
        except SyntaxError:  # a test file with deliberate errors
            continue
        assert sorted(static_imports(code)) == sorted(_reference_imports(code)), path
        checked += 1
    assert checked > 100


def test_static_imports_widens_arguments_past_255_constants_and_names() -> None:
    """Arguments over 255 come with EXTENDED_ARG prefixes: the constants and names of an import must still be read."""
    filler = "".join(f"v{i} = 'c{i}'\nn{i}.a{i}\n" for i in range(300))  # 300+ constants and 600 names first
    source = filler + "from ..deep.name import (one, two)\nimport far.away\ndef f():\n    from . import near\n"
    code = compile(source, "m.py", "exec")
    assert dis.EXTENDED_ARG in code.co_code[::2]
    expected = (("deep.name", 2, ("one", "two")), ("far.away", 0, ()), ("", 1, ("near",)))
    assert sorted(static_imports(code)) == sorted(expected) == sorted(_reference_imports(code))


def _with_small_ints(code: types.CodeType, opcode: int) -> types.CodeType:
    """*code* (top level only) as Python 3.14 compiles it: a small int pushed by an instruction whose argument is it.

    A stand-in with the three attributes static_imports reads: this interpreter would turn an opcode it does not know
    back into one it does when a code object is made.
    """
    raw = bytearray(code.co_code)
    for at in range(0, len(raw), 2):
        if raw[at] == dis.opmap["LOAD_CONST"] and (at == 0 or raw[at - 2] != dis.EXTENDED_ARG):
            value = code.co_consts[raw[at + 1]]
            if type(value) is int and 0 <= value < 256:
                raw[at : at + 2] = bytes([opcode, value])
    return cast("types.CodeType", SimpleNamespace(co_code=bytes(raw), co_consts=code.co_consts, co_names=code.co_names))


def test_static_imports_reads_levels_pushed_as_small_ints_as_python_3_14_compiles_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """3.14 pushes an import's level with LOAD_SMALL_INT; without it ``from . import c`` reads as ``import c``."""
    import securehost._installed.dependencies as dependencies

    code = compile("import a.b\nfrom . import c\nfrom ..d import e, f\n", "m.py", "exec")
    expected = static_imports(code)
    assert expected == (("a.b", 0, ()), ("", 1, ("c",)), ("d", 2, ("e", "f")))
    taken = {dis.EXTENDED_ARG, dis.opmap["LOAD_CONST"], dis.opmap["IMPORT_NAME"], *code.co_code[::2]}
    small_int = next(op for op in range(1, 256) if op not in taken)
    as_314 = _with_small_ints(code, small_int)
    assert small_int in as_314.co_code[::2]
    assert static_imports(as_314) != expected  # read as older versions read it, the levels are lost
    monkeypatch.setattr(dependencies, "_LOAD_SMALL_INT", small_int)
    assert static_imports(as_314) == expected


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


# --- the policy: exact decisions and reasons (issue 13: mutation score of the dependency policy) -------------------


def _reasons(reasons: tuple[Reason, ...]) -> list[tuple[ReasonCode, str | None, str]]:
    return [(r.code, r.subject, r.message) for r in reasons]


def _not_allowed(name: str, mode: str = "signed") -> tuple[ReasonCode, str, str]:
    message = f"requires {name}, which the {mode!r} dependency policy does not allow"
    return (ReasonCode.DEPENDENCY_NOT_ALLOWED, name, message)


def test_an_unknown_mode_is_refused_with_the_modes_named() -> None:
    with pytest.raises(ValueError, match=r"^dependency mode must be one of \['allowlist', 'report', 'signed'\], "):
        DependencyPolicy(mode="lenient")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r", not 'lenient'$"):
        DependencyPolicy(mode="lenient")  # type: ignore[arg-type]
    for mode in ("signed", "allowlist", "report"):
        assert DependencyPolicy(mode=mode).mode == mode  # type: ignore[arg-type]
    assert DependencyPolicy().mode == "signed"


def test_names_are_normalized_on_the_way_in() -> None:
    policy = DependencyPolicy(allowed_modules=["a.b", "c"], allowed_distributions=["Fast_Calc", "Other.Dist"])
    assert policy.allowed_modules == frozenset({"a.b", "c"})
    assert policy.allowed_distributions == frozenset({"fast-calc", "other-dist"})
    assert DependencyPolicy().allowed_modules == frozenset()
    assert DependencyPolicy().allowed_distributions == frozenset()


@pytest.mark.parametrize("mode", ["signed", "allowlist", "report"])
def test_the_standard_library_and_own_modules_are_allowed_in_every_mode(mode: DependencyMode) -> None:
    policy = DependencyPolicy(mode=mode)
    for name in ("os", "os.path", "json.decoder", "xml.etree.ElementTree"):
        assert policy.module_allowed(name, own=(), verified=())
    assert not policy.module_allowed("ospath", own=(), verified=())
    assert not policy.module_allowed("path.os", own=(), verified=())
    # own modules are matched whole: a plugin's package does not cover names it does not have
    assert policy.module_allowed("mine", own={"mine", "mine.sub"}, verified=())
    assert policy.module_allowed("mine.sub", own={"mine", "mine.sub"}, verified=())
    assert not policy.module_allowed("mine.other", own={"mine", "mine.sub"}, verified=())
    assert not policy.module_allowed("minex", own={"mine"}, verified=())


@pytest.mark.parametrize("mode", ["signed", "allowlist", "report"])
def test_an_allowed_module_covers_its_submodules_but_not_its_neighbours(mode: DependencyMode) -> None:
    policy = DependencyPolicy(mode=mode, allowed_modules=["a.b", "top"])
    for name in ("a.b", "a.b.c", "a.b.c.d", "top", "top.x"):
        assert policy.module_allowed(name, own=(), verified=()), name
    for name in ("a", "a.bc", "a.c", "ab", "a.b_c", "topx", "x.top", "b", "c"):
        assert not policy.module_allowed(name, own=(), verified=()), name


def test_verified_plugins_are_allowed_in_signed_mode_only() -> None:
    verified = {"other", "other.sub"}
    assert DependencyPolicy(mode="signed").module_allowed("other", own=(), verified=verified)
    assert DependencyPolicy(mode="signed").module_allowed("other.sub", own=(), verified=verified)
    # a verified module is matched whole, not as a prefix
    assert not DependencyPolicy(mode="signed").module_allowed("other.x", own=(), verified=verified)
    assert not DependencyPolicy(mode="signed").module_allowed("stranger", own=(), verified=verified)
    # "report" is decided as strictly as "allowlist" here: the caller turns the refusal into an audit event
    assert not DependencyPolicy(mode="allowlist").module_allowed("other", own=(), verified=verified)
    assert not DependencyPolicy(mode="report").module_allowed("other", own=(), verified=verified)


@pytest.mark.parametrize("mode", ["signed", "allowlist", "report"])
def test_what_the_host_allows_is_asked_last_and_about_the_full_name(mode: DependencyMode) -> None:
    asked: list[str] = []

    def allowed(name: str) -> bool:
        asked.append(name)
        return name == "granted.mod"

    policy = DependencyPolicy(mode=mode, allowed_modules=["listed"])
    assert policy.module_allowed("granted.mod", own=(), verified=(), allowed=allowed)
    assert not policy.module_allowed("granted", own=(), verified=(), allowed=allowed)
    assert not policy.module_allowed("stranger", own=(), verified=(), allowed=allowed)
    assert asked == ["granted.mod", "granted", "stranger"]
    # the lists decide first: the host is not asked about what they allow
    assert policy.module_allowed("os", own=(), verified=(), allowed=allowed)
    assert policy.module_allowed("listed.x", own=(), verified=(), allowed=allowed)
    assert policy.module_allowed("mine", own={"mine"}, verified=(), allowed=allowed)
    assert asked == ["granted.mod", "granted", "stranger"]
    assert not policy.module_allowed("stranger", own=(), verified=(), allowed=None)


def test_requirements_without_lines_are_no_reasons() -> None:
    assert DependencyPolicy().check_requirements([], verified=()) == ()
    assert DependencyPolicy().check_requirements(iter(()), verified=()) == ()


@pytest.mark.parametrize("mode", ["signed", "allowlist", "report"])
def test_each_requirement_not_allowed_is_one_reason_naming_it(mode: DependencyMode) -> None:
    policy = DependencyPolicy(mode=mode, allowed_distributions=["Listed"])
    lines = ["listed>=1", "Missing_One>=2", "granted", "missing.two[extra]; python_version > '3'", "LISTED"]
    reasons = policy.check_requirements(iter(lines), verified=(), allowed={"granted"})
    assert _reasons(reasons) == [_not_allowed("missing-one", mode), _not_allowed("missing-two", mode)]


def test_verified_distributions_satisfy_requirements_in_signed_mode_only() -> None:
    lines = ["other-plugin", "stranger"]
    signed = DependencyPolicy(mode="signed").check_requirements(lines, verified={"other-plugin"})
    assert _reasons(signed) == [_not_allowed("stranger")]
    for mode in ("allowlist", "report"):
        policy = DependencyPolicy(mode=mode)  # type: ignore[arg-type]
        reasons = policy.check_requirements(lines, verified={"other-plugin"})
        assert _reasons(reasons) == [_not_allowed("other-plugin", mode), _not_allowed("stranger", mode)]


@pytest.mark.parametrize(
    ("marker", "applies"),
    [
        ("python_version >= '3'", True),
        ("python_version < '3'", False),
        ("sys_platform == 'no-such-platform'", False),
        ('extra == "cli"', False),  # no extras are installed for a plugin
        ('extra == ""', True),  # ...so `extra` is the empty string
        ('extra != "cli"', True),
        ('python_version ~= "abc"', True),  # cannot be evaluated: fails closed
    ],
)
def test_markers_are_evaluated_for_this_interpreter_without_extras(marker: str, applies: bool) -> None:
    reasons = DependencyPolicy().check_requirements([f"needed; {marker}", "after"], verified=())
    expected = [_not_allowed("needed")] if applies else []
    assert _reasons(reasons) == [*expected, _not_allowed("after")]


def test_a_requirement_that_does_not_parse_is_invalid_metadata_and_the_rest_is_still_checked() -> None:
    bad = "not a requirement!!" + "x" * 300
    reasons = DependencyPolicy().check_requirements(["bad ;;", bad, "after"], verified=())
    assert [(r.code, r.subject) for r in reasons] == [
        (ReasonCode.DISTRIBUTION_METADATA_INVALID, "bad ;;"),
        (ReasonCode.DISTRIBUTION_METADATA_INVALID, bad[:200]),
        (ReasonCode.DEPENDENCY_NOT_ALLOWED, "after"),
    ]
    assert reasons[0].message.startswith("Requires-Dist 'bad ;;' does not parse: ")
    # the line is cut at 120 characters in the message and at 200 in the subject
    assert reasons[1].message.startswith(f"Requires-Dist {bad[:120]!r} does not parse: ")
    assert len(reasons[1].message) > len(f"Requires-Dist {bad[:120]!r} does not parse: ")
    assert reasons[2].message == _not_allowed("after")[2]


def test_an_empty_allowed_module_name_allows_nothing() -> None:
    # `allowed_modules=[""]` is a mistake, not "every module": no module name has the empty prefix
    policy = DependencyPolicy(mode="allowlist", allowed_modules=[""])
    for name in ("x", "x.y", "requests"):
        assert not policy.module_allowed(name, own=(), verified=())
