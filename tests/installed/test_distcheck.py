"""``verify_installed`` and ``check_entry_points``: the exact reasons, evidence and module table of each case.

``tests/installed/test_installed.py`` covers the attacks by reason code; these tests pin each reason whole (code,
message, subject), the evidence and the effects (written against the mutation survivors of issue 13).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import os
import sys

import pytest

from securehost import Reason, ReasonCode
from securehost._installed import distcheck, sitecheck, sitehooks
from securehost._installed.distcheck import ModuleKind, VerifiedModule, verify_installed
from securehost._installed.entrycheck import check_entry_points
from securehost._installed.filerecord import FileRecord
from securehost._installed.scan import _split_stem
from securehost._installed.sitehooks import SiteIndex
from securehost._wheel.entrypoints import EntryPointSpec
from tests._plugins import _record_hash, fake_install

R = ReasonCode
TAG = sys.implementation.cache_tag
EXT = importlib.machinery.EXTENSION_SUFFIXES[0]
DI = "acme_csv-1.0.dist-info"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def reason(code: ReasonCode, message: str, subject: str) -> Reason:
    return Reason(code=code, message=message, subject=subject)


def install(site, files=None, **kwargs):
    files = files if files is not None else {"acme_csv/__init__.py": "", "acme_csv/plugin.py": "X = 1\n"}
    return fake_install(site, "acme-csv", "1.0", files, **kwargs)


def add_record_rows(md, *rows: str) -> None:
    record = md / "RECORD"
    record.write_text(record.read_text() + "".join(row + "\n" for row in rows))


# --- the result ------------------------------------------------------------------------------------------------


def test_result_of_a_clean_installation(tmp_path):
    md, subjects = install(
        tmp_path,
        {
            "acme_csv/__init__.py": "",
            "acme_csv/plugin.py": "X = 1\n",
            "acme_csv/sub/data.json": "{}",
            "acme_csv-1.0.data/scripts/b-tool": "#!python\n",
            "acme_csv-1.0.data/scripts/a-tool": "#!python\n",
            "acme_csv-1.0.data/data/share/x.txt": "x",
        },
        requires=("  pluggy>=1.5  ", "attrs"),
    )
    result = verify_installed(md, subjects)
    assert result.reasons == ()
    assert result.accepted
    assert (result.name, result.version, result.site_dir, result.metadata_dir) == ("acme-csv", "1.0", tmp_path, md)
    assert result.top_level == ("acme_csv",)
    assert result.requires == ("pluggy>=1.5", "attrs")
    assert result.evidence == {
        "files_verified": 5,  # two modules, the data file, METADATA and WHEEL; not the .data files
        "unverified_files": {"data": ["share/x.txt"], "scripts": ["a-tool", "b-tool"]},
        "pycache_accepted": [],
        "startup_hooks_verified": [],
    }
    assert dict(result.modules) == {
        "acme_csv": VerifiedModule(
            path=str(tmp_path / "acme_csv/__init__.py"), sha256=sha(b""), is_package=True, kind=ModuleKind.SOURCE
        ),
        "acme_csv.plugin": VerifiedModule(
            path=str(tmp_path / "acme_csv/plugin.py"), sha256=sha(b"X = 1\n"), is_package=False, kind=ModuleKind.SOURCE
        ),
        "acme_csv.sub": VerifiedModule(
            path=str(tmp_path / "acme_csv/sub"), sha256=None, is_package=True, kind=ModuleKind.NAMESPACE
        ),
    }
    verdict = result.verdict()
    assert verdict.accepted
    assert (verdict.subject, verdict.name, verdict.version, verdict.reasons) == (str(md), "acme-csv", "1.0", ())
    assert verdict.evidence == result.evidence
    assert verdict.evidence is not result.evidence


def test_verdict_of_a_rejected_installation_carries_every_reason(tmp_path):
    md, subjects = install(tmp_path)
    (tmp_path / "acme_csv/plugin.py").write_text("X = 2\n")
    (tmp_path / "acme_csv/evil.py").write_text("")
    result = verify_installed(md, subjects)
    assert not result.accepted
    verdict = result.verdict()
    assert not verdict.accepted
    assert verdict.reasons == result.reasons
    assert {r.code for r in verdict.reasons} == {R.INSTALLED_FILE_MODIFIED, R.INSTALLED_FILE_UNSIGNED}


@pytest.mark.parametrize(
    ("dist_info", "name", "version"),
    [
        ("Acme_CSV-2.0.dist-info", "acme-csv", "2.0"),
        ("acme.csv-1.0rc1.dist-info", "acme-csv", "1.0rc1"),
        ("acme_csv.dist-info", "acme-csv", None),
        ("acme-csv-1.0.dist-info", "acme", "csv-1.0"),  # an unescaped name splits at its first dash, as discovery
    ],
)
def test_name_and_version_come_from_the_directory_name(tmp_path, dist_info, name, version):
    md = tmp_path / dist_info
    md.mkdir()
    result = verify_installed(md, {})
    assert (result.name, result.version) == (name, version)
    assert _split_stem(dist_info.removesuffix(".dist-info"), "dist-info") == (name, version)


def test_a_metadata_directory_that_is_not_a_dist_info_maps_no_file(tmp_path):
    md = tmp_path / "acme_csv-1.0.egg-info"
    md.mkdir()
    result = verify_installed(md, {"acme_csv/x.py": "0" * 64})
    assert (result.name, result.version) == ("acme-csv", "1.0.egg-info")
    message = "'acme_csv-1.0.egg-info' is not a .dist-info directory name"
    assert reason(R.INSTALLED_FILE_UNSAFE, message, "acme_csv/x.py") in result.reasons


# --- subjects --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("subjects", [{1: "0" * 64}, {"a.py": 1}, {"a.py": b"0" * 64}, {b"a.py": "0" * 64}])
def test_subjects_must_map_strings_to_strings(tmp_path, subjects):
    md, _ = install(tmp_path)
    with pytest.raises(TypeError, match=r"^subjects must map str archive paths to str SHA-256 digests$"):
        verify_installed(md, subjects)


@pytest.mark.parametrize(
    "digest", ["0" * 63, "0" * 65, "A" * 64, "g" * 64, " " + "0" * 63, "0" * 63 + "\n", "", "0" * 64 + "\n"]
)
def test_a_malformed_digest_is_unsafe_and_the_file_is_not_read(tmp_path, digest):
    md, subjects = install(tmp_path)
    bad = {**subjects, "acme_csv/__init__.py": digest}  # the first of the package's files: the others still count
    result = verify_installed(md, bad)
    message = "acme_csv/__init__.py: malformed digest"
    assert result.reasons == (  # not verified, so the file on disk is unsigned too
        reason(R.INSTALLED_FILE_UNSAFE, message, "acme_csv/__init__.py"),
        reason(R.INSTALLED_FILE_UNSIGNED, "acme_csv/__init__.py: not in the signed file list", "acme_csv/__init__.py"),
        _row_reason("acme_csv/__init__.py"),
    )
    assert sorted(result.modules) == ["acme_csv", "acme_csv.plugin"]
    assert result.modules["acme_csv"].kind is ModuleKind.NAMESPACE  # its __init__.py is not a verified file
    assert result.evidence["files_verified"] == len(subjects) - 1


def test_a_digest_of_64_hex_digits_is_well_formed(tmp_path):
    md, subjects = install(tmp_path)
    digest = subjects["acme_csv/plugin.py"]
    assert len(digest) == 64
    assert verify_installed(md, subjects).accepted


def test_an_unsafe_path_is_unsafe_with_the_mapping_error(tmp_path):
    md, subjects = install(tmp_path)
    result = verify_installed(md, {**subjects, "../evil.py": "0" * 64, "acme_csv-1.0.data/lib/x": "0" * 64})
    assert result.reasons == (
        reason(R.INSTALLED_FILE_UNSAFE, "archive path '../evil.py' is not normalised", "../evil.py"),
        reason(
            R.INSTALLED_FILE_UNSAFE,
            "archive path 'acme_csv-1.0.data/lib/x' uses the unknown .data scheme 'lib'",
            "acme_csv-1.0.data/lib/x",
        ),
    )


def test_two_subjects_installing_to_one_path_name_the_second(tmp_path):
    md, subjects = install(tmp_path)
    bad = {**subjects, "acme_csv-1.0.data/purelib/acme_csv/plugin.py": subjects["acme_csv/plugin.py"]}
    result = verify_installed(md, bad)
    message = "acme_csv/plugin.py: two signed files install to the same path"
    assert result.reasons == (reason(R.INSTALLED_FILE_UNSAFE, message, "acme_csv/plugin.py"),)


def test_a_data_file_signed_for_purelib_is_verified_in_the_site_directory(tmp_path):
    md, subjects = install(tmp_path, {"acme_csv/__init__.py": "", "acme_csv-1.0.data/platlib/acme_fast.py": "F = 1\n"})
    (tmp_path / "acme_csv-1.0.data/platlib/acme_fast.py").rename(tmp_path / "acme_fast.py")
    record = md / "RECORD"  # as an installer records it: where it put the file
    record.write_text(record.read_text().replace("acme_csv-1.0.data/platlib/", ""))
    result = verify_installed(md, subjects)
    assert result.reasons == ()
    assert result.top_level == ("acme_csv", "acme_fast.py")
    assert result.modules["acme_fast"].path == str(tmp_path / "acme_fast.py")
    (tmp_path / "acme_fast.py").write_text("F = 2\n")
    (modified,) = verify_installed(md, subjects).reasons
    assert (modified.code, modified.subject) == (R.INSTALLED_FILE_MODIFIED, "acme_fast.py")


# --- re-hashing ------------------------------------------------------------------------------------------------


def test_a_modified_file_names_both_digests(tmp_path):
    md, subjects = install(tmp_path)
    (tmp_path / "acme_csv/plugin.py").write_text("X = 2\n")
    new, old = sha(b"X = 2\n"), sha(b"X = 1\n")
    message = f"acme_csv/plugin.py was modified after signing (SHA-256 {new} != signed {old})"
    assert verify_installed(md, subjects).reasons == (reason(R.INSTALLED_FILE_MODIFIED, message, "acme_csv/plugin.py"),)


def test_a_missing_file_and_a_symlinked_file(tmp_path):
    md, subjects = install(tmp_path)
    (tmp_path / "acme_csv/plugin.py").unlink()
    assert verify_installed(md, subjects).reasons == (
        reason(R.INSTALLED_FILE_MISSING, "acme_csv/plugin.py is missing", "acme_csv/plugin.py"),
    )


def test_modified_metadata_is_not_parsed(tmp_path):
    md, subjects = install(tmp_path, requires=("pluggy",))
    (md / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-csv\nVersion: 1.0\nRequires-Dist: evil\n")
    result = verify_installed(md, subjects)
    assert result.requires == ()  # the unsigned Requires-Dist is not used
    assert [r.code for r in result.reasons] == [R.INSTALLED_FILE_MODIFIED, R.DISTRIBUTION_METADATA_INVALID]
    assert result.reasons[1] == reason(
        R.DISTRIBUTION_METADATA_INVALID, f"{DI}/METADATA is not among the signed files", f"{DI}/METADATA"
    )


def test_unsigned_metadata_is_not_read(tmp_path):
    md, subjects = install(tmp_path, requires=("pluggy",))
    del subjects[f"{DI}/METADATA"]
    result = verify_installed(md, subjects)
    assert result.requires == ()
    assert result.reasons == (
        reason(
            R.INSTALLED_FILE_UNSIGNED,
            f"{DI}/METADATA: the installed RECORD lists it for this distribution, but the signed statement does not",
            f"{DI}/METADATA",
        ),
        reason(R.DISTRIBUTION_METADATA_INVALID, f"{DI}/METADATA is not among the signed files", f"{DI}/METADATA"),
    )


def test_requires_of_metadata_that_is_not_plain_ascii(tmp_path):
    """Non-ASCII METADATA goes through the email parser; the values are the same, stripped."""
    md, subjects = install(tmp_path, requires=("pluggy>=1.5 ", "attrs"))
    metadata = (md / "METADATA").read_bytes().replace(b"Version: 1.0\n", "Version: 1.0\nAuthor: Jos\u00e9\n".encode())
    (md / "METADATA").write_bytes(metadata)
    subjects[f"{DI}/METADATA"] = sha(metadata)
    assert verify_installed(md, subjects).requires == ("pluggy>=1.5", "attrs")


def test_metadata_that_cannot_be_parsed_is_invalid(tmp_path, monkeypatch):
    """The email parser's compat32 policy accepts nearly anything; if it ever fails, the reason names the file."""

    def failing(raw, name):
        raise ValueError("bad header block")

    monkeypatch.setattr(distcheck, "header_values", failing)
    md, subjects = install(tmp_path, requires=("pluggy",))
    result = verify_installed(md, subjects)
    assert result.requires == ()
    message = f"{DI}/METADATA cannot be parsed: bad header block"
    assert result.reasons == (reason(R.DISTRIBUTION_METADATA_INVALID, message, f"{DI}/METADATA"),)


