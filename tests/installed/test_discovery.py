from __future__ import annotations

import json
import os
import sys
import uuid
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securehost import ReasonCode
from securehost._installed.discovery import DiscoveryCache, discover
from tests._plugins import fake_install

GROUP = "demoapp.plugins"


def install(site, name="acme-csv", version="1.0", value="acme_csv.plugin:CsvPlugin", **kw):
    return fake_install(
        site,
        name,
        version,
        {f"{name.replace('-', '_')}/__init__.py": "", f"{name.replace('-', '_')}/plugin.py": "class CsvPlugin: ...\n"},
        entry_points={GROUP: {"csv": value}, "console_scripts": {"x": "bad value!"}},
        **kw,
    )


def codes(dist):
    return {r.code for r in dist.reasons}


def test_finds_plain_install_without_importing(tmp_path):
    install(tmp_path)
    result = discover(GROUP, [tmp_path])
    (dist,) = result.distributions
    assert dist.accepted
    assert (dist.name, dist.version) == ("acme-csv", "1.0")
    assert dist.metadata_dir == tmp_path / "acme_csv-1.0.dist-info"
    assert dist.site_dir == tmp_path
    assert [ep.value for ep in dist.entry_points] == ["acme_csv.plugin:CsvPlugin"]
    assert "acme_csv" not in sys.modules
    assert dist.verdict().accepted


def test_ignores_distributions_without_the_group(tmp_path):
    fake_install(tmp_path, "other", "2.0", {"other.py": ""}, entry_points={"console_scripts": {"o": "other:main"}})
    fake_install(tmp_path, "noeps", "1.0", {"noeps.py": ""})
    assert discover(GROUP, [tmp_path]).distributions == ()


def test_malformed_value_in_group_is_entry_point_invalid(tmp_path):
    install(tmp_path, value="../evil:x")
    (dist,) = discover(GROUP, [tmp_path]).distributions
    assert codes(dist) == {ReasonCode.ENTRY_POINT_INVALID}


def test_bad_encoding_yields_reason_and_scan_continues(tmp_path):
    md, _ = install(tmp_path, "broken")
    (md / "entry_points.txt").write_bytes(b"[demoapp.plugins]\nx = a:b\xff\n")
    install(tmp_path)
    result = discover(GROUP, [tmp_path])
    by_name = {d.name: d for d in result.distributions}
    assert codes(by_name["broken"]) == {ReasonCode.ENTRY_POINT_INVALID}
    assert by_name["acme-csv"].accepted


def test_unreadable_metadata_is_reported(tmp_path):
    md, _ = install(tmp_path)
    (md / "METADATA").write_bytes(b"Name: acme-csv\nVersion: 1.0\n\xff\xfe")
    (dist,) = discover(GROUP, [tmp_path]).distributions
    assert codes(dist) == {ReasonCode.DISTRIBUTION_METADATA_INVALID}


