"""End to end with the real tools: build with ``python -m build``, install with installer and pip, then discover,
verify the installed files and import from verified bytes. Every attack must be rejected with its own reason and
no attacker byte may run (the payloads write a canary file)."""

from __future__ import annotations

import json
import marshal
import py_compile
import shutil
import sys
import sysconfig
import uuid
from pathlib import Path

import pytest

from securehost import ReasonCode
from securehost._audit import AuditLog
from securehost._installed.discovery import discover
from securehost._installed.distcheck import verify_installed
from securehost._installed.entrycheck import check_entry_points
from securehost._installed.importer import VerifiedImporter
from securehost.exceptions import VerificationImportError
from tests._plugins import build_wheel, make_project, payload, run, wheel_subjects

pytestmark = pytest.mark.slow

GROUP = "demoapp.plugins"
PLUGIN_FILES = {
    "acme_csv/__init__.py": "from .helpers import parse\n",
    "acme_csv/helpers.py": "def parse(text):\n    return [line.split(',') for line in text.splitlines()]\n",
    "acme_csv/plugin.py": (
        "from . import parse\n\nclass CsvPlugin:\n    def rows(self, text):\n        return parse(text)\n"
    ),
}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    pytest.importorskip("hatchling")
    root = tmp_path_factory.mktemp("projects")
    acme = make_project(root, "acme-csv", PLUGIN_FILES, entry_points={"csv": "acme_csv.plugin:CsvPlugin"}, group=GROUP)
    evil = make_project(
        root,
        "acme-evil",
        {"acme_evil/__init__.py": ""},
        entry_points={"steal": "acme_csv.plugin:CsvPlugin", "shell": "os:system"},
        group=GROUP,
    )
    out = root / "dist"
    return {
        "acme": (acme, build_wheel(acme, out / "acme")),
        "evil": (evil, build_wheel(evil, out / "evil")),
    }


@pytest.fixture(scope="module")
def pip_target(wheels, tmp_path_factory):
    """A pristine ``pip install --target`` of acme-csv; tests copy it before changing anything."""
    target = tmp_path_factory.mktemp("pip-target") / "site"
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target, wheels["acme"][1])
    return target


@pytest.fixture
def site(pip_target, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(pip_target, copy, symlinks=True)
    return copy


@pytest.fixture
def importer(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    made = VerifiedImporter(tmp_path / "state" / "bytecode", tmp_path / "state" / "bytecode.key", audit)
    yield made
    for name in made.distributions:
        made.remove_distribution(name)
    made.uninstall()
    audit.close()
    for name in [m for m in sys.modules if m == "acme_csv" or m.startswith("acme_csv.")]:
        del sys.modules[name]


def check_and_load(site_dir: Path, subjects, importer):
    """The Host's flow: discover, verify, then (only if accepted) import and call."""
    (candidate,) = discover(GROUP, [site_dir]).distributions
    assert candidate.accepted, candidate.reasons
    installed = verify_installed(candidate.metadata_dir, subjects)
    if not installed.accepted:
        return installed
    assert check_entry_points(candidate.entry_points, installed.modules) == ()
    importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    plugin_class = importer.load_entry_point(candidate.entry_points[0].value)
    assert plugin_class().rows("a,b\nc,d") == [["a", "b"], ["c", "d"]]
    return installed


def codes(result):
    return {r.code for r in result.reasons}


def test_pip_target_install_is_accepted_and_imported(site, wheels, importer):
    installed = check_and_load(site, wheel_subjects(wheels["acme"][1]), importer)
    assert installed.accepted
    assert installed.evidence["pycache_accepted"]  # pip's compiled files, listed without a hash
    assert sys.modules["acme_csv.plugin"].__spec__.loader is importer


def test_installer_destdir_install_is_accepted_and_imported(wheels, tmp_path, importer):
    dest = tmp_path / "dest"
    run(sys.executable, "-m", "installer", "--no-compile-bytecode", "--destdir", dest, wheels["acme"][1])
    purelib = dest / Path(sysconfig.get_paths()["purelib"]).relative_to("/")
    assert check_and_load(purelib, wheel_subjects(wheels["acme"][1]), importer).accepted


def test_installer_compiled_bytecode_is_accepted_as_the_compiled_source(wheels, tmp_path):
    dest = tmp_path / "dest"
    run(sys.executable, "-m", "installer", "--destdir", dest, wheels["acme"][1])  # compiles, RECORD omits the pycs
    purelib = dest / Path(sysconfig.get_paths()["purelib"]).relative_to("/")
    installed = verify_installed(purelib / "acme_csv-1.0.dist-info", wheel_subjects(wheels["acme"][1]))
    assert installed.accepted, installed.reasons
    assert installed.evidence["pycache_accepted"]  # the installer compiled the signed sources: exactly their code


def test_venv_install_is_accepted_and_imported(wheels, tmp_path, importer):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheels["acme"][1])
    (site_dir,) = (venv / "lib").glob("python3*/site-packages")
    assert check_and_load(site_dir, wheel_subjects(wheels["acme"][1]), importer).accepted


def test_editable_install_is_rejected(wheels, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    project = wheels["acme"][0]
    # a real editable install: pip builds it with the project's backend in an isolated build environment
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "-e", project)
    (site_dir,) = (venv / "lib").glob("python3*/site-packages")
    (candidate,) = discover(GROUP, [site_dir]).distributions
    assert codes(candidate) == {ReasonCode.EDITABLE_INSTALL}


def test_shadowing_duplicate_distribution_is_rejected(pip_target, site):
    result = discover(GROUP, [site, pip_target])
    assert len(result.distributions) == 2
    assert all(codes(d) == {ReasonCode.DISTRIBUTION_SHADOWED} for d in result.distributions)


def test_entry_points_aimed_outside_are_rejected(site, wheels, importer):
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, wheels["evil"][1])
    by_name = {d.name: d for d in discover(GROUP, [site]).distributions}
    evil = by_name["acme-evil"]
    installed = verify_installed(evil.metadata_dir, wheel_subjects(wheels["evil"][1]))
    assert installed.accepted
    reasons = check_entry_points(evil.entry_points, installed.modules)
    assert {r.subject for r in reasons} == {"acme_csv.plugin:CsvPlugin", "os:system"}
    assert {r.code for r in reasons} == {ReasonCode.ENTRY_POINT_OUTSIDE_DISTRIBUTION}
    importer.add_distribution(installed.name, installed.modules)
    with pytest.raises(VerificationImportError):
        importer.load_entry_point("os:system")