def test_only_metadata_is_kept_in_memory(tmp_path, monkeypatch):
    md, subjects = install(tmp_path)
    kept = []
    real = sitecheck.hash_installed  # distcheck imports it when it first hashes

    def spy(site, rel, checked, **kwargs):
        if kwargs["keep"]:
            kept.append(rel)
        return real(site, rel, checked, **kwargs)

    monkeypatch.setattr(sitecheck, "hash_installed", spy)
    assert verify_installed(md, subjects).accepted
    assert kept == [f"{DI}/METADATA"]


# --- the walk, siblings and start-up hooks ---------------------------------------------------------------------


def test_only_top_level_directories_are_walked(tmp_path, monkeypatch):
    md, subjects = install(tmp_path, {"acme_csv/__init__.py": "", "acme_top.py": ""})
    walked = []
    monkeypatch.setattr(sitecheck.PackageWalker, "walk", lambda self, top: walked.append(top))
    verify_installed(md, subjects)
    assert walked == ["acme_csv"]


@pytest.mark.parametrize(
    ("sibling", "is_dir"),
    [("acme_csv.py", False), (f"acme_csv{EXT}", False), ("acme_csv.pyc", False), ("acme_top", True)],
)
def test_an_unsigned_sibling_names_the_name_it_shadows(tmp_path, sibling, is_dir):
    md, subjects = install(tmp_path, {"acme_csv/__init__.py": "", "acme_top.py": ""})
    if is_dir:
        (tmp_path / sibling).mkdir()
    else:
        (tmp_path / sibling).write_bytes(b"")
    name = sibling.partition(".")[0]
    message = f"{sibling}: unsigned sibling that shadows or alters the import of {name!r}"
    assert verify_installed(md, subjects).reasons == (reason(R.INSTALLED_FILE_UNSIGNED, message, sibling),)


