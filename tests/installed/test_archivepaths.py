from __future__ import annotations

import contextlib
import importlib.machinery
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost._installed.archivepaths import import_name, map_archive_path, module_for_path
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
