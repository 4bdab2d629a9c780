"""Tests for securehost._wheel.info, _entrypoints and _wheelcheck: wheel metadata and paths."""

from __future__ import annotations

import contextlib
import importlib.metadata
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import ReasonCode
from securehost._wheel.check import WheelInspection, inspect_wheel
from securehost._wheel.entrypoints import parse_entry_points
from securehost._wheel.info import (
    WheelFilename,
    find_dist_info,
    forbidden_files,
    installed_path,
    parse_metadata,
    parse_wheel_metadata,
)
from securehost._wheel.zipsafe import read_archive
from securehost.exceptions import WheelFormatError
from tests import strategies_wheel as sw
from tests import wheelmaker as wm

if TYPE_CHECKING:
    from pathlib import Path

DIST = "demo_plugin-1.0.dist-info"

# --- file names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "name", "version", "build", "tags"),
    [
        ("demo_plugin-1.0-py3-none-any.whl", "demo-plugin", "1.0", None, {"py3-none-any"}),
        ("Demo.Plugin-1.0-py2.py3-none-any.whl", "demo-plugin", "1.0", None,
         {"py2-none-any", "py3-none-any"}),
        ("a-1.0.post1-7-cp311-cp311-manylinux_2_17_x86_64.whl", "a", "1.0.post1", "7",
         {"cp311-cp311-manylinux_2_17_x86_64"}),
        ("a-1!2.0+local-py3-none-any.whl", "a", "1!2.0+local", None, {"py3-none-any"}),
    ],
)  # fmt: skip
def test_parses_wheel_file_names(filename: str, name: str, version: str, build: str | None, tags: set[str]) -> None:
    parsed = WheelFilename.parse(filename)
    assert (parsed.name, parsed.version, parsed.build, parsed.tags) == (name, version, build, tags)


@pytest.mark.parametrize(
    "filename",
    [
        "a-1.0-py3-none-any.zip",
        "a-1.0.whl",
        "a-b-1.0-py3-none-any.whl",
        "a-1.0-x-py3-none-any.whl",
        "a-1.0-py3-none-any!.whl",
        "a-1.0-py3-none-\x00.whl",
        "a-1.0-py3-none-an y.whl",
        "../a-1.0-py3-none-any.whl",
        "dir/a-1.0-py3-none-any.whl",
        "a-1.0-py3--any.whl",
        "a-1.0-py3-none-any-.whl",
        "ä-1.0-py3-none-any.whl",
        "",
    ],
)
def test_rejects_invalid_wheel_file_names(filename: str) -> None:
    with pytest.raises(WheelFormatError):
        WheelFilename.parse(filename)


@given(st.text(max_size=60))
def test_arbitrary_file_names_parse_or_raise_wheel_format_error(filename: str) -> None:
    try:
        parsed = WheelFilename.parse(filename)
    except WheelFormatError:
        return
    assert parsed.tags


# --- the .dist-info directory ---------------------------------------------------------------------

WHEEL = WheelFilename.parse("Demo.Plugin-1.0-py3-none-any.whl")


@pytest.mark.parametrize(
    "directory",
    ["demo_plugin-1.0.dist-info", "Demo.Plugin-1.0.dist-info", "demo_plugin-1.0.0.dist-info"],
)
def test_finds_matching_dist_info(directory: str) -> None:
    names = ["demo_plugin/__init__.py", f"{directory}/METADATA", f"{directory}/RECORD"]
    assert find_dist_info(names, WHEEL) == directory


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (["demo_plugin/__init__.py"], "0 .dist-info"),
        (["demo_plugin-1.0.dist-info/METADATA", "other-1.0.dist-info/METADATA"], "2 .dist-info"),
        (["demo_plugin-1.0.dist-info/METADATA", "Sneaky-1.0.DIST-INFO/METADATA"], "2 .dist-info"),
        (["other-1.0.dist-info/METADATA"], "does not match"),
        (["demo_plugin-2.0.dist-info/METADATA"], "does not match"),
        (["demo_plugin-x.y.z.dist-info/METADATA"], "does not match"),
        (["demo_plugin.dist-info/METADATA"], "does not match"),
        (["DEMO_PLUGIN-1.0.DIST-INFO/METADATA"], "does not match"),
    ],
)
def test_rejects_missing_extra_or_mismatched_dist_info(names: list[str], match: str) -> None:
    with pytest.raises(WheelFormatError, match=match):
        find_dist_info(names, WHEEL)