def test_a_shared_site_index_is_used_only_for_its_own_site(tmp_path, monkeypatch):
    md, subjects = install(tmp_path / "site")
    (tmp_path / "site/acme_csv.py").write_text("")
    other = SiteIndex(str(tmp_path))  # another directory: not used
    result = verify_installed(md, subjects, site_index=other)
    assert [r.subject for r in result.reasons] == ["acme_csv.py"]
    same = SiteIndex(str(tmp_path / "site"))
    (tmp_path / "site/acme_csv.py").unlink()  # the shared listing is from before: it is what is judged
    assert [r.subject for r in verify_installed(md, subjects, site_index=same).reasons] == ["acme_csv.py"]


def test_a_site_directory_that_cannot_be_listed_is_unsafe(tmp_path):
    md, subjects = install(tmp_path / "site")
    index = SiteIndex(str(tmp_path / "site"))
    index.error = "the listing failed"  # as scan_site reports it
    result = verify_installed(md, subjects, site_index=index)
    assert result.reasons == (reason(R.INSTALLED_FILE_UNSAFE, "the listing failed", str(tmp_path / "site")),)


def test_start_up_hooks_of_the_site(tmp_path):
    md, subjects = install(tmp_path)
    (tmp_path / "sitecustomize").mkdir()
    (tmp_path / "zz.pth").write_text("import evil\n")
    (tmp_path / "usercustomize.py").write_text("")
    result = verify_installed(md, subjects)
    hook = f"start-up hook in {tmp_path} that no installed RECORD lists with a matching hash"
    assert result.reasons == (
        reason(R.INSTALLED_FILE_UNSIGNED, f"sitecustomize: start-up hook package in {tmp_path}", "sitecustomize"),
        reason(R.INSTALLED_FILE_UNSIGNED, f"usercustomize.py: {hook}", "usercustomize.py"),
        reason(R.INSTALLED_FILE_UNSIGNED, f"zz.pth: {hook}", "zz.pth"),
    )
    assert result.evidence["startup_hooks_verified"] == []


