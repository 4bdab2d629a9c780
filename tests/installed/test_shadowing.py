"""The shadowing check reuses the directory listings its load's discovery made, and nothing else of them."""

from __future__ import annotations

import importlib.machinery
import os
import sys
import zipfile
from pathlib import Path

import pytest

from securehost._installed.discovery import DiscoveryCache, discover
from securehost._installed.distcheck import InstalledDistribution, verify_installed
from securehost._installed.importer import VerifiedImporter
from securehost.exceptions import PluginRejectedError
from tests._plugins import fake_install, record_listdir

NAMES = ["Foo.py", "bar", "Baz.cpython-311-x86_64-linux-gnu.so", ".hidden", "pkg-1.0.dist-info", "noext", "a.b.c"]


def _directory(tmp_path: Path) -> Path:
    site = tmp_path / "listed"
    site.mkdir()
    for name in NAMES:
        if "." in name[1:] and not name.endswith("dist-info"):
            (site / name).write_text("")
        else:
            (site / name).mkdir()
    return site


@pytest.mark.parametrize("cached", [False, True])
def test_discovery_lists_the_top_level_names_of_each_directory_entry(tmp_path: Path, cached: bool) -> None:
    site = _directory(tmp_path)
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped.py", "")
    missing = tmp_path / "missing"
    found = discover("none.here", [site, archive, missing], cache=DiscoveryCache() if cached else None)
    assert found.listed == {str(site): frozenset({"foo", "bar", "baz", "", "pkg-1", "noext", "a"})}
    assert found.listed[str(site)] == frozenset(name.partition(".")[0].lower() for name in os.listdir(site))


def _plugin(tmp_path: Path, top: str) -> tuple[InstalledDistribution, VerifiedImporter]:
    md, subjects = fake_install(tmp_path / "site", "seed-probe", "1.0", {f"{top}/__init__.py": "", "seed_probe.py": ""})
    installed = verify_installed(md, subjects)
    assert installed.accepted
    return installed, VerifiedImporter(tmp_path / "state" / "bytecode", tmp_path / "state" / "bytecode.key")


def _host_libs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, top: str) -> str:
    elsewhere = tmp_path / "host-libs"
    (elsewhere / top).mkdir(parents=True)
    (elsewhere / top / "__init__.py").write_text("GENUINE = True\n")
    monkeypatch.syspath_prepend(str(elsewhere))
    importlib.machinery.PathFinder.find_spec("nothing_here_seed", [str(elsewhere)])  # the entry has its finder
    return str(elsewhere)


def test_a_seeded_entry_is_not_listed_again_and_its_names_are_what_the_check_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = _host_libs(tmp_path, monkeypatch, "seedlib_found")
    listed = record_listdir(monkeypatch)
    installed, importer = _plugin(tmp_path, "seedlib_found")
    with importer.batch():
        importer.seed_listings({elsewhere: discover("none.here", [elsewhere]).listed[elsewhere]})
        with pytest.raises(PluginRejectedError, match="would shadow seedlib_found found at"):
            importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert elsewhere not in listed
    assert listed  # the entries nobody seeded are still listed


def test_a_seed_stands_in_for_the_listing_so_a_stale_one_would_hide_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the check trusts a seed for: its listing of that entry (so only the same load's discovery may seed)."""
    elsewhere = _host_libs(tmp_path, monkeypatch, "seedlib_hidden")
    for entry in sys.path:  # every entry has its finder, as in a host that imported before it loads plugins
        importlib.machinery.PathFinder.find_spec("nothing_here_seed", [entry])
    installed, importer = _plugin(tmp_path, "seedlib_hidden")
    with importer.batch():
        importer.seed_listings({elsewhere: frozenset()})
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert importer.distributions == (installed.name,)
    again, second = _plugin(tmp_path / "again", "seedlib_hidden")
    with second.batch(), pytest.raises(PluginRejectedError, match="would shadow seedlib_hidden"):
        second.add_distribution(again.name, again.modules, requires=again.requires)  # unseeded: found


def test_a_seed_does_not_bypass_the_finder_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry whose finder is not the standard FileFinder is searched even when a seed says it holds nothing."""
    elsewhere = _host_libs(tmp_path, monkeypatch, "seedlib_custom")

    class Finder:
        def find_spec(self, fullname: str, target: object = None) -> importlib.machinery.ModuleSpec | None:
            if fullname == "seedlib_custom":
                return importlib.machinery.ModuleSpec(fullname, None, origin="custom-finder")
            return None

    for entry in sys.path:  # every other entry has its finder: only the custom one can make the check search
        importlib.machinery.PathFinder.find_spec("nothing_here_seed", [entry])
    monkeypatch.setitem(sys.path_importer_cache, elsewhere, Finder())
    installed, importer = _plugin(tmp_path, "seedlib_custom")
    with importer.batch():
        importer.seed_listings({elsewhere: frozenset()})
        with pytest.raises(PluginRejectedError, match="module seedlib_custom would shadow"):
            importer.add_distribution(installed.name, installed.modules, requires=installed.requires)


def test_a_seed_outside_a_batch_or_after_it_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = _host_libs(tmp_path, monkeypatch, "seedlib_late")
    installed, importer = _plugin(tmp_path, "seedlib_late")
    importer.seed_listings({elsewhere: frozenset()})  # no batch: ignored
    with pytest.raises(PluginRejectedError, match="would shadow seedlib_late"):
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    with importer.batch():
        importer.seed_listings({elsewhere: frozenset()})
    with importer.batch(), pytest.raises(PluginRejectedError, match="would shadow seedlib_late"):
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)  # seed dropped