def test_metadata_name_mismatch_is_reported(tmp_path):
    md, _ = install(tmp_path)
    (md / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    (dist,) = discover(GROUP, [tmp_path]).distributions
    assert codes(dist) == {ReasonCode.DISTRIBUTION_METADATA_INVALID}


def test_entry_points_file_is_a_directory(tmp_path):
    md, _ = install(tmp_path)
    (md / "entry_points.txt").unlink()
    (md / "entry_points.txt").mkdir()
    (dist,) = discover(GROUP, [tmp_path]).distributions
    assert codes(dist) == {ReasonCode.ENTRY_POINT_INVALID}


def test_same_name_twice_on_path_rejects_every_copy(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    install(first)
    install(second, version="2.0")
    result = discover(GROUP, [first, second])
    assert len(result.distributions) == 2
    assert all(ReasonCode.DISTRIBUTION_SHADOWED in codes(d) for d in result.distributions)


def test_two_versions_side_by_side_are_shadowed(tmp_path):
    install(tmp_path)
    install(tmp_path, version="1.1")
    result = discover(GROUP, [tmp_path])
    assert len(result.rejected) == 2


def test_copy_without_entry_points_still_shadows(tmp_path):
    install(tmp_path / "a")
    fake_install(tmp_path / "b", "Acme_CSV", "0.9", {"acme_csv/__init__.py": ""})
    result = discover(GROUP, [tmp_path / "a", tmp_path / "b"])
    assert [d.version for d in result.distributions] == ["1.0", "0.9"]  # every copy is listed, and rejected
    assert all(ReasonCode.DISTRIBUTION_SHADOWED in codes(d) for d in result.distributions)


def test_same_directory_twice_on_path_is_not_shadowing(tmp_path):
    install(tmp_path)
    result = discover(GROUP, [tmp_path, str(tmp_path) + "/", tmp_path / "." / ""])
    assert len(result.distributions) == 1
    assert result.distributions[0].accepted


def test_pep660_direct_url_editable(tmp_path):
    md, _ = install(tmp_path)
    (md / "direct_url.json").write_text(json.dumps({"url": "file:///src", "dir_info": {"editable": True}}))
    (dist,) = discover(GROUP, [tmp_path]).distributions
    assert codes(dist) == {ReasonCode.EDITABLE_INSTALL}


def test_plain_local_direct_url_is_fine(tmp_path):
    md, _ = install(tmp_path)
    (md / "direct_url.json").write_text(json.dumps({"url": "file:///x.whl", "archive_info": {}}))
    assert discover(GROUP, [tmp_path]).distributions[0].accepted


def test_malformed_direct_url_is_metadata_invalid(tmp_path):
    md, _ = install(tmp_path)
    (md / "direct_url.json").write_text("{not json")
    (dist,) = discover(GROUP, [tmp_path]).distributions
    assert codes(dist) == {ReasonCode.DISTRIBUTION_METADATA_INVALID}


def test_setuptools_editable_pth_marks_editable(tmp_path):
    install(tmp_path)
    (tmp_path / "__editable__.acme_csv-1.0.pth").write_text("import __editable___acme_csv_1_0_finder\n")
    (dist,) = discover(GROUP, [tmp_path]).distributions
    assert codes(dist) == {ReasonCode.EDITABLE_INSTALL}


def test_egg_info_and_egg_link_are_not_plain_installs(tmp_path):
    project = tmp_path / "src"
    egg = project / "acme_csv.egg-info"
    egg.mkdir(parents=True)
    (egg / "PKG-INFO").write_text("Name: acme-csv\nVersion: 1.0\n")
    (egg / "entry_points.txt").write_text(f"[{GROUP}]\ncsv = acme_csv.plugin:CsvPlugin\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme-csv.egg-link").write_text(f"{project}\n.\n")
    result = discover(GROUP, [site, project])
    assert [d.metadata_dir.name for d in result.distributions] == ["acme-csv.egg-link", "acme_csv.egg-info"]
    for dist in result.distributions:
        assert codes(dist) == {ReasonCode.EDITABLE_INSTALL, ReasonCode.DISTRIBUTION_SHADOWED}


def test_zip_path_entry_is_not_a_plain_install(tmp_path):
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        zf.writestr("zipped-1.0.dist-info/entry_points.txt", f"[{GROUP}]\nz = zipped:P\n")
        zf.writestr("zipped.py", "class P: ...\n")
    (dist,) = discover(GROUP, [archive]).distributions
    assert dist.name == "zipped"
    assert codes(dist) == {ReasonCode.EDITABLE_INSTALL}


def test_missing_and_odd_path_entries_are_skipped(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    assert discover(GROUP, [tmp_path / "nope", tmp_path / "file.txt"]).distributions == ()


def test_rejects_bad_group():
    with pytest.raises(ValueError, match="group"):
        discover("bad group", [])


def test_default_path_is_sys_path(tmp_path, monkeypatch):
    install(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert [d.name for d in discover(GROUP).distributions] == ["acme-csv"]


def test_cache_reuses_unchanged_and_sees_changes(tmp_path, monkeypatch):
    md, _ = install(tmp_path)
    monkeypatch.setattr("securehost._installed.scan._RACY_NS", 0)  # ctime cannot be aged: disable the racy window here
    cache = DiscoveryCache()
    first = discover(GROUP, [tmp_path], cache=cache)
    assert len(cache) == 2  # one listing, one entry_points.txt
    seen = _counting_scans(monkeypatch)
    assert discover(GROUP, [tmp_path], cache=cache) == first
    assert seen == {"listed": [], "read": []}  # the listing and entry_points.txt served from the cache
    monkeypatch.undo()
    monkeypatch.setattr("securehost._installed.scan._RACY_NS", 0)
    (md / "entry_points.txt").write_text(f"[{GROUP}]\ncsv = acme_csv.plugin:Other\n")
    (dist,) = discover(GROUP, [tmp_path], cache=cache).distributions
    assert dist.entry_points[0].value == "acme_csv.plugin:Other"
    fake_install(tmp_path, "acme-csv", "9.0", {})
    assert len(discover(GROUP, [tmp_path], cache=cache).rejected) == 2  # new copy seen: directory changed


def test_cache_does_not_store_racily_clean_entries(tmp_path):
    install(tmp_path)
    cache = DiscoveryCache()
    discover(GROUP, [tmp_path], cache=cache)
    assert len(cache) == 0  # everything was modified less than two seconds ago
    cache.clear()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry_points=st.binary(max_size=200), metadata=st.binary(max_size=200), direct_url=st.binary(max_size=60))
def test_broken_metadata_files_never_stop_the_scan(tmp_path, entry_points, metadata, direct_url):
    site = tmp_path / uuid.uuid4().hex
    md, _ = install(site)
    (md / "entry_points.txt").write_bytes(b"[demoapp.plugins]\n" + entry_points)
    (md / "METADATA").write_bytes(metadata)
    (md / "direct_url.json").write_bytes(direct_url)
    install(site, "healthy")
    by_name = {d.name: d for d in discover(GROUP, [site]).distributions}
    assert by_name["healthy"].accepted
    for dist in by_name.values():
        assert all(isinstance(r.code, ReasonCode) for r in dist.reasons)


# --- scans kept in the file record: the next start-up's cache finds them there -------------------------------------


def _record(tmp_path):
    from securehost._installed.filerecord import FileRecord

    (tmp_path / "state").mkdir(exist_ok=True)
    return FileRecord(tmp_path / "state" / "installed.record", b"k" * 32, racy_ns=0)


def _counting_scans(monkeypatch):
    """Count directory listings and ``entry_points.txt`` reads the discovery cache makes."""
    from securehost._installed import scan, scancache

    seen = {"listed": [], "read": []}
    real_list, real_read = scancache.list_dir, scan.read_small

    def listing(entry):
        seen["listed"].append(entry)
        return real_list(entry)

    def reading(path, *args):
        if path.endswith("entry_points.txt"):
            seen["read"].append(path)
        return real_read(path, *args)

    monkeypatch.setattr(scancache, "list_dir", listing)
    monkeypatch.setattr(scan, "read_small", reading)
    return seen


def test_a_record_carries_the_scans_to_the_next_cache_and_sees_every_change(tmp_path, monkeypatch):
    """A fresh cache (the next start-up) with the same record lists nothing and reads no entry_points.txt.

    A changed ``entry_points.txt`` (new size and ``ctime``) is read again, and a new distribution (the directory's
    ``mtime`` and ``ctime`` move) makes the directory be listed again.
    """
    site = tmp_path / "site"
    md, _ = install(site)
    fake_install(site, "other", "2.0", {"other.py": ""}, entry_points={"console_scripts": {"o": "other:main"}})
    monkeypatch.setattr("securehost._installed.scan._RACY_NS", 0)
    record = _record(tmp_path)
    first = discover(GROUP, [site], cache=DiscoveryCache(record=record))
    assert record.save() is None

    seen = _counting_scans(monkeypatch)
    again = discover(GROUP, [site], cache=DiscoveryCache(record=_record(tmp_path)))
    assert again == first
    assert seen == {"listed": [], "read": []}

    (md / "entry_points.txt").write_text(f"[{GROUP}]\ncsv = acme_csv.plugin:Other\n")
    (dist,) = discover(GROUP, [site], cache=DiscoveryCache(record=_record(tmp_path))).distributions
    assert dist.entry_points[0].value == "acme_csv.plugin:Other"
    assert seen == {"listed": [], "read": [str(md / "entry_points.txt")]}

    fake_install(site, "acme-csv", "9.0", {})
    assert len(discover(GROUP, [site], cache=DiscoveryCache(record=_record(tmp_path))).rejected) == 2
    assert seen["listed"] == [str(site)]


def test_a_record_keeps_no_listing_of_a_directory_without_distributions(tmp_path, monkeypatch):
    """A script's directory or the working directory may change on every run: keeping it would rewrite the record."""
    site, scripts = tmp_path / "site", tmp_path / "scripts"
    install(site)
    scripts.mkdir()
    (scripts / "app.py").write_text("print('hello')\n")
    monkeypatch.setattr("securehost._installed.scan._RACY_NS", 0)
    record = _record(tmp_path)
    discover(GROUP, [scripts, site], cache=DiscoveryCache(record=record))
    seen = _counting_scans(monkeypatch)
    discover(GROUP, [scripts, site], cache=DiscoveryCache(record=record))
    assert seen["listed"] == [str(scripts)]  # listed again; the site came from the record


def test_a_record_keeps_no_scan_of_a_racily_clean_path(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site)  # just written: younger than two seconds
    record = _record(tmp_path)
    monkeypatch.setattr(record, "_racy", 2_000_000_000)
    discover(GROUP, [site], cache=DiscoveryCache(record=record))
    record.save()
    assert not (tmp_path / "state" / "installed.record").exists()  # nothing was kept, so nothing written


@pytest.mark.parametrize(
    "value",
    [
        None,
        (),
        ("a", "b", "c"),
        [1, 2, 3, 4],
        [(), (), (), ()],  # a list with a listing's parts
        [(), None],  # a list with an entry_points.txt's parts
        ((("dist-info",),), (), (), ()),
        ((), (), (), (), 5),
        "text",
        7,
    ],
)
def test_a_remembered_scan_of_another_shape_is_scanned_again(tmp_path, monkeypatch, value):
    """Authenticated, but not what this version writes (another version's entry): a miss, never an error."""
    from securehost._installed import scancache

    site = tmp_path / "site"
    install(site)
    monkeypatch.setattr("securehost._installed.scan._RACY_NS", 0)
    expected = discover(GROUP, [site])
    record = _record(tmp_path)
    st = os.stat(site)
    record.remember(scancache._LISTING, str(site), st, value)
    eps = site / "acme_csv-1.0.dist-info" / "entry_points.txt"
    record.remember(scancache._ENTRY_POINTS, str(eps), os.lstat(eps), value)
    seen = _counting_scans(monkeypatch)
    assert discover(GROUP, [site], cache=DiscoveryCache(record=record)) == expected
    assert seen == {"listed": [str(site)], "read": [str(eps)]}


def _every_kind_of_site(tmp_path):
    """A search path with each kind of metadata location, and the ones whose ``entry_points.txt`` cannot be read."""
    site = tmp_path / "site"
    install(site)
    install(site, "broken-eps")
    (site / "broken_eps-1.0.dist-info" / "entry_points.txt").write_bytes(b"[demoapp.plugins]\nx = a:b\xff\n")
    (site / "flat-1.0.dist-info").write_text("a file where a directory belongs\n")  # its entry_points.txt: ENOTDIR
    (site / "egged-1.0-py3.11.egg-info").mkdir()
    (site / "egged-1.0-py3.11.egg-info" / "entry_points.txt").write_text(f"[{GROUP}]\ne = egged:P\n")
    (site / "legacy-2.0-py3.11.egg-info").write_text("Metadata-Version: 1.0\nName: legacy\n")  # a file: no entry points
    (site / "linked.egg-link").write_text("/somewhere/else\n")
    (site / "__editable__.edited-1.0.pth").write_text("import edited\n")
    (site / ".securehost-install-1234").mkdir()  # a killed install's scratch directory
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        zf.writestr("zipped-1.0.dist-info/entry_points.txt", f"[{GROUP}]\nz = zipped:P\n")
        zf.writestr("second-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: second\nVersion: 1.0\n")
        zf.writestr("second-1.0.dist-info/entry_points.txt", f"[{GROUP}]\ns = second:Q\n")  # the same archive path
    return [site, archive]


def test_a_scan_through_the_cache_or_the_record_is_the_scan_without_them(tmp_path, monkeypatch):
    """Every kind of location, from a scan, from the cache's memory and from a record in a fresh cache: the same."""
    from securehost._installed.scan import list_dir
    from securehost._installed.scancache import _decode_listing, _encode_listing

    path = _every_kind_of_site(tmp_path)
    site = path[0]
    listing = list_dir(str(site))
    assert {loc.kind for loc in listing.locations} == {"dist-info", "egg-info", "egg-link"}
    assert listing.interrupted
    assert listing.editable_names
    assert listing.tops
    assert _decode_listing(str(site), _encode_listing(listing)) == listing
    monkeypatch.setattr("securehost._installed.scan._RACY_NS", 0)
    expected = discover(GROUP, path)
    by_name = {d.name: d for d in expected.distributions}
    assert {"acme-csv", "broken-eps", "flat", "egged", "zipped", "second"} <= set(by_name)
    assert [ep.value for ep in by_name["second"].entry_points] == ["second:Q"]
    assert codes(by_name["broken-eps"]) == {ReasonCode.ENTRY_POINT_INVALID}
    assert "cannot be read" in by_name["flat"].reasons[0].message
    record = _record(tmp_path)
    cache = DiscoveryCache(record=record)
    assert discover(GROUP, path, cache=cache) == expected
    seen = _counting_scans(monkeypatch)
    assert discover(GROUP, path, cache=cache) == expected  # from the cache's memory
    assert seen == {"listed": [], "read": []}
    assert discover(GROUP, path, cache=DiscoveryCache(record=record)) == expected  # from the record
    assert seen == {"listed": [], "read": []}
