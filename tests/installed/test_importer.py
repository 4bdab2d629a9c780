from __future__ import annotations

import importlib
import json
import marshal
import shutil
import subprocess
import sys
import sysconfig
import uuid

import pytest

from securehost import ReasonCode
from securehost._audit import AuditLog
from securehost._installed.dependencies import DependencyPolicy
from securehost._installed.distcheck import verify_installed
from securehost._installed.importer import VerifiedImporter
from securehost.exceptions import (
    ConfigurationError,
    DependencyNotAllowedError,
    PluginRejectedError,
    VerificationImportError,
)
from tests._plugins import fake_install, payload


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def audit_path(tmp_path):
    return tmp_path / "audit.jsonl"


@pytest.fixture
def make_importer(state, audit_path):
    made = []

    def make(policy=None):
        audit = AuditLog(audit_path)
        importer = VerifiedImporter(state / "bytecode", state / "bytecode.key", audit, dependency_policy=policy)
        made.append((importer, audit))
        return importer

    yield make
    for importer, audit in made:
        for name in importer.distributions:
            importer.remove_distribution(name)
        importer.uninstall()
        audit.close()


def events(audit_path):
    if not audit_path.exists():
        return []
    return [json.loads(line)["event"] for line in audit_path.read_text().splitlines()]


def unique(prefix="plug"):
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def plugin(site, files, *, requires=()):
    """Install and verify a plugin; return (top-level name, InstalledDistribution)."""
    top = unique()
    dist_name = top.replace("_", "-")
    md, subjects = fake_install(
        site, dist_name, "1.0", {f"{top}/{rel}": text for rel, text in files.items()}, requires=requires
    )
    result = verify_installed(md, subjects)
    assert result.accepted, result.reasons
    return top, result


def add(importer, result):
    importer.add_distribution(result.name, result.modules, requires=result.requires)


def test_imports_verified_plugin_and_calls_it(tmp_path, make_importer):
    site = tmp_path / "site"
    top, result = plugin(
        site,
        {
            "__init__.py": "from . import helpers\n",
            "helpers.py": "def double(x):\n    return 2 * x\n",
            "plugin.py": (
                "from .helpers import double\nimport json\n\nclass P:\n    def run(self):\n        return double(21)\n"
            ),
            "data/table.csv": "a,b\n",
        },
    )
    importer = make_importer()
    add(importer, result)
    cls = importer.load_entry_point(f"{top}.plugin:P")
    assert cls().run() == 42
    module = sys.modules[f"{top}.plugin"]
    assert module.__file__ == str(site / top / "plugin.py")
    assert not hasattr(module, "__cached__")
    assert module.__spec__.cached is None
    assert module.__spec__.loader is importer
    assert sys.meta_path[0] is importer
    assert not (site / top / "__pycache__").exists()  # nothing written into site-packages
    assert importlib.import_module(f"{top}.data").__path__ == [str(site / top / "data")]  # namespace inside
    assert importer.get_source(f"{top}.helpers").startswith("def double")


def test_warm_cache_is_used_without_compiling(tmp_path, make_importer, monkeypatch):
    site = tmp_path / "site"
    top, result = plugin(site, {"__init__.py": "X = 1\n"})
    first = make_importer()
    add(first, result)
    first.load_entry_point(top)
    first.remove_distribution(result.name)
    first.uninstall()

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled although the cache is warm")

    monkeypatch.setattr("securehost._installed.bytecode.compile", no_compile, raising=False)
    second = make_importer()
    add(second, result)
    assert second.load_entry_point(top).X == 1


def test_warm_cache_runs_the_verified_code_even_if_the_file_changed_after_the_check(tmp_path, make_importer):
    """A cache hit needs no source: the signed code runs, the bytes written after verification never do."""
    site = tmp_path / "site"
    canary = tmp_path / "canary"
    top, result = plugin(site, {"__init__.py": "", "plugin.py": "SIGNED = True\n"})
    first = make_importer()
    add(first, result)
    first.load_entry_point(f"{top}.plugin")
    first.remove_distribution(result.name)
    first.uninstall()
    (site / top / "plugin.py").write_text(payload(canary) + "SIGNED = False\n")  # after the check
    second = make_importer()
    add(second, result)  # the table verified before the change
    assert second.load_entry_point(f"{top}.plugin:SIGNED") is True
    assert not canary.exists()


