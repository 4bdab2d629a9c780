from __future__ import annotations

import importlib.machinery
import marshal
import os
import py_compile
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securehost import ReasonCode
from securehost._installed.distcheck import ModuleKind, verify_installed
from securehost._installed.entrycheck import check_entry_points
from tests._plugins import _record_hash, fake_install

SOURCE = "VALUE = 42\n"


@pytest.fixture
def installed(tmp_path):
    site = tmp_path / "site"
    md, subjects = fake_install(
        site,
        "acme-csv",
        "1.0",
        {
            "acme_csv/__init__.py": "",
            "acme_csv/plugin.py": SOURCE,
            "acme_csv/data/table.csv": "a,b\n",
            "acme_csv-1.0.data/scripts/acme": "#!python\nprint('hi')\n",
        },
        entry_points={"demoapp.plugins": {"csv": "acme_csv.plugin:CsvPlugin"}},
        requires=("pluggy>=1.5", "pytest; extra == 'test'"),
    )
    (site / "acme_csv-1.0.data").rename(tmp_path / "scripts-moved")  # an installer moves scripts out of site
    return site, md, subjects


def codes(result):
    return {r.code for r in result.reasons}


def test_accepts_clean_installation(installed):
    site, md, subjects = installed
    result = verify_installed(md, subjects)
    assert result.accepted, result.reasons
    assert result.name == "acme-csv"
    assert result.version == "1.0"
    assert result.top_level == ("acme_csv",)
    assert result.requires == ("pluggy>=1.5", "pytest; extra == 'test'")
    assert result.evidence["unverified_files"] == {"scripts": ["acme"]}
    modules = result.modules
    assert modules["acme_csv"].is_package
    assert modules["acme_csv"].path == str(site / "acme_csv/__init__.py")
    assert modules["acme_csv.plugin"].kind is ModuleKind.SOURCE
    assert modules["acme_csv.plugin"].sha256 == subjects["acme_csv/plugin.py"]
    assert modules["acme_csv.data"].kind is ModuleKind.NAMESPACE
    assert modules["acme_csv.data"].sha256 is None
    with pytest.raises(TypeError):
        modules["x"] = modules["acme_csv"]  # type: ignore[index]
    assert result.verdict().accepted


def test_modified_file(installed):
    site, md, subjects = installed
    (site / "acme_csv/plugin.py").write_text("VALUE = 43\n")
    assert codes(verify_installed(md, subjects)) == {ReasonCode.INSTALLED_FILE_MODIFIED}


def test_appended_byte(installed):
    site, md, subjects = installed
    with open(site / "acme_csv/plugin.py", "ab") as handle:
        handle.write(b" ")
    assert codes(verify_installed(md, subjects)) == {ReasonCode.INSTALLED_FILE_MODIFIED}


def test_missing_file(installed):
    site, md, subjects = installed
    (site / "acme_csv/plugin.py").unlink()
    assert codes(verify_installed(md, subjects)) == {ReasonCode.INSTALLED_FILE_MISSING}


def test_modified_metadata_is_caught_too(installed):
    _site, md, subjects = installed
    (md / "METADATA").write_text("Name: acme-csv\nVersion: 1.0\nRequires-Dist: evil\n")
    assert ReasonCode.INSTALLED_FILE_MODIFIED in codes(verify_installed(md, subjects))


@pytest.mark.parametrize(
    "extra",
    [
        "acme_csv/evil.py",
        "acme_csv/evil.cpython-311-x86_64-linux-gnu.so",
        "acme_csv/evil.pyc",
        "acme_csv/data/evil.py",
        "acme_csv/notes.txt",
    ],
)
def test_unsigned_extra_file(installed, extra):
    site, md, subjects = installed
    (site / extra).write_text("x = 1\n")
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert result.reasons[0].subject == extra


def test_unsigned_nested_directory(installed):
    site, md, subjects = installed
    (site / "acme_csv/nested").mkdir()
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert "namespace" in result.reasons[0].message


TAG = sys.implementation.cache_tag
PYC = f"acme_csv/__pycache__/plugin.{TAG}.pyc"