# --- METADATA and WHEEL --------------------------------------------------------------------------


def test_parses_metadata() -> None:
    metadata = parse_metadata(b"Metadata-Version: 2.4\nName: Demo.Plugin\nVersion: 01.0\nSummary: x\n\nName: body\n")
    assert (metadata.name, metadata.canonical_name, metadata.version) == (
        "Demo.Plugin",
        "demo-plugin",
        "1.0",
    )


@pytest.mark.parametrize(
    "data",
    [
        b"Name: a\nVersion: 1.0\n",
        b"Metadata-Version: 3.0\nName: a\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nName: a\nName: b\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nName: -a\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nName: a b\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nName: a\n\tb\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nName: a\nVersion: one\n",
        b"Metadata-Version: 2.1\nName: a\nVersion: 1.0\nVersion: 2.0\n",
        b"Metadata-Version: 2.1\nthis is not a header\nName: a\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nName: \xff\nVersion: 1.0\n",
        b"\xef\xbb\xbfMetadata-Version: 2.1\nName: a\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nName: a\x00\nVersion: 1.0\n",
    ],
)
def test_rejects_malformed_metadata(data: bytes) -> None:
    with pytest.raises(WheelFormatError):
        parse_metadata(data)


def test_parses_wheel_file_and_expands_tags() -> None:
    wheel = parse_wheel_metadata(
        b"Wheel-Version: 1.0\nGenerator: x\nRoot-Is-Purelib: false\nTag: py2.py3-none-any\n"
        b"Tag: cp311-cp311-linux_x86_64\n"
    )
    assert not wheel.root_is_purelib
    assert wheel.tags == {"py2-none-any", "py3-none-any", "cp311-cp311-linux_x86_64"}


@pytest.mark.parametrize(
    "data",
    [
        b"Wheel-Version: 2.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: True\nTag: py3-none-any\n",
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nRoot-Is-Purelib: false\nTag: py3-none-any\n",
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none\n",
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any!\n",
    ],
)
def test_rejects_malformed_wheel_file(data: bytes) -> None:
    with pytest.raises(WheelFormatError):
        parse_wheel_metadata(data)


header_like = st.text(st.sampled_from(list("NameVrsio-MtadWhlRPuTg:. \n\t12ptyf\x00é")), max_size=120)


@pytest.mark.parametrize("parse", [parse_metadata, parse_wheel_metadata])
@given(data=st.one_of(st.binary(max_size=300), header_like.map(str.encode)))
def test_header_parsers_raise_only_wheel_format_error(parse: object, data: bytes) -> None:
    with contextlib.suppress(WheelFormatError):
        parse(data)  # type: ignore[operator]


# --- entry points --------------------------------------------------------------------------------


def test_parses_entry_points() -> None:
    data = (
        b"# comment\n[demoapp.plugins]\ndemo = demo_plugin.plugin:Plugin\n"
        b"Other Name = pkg.mod : attr.inner [extra1, extra-2]\nmodule_only = pkg.mod\n\n"
        b"[console_scripts]\ndemo-cli = demo_plugin.cli:main\r\n"
    )
    assert parse_entry_points(data) == {
        "demoapp.plugins": {
            "demo": "demo_plugin.plugin:Plugin",
            "Other Name": "pkg.mod : attr.inner [extra1, extra-2]",
            "module_only": "pkg.mod",
        },
        "console_scripts": {"demo-cli": "demo_plugin.cli:main"},
    }
    assert parse_entry_points(b"") == {}


