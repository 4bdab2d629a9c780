from __future__ import annotations

import contextlib
import importlib.machinery
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost._installed.archivepaths import (
    MAX_PATH_LENGTH,
    check_archive_path,
    import_name,
    map_archive_path,
    module_for_path,
)
from securehost.exceptions import WheelFormatError

DIST_INFO = "acme_csv-1.0.dist-info"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("acme_csv/__init__.py", ("site", "acme_csv/__init__.py")),
        ("acme_csv-1.0.data/purelib/x.py", ("site", "x.py")),
        ("acme_csv-1.0.data/platlib/acme_csv/_speed.so", ("site", "acme_csv/_speed.so")),
        ("acme_csv-1.0.data/scripts/acme", ("scripts", "acme")),
        ("acme_csv-1.0.data/headers/acme.h", ("headers", "acme.h")),
        ("acme_csv-1.0.data/data/share/acme.txt", ("data", "share/acme.txt")),
        ("acme_csv-1.0.dist-info/METADATA", ("site", "acme_csv-1.0.dist-info/METADATA")),
        ("other-1.0.data/scripts/x", ("site", "other-1.0.data/scripts/x")),  # not this distribution's .data
    ],
)
def test_maps_archive_paths(path, expected):
    assert map_archive_path(path, DIST_INFO) == expected


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "../evil.py",
        "acme/../../evil.py",
        "acme//x.py",
        "acme/./x.py",
        "acme\\x.py",
        "acme/x\n.py",
        "acme_csv-1.0.data/unknown/x",
        "acme_csv-1.0.data/purelib",
        "acme_csv-1.0.data/purelib/",
    ],
)
def test_rejects_unsafe_or_unknown_paths(path):
    with pytest.raises(WheelFormatError):
        map_archive_path(path, DIST_INFO)


def test_rejects_bad_dist_info_name():
    with pytest.raises(WheelFormatError):
        map_archive_path("x.py", "acme_csv-1.0")


# this interpreter's own extension suffix (e.g. .cpython-312-x86_64-linux-gnu.so)
EXT = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("acme/__init__.py", ("acme", True, "source")),
        ("acme/sub/mod.py", ("acme.sub.mod", False, "source")),
        (f"acme/_speed{EXT}", ("acme._speed", False, "extension")),
        ("acme/_speed.abi3.so", ("acme._speed", False, "extension")),
        ("acme/lone.pyc", ("acme.lone", False, "bytecode")),
        ("top.py", ("top", False, "source")),
        ("acme/data.json", None),
        ("acme/stub.pyi", None),
        ("acme-data/x.py", None),
        ("acme/class.py", None),
        ("__init__.py", None),
    ],
)
def test_module_for_path(rel, expected):
    assert module_for_path(rel) == expected


@pytest.mark.parametrize(
    ("name", "is_dir", "expected"),
    [
        ("acme_csv", True, "acme_csv"),
        ("acme_csv.py", False, "acme_csv"),
        (f"acme_csv{EXT}", False, "acme_csv"),
        ("acme_csv.pyc", False, "acme_csv"),
        ("README.txt", False, None),
    ],
)
def test_import_name(name, is_dir, expected):
    assert import_name(name, is_dir=is_dir) == expected


segment = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=12)


@given(st.lists(segment, min_size=1, max_size=5).map("/".join))
def test_mapping_never_escapes_and_raises_only_own_errors(path):
    try:
        destination, rel = map_archive_path(path, DIST_INFO)
    except WheelFormatError:
        return
    assert destination in {"site", "scripts", "headers", "data"}
    assert not rel.startswith("/")
    assert ".." not in rel.split("/")
    assert posixpath.normpath(rel) == rel


@given(st.text(max_size=60))
def test_mapping_arbitrary_text(path):
    with contextlib.suppress(WheelFormatError):
        map_archive_path(path, DIST_INFO)


@given(st.lists(segment, min_size=1, max_size=4).map("/".join))
def test_module_for_path_names_are_identifiers(rel):
    found = module_for_path(rel)
    if found is not None:
        assert all(part.isidentifier() for part in found[0].split("."))


# --- exact limits, messages and caller mistakes (issue 13: mutation survivors) -----------------------------------


def _message(path, dist_info=DIST_INFO):
    with pytest.raises(WheelFormatError) as excinfo:
        map_archive_path(path, dist_info)
    return str(excinfo.value)


def test_path_length_limit_is_exact():
    assert MAX_PATH_LENGTH == 4096
    at_limit = "a/" * 2047 + "bc"
    assert len(at_limit) == MAX_PATH_LENGTH
    assert map_archive_path(at_limit, DIST_INFO) == ("site", at_limit)
    over = at_limit + "d"
    assert _message(over) == f"archive path {over[:60]!r} is empty, too long or not a string"