def _planted_pyc(site, tmp_path):
    source = site / "acme_csv/plugin.py"
    evil = tmp_path / "evil.py"
    evil.write_text("import os\nos.system('echo pwned')\n")
    target = site / PYC
    target.parent.mkdir(exist_ok=True)
    py_compile.compile(str(evil), cfile=str(target), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    st = source.stat()
    data = bytearray(target.read_bytes())
    data[8:12] = int(st.st_mtime).to_bytes(4, "little")
    data[12:16] = (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    target.write_bytes(bytes(data))
    return target


def test_planted_pycache_with_matching_header(installed, tmp_path):
    site, md, subjects = installed
    _planted_pyc(site, tmp_path)
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert "delete the plugin's __pycache__" in result.reasons[0].message


def test_planted_pycache_listed_in_record_with_its_own_hash_is_rejected(installed, tmp_path):
    site, md, subjects = installed
    pyc = _planted_pyc(site, tmp_path)
    with open(md / "RECORD", "a") as record:  # the attacker rewrites the unsigned RECORD too
        record.write(f"{PYC},{_record_hash(pyc.read_bytes())},{pyc.stat().st_size}\n")
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert result.reasons[0].subject == PYC
    assert result.evidence["pycache_accepted"] == []


def test_planted_pycache_listed_without_hash_in_a_later_record_is_rejected(installed, tmp_path):
    site, md, subjects = installed
    _planted_pyc(site, tmp_path)
    time.sleep(0.01)
    record = (md / "RECORD").read_text() + f"{PYC},,\n"
    (md / "RECORD").write_text(record)  # RECORD written after the cache file, as pip does
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert result.reasons[0].subject == PYC


@pytest.mark.parametrize(
    ("optimize", "mode"),
    [
        (0, py_compile.PycInvalidationMode.TIMESTAMP),
        (1, py_compile.PycInvalidationMode.TIMESTAMP),
        (2, py_compile.PycInvalidationMode.TIMESTAMP),
        (0, py_compile.PycInvalidationMode.CHECKED_HASH),
        (0, py_compile.PycInvalidationMode.UNCHECKED_HASH),
    ],
)
def test_pycache_compiled_from_the_signed_source_is_accepted(installed, optimize, mode):
    site, md, subjects = installed
    for name in ("__init__", "plugin"):
        py_compile.compile(str(site / f"acme_csv/{name}.py"), optimize=optimize, invalidation_mode=mode, doraise=True)
    result = verify_installed(md, subjects)
    assert result.accepted, result.reasons
    assert len(result.evidence["pycache_accepted"]) == 2


def test_pycache_compiled_under_another_path_is_accepted(installed, tmp_path):
    """``pip install --target`` compiles in a temporary directory: the file name inside differs, the code does not."""
    site, md, subjects = installed
    source = site / "acme_csv/plugin.py"
    py_compile.compile(str(source), cfile=str(site / PYC), dfile="/tmp/pip-target-xyz/acme_csv/plugin.py")
    assert verify_installed(md, subjects).accepted


def test_pycache_with_the_signed_header_but_other_code_is_rejected(installed, tmp_path):
    site, md, subjects = installed
    source = site / "acme_csv/plugin.py"
    py_compile.compile(
        str(source), cfile=str(site / PYC), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
    )
    evil = tmp_path / "plugin.py"
    evil.write_text("VALUE = 666\n")  # same length as the signed source
    header = (site / PYC).read_bytes()[:16]
    body = marshal.dumps(compile(evil.read_bytes(), str(source), "exec", dont_inherit=True))
    (site / PYC).write_bytes(header + body)
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert "not what compiling the signed" in result.reasons[0].message


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("plugin.cpython-00.pyc", "another interpreter"),
        (f"helper.{TAG}.pyc", "is not a signed source"),
        (f"plugin.{TAG}.pyc.12345", "not a cache file name"),
    ],
)
def test_pycache_that_cannot_be_checked_is_rejected(installed, name, why):
    site, md, subjects = installed
    cache = site / "acme_csv/__pycache__"
    cache.mkdir()
    py_compile.compile(str(site / "acme_csv/plugin.py"), cfile=str(cache / name))
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert why in result.reasons[0].message


def test_refuse_bytecode_rejects_even_the_compiled_signed_source(installed):
    site, md, subjects = installed
    py_compile.compile(str(site / "acme_csv/plugin.py"), doraise=True)
    assert verify_installed(md, subjects).accepted
    result = verify_installed(md, subjects, refuse_bytecode=True)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert "refuses them all" in result.reasons[0].message