@pytest.mark.parametrize(
    "data",
    [
        b"[g]\na = x:y\n[g]\nb = x:y\n",
        b"[g]\na = x:y\na = x:z\n",
        b"a = x:y\n",
        b"[g]\na: x:y\n",
        b"[g]\n; a = x:y\n",
        b"[g]\na = x:y\n  b = x:z\n",
        b"[g]x\na = x:y\n",
        b"[g h]\na = x:y\n",
        b"[g]\na = \n",
        b"[g]\na\n",
        b"[g]\na = x-y:z\n",
        b"[g]\na = class:z\n",
        b"[g]\na = x:y:z\n",
        b"[g]\na = x..y:z\n",
        b"[g]\na = x:y [bad extra]\n",
        b"[g]\na = x:y # trailing\n",
        b"[g]\na = x:y\x0cb = x:z\n",
        b"[g]\na = x:y\rb = x:z\n",
        b"[g]\na\x1b = x:y\n",
        b"[g]\n\xff = x:y\n",
        b"\xef\xbb\xbf[g]\na = x:y\n",
    ],
)
def test_rejects_malformed_or_ambiguous_entry_points(data: bytes) -> None:
    with pytest.raises(WheelFormatError):
        parse_entry_points(data)


def test_entry_points_limits_and_types() -> None:
    with pytest.raises(WheelFormatError, match="more than 10"):
        parse_entry_points(b"[g]\na = x:y\n", max_size=10)
    with pytest.raises(TypeError):
        parse_entry_points("[g]\n")  # type: ignore[arg-type]


class _TextDistribution(importlib.metadata.Distribution):
    def __init__(self, text: str) -> None:
        self._text = text

    def read_text(self, filename: str) -> str | None:
        return self._text if filename == "entry_points.txt" else None

    def locate_file(self, path: str | object) -> object:
        raise NotImplementedError


entry_points_like = st.text(st.sampled_from(list("[]=:;#. \n\r\tabcAB_1-,é\x0c")), max_size=120).map(str.encode)


@given(st.one_of(st.binary(max_size=200), entry_points_like, sw.entry_point_texts()))
def test_accepted_entry_points_read_the_same_in_importlib_metadata(data: bytes) -> None:
    try:
        parsed = parse_entry_points(data)
    except WheelFormatError:
        return
    seen = {
        (ep.group, ep.name, ep.value)
        for ep in _TextDistribution(data.decode()).entry_points  # type: ignore[abstract]
    }
    assert seen == {(g, n, v) for g, entries in parsed.items() for n, v in entries.items()}


# --- forbidden files and install paths -----------------------------------------------------------

DATA = "demo_plugin-1.0.data"


@pytest.mark.parametrize(
    "name",
    [
        "evil.pth",
        "EVIL.PTH",
        "sitecustomize.py",
        "SiteCustomize.py",
        "usercustomize.py",
        "sitecustomize/__init__.py",
        "sitecustomize.cpython-311-x86_64-linux-gnu.so",
        "usercustomize.pyc",
        "__pycache__/sitecustomize.cpython-311.pyc",
        f"{DATA}/purelib/evil.pth",
        f"{DATA}/platlib/sitecustomize.py",
        f"{DATA}/purelib/usercustomize/__init__.py",
        f"{DATA}/data/lib/python3.11/site-packages/evil.pth",
        f"{DATA}/data/lib/site-packages/sitecustomize.py",
        f"{DATA}/data/anything/usercustomize/x.py",
        "other-1.0.data/purelib/evil.pth",
    ],
)
def test_flags_files_that_run_at_startup(name: str) -> None:
    (reason,) = forbidden_files(["pkg/ok.py", name])
    assert reason.code is ReasonCode.FORBIDDEN_FILE
    assert reason.subject == name


@pytest.mark.parametrize(
    "name",
    [
        "pkg/inner.pth",
        "pkg/sitecustomize.py",
        f"{DIST}/evil.pth",
        f"{DATA}/scripts/sitecustomize",
        f"{DATA}/headers/evil.pth",
        f"{DATA}/purelib/pkg/deep.pth",
        "sitecustomizer.py",
        "pth.py",
    ],
)
def test_allows_harmless_lookalikes(name: str) -> None:
    assert forbidden_files([name]) == ()