def test_file_modified_after_check_is_not_executed(tmp_path, make_importer):
    site = tmp_path / "site"
    canary = tmp_path / "canary"
    top, result = plugin(site, {"__init__.py": "", "plugin.py": "class P: ...\n"})
    importer = make_importer()
    add(importer, result)
    (site / top / "plugin.py").write_text(payload(canary) + "class P: ...\n")  # TOCTOU window
    with pytest.raises(VerificationImportError, match="changed after verification"):
        importer.load_entry_point(f"{top}.plugin:P")
    assert not canary.exists()
    assert f"{top}.plugin" not in sys.modules


def test_tampered_cache_entry_is_ignored_deleted_and_reported(tmp_path, make_importer, state, audit_path):
    site = tmp_path / "site"
    canary = tmp_path / "canary"
    top, result = plugin(site, {"__init__.py": "def f():\n    return 'genuine'\n"})
    importer = make_importer()
    add(importer, result)
    importer.load_entry_point(top)
    importer.remove_distribution(result.name)
    (entry,) = (state / "bytecode").iterdir()
    blob = entry.read_bytes()
    evil = compile(payload(canary) + "def f():\n    return 'evil'\n", str(site / top / "__init__.py"), "exec")
    entry.write_bytes(blob[:40] + marshal.dumps((evil, ())))  # keep the header and the old MAC
    add(importer, result)
    assert importer.load_entry_point(f"{top}:f")() == "genuine"
    assert not canary.exists()
    assert "bytecode.tampered" in events(audit_path)
    assert entry.read_bytes() != blob[:40] + marshal.dumps((evil, ()))  # replaced by a fresh, valid entry


def test_file_dropped_into_package_after_check_is_refused(tmp_path, make_importer):
    site = tmp_path / "site"
    canary = tmp_path / "canary"
    top, result = plugin(site, {"__init__.py": ""})
    importer = make_importer()
    add(importer, result)
    importer.load_entry_point(top)
    (site / top / "evil.py").write_text(payload(canary))
    with pytest.raises(VerificationImportError, match="not part of the signed distribution"):
        importlib.import_module(f"{top}.evil")
    assert not canary.exists()


@pytest.mark.parametrize("value", ["os:system", "json:loads", "nonexistent_mod:x"])
def test_entry_point_outside_verified_modules_is_refused(tmp_path, make_importer, value):
    _, result = plugin(tmp_path / "site", {"__init__.py": ""})
    importer = make_importer()
    add(importer, result)
    with pytest.raises(VerificationImportError, match="not a module of a verified plugin"):
        importer.load_entry_point(value)


def test_module_already_imported_from_elsewhere_is_refused(tmp_path, make_importer, monkeypatch):
    top, result = plugin(tmp_path / "site", {"__init__.py": ""})
    importer = make_importer()
    add(importer, result)
    monkeypatch.setitem(sys.modules, top, type(sys)(top))
    with pytest.raises(VerificationImportError, match="already imported from elsewhere"):
        importer.load_entry_point(top)


def test_duplicate_module_across_distributions_is_rejected(tmp_path, make_importer):
    _, result = plugin(tmp_path / "site", {"__init__.py": ""})
    importer = make_importer()
    add(importer, result)
    with pytest.raises(PluginRejectedError) as info:
        importer.add_distribution("another", result.modules)
    assert info.value.verdict.codes == {ReasonCode.DISTRIBUTION_SHADOWED}
    with pytest.raises(RuntimeError):
        add(importer, result)


def test_remove_distribution_unloads_modules(tmp_path, make_importer):
    top, result = plugin(tmp_path / "site", {"__init__.py": "", "sub.py": ""})
    importer = make_importer()
    add(importer, result)
    importer.load_entry_point(f"{top}.sub")
    importer.remove_distribution(result.name)
    assert top not in sys.modules
    assert f"{top}.sub" not in sys.modules
    assert importer.distributions == ()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(top)


def test_install_is_idempotent_and_removable(make_importer):
    importer = make_importer()
    importer.install()
    importer.install()
    assert sys.meta_path.count(importer) == 1
    sys.meta_path.insert(0, sys.meta_path.pop())  # someone else goes first
    importer.install()
    assert sys.meta_path[0] is importer
    importer.uninstall()
    assert importer not in sys.meta_path


# --- dependency policy ------------------------------------------------------------------------------------------


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """An importable, unverified module on sys.path."""
    name = unique("thirdparty")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / f"{name}.py").write_text("VALUE = 'third'\n")
    monkeypatch.syspath_prepend(str(lib))
    importlib.invalidate_caches()
    yield name
    sys.modules.pop(name, None)