def test_a_hook_listed_by_this_distribution_s_own_record_is_verified(tmp_path):
    md, subjects = install(tmp_path)
    (tmp_path / "own.pth").write_text("/opt\n")
    add_record_rows(md, "own.pth," + _record_hash(b"/opt\n") + ",5")
    result = verify_installed(md, subjects)
    # the row is unsigned (the plugin did not sign the hook), but the hook itself is what some RECORD lists
    assert result.evidence["startup_hooks_verified"] == ["own.pth"]
    assert [r.subject for r in result.reasons] == ["own.pth"]
    assert result.reasons[0].code is R.INSTALLED_FILE_UNSIGNED
    assert "installed RECORD lists it for this distribution" in result.reasons[0].message


def test_a_record_that_lists_a_hook_with_another_hash_does_not_take_it_over(tmp_path):
    """Any RECORD that lists the hook with its hash vouches for it, whichever RECORD the listing reads first."""
    md, subjects = install(tmp_path)
    fake_install(tmp_path, "aaa-first", "1.0", {"aaa_first.py": ""})
    add_record_rows(tmp_path / "aaa_first-1.0.dist-info", "helper.pth,sha256=forged,11")
    fake_install(tmp_path, "helper", "1.0", {"helper.pth": "/somewhere\n", "helper_mod.py": ""})
    result = verify_installed(md, subjects, site_index=SiteIndex(str(tmp_path)))
    assert result.evidence["startup_hooks_verified"] == ["helper.pth"]
    (tmp_path / "helper.pth").write_text("/elsewhere\n")  # and a changed hook is vouched for by none of them
    result = verify_installed(md, subjects, site_index=SiteIndex(str(tmp_path)))
    assert result.evidence["startup_hooks_verified"] == []
    assert [r.subject for r in result.reasons] == ["helper.pth"]


