from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost._wheel.entrypoints import (
    EntryPointSpec,
    check_entry_point_name,
    parse_entry_point_value,
    parse_entry_points_text,
)
from securehost.exceptions import EntryPointFormatError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme_csv.plugin:CsvPlugin", ("acme_csv.plugin", "CsvPlugin", ())),
        ("acme_csv", ("acme_csv", None, ())),
        ("a.b : C.d", ("a.b", "C.d", ())),
        ("mod:attr [extra1, extra-2]", ("mod", "attr", ("extra1", "extra-2"))),
    ],
)
def test_parses_valid_values(value, expected):
    assert parse_entry_point_value(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".rel:x",
        "..x",
        "a..b:c",
        "1abc:x",
        "mod:",
        "mod:attr:more",
        "import:x",
        "mod:class",
        "modüle:x",
        "mod:x [bad extra]",
        "mod:x [",
        "os.system()",
        "x" * 600,
    ],
)
def test_rejects_malformed_values(value):
    with pytest.raises(EntryPointFormatError):
        parse_entry_point_value(value)


def test_rejects_non_string_value():
    with pytest.raises(TypeError):
        parse_entry_point_value(b"mod:x")  # type: ignore[arg-type]


def test_parses_entry_points_file_with_comments_and_groups():
    text = "# comment\n[demoapp.plugins]\ncsv = acme.plugin:Csv\n; other\n\n[console_scripts]\nx = y:z\n"
    assert parse_entry_points_text(text) == {
        "demoapp.plugins": (("csv", "acme.plugin:Csv"),),
        "console_scripts": (("x", "y:z"),),
    }


@pytest.mark.parametrize(
    "text",
    [
        "csv = a:b\n",  # outside a section
        "[g]\nno equals sign\n",
        "[g\nx = y\n",
        "[g]\nx = a:b\nx = c:d\n",  # duplicate name
        "[g]\n[g]\n",  # duplicate group
        "[g]\n = a:b\n",  # empty name
        "[bad group!]\n",
    ],
)
def test_rejects_malformed_entry_points_files(text):
    with pytest.raises(EntryPointFormatError):
        parse_entry_points_text(text)


def test_spec_parse_keeps_parts():
    spec = EntryPointSpec.parse(" acme.plugin:Csv ", group="demoapp.plugins", name="csv")
    assert (spec.module, spec.attr, spec.value) == ("acme.plugin", "Csv", "acme.plugin:Csv")


@given(st.text(max_size=80))
def test_value_parser_raises_only_its_own_error(value):
    try:
        module, attr, _ = parse_entry_point_value(value)
    except EntryPointFormatError:
        return
    assert all(part.isidentifier() for part in module.split("."))
    assert attr is None or all(part.isidentifier() for part in attr.split("."))


@given(st.text(alphabet=st.sampled_from("[]=#;:.\n ab_1"), max_size=120))
def test_file_parser_raises_only_its_own_error(text):
    try:
        groups = parse_entry_points_text(text)
    except EntryPointFormatError:
        return
    for entries in groups.values():
        names = [name for name, _ in entries]
        assert len(names) == len(set(names))


@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_spec_parse_raises_only_own_errors(value, group, name):
    with contextlib.suppress(EntryPointFormatError):
        EntryPointSpec.parse(value, group=group, name=name)


def _name_allowed(name: str) -> bool:
    """The rule for an entry-point name, one character at a time (the reference for the checker's string methods)."""
    return 0 < len(name) <= 200 and name == name.strip() and all(c not in "=[]" and c.isprintable() for c in name)


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("console", True),
        ("a.b-c_d+e", True),
        ("", False),
        (" lead", False),
        ("trail\t", False),
        ("a=b", False),
        ("a[b", False),
        ("a]b", False),
        ("a\x00b", False),
        ("a\u200bb", False),  # zero-width space: not printable
        ("x" * 201, False),
    ],
)
def test_entry_point_names(name: str, allowed: bool) -> None:
    if allowed:
        check_entry_point_name(name)
    else:
        with pytest.raises(EntryPointFormatError, match="entry point name"):
            check_entry_point_name(name)


@given(st.text(max_size=30))
def test_entry_point_name_check_follows_the_rule_character_by_character(name: str) -> None:
    try:
        check_entry_point_name(name)
    except EntryPointFormatError:
        assert not _name_allowed(name)
    else:
        assert _name_allowed(name)