def _importing_plugin(tmp_path, third_party, canary):
    return plugin(
        tmp_path / "site", {"__init__.py": payload(canary) + f"import {third_party}\nV = {third_party}.VALUE\n"}
    )


def test_signed_policy_refuses_unknown_dependency_before_running(tmp_path, make_importer, third_party, audit_path):
    canary = tmp_path / "canary"
    top, result = _importing_plugin(tmp_path, third_party, canary)
    importer = make_importer()
    add(importer, result)
    with pytest.raises(DependencyNotAllowedError):
        importer.load_entry_point(top)
    assert not canary.exists()  # the import statement was found before any byte ran
    assert "import.dependency_denied" in events(audit_path)


def test_allowlisted_dependency_is_imported(tmp_path, make_importer, third_party):
    top, result = _importing_plugin(tmp_path, third_party, tmp_path / "canary")
    importer = make_importer(DependencyPolicy(mode="allowlist", allowed_modules=[third_party]))
    add(importer, result)
    assert importer.load_entry_point(f"{top}:V") == "third"


def test_report_policy_allows_and_reports(tmp_path, make_importer, third_party, audit_path):
    top, result = _importing_plugin(tmp_path, third_party, tmp_path / "canary")
    importer = make_importer(DependencyPolicy(mode="report"))
    add(importer, result)
    assert importer.load_entry_point(f"{top}:V") == "third"
    assert "import.dependency_reported" in events(audit_path)


def test_dynamic_import_from_plugin_code_is_checked(tmp_path, make_importer, third_party):
    top, result = plugin(
        tmp_path / "site",
        {"__init__.py": f"import importlib\ndef load():\n    return importlib.import_module({third_party!r})\n"},
    )
    importer = make_importer()
    add(importer, result)
    load = importer.load_entry_point(f"{top}:load")
    with pytest.raises(DependencyNotAllowedError):
        load()
    assert third_party not in sys.modules


def test_gap_dynamic_import_through_a_standard_library_helper(tmp_path, make_importer, third_party):
    """Out of the in-process model (docs/threat-model.md): the run-time check looks for the importing frame, so an
    import made on the plugin's behalf by a standard-library helper (pkgutil, runpy, importlib.util) is not seen.
    The static check of the plugin's own import statements still applies."""
    top, result = plugin(
        tmp_path / "site",
        {"__init__.py": f"import pkgutil\ndef load():\n    return pkgutil.resolve_name({third_party + ':VALUE'!r})\n"},
    )
    importer = make_importer()
    add(importer, result)
    assert importer.load_entry_point(f"{top}:load")() == "third"


def test_signed_policy_allows_other_verified_plugins_allowlist_does_not(tmp_path, make_importer):
    site = tmp_path / "site"
    base_top, base = plugin(site, {"__init__.py": "BASE = 1\n"})
    user_top, user = plugin(site, {"__init__.py": f"import {base_top}\nB = {base_top}.BASE\n"})
    signed = make_importer()
    add(signed, base)
    add(signed, user)
    assert signed.load_entry_point(f"{user_top}:B") == 1
    for name in (base.name, user.name):
        signed.remove_distribution(name)
    signed.uninstall()
    strict = make_importer(DependencyPolicy(mode="allowlist"))
    add(strict, base)
    add(strict, user)
    with pytest.raises(DependencyNotAllowedError):
        strict.load_entry_point(user_top)


def test_requires_dist_policy(tmp_path, make_importer, audit_path):
    _, result = plugin(tmp_path / "site", {"__init__.py": ""}, requires=("requests>=2", "pytest; extra == 'test'"))
    with pytest.raises(PluginRejectedError) as info:
        add(make_importer(), result)
    assert info.value.verdict.codes == {ReasonCode.DEPENDENCY_NOT_ALLOWED}
    assert [r.subject for r in info.value.verdict.reasons] == ["requests"]  # the extra-only requirement is skipped
    add(make_importer(DependencyPolicy(mode="allowlist", allowed_distributions=["Requests"])), result)
    add(make_importer(DependencyPolicy(mode="report")), result)
    assert "import.dependency_reported" in events(audit_path)


def test_requires_dist_on_verified_plugin_is_allowed_in_signed_mode(tmp_path, make_importer):
    site = tmp_path / "site"
    _, base = plugin(site, {"__init__.py": ""})
    _, user = plugin(site, {"__init__.py": ""}, requires=(f"{base.name}>=1",))
    importer = make_importer()
    add(importer, base)
    add(importer, user)