def test_sibling_module_shadowing_top_level_name(installed):
    site, md, subjects = installed
    (site / "acme_csv.py").write_text("")
    extension = "acme_csv" + importlib.machinery.EXTENSION_SUFFIXES[0]  # this interpreter's own suffix
    (site / extension).write_bytes(b"\x7fELF")
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert {r.subject for r in result.reasons} == {"acme_csv.py", extension}


def test_unlisted_pth_file_in_site(installed):
    site, md, subjects = installed
    (site / "zzz.pth").write_text("import os; os.system('echo pwned')\n")
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert result.reasons[0].subject == "zzz.pth"


def test_pth_listed_by_another_distribution_is_fine(installed):
    site, md, subjects = installed
    fake_install(site, "helper", "1.0", {"helper.pth": "/somewhere\n", "helper_mod.py": ""})
    result = verify_installed(md, subjects)
    assert result.accepted, result.reasons
    assert result.evidence["startup_hooks_verified"] == ["helper.pth"]
    (site / "helper.pth").write_text("import evil\n")
    assert codes(verify_installed(md, subjects)) == {ReasonCode.INSTALLED_FILE_UNSIGNED}


def test_signed_pth_is_forbidden(tmp_path):
    md, subjects = fake_install(tmp_path, "p", "1.0", {"p/__init__.py": "", "p.pth": "import p\n"})
    assert codes(verify_installed(md, subjects)) == {ReasonCode.FORBIDDEN_FILE}


@pytest.mark.parametrize("startup", ["sitecustomize.py", "usercustomize.py", "sitecustomize/__init__.py"])
def test_signed_startup_module_is_forbidden(tmp_path, startup):
    md, subjects = fake_install(tmp_path, "p", "1.0", {"p/__init__.py": "", startup: "print('every start')\n"})
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.FORBIDDEN_FILE}
    assert result.reasons[0].subject == startup


def test_symlink_in_package_is_unsafe(installed, tmp_path):
    site, md, subjects = installed
    (tmp_path / "elsewhere.py").write_text("")
    (site / "acme_csv/link.py").symlink_to(tmp_path / "elsewhere.py")
    assert codes(verify_installed(md, subjects)) == {ReasonCode.INSTALLED_FILE_UNSAFE}


def test_signed_file_replaced_by_symlink_is_unsafe(installed, tmp_path):
    site, md, subjects = installed
    real = tmp_path / "real.py"
    real.write_text(SOURCE)  # same content: the hash would match through the link
    (site / "acme_csv/plugin.py").unlink()
    (site / "acme_csv/plugin.py").symlink_to(real)
    assert ReasonCode.INSTALLED_FILE_UNSAFE in codes(verify_installed(md, subjects))


def test_symlinked_package_directory_is_unsafe(installed, tmp_path):
    site, md, subjects = installed
    (site / "acme_csv").rename(tmp_path / "moved")
    (site / "acme_csv").symlink_to(tmp_path / "moved")
    assert ReasonCode.INSTALLED_FILE_UNSAFE in codes(verify_installed(md, subjects))


def test_fifo_is_unsafe_and_does_not_block(installed):
    site, md, subjects = installed
    os.mkfifo(site / "acme_csv/pipe.py")
    assert codes(verify_installed(md, subjects)) == {ReasonCode.INSTALLED_FILE_UNSAFE}


def test_signed_sourceless_pyc_is_unsafe(tmp_path):
    md, subjects = fake_install(tmp_path, "p", "1.0", {"p/__init__.py": "", "p/fast.pyc": b"\0" * 16})
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSAFE}
    assert "sourceless" in result.reasons[0].message


def test_malformed_subjects_are_unsafe(installed):
    _, md, subjects = installed
    bad = {**subjects, "../escape.py": "0" * 64, "acme_csv/x.py": "not-hex"}
    result = verify_installed(md, bad)
    assert {r.subject for r in result.reasons if r.code is ReasonCode.INSTALLED_FILE_UNSAFE} == {
        "../escape.py",
        "acme_csv/x.py",
    }


def test_two_subjects_installing_to_one_path(installed):
    _, md, subjects = installed
    bad = {**subjects, "acme_csv-1.0.data/purelib/acme_csv/plugin.py": subjects["acme_csv/plugin.py"]}
    assert ReasonCode.INSTALLED_FILE_UNSAFE in codes(verify_installed(md, bad))