@pytest.mark.parametrize(
    ("path", "shown"),
    [("", ""), (None, "None"), (b"acme/x.py", "b'acme/x.py'"), (42, "42")],
)
def test_empty_or_non_text_path_is_a_format_error(path, shown):
    """Not a ``TypeError``: a subject list is untrusted data, and a bytes path there is malformed, not a bug."""
    with pytest.raises(WheelFormatError) as excinfo:
        check_archive_path(path)
    assert str(excinfo.value) == f"archive path {shown!r} is empty, too long or not a string"


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/etc/passwd", "is absolute or has forbidden characters"),
        ("/", "is absolute or has forbidden characters"),
        ("acme\\x.py", "is absolute or has forbidden characters"),
        ("acme/x\n.py", "is absolute or has forbidden characters"),
        ("acme/x\u200b.py", "is absolute or has forbidden characters"),  # zero-width space: not printable
        ("acme/x\x7f.py", "is absolute or has forbidden characters"),
        ("acme//x.py", "is not normalised"),
        ("acme/x.py/", "is not normalised"),
        ("acme/./x.py", "is not normalised"),
        ("./x.py", "is not normalised"),
        ("acme/..", "is not normalised"),
        ("..", "is not normalised"),
    ],
)
def test_unsafe_path_messages(path, why):
    assert _message(path) == f"archive path {path!r} {why}"


@pytest.mark.parametrize(
    "path",
    ["a/...py", "..a/x.py", "a../x.py", ".hidden/x.py", "acme/x y.py", "acme/\u00e9.py", "a:b/c.py", "C:/x.py"],
)
def test_odd_but_relative_paths_stay_in_the_site_directory(path):
    """Dots inside a segment, spaces and non-ASCII are names, not traversal (as for zipfile and installer)."""
    assert map_archive_path(path, DIST_INFO) == ("site", path)


@pytest.mark.parametrize(
    "dist_info", ["acme_csv-1.0", "acme_csv-1.0.dist-info/", "x/acme_csv-1.0.dist-info", "acme_csv-1.0.DIST-INFO"]
)
def test_bad_dist_info_name_message(dist_info):
    assert _message("x.py", dist_info) == f"{dist_info!r} is not a .dist-info directory name"


@pytest.mark.parametrize("path", ["acme_csv-1.0.data/purelib/", "acme_csv-1.0.data/scripts", "acme_csv-1.0.data/x"])
def test_data_path_without_a_file_message(path):
    expected = f"archive path {path!r} names no file inside its .data scheme"
    if path.endswith("/"):
        expected = f"archive path {path!r} is not normalised"  # the empty last segment is found first
    assert _message(path) == expected


@pytest.mark.parametrize("scheme", ["unknown", "PURELIB", "Scripts", "include", "lib"])
def test_unknown_data_scheme_message(scheme):
    path = f"acme_csv-1.0.data/{scheme}/x"
    assert _message(path) == f"archive path {path!r} uses the unknown .data scheme {scheme!r}"


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("acme/x.pyc", ("acme.x", False, "bytecode")),
        ("acme/longer_name.pyc", ("acme.longer_name", False, "bytecode")),
        ("x.pyc", ("x", False, "bytecode")),
        ("acme/__init__.pyc", ("acme", True, "bytecode")),
        ("acme/m.py", ("acme.m", False, "source")),
        ("acme/\u00e9t\u00e9.py", None),  # a valid identifier, but not ASCII: refused
        ("caf\u00e9/x.py", None),
        ("class/x.py", None),
        ("acme/__pycache__/x.py", ("acme.__pycache__.x", False, "source")),  # the caller skips __pycache__
        ("acme/.py", None),
        ("acme/.pyc", None),
        ("acme/x.py.txt", None),
    ],
)
def test_module_for_path_edges(rel, expected):
    assert module_for_path(rel) == expected


# suffixes that no shorter suffix ends (``.so``, not ``.abi3.so``, which is ``.abi3`` + ``.so``)
SHORTEST_SUFFIXES = [
    s
    for s in importlib.machinery.all_suffixes()
    if not any(t != s and s.endswith(t) for t in importlib.machinery.all_suffixes())
]


@pytest.mark.parametrize("suffix", SHORTEST_SUFFIXES)
def test_a_bare_suffix_is_no_import_name(suffix):
    """``.py`` alone is a hidden file with no stem; Python cannot import it under any name."""
    assert import_name(suffix, is_dir=False) is None
    assert import_name("m" + suffix, is_dir=False) == "m"
    assert import_name(suffix, is_dir=True) == suffix