def test_unknown_policy_mode_is_refused():
    with pytest.raises(ValueError, match="dependency mode"):
        DependencyPolicy(mode="lenient")  # type: ignore[arg-type]


# --- configuration ----------------------------------------------------------------------------------------------


def test_key_file_created_private_and_reused(state, make_importer):
    make_importer()
    key = state / "bytecode.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert len(key.read_bytes()) == 32
    before = key.read_bytes()
    make_importer()
    assert key.read_bytes() == before


def test_unsafe_key_file_is_refused(state):
    state.mkdir()
    key = state / "bytecode.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o644)
    with pytest.raises(ConfigurationError, match="0600"):
        VerifiedImporter(state / "bytecode", key)
    key.chmod(0o600)
    key.write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        VerifiedImporter(state / "bytecode", key)


def test_group_writable_cache_dir_is_refused(state):
    (state / "bytecode").mkdir(parents=True)
    (state / "bytecode").chmod(0o777)
    with pytest.raises(ConfigurationError, match="writable"):
        VerifiedImporter(state / "bytecode", state / "key")


def test_default_state_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    importer = VerifiedImporter()
    assert (tmp_path / "xdg/securehost/bytecode").is_dir()
    assert (tmp_path / "xdg/securehost/bytecode.key").is_file()
    importer.uninstall()


# --- extension modules ------------------------------------------------------------------------------------------

C_SOURCE = """
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_speed", NULL, 0, methods};
PyMODINIT_FUNC PyInit__speed(void) { return PyModuleDef_Init(&def); }
"""


@pytest.fixture(scope="module")
def extension_bytes(tmp_path_factory):
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    root = tmp_path_factory.mktemp("ext")
    (root / "speed.c").write_text(C_SOURCE)
    out = root / "speed.so"
    include = sysconfig.get_paths()["include"]
    subprocess.run(["cc", "-shared", "-fPIC", f"-I{include}", "-o", str(out), str(root / "speed.c")], check=True)
    return out.read_bytes()


def test_extension_module_is_loaded_from_a_verified_copy(tmp_path, make_importer, extension_bytes, state):
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    top, result = plugin(tmp_path / "site", {"__init__.py": "", f"_speed{suffix}": extension_bytes})
    importer = make_importer()
    add(importer, result)
    answer = importer.load_entry_point(f"{top}._speed:answer")
    assert answer() == 42
    assert sys.modules[f"{top}._speed"].__file__ == str(tmp_path / "site" / top / f"_speed{suffix}")
    assert list((state / "extensions").iterdir()) == []  # the staged copy is gone once loaded
    assert oct((state / "extensions").stat().st_mode & 0o777) == "0o700"


def test_extension_modified_after_check_is_not_loaded(tmp_path, make_importer, extension_bytes):
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    top, result = plugin(tmp_path / "site", {"__init__.py": "", f"_speed{suffix}": extension_bytes})
    importer = make_importer()
    add(importer, result)
    path = tmp_path / "site" / top / f"_speed{suffix}"
    path.write_bytes(extension_bytes + b"\0")
    with pytest.raises(VerificationImportError, match="changed after verification"):
        importer.load_entry_point(f"{top}._speed")


def test_code_read_for_its_imports_in_a_batch_serves_the_import_once(tmp_path, make_importer):
    top, result = plugin(tmp_path / "site", {"__init__.py": "import json\nV = 7\n"})
    importer = make_importer()
    module = result.modules[top]
    assert importer.verified_imports(result.name, top, module) == (("json", 0, ()),)
    assert importer._pending == {}  # outside a batch nothing is kept
    with importer.batch():
        with importer.batch():
            importer.verified_imports(result.name, top, module)
        assert len(importer._pending) == 1  # kept until the outermost block ends
        add(importer, result)
        assert importer.load_entry_point(f"{top}:V") == 7
        assert importer._pending == {}  # used once
        importer.verified_imports(result.name, top, module)
    assert importer._pending == {}
    namespace = as_namespace(module)
    with pytest.raises(VerificationImportError, match="not a source module"):
        importer.verified_imports(result.name, top, namespace)


def as_namespace(module):
    from securehost._installed.modules import ModuleKind, VerifiedModule

    kind = ModuleKind.NAMESPACE
    return VerifiedModule(path=module.path, sha256=module.sha256, is_package=module.is_package, kind=kind)