def test_forbidden_files_with_a_known_data_dir() -> None:
    assert forbidden_files(["other-1.0.data/purelib/x.pth"], data_dir=DATA) == ()
    assert len(forbidden_files([f"{DATA}/purelib/x.pth"], data_dir=DATA)) == 1


@pytest.mark.parametrize(
    ("name", "purelib", "expected"),
    [
        ("pkg/mod.py", True, ("purelib", "pkg/mod.py")),
        ("pkg/mod.py", False, ("platlib", "pkg/mod.py")),
        (f"{DIST}/METADATA", True, ("purelib", f"{DIST}/METADATA")),
        (f"{DATA}/scripts/tool", True, ("scripts", "tool")),
        (f"{DATA}/purelib/pkg/a.py", False, ("purelib", "pkg/a.py")),
        (f"{DATA}/platlib/pkg/a.so", True, ("platlib", "pkg/a.so")),
        (f"{DATA}/headers/a.h", True, ("headers", "a.h")),
        (f"{DATA}/data/share/x", True, ("data", "share/x")),
    ],
)
def test_installed_path(name: str, purelib: bool, expected: tuple[str, str]) -> None:
    assert installed_path(name, data_dir=DATA, root_is_purelib=purelib) == expected


@pytest.mark.parametrize("name", [f"{DATA}/evil/x", f"{DATA}/purelib", f"{DATA}/x"])
def test_installed_path_rejects_unknown_schemes(name: str) -> None:
    with pytest.raises(WheelFormatError):
        installed_path(name, data_dir=DATA, root_is_purelib=True)


# --- inspect_wheel -------------------------------------------------------------------------------


def inspect(files: dict[str, bytes], filename: str = "demo_plugin-1.0-py3-none-any.whl") -> WheelInspection:
    scan = read_archive(wm.build_wheel(files))
    assert scan.ok, scan.reasons
    return inspect_wheel(filename, scan)


def codes(inspection: WheelInspection) -> set[ReasonCode]:
    return {r.code for r in inspection.reasons}


def test_inspects_a_valid_wheel() -> None:
    inspection = inspect(wm.wheel_files(files={"demo_plugin/__init__.py": b"", f"{DATA}/scripts/tool": b"#!python\n"}))
    assert inspection.ok, inspection.reasons
    info = inspection.info
    assert info is not None
    assert (info.name, info.version, info.dist_info, info.data_dir) == (
        "demo-plugin",
        "1.0",
        DIST,
        DATA,
    )
    assert info.entry_points == {"demoapp.plugins": {"demo": "demo_plugin.plugin:Plugin"}}
    assert info.wheel.root_is_purelib
    assert info.installed_path(f"{DATA}/scripts/tool") == ("scripts", "tool")
    assert info.record.get(f"{DIST}/RECORD") is not None


def test_wheel_without_entry_points_has_an_empty_mapping() -> None:
    inspection = inspect(wm.wheel_files(entry_points=None))
    assert inspection.ok
    assert inspection.info is not None
    assert inspection.info.entry_points == {}


def _replace(path: str, data: bytes, **kwargs: object) -> dict[str, bytes]:
    files = wm.wheel_files(**kwargs)  # type: ignore[arg-type]
    files[path] = data
    return files