def test_the_records_of_a_site_with_a_hook_are_read_once_for_all_its_plugins(tmp_path, monkeypatch):
    """A site with a start-up hook (most site-packages have one) costs one read of each RECORD per load, not one
    per plugin: that made start-up quadratic in the plugins of the site."""
    fake_install(tmp_path, "helper", "1.0", {"helper.pth": "/somewhere\n", "helper_mod.py": ""})
    plugins = [fake_install(tmp_path, f"plug-{i}", "1.0", {f"plug_{i}/__init__.py": ""}) for i in range(5)]
    reads: list[str] = []
    real_read = sitecheck.read_file

    def counting(path, limit):  # type: ignore[no-untyped-def]
        if path.endswith("RECORD"):
            reads.append(path)
        return real_read(path, limit)

    monkeypatch.setattr(sitecheck, "read_file", counting)
    monkeypatch.setattr(sitehooks, "read_file", counting)
    index = SiteIndex(str(tmp_path))
    for md, subjects in plugins:
        assert verify_installed(md, subjects, site_index=index).evidence["startup_hooks_verified"] == ["helper.pth"]
    hook_reads = [p for p in reads if "helper" in p]  # each plugin also reads its own RECORD, once
    assert len(hook_reads) == 1
    assert len(reads) == len(plugins) + 6  # five own RECORDs, then all six RECORDs once for the hook


def test_another_distribution_s_record_comes_before_this_one_s(tmp_path):
    md, subjects = install(tmp_path)
    fake_install(tmp_path, "helper", "1.0", {"helper.pth": "/somewhere\n", "helper_mod.py": ""})
    add_record_rows(md, "helper.pth,sha256=forged,5")  # this plugin's own RECORD cannot take the hook over
    result = verify_installed(md, subjects)
    assert result.evidence["startup_hooks_verified"] == ["helper.pth"]


def test_no_other_record_is_read_without_a_hook(tmp_path, monkeypatch):
    md, subjects = install(tmp_path)
    fake_install(tmp_path, "helper", "1.0", {"helper_mod.py": ""})
    read = []
    real = sitecheck.read_file
    for module in (sitecheck, sitehooks):
        monkeypatch.setattr(module, "read_file", lambda path, limit: read.append(path) or real(path, limit))
    assert verify_installed(md, subjects).accepted
    assert read == [str(md / "RECORD")]  # its own, for the rows check; no other


def test_a_hook_that_is_a_signed_top_level_name_is_judged_once(tmp_path):
    """A signed ``sitecustomize`` package is forbidden; its unsigned ``sitecustomize.py`` sibling shadows it. Neither
    is reported again as a start-up hook of the site."""
    md, subjects = fake_install(tmp_path, "p", "1.0", {"p/__init__.py": "", "sitecustomize/__init__.py": ""})
    (tmp_path / "sitecustomize.py").write_text("")
    result = verify_installed(md, subjects)
    message = "sitecustomize.py: unsigned sibling that shadows or alters the import of 'sitecustomize'"
    assert [(r.code, r.subject) for r in result.reasons] == [
        (R.FORBIDDEN_FILE, "sitecustomize/__init__.py"),
        (R.INSTALLED_FILE_UNSIGNED, "sitecustomize.py"),
    ]
    assert result.reasons[1].message == message


def test_an_unsigned_hook_package_beside_a_signed_hook_module_is_reported_once(tmp_path):
    md, subjects = fake_install(tmp_path, "p", "1.0", {"p/__init__.py": "", "sitecustomize.py": ""})
    (tmp_path / "sitecustomize").mkdir()
    result = verify_installed(md, subjects)
    message = "sitecustomize: unsigned sibling that shadows or alters the import of 'sitecustomize'"
    forbidden = "sitecustomize.py would run at every Python start-up once installed"
    assert result.reasons == (
        reason(R.FORBIDDEN_FILE, forbidden, "sitecustomize.py"),
        reason(R.INSTALLED_FILE_UNSIGNED, message, "sitecustomize"),
    )  # and not again as a start-up hook package of the site