def test_unsigned_metadata_is_reported(installed):
    _, md, subjects = installed
    del subjects["acme_csv-1.0.dist-info/METADATA"]
    result = verify_installed(md, subjects)
    # no signed METADATA to read, and the installed RECORD lists a METADATA that nobody signed
    assert codes(result) == {ReasonCode.DISTRIBUTION_METADATA_INVALID, ReasonCode.INSTALLED_FILE_UNSIGNED}


def test_subjects_must_be_strings(installed):
    _, md, _ = installed
    with pytest.raises(TypeError):
        verify_installed(md, {"a.py": 1})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "value",
    ["os:system", "json:loads", "other_plugin.mod:X", ".plugin:X", "acme_csv.data:X", "acme_csv.plugin.Evil", "x y"],
)
def test_entry_point_outside_distribution(installed, value):
    _, md, subjects = installed
    modules = verify_installed(md, subjects).modules
    (reason,) = check_entry_points([value], modules)
    assert reason.code is ReasonCode.ENTRY_POINT_OUTSIDE_DISTRIBUTION


def test_entry_points_inside_distribution(installed):
    _, md, subjects = installed
    modules = verify_installed(md, subjects).modules
    assert check_entry_points(["acme_csv.plugin:CsvPlugin", "acme_csv"], modules) == ()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extra=st.dictionaries(
        st.text(alphabet=st.sampled_from("ab./_-\\\x00é"), min_size=0, max_size=20),
        st.one_of(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), st.text(max_size=5)),
        max_size=5,
    )
)
def test_arbitrary_subjects_never_raise(installed, extra):
    _, md, subjects = installed
    result = verify_installed(md, {**subjects, **extra})
    assert all(isinstance(r.code, ReasonCode) for r in result.reasons)
    assert all(str(m.path).startswith(str(md.parent)) for m in result.modules.values())


def _add_record_row(md, row: str) -> None:
    record = md / "RECORD"
    record.write_text(record.read_text() + row + "\n")


def test_extra_top_level_module_listed_in_installed_record_is_unsigned(installed):
    """A module the installer put next to the plugin's package, listed in RECORD but not signed, is found."""
    site, md, subjects = installed
    (site / "acme_helper.py").write_text("open('/tmp/CANARY', 'w')\n")
    _add_record_row(md, "acme_helper.py,,")
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert result.reasons[0].subject == "acme_helper.py"


@pytest.mark.parametrize("row", ["bin/acme,,", "../../../bin/acme,,"])
def test_signed_script_recorded_where_the_installer_put_it_is_accepted(installed, row):
    """pip --target records scripts as bin/NAME inside the target; other installers as ../../bin/NAME."""
    _, md, subjects = installed
    _add_record_row(md, row)
    assert verify_installed(md, subjects).accepted


def test_installer_metadata_files_are_accepted_others_in_dist_info_are_not(installed):
    _, md, subjects = installed
    for name in ("INSTALLER", "REQUESTED", "direct_url.json"):
        (md / name).write_text("x\n")
        _add_record_row(md, f"{md.name}/{name},,")
    assert verify_installed(md, subjects).accepted
    (md / "extra.txt").write_text("x\n")
    _add_record_row(md, f"{md.name}/extra.txt,,")
    result = verify_installed(md, subjects)
    assert {r.subject for r in result.reasons} == {f"{md.name}/extra.txt"}


@pytest.mark.parametrize(
    "row",
    [
        "acme_csv/not__pycache__/plugin.cpython-311.pyc,,",  # a directory merely ending in __pycache__
        "other_pkg/__pycache__/plugin.cpython-311.pyc,,",  # a cache directory of a package nobody signed
        "__pycache__/unsigned_module.cpython-311.pyc,,",  # a top-level cache of a module nobody signed
    ],
)
def test_record_cache_rows_count_only_for_signed_modules(installed, row):
    _, md, subjects = installed
    _add_record_row(md, row)
    result = verify_installed(md, subjects)
    assert codes(result) == {ReasonCode.INSTALLED_FILE_UNSIGNED}
    assert result.reasons[0].subject == row.split(",")[0]


def test_record_cache_row_of_a_signed_package_is_left_to_the_package_walk(installed):
    _, md, subjects = installed
    _add_record_row(md, "acme_csv/__pycache__/plugin.cpython-311.pyc,,")
    assert verify_installed(md, subjects).accepted
