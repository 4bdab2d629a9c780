"""Tests for securehost._installed.closure: the host's installed requirement closure and the modules it provides."""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

import pytest

from securehost._installed.closure import (
    MAX_DISTRIBUTIONS,
    HostClosure,
    find_distribution,
    module_providers,
    modules_from_record,
)
from tests._plugins import fake_install

EXT = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["pkg/__init__.py", "pkg/sub/__init__.py", "pkg/mod.py"], {"pkg"}),
        (["mod.py"], {"mod"}),
        ([f"speedups{EXT}"], {"speedups"}),
        (["ns/sub/__init__.py", "ns/sub/x.py"], {"ns.sub"}),  # a namespace package is not claimed whole
        (["ns/a/b/__init__.py"], {"ns.a.b"}),
        (["../../bin/tool", "../../lib/helper.py"], set()),  # outside the site directory
        (["dist-1.0.dist-info/METADATA", "dist-1.0.data/scripts/x.py", "x.egg-info/y.py"], set()),
        (["pkg/__pycache__/mod.cpython-311.pyc", "README.txt", "data/table.csv"], set()),
        (["not-an-identifier/__init__.py", "foo.bar.py"], set()),
        (["__init__.py"], set()),
        (["pkg\\__init__.py"], {"pkg"}),
    ],
)
def test_modules_from_record(paths: list[str], expected: set[str]) -> None:
    assert modules_from_record(paths) == expected


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    return site


def dist(site: Path, name: str, *requires: str, modules: tuple[str, ...] | None = None) -> None:
    package = name.replace("-", "_")
    files = {f"{m}/__init__.py": "" for m in (modules if modules is not None else (package,))}
    fake_install(site, name, "1.0", files, requires=requires)


def test_closure_follows_requirements_markers_and_extras_and_survives_cycles(site: Path) -> None:
    dist(site, "host-app", "lib-a>=1", "lib-skip; python_version < '3'", "lib-c[fast]", "absent-lib", "Bad Line ((")
    dist(site, "lib-a", "host-app")  # a cycle
    dist(site, "lib-skip")
    dist(site, "lib-c", "lib-d; extra == 'fast'", "lib-e; extra == 'slow'", "lib-f; os_name == '\"'")
    dist(site, "lib-d", modules=("d_one", "d_two"))
    dist(site, "lib-e")
    dist(site, "lib-f")
    closure = HostClosure(["host-app"], path=[str(site)]).compute()
    assert sorted(closure.distributions) == ["host-app", "lib-a", "lib-c", "lib-d"]
    assert closure.missing == ("absent-lib",)
    assert not closure.truncated
    assert closure.module_owner("d_two.inner.x") == "lib-d"
    assert closure.module_owner("lib_e") is None
    assert closure.module_owner("host_app") == "host-app"
    assert closure.has_distribution("Lib_A")
    assert closure.compute() is closure  # computed once


def test_closure_roots_may_name_extras_and_may_be_missing(site: Path) -> None:
    dist(site, "host-app", "lib-e; extra == 'slow'")
    dist(site, "lib-e")
    assert sorted(HostClosure(["host-app[slow]"], path=[str(site)]).compute().distributions) == ["host-app", "lib-e"]
    missing = HostClosure(["not-installed", "(("], path=[str(site)]).compute()
    assert (dict(missing.distributions), missing.missing) == ({}, ("((", "not-installed"))


def test_closure_stops_at_its_limit(site: Path) -> None:
    dist(site, "host-app", "lib-a", "lib-b")
    dist(site, "lib-a")
    dist(site, "lib-b")
    at_limit = HostClosure(["host-app"], path=[str(site)], max_distributions=3).compute()
    assert (len(at_limit.distributions), at_limit.truncated) == (3, False)
    below = HostClosure(["host-app"], path=[str(site)], max_distributions=2).compute()
    assert (sorted(below.distributions), below.truncated) == (["host-app", "lib-a"], True)
    assert MAX_DISTRIBUTIONS == 1000


def test_distribution_without_record_falls_back_to_top_level_txt(site: Path) -> None:
    dist(site, "old-style", modules=("oldmod",))
    info = site / "old_style-1.0.dist-info"
    (info / "RECORD").unlink()
    (info / "top_level.txt").write_text("oldmod\nnot valid\n\n")
    closure = HostClosure(["old-style"], path=[str(site)]).compute()
    assert dict(closure.modules) == {"oldmod": "old-style"}
    (info / "top_level.txt").unlink()
    assert dict(HostClosure(["old-style"], path=[str(site)]).compute().modules) == {}


def test_module_providers_and_find_distribution(site: Path) -> None:
    dist(site, "lib-d", modules=("d_one", "d_two"))
    dist(site, "lib-a")
    found = module_providers(["d_two.sub", "lib_a", "nowhere"], [str(site)])
    assert found == {"d_two.sub": ("lib-d", "1.0", str(site)), "lib_a": ("lib-a", "1.0", str(site))}
    assert module_providers([], [str(site)]) == {}
    located = find_distribution("LIB_D", [str(site)])
    assert located is not None
    assert located.version == "1.0"
    assert find_distribution("lib-z", [str(site)]) is None


def test_eggs_are_read_through_importlib_metadata_and_unusable_metadata_is_missing(site: Path) -> None:
    dist(site, "host-app", "old-egg", "broken-dist")
    egg = site / "old_egg-1.5-py3.11.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: old-egg\nVersion: 1.5\n")
    (egg / "top_level.txt").write_text("old_egg\n")
    (site / "broken_dist-1.0.dist-info").mkdir()  # no METADATA
    closure = HostClosure(["host-app"], path=[str(site)]).compute()
    assert dict(closure.distributions) == {"host-app": "1.0", "old-egg": "1.5"}
    assert closure.module_owner("old_egg.x") == "old-egg"
    assert closure.missing == ("broken-dist",)


def test_a_record_that_is_not_csv_falls_back_to_top_level_txt(site: Path) -> None:
    dist(site, "host-app", modules=("hostmod",))
    info = site / "host_app-1.0.dist-info"
    (info / "RECORD").write_bytes(b"x" * 200_000 + b",,\n")  # larger than the csv module's field limit
    (info / "top_level.txt").write_text("hostmod\n")
    assert dict(HostClosure(["host-app"], path=[str(site)]).compute().modules) == {"hostmod": "host-app"}