def test_a_skipped_hook_does_not_end_the_hook_check(tmp_path):
    md, subjects = fake_install(tmp_path, "p", "1.0", {"p/__init__.py": "", "sitecustomize/__init__.py": ""})
    (tmp_path / "zz.pth").write_text("import evil\n")
    index = SiteIndex(str(tmp_path))
    index.hooks.sort(key=lambda hook: hook[0])  # the plugin's own (skipped) hook first, whatever the listing order
    assert [name for name, _ in index.hooks] == ["sitecustomize", "zz.pth"]
    result = verify_installed(md, subjects, site_index=index)
    assert [(r.code, r.subject) for r in result.reasons] == [
        (R.FORBIDDEN_FILE, "sitecustomize/__init__.py"),
        (R.INSTALLED_FILE_UNSIGNED, "zz.pth"),
    ]


def test_the_walk_s_stat_spares_a_second_lstat(tmp_path, monkeypatch):
    """With a file record, a signed file that the walk saw is looked up by the walk's ``lstat``, not a new one."""
    md, subjects = install(tmp_path / "site")
    files = FileRecord(tmp_path / "installed.record", b"k" * 32, racy_ns=0)
    assert verify_installed(md, subjects, record=files).accepted
    (tmp_path / "site/acme_csv/x").write_text("")  # the package directory changes: the check is made again ...
    (tmp_path / "site/acme_csv/x").unlink()
    calls: list[str] = []
    real = os.lstat
    monkeypatch.setattr(os, "lstat", lambda path, *a, **k: calls.append(str(path)) or real(path, *a, **k))
    assert verify_installed(md, subjects, record=files).accepted
    package = str(tmp_path / "site/acme_csv")
    assert package in calls  # ... and the walk's own lstat of the top
    assert [path for path in calls if path.startswith(package + os.sep)] == []  # spares one of each file


def test_a_signed_start_up_hook_is_forbidden_and_nothing_else(tmp_path):
    md, subjects = fake_install(tmp_path, "p", "1.0", {"p/__init__.py": "", "p.pth": "", "sitecustomize.py": ""})
    result = verify_installed(md, subjects)
    assert [(r.code, r.subject) for r in result.reasons] == [
        (R.FORBIDDEN_FILE, "p.pth"),
        (R.FORBIDDEN_FILE, "sitecustomize.py"),
    ]


# --- what the installed RECORD lists ---------------------------------------------------------------------------


def _row_reason(rel: str) -> Reason:
    message = f"{rel}: the installed RECORD lists it for this distribution, but the signed statement does not"
    return reason(R.INSTALLED_FILE_UNSIGNED, message, rel)