def _tamper_modified(site, canary):
    path = site / "acme_csv/helpers.py"
    path.write_text(payload(canary) + path.read_text())


def _tamper_appended(site, canary):
    with open(site / "acme_csv/helpers.py", "a") as handle:
        handle.write("\n" + payload(canary))


def _tamper_extra_module(site, canary):
    (site / "acme_csv/extra.py").write_text(payload(canary))


def _tamper_lone_pyc(site, canary):
    source = site.parent / "lone.py"
    source.write_text(payload(canary))
    py_compile.compile(str(source), cfile=str(site / "acme_csv/lone.pyc"))


def _tamper_planted_pycache(site, canary):
    real = site / "acme_csv/helpers.py"
    evil = site.parent / "evil_helpers.py"
    evil.write_text(payload(canary) + real.read_text())
    tag = sys.implementation.cache_tag
    target = site / f"acme_csv/__pycache__/helpers.{tag}.pyc"
    py_compile.compile(str(evil), cfile=str(target))
    data = bytearray(target.read_bytes())
    st = real.stat()
    data[8:12] = int(st.st_mtime).to_bytes(4, "little")  # the header now matches the real source
    data[12:16] = (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    target.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_tamper_modified, ReasonCode.INSTALLED_FILE_MODIFIED),
        (_tamper_appended, ReasonCode.INSTALLED_FILE_MODIFIED),
        (_tamper_extra_module, ReasonCode.INSTALLED_FILE_UNSIGNED),
        (_tamper_lone_pyc, ReasonCode.INSTALLED_FILE_UNSIGNED),
        (_tamper_planted_pycache, ReasonCode.INSTALLED_FILE_UNSIGNED),
    ],
)
def test_tampered_installation_is_rejected_and_nothing_runs(site, wheels, importer, tmp_path, tamper, code):
    canary = tmp_path / f"canary-{uuid.uuid4().hex}"
    tamper(site, canary)
    installed = check_and_load(site, wheel_subjects(wheels["acme"][1]), importer)
    assert codes(installed) == {code}
    assert not canary.exists()
    assert "acme_csv" not in sys.modules


def test_planted_pycache_would_run_without_securehost(site, tmp_path):
    """Control for the test above: the planted cache file is live ammunition for a plain import."""
    canary = tmp_path / "canary"
    _tamper_planted_pycache(site, canary)
    code = f"import sys; sys.path.insert(0, {str(site)!r}); import acme_csv"
    run(sys.executable, "-c", code)
    assert canary.exists()


def test_modification_between_check_and_import_is_caught(site, wheels, importer, tmp_path):
    canary = tmp_path / "canary"
    (candidate,) = discover(GROUP, [site]).distributions
    installed = verify_installed(candidate.metadata_dir, wheel_subjects(wheels["acme"][1]))
    assert installed.accepted
    importer.add_distribution(installed.name, installed.modules)
    _tamper_modified(site, canary)  # after the check, before the import
    with pytest.raises(VerificationImportError):
        importer.load_entry_point(candidate.entry_points[0].value)
    assert not canary.exists()


def test_tampered_bytecode_cache_entry_is_not_executed(site, wheels, tmp_path):
    canary = tmp_path / "canary"
    subjects = wheel_subjects(wheels["acme"][1])
    state = tmp_path / "state"
    audit = AuditLog(tmp_path / "audit.jsonl")
    first = VerifiedImporter(state / "bytecode", state / "bytecode.key", audit)
    try:
        check_and_load(site, subjects, first)
    finally:
        first.remove_distribution("acme-csv")
        first.uninstall()
    for entry in (state / "bytecode").iterdir():
        blob = entry.read_bytes()
        code, imports = marshal.loads(blob[40:])
        evil = compile(payload(canary), code.co_filename, "exec")
        entry.write_bytes(blob[:40] + marshal.dumps((evil, imports)))
    second = VerifiedImporter(state / "bytecode", state / "bytecode.key", audit)
    try:
        assert check_and_load(site, subjects, second).accepted
    finally:
        second.remove_distribution("acme-csv")
        second.uninstall()
        audit.close()
    assert not canary.exists()
    logged = [json.loads(line)["event"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert logged.count("bytecode.tampered") == 3  # __init__, helpers, plugin