BAD_VERSION = b"Metadata-Version: 2.1\nName: demo_plugin\nVersion: 2.0\n"
META = ReasonCode.WHEEL_METADATA_INVALID
INSPECT_CASES = [
    ("bad file name", wm.wheel_files(), "demo_plugin-1.0.whl", ReasonCode.WHEEL_FILENAME_INVALID),
    ("no dist-info", {"demo_plugin/__init__.py": b""}, None, META),
    ("name mismatch", wm.wheel_files(), "other-1.0-py3-none-any.whl", META),
    ("tags mismatch", wm.wheel_files(tags=("py2-none-any",)), None, META),
    ("METADATA version differs", wm.wheel_files(metadata=BAD_VERSION), None, META),
    ("METADATA malformed", wm.wheel_files(metadata=b"Name: x\n"), None, META),
    ("WHEEL malformed", wm.wheel_files(wheel=b"Wheel-Version: 9.0\n"), None, META),
    ("entry points malformed", wm.wheel_files(entry_points=b"[g]\na: b\n"), None, META),
    ("foreign data dir", wm.wheel_files(files={"other-1.0.data/scripts/x": b""}), None, META),
    ("unknown scheme", wm.wheel_files(files={f"{DATA}/lib/x": b""}), None, META),
    ("no RECORD", wm.wheel_files(record=False), None, ReasonCode.RECORD_INVALID),
    (
        "RECORD malformed",
        _replace(f"{DIST}/RECORD", b"a,md5=x,1\n"),
        None,
        ReasonCode.RECORD_INVALID,
    ),
    ("RECORD mismatch", _replace("demo_plugin/plugin.py", b"x"), None, ReasonCode.RECORD_MISMATCH),
    ("forbidden file", wm.wheel_files(files={"evil.pth": b""}), None, ReasonCode.FORBIDDEN_FILE),
]


def test_every_wheel_reason_code_is_provoked() -> None:
    assert {case[3] for case in INSPECT_CASES} == {
        ReasonCode.WHEEL_FILENAME_INVALID,
        ReasonCode.WHEEL_METADATA_INVALID,
        ReasonCode.RECORD_INVALID,
        ReasonCode.RECORD_MISMATCH,
        ReasonCode.FORBIDDEN_FILE,
    }


@pytest.mark.parametrize(("label", "files", "filename", "code"), INSPECT_CASES, ids=[c[0] for c in INSPECT_CASES])
def test_inspect_rejects(label: str, files: dict[str, bytes], filename: str | None, code: ReasonCode) -> None:
    inspection = inspect(files, filename or "demo_plugin-1.0-py3-none-any.whl")
    assert code in codes(inspection), (label, inspection.reasons)


def test_inspect_collects_reasons_from_every_file() -> None:
    files = wm.wheel_files(
        files={"evil.pth": b""},
        metadata=b"Metadata-Version: 2.1\nName: demo_plugin\nVersion: 2.0\n",
        wheel=b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py2-none-any\n",
    )
    files[f"{DIST}/RECORD"] += b"gone.py,,\n"
    inspection = inspect(files)
    assert inspection.info is not None
    messages = [r.message for r in inspection.reasons]
    assert len(messages) == 4, messages
    assert codes(inspection) == {
        ReasonCode.FORBIDDEN_FILE,
        ReasonCode.WHEEL_METADATA_INVALID,
        ReasonCode.RECORD_MISMATCH,
    }


@pytest.mark.slow
def test_real_wheel_built_by_python_build_passes_every_check(tmp_path: Path) -> None:
    wheel = wm.build_real_wheel(tmp_path)
    scan = read_archive(wheel)
    inspection = inspect_wheel(wheel.name, scan)
    assert scan.ok, scan.reasons
    assert inspection.ok, inspection.reasons
    info = inspection.info
    assert info is not None
    assert (info.name, info.version) == ("demo-plugin", "1.2.0")
    assert info.entry_points == {"demoapp.plugins": {"demo": "demo_plugin.plugin:Plugin"}}
    assert info.record.to_bytes() == scan.read(info.record_path)


@pytest.mark.parametrize("tag", [".py3-none-any", "py3..x-none-any", "py3-none-.any"])
def test_wheel_tag_with_an_empty_component_is_a_wheel_format_error(tag: str) -> None:
    """packaging >= 26 raises its own InvalidTag here; it must not escape (found by a byte-flip property test)."""
    data = f"Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    with pytest.raises(WheelFormatError):
        parse_wheel_metadata(data)