@pytest.mark.parametrize("name", ["RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "securehost.dsse.json"])
def test_each_installer_file_is_accepted(tmp_path, name):
    md, subjects = install(tmp_path)
    add_record_rows(md, f"{DI}/{name},,")
    assert verify_installed(md, subjects).reasons == ()


@pytest.mark.parametrize(
    "rel",
    [
        f"{DI}/record",
        f"{DI}/sub/INSTALLER",
        "other-1.0.dist-info/INSTALLER",
        "INSTALLER",
        "acme_csv/RECORD",
        f"{DI}/extra.txt",
    ],
)
def test_installer_file_names_count_only_in_this_dist_info(tmp_path, rel):
    md, subjects = install(tmp_path)
    add_record_rows(md, f"{rel},,")
    assert verify_installed(md, subjects).reasons == (_row_reason(rel),)


@pytest.mark.parametrize("rel", ["../../bin/tool", "/usr/bin/tool", "../x.py"])
def test_rows_outside_the_site_directory_are_not_judged(tmp_path, rel):
    md, subjects = install(tmp_path)
    add_record_rows(md, f"{rel},,")
    assert verify_installed(md, subjects).reasons == ()


@pytest.mark.parametrize(
    ("row", "accepted"),
    [
        ("tool", True),  # the signed script where it was placed
        ("bin/tool", True),
        ("deep/bin/tool", True),
        ("binx/tool", True),
        ("xtool", False),
        ("tool.py", False),
        ("bin/tool/x", False),
        ("..tool", False),
    ],
)
def test_signed_data_files_are_accepted_where_the_installer_put_them(tmp_path, row, accepted):
    md, subjects = install(tmp_path, {"acme_csv/__init__.py": "", "acme_csv-1.0.data/scripts/tool": "#!python\n"})
    add_record_rows(md, f"{row},,")
    assert verify_installed(md, subjects).reasons == (() if accepted else (_row_reason(row),))


@pytest.mark.parametrize(
    ("row", "accepted"),
    [
        (f"acme_csv/__pycache__/plugin.{TAG}.pyc", True),
        (f"acme_csv/__pycache__/whatever.{TAG}.pyc", True),  # judged by the walk, if it is there
        (f"acme_csv/sub/__pycache__/m.{TAG}.pyc", True),
        (f"acme_csv/sub/other/__pycache__/m.{TAG}.pyc", False),
        (f"__pycache__/acme_top.{TAG}.pyc", True),
        (f"__pycache__/acme_top.{TAG}.opt-1.pyc", True),
        (f"__pycache__/acme_other.{TAG}.pyc", False),
        (f"__pycache__/acme_csv.{TAG}.pyc", False),  # a package has no top-level cache file
        (f"acme_csv/__pycache__x/plugin.{TAG}.pyc", False),
        (f"elsewhere/__pycache__/plugin.{TAG}.pyc", False),
        (f"x/__pycache__/acme_top.{TAG}.pyc", False),
    ],
)
def test_record_cache_rows_of_signed_modules(tmp_path, row, accepted):
    md, subjects = install(
        tmp_path,
        {"acme_csv/__init__.py": "", "acme_csv/plugin.py": "X = 1\n", "acme_csv/sub/m.py": "", "acme_top.py": ""},
    )
    add_record_rows(md, f"{row},,")
    assert verify_installed(md, subjects).reasons == (() if accepted else (_row_reason(row),))


def test_every_unsigned_row_is_reported(tmp_path):
    """Each kind of accepted row is followed by an unsigned one: accepting a row never ends the check."""
    md, subjects = install(
        tmp_path, {"acme_csv/__init__.py": "", "acme_csv/plugin.py": "", "acme_csv-1.0.data/scripts/tool": ""}
    )
    rows = [
        ("a.py", False),
        ("acme_csv/plugin.py", True),
        ("b.py", False),
        ("../../bin/tool", True),
        ("c.py", False),
        ("bin/tool", True),
        ("d.py", False),
        (f"{DI}/INSTALLER", True),
        ("e.py", False),
        (f"acme_csv/__pycache__/plugin.{TAG}.pyc", True),
        ("f.py", False),
    ]
    add_record_rows(md, *(f"{row},," for row, _ in rows))
    assert verify_installed(md, subjects).reasons == tuple(_row_reason(row) for row, ok in rows if not ok)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda md: (md / "RECORD").unlink(), f"[Errno 2] No such file or directory: '{{md}}{os.sep}RECORD'"),
        (lambda md: add_record_rows(md, "a.py,,", "b.py"), "row with 1 fields"),
        (lambda md: add_record_rows(md, ""), "row with 0 fields"),
        (
            lambda md: (md / "RECORD").write_bytes((md / "RECORD").read_bytes() + b"\xff,,\n"),
            "'utf-8' codec can't decode byte 0xff in position {pos}: invalid start byte",
        ),
    ],
)
def test_an_unusable_installed_record_is_unsafe(tmp_path, change, why):
    """An installed RECORD that cannot be parsed cannot be checked: that is a reason, never a silent skip."""
    md, subjects = install(tmp_path)
    size = (md / "RECORD").stat().st_size
    change(md)
    (tmp_path / "acme_helper.py").write_text("")  # an extra module that only the RECORD would have told about
    result = verify_installed(md, subjects)
    why = why.format(md=md, pos=size)
    message = (
        f"installed RECORD is unusable: {why}; reinstall the plugin (installers write one row of 3 fields per file)"
    )
    assert result.reasons == (reason(R.INSTALLED_FILE_UNSAFE, message, f"{DI}/RECORD"),)


# --- the module table ------------------------------------------------------------------------------------------


def test_sourceless_bytecode_is_unsafe_and_no_module(tmp_path):
    files = {"acme_csv/__init__.py": "", "acme_csv/fast.pyc": b"\0" * 16, "acme_csv/gadget.py": ""}
    md, subjects = install(tmp_path, files)
    result = verify_installed(md, subjects)
    message = "acme_csv/fast.pyc: sourceless bytecode; securehost imports only verified source and extension modules"
    assert result.reasons == (reason(R.INSTALLED_FILE_UNSAFE, message, "acme_csv/fast.pyc"),)
    assert set(result.modules) == {"acme_csv", "acme_csv.gadget"}  # the files after it are still modules


def test_a_module_provided_twice_keeps_the_first(tmp_path):
    files = {"acme_csv/__init__.py": "", f"acme_csv/m{EXT}": b"\x7fELF", "acme_csv/m.py": "", "acme_csv/n.py": ""}
    md, subjects = install(tmp_path, files)
    result = verify_installed(md, subjects)
    assert set(result.modules) == {"acme_csv", "acme_csv.m", "acme_csv.n"}
    message = "acme_csv/m.py: module acme_csv.m is provided by two signed files"
    assert result.reasons == (reason(R.INSTALLED_FILE_UNSAFE, message, "acme_csv/m.py"),)
    assert result.modules["acme_csv.m"] == VerifiedModule(
        path=str(tmp_path / f"acme_csv/m{EXT}"), sha256=sha(b"\x7fELF"), is_package=False, kind=ModuleKind.EXTENSION
    )


def test_a_module_that_is_also_a_parent_is_unsafe(tmp_path):
    md, subjects = install(tmp_path, {"acme_csv.py": "", "acme_csv/sub.py": ""})
    result = verify_installed(md, subjects)
    message = "module acme_csv is both a module and the parent of acme_csv.sub"
    assert reason(R.INSTALLED_FILE_UNSAFE, message, "acme_csv") in result.reasons


def test_namespace_directories_and_what_is_no_module(tmp_path):
    md, subjects = install(
        tmp_path,
        {
            "acme_csv/__init__.py": "",
            "acme_csv/a/b/c.py": "",
            "acme_csv/data/x.json": "{}",
            "acme_csv/not-a-name/x.py": "",
            f"acme_csv/__pycache__/plugin.{TAG}.pyc": b"signed cache",
            "acme_csv/__pycache__/odd.py": "",
        },
    )
    result = verify_installed(md, subjects)
    assert result.reasons == ()
    modules = result.modules
    assert sorted(modules) == ["acme_csv", "acme_csv.a", "acme_csv.a.b", "acme_csv.a.b.c", "acme_csv.data"]
    for name in ("acme_csv.a", "acme_csv.a.b", "acme_csv.data"):
        assert modules[name] == VerifiedModule(
            path=str(tmp_path.joinpath(*name.split("."))), sha256=None, is_package=True, kind=ModuleKind.NAMESPACE
        )
    assert not any(name.startswith(DI) for name in modules)


def test_a_top_level_namespace_directory(tmp_path):
    md, subjects = fake_install(tmp_path, "ns-thing", "1.0", {"ns/thing/__init__.py": "", "ns/thing/mod.py": ""})
    modules = verify_installed(md, subjects).modules
    assert modules["ns"] == VerifiedModule(
        path=str(tmp_path / "ns"), sha256=None, is_package=True, kind=ModuleKind.NAMESPACE
    )
    assert sorted(modules) == ["ns", "ns.thing", "ns.thing.mod"]


# --- entry points ------------------------------------------------------------------------------------------------


@pytest.fixture
def modules(tmp_path):
    md, subjects = install(tmp_path, {"acme_csv/__init__.py": "", "acme_csv/plugin.py": "", "acme_csv/ns/x.json": ""})
    return verify_installed(md, subjects).modules


def test_entry_points_inside_the_distribution(modules):
    spec = EntryPointSpec(group="g", name="n", value="acme_csv.plugin:Plugin", module="acme_csv.plugin", attr="Plugin")
    assert check_entry_points([spec, "acme_csv", "acme_csv.plugin:a.b [extra]"], modules) == ()


@pytest.mark.parametrize(
    ("value", "module"),
    [("os:system", "os"), ("acme_csv.ns:X", "acme_csv.ns"), ("acme_csv.other:X", "acme_csv.other")],
)
def test_entry_point_outside_the_distribution_names_its_module(modules, value, module):
    spec = EntryPointSpec(group="g", name="n", value=value, module=module, attr=None)
    message = f"entry point {value!r} targets {module!r}, which is not a module of the signed distribution"
    expected = reason(R.ENTRY_POINT_OUTSIDE_DISTRIBUTION, message, value)
    assert check_entry_points([value], modules) == (expected,)
    assert check_entry_points([spec], modules) == (expected,)  # the value is parsed again, not taken from the spec


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (".plugin:X", "entry point value '.plugin:X' is not 'module[:attr]'"),
        (42, "entry point value must be str, not int"),
        ("x" * 513, "entry point value is longer than 512 characters"),
    ],
)
def test_a_malformed_entry_point_says_why(modules, value, why):
    (found,) = check_entry_points([value], modules)
    assert found == reason(
        R.ENTRY_POINT_OUTSIDE_DISTRIBUTION,
        f"entry point {str(value)[:80]!r} names no module of the distribution ({why})",
        str(value)[:200],
    )


def test_every_entry_point_outside_is_reported(modules):
    found = check_entry_points(["x y", "os:system", "acme_csv.plugin:X", "json:loads", "x y"], modules)
    assert [r.subject for r in found] == ["x y", "os:system", "json:loads", "x y"]
