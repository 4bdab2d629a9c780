"""The package namespace: every public name resolves, and importing securehost loads nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import securehost
from securehost.testing import PluginSite, build_wheel, trust_store_for, write_trust_store


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in securehost.__all__:
        assert getattr(securehost, name) is not None
    assert sorted(securehost.__all__) == sorted(set(securehost.__all__))
    assert dir(securehost) == sorted(securehost.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        securehost.nope  # type: ignore[attr-defined]  # noqa: B018


def test_importing_securehost_or_its_pytest_plugin_loads_nothing_heavy() -> None:
    """pytest loads the plugin in every run of a project that has securehost installed: it must stay cheap."""
    code = (
        "import sys, json, pytest; before = set(sys.modules); import securehost, securehost.pytest_plugin; "
        "print(json.dumps(sorted(m for m in "
        "('cryptography', 'packaging.markers', 'pluggy', 'tomlkit', 'attrs', 'jsonschema') "
        "if m in sys.modules and m not in before)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert loaded == []


# The public API, pinned: a name that moves between private modules must keep resolving from here.
PUBLIC = [
    "PAYLOAD_TYPE", "PREDICATE_TYPE", "STATEMENT_TYPE", "AuditEvent", "AuditLog", "CapabilityRelay",
    "ConfigDeclaration", "ConfigurationError",
    "DependencyApprovals",
    "DependencyPolicy", "DiscoveryCache", "Envelope", "EnvelopeLimits", "FormatError", "HealthReport", "HookError",
    "HookStats",
    "HookimplMarker", "HookspecMarker", "Host", "InstallResult", "KeyType", "LoadNote", "LoadReport", "NoteCode",
    "Permission",
    "PermissionDeniedError",
    "PermissionSet", "PluginContext", "PluginHealth", "PluginPredicate", "PluginRejectedError", "PluginReport",
    "PrivateKey",
    "ProcessIsolation", "PublicKey",
    "Reason", "ReasonCode", "SecurePluginManager", "SecurehostError", "SecurehostWarning", "Signature",
    "SignatureCheck",
    "SignerDecision", "SigningError", "SkippedImpl", "Statement", "StatsSnapshot", "Subject", "Threshold",
    "TrustStore", "TrustedKey", "UninstallResult", "Verdict", "VerifiedImporter", "WorkerLimits",
    "__version__", "approve_dependencies", "check_signatures", "current_plugin",
    "describe_wheel", "guard_installed", "install_guard", "install_plugin", "list_plugins", "require_verified_wheel",
    "sign_wheel", "uninstall_plugin", "verify_wheel",
]  # fmt: skip
TESTING_PUBLIC = [
    "EVERY_BUILTIN_PERMISSION", "BuildUnavailableError", "Denial", "HostFactory", "InstalledPlugin", "PluginSite",
    "ProjectBuildError", "SiteTamper", "WheelFactory", "WheelTamper", "assert_accepted", "assert_denied",
    "assert_rejected", "build_project", "build_wheel", "denied", "tamper_wheel", "trust_store_for", "wheel_members",
    "write_trust_store",
]  # fmt: skip


def test_public_names_are_pinned() -> None:
    import importlib

    assert securehost.__all__ == PUBLIC
    testing = importlib.import_module("securehost.testing")
    assert testing.__all__ == TESTING_PUBLIC
    for name in TESTING_PUBLIC:
        assert getattr(testing, name) is not None


def test_lazy_table_matches_all_and_each_module_defines_or_reexports_the_name() -> None:
    import importlib

    table = securehost._LAZY  # type: ignore[attr-defined]
    assert set(table) == set(PUBLIC) - {"__version__"}
    for name, module_name in table.items():
        module = importlib.import_module(module_name)
        assert hasattr(module, name), f"{module_name} has no {name}: update securehost._LAZY"
        if name in getattr(module, "__all__", ()):
            continue
        assert getattr(module, name) is getattr(securehost, name)


def test_type_checking_imports_in_the_namespace_agree_with_the_lazy_table() -> None:
    """The ``if TYPE_CHECKING:`` imports (what type checkers see) name the same module as the runtime table."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(securehost))
    seen: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.module.startswith("securehost"):
                    seen.update({alias.name: stmt.module for alias in stmt.names})
    table = securehost._LAZY  # type: ignore[attr-defined]
    assert {k: v for k, v in seen.items() if k in table} == {k: v for k, v in table.items() if k in seen}
    assert set(table) - set(seen) <= {"HookimplMarker"}


#: what neither ``import securehost; securehost.Host`` nor a warm start-up (every signature in the memo, every plugin
#: in-process) imports: signature verification, the wheel tools, isolation, health and selection, installing, and
#: what is only needed to explain a rejection or to create a key (docs/performance.md, "What a warm start imports")
NOT_ON_THE_WARM_PATH = [
    "cryptography", "email.parser", "importlib_metadata", "importlib.metadata", "asyncio", "msgspec", "difflib",
    "zipfile", "secrets", "shlex", "tomlkit", "socket", "logging", "importlib.abc", "shutil", "tempfile", "csv",
    "securehost._isolation.policy", "securehost._isolation.host", "securehost._isolation.supervisor",
    "securehost._host.isolated", "securehost._orchestrator.health", "securehost._orchestrator.select",
    "securehost._orchestrator.declare", "securehost._wheel.info", "securehost._wheel.wheelfile",
    "securehost._wheel.record", "securehost._wheel.check", "securehost._install", "securehost._trust.edit",
    "securehost._cli", "securehost._installed.sitecheck", "securehost._installed.pyccheck", "tomllib", "tomli",
    "securehost._dispatch.relay", "securehost._isolation.zygote", "securehost._host.devmode",
    "securehost._wheel.startup", "hashlib", "hmac", "_hashlib", "base64", "securehost._signing.private",
    "securehost._dispatch.skipped", "securehost._host.note", "securehost._dispatch.snapshot",
]  # fmt: skip
if sys.version_info >= (3, 11):  # Python 3.10's platform module (attrs imports it) imports subprocess
    NOT_ON_THE_WARM_PATH.append("subprocess")


def test_the_host_class_imports_nothing_the_warm_path_does_not_need() -> None:
    """``securehost.Host`` (what an application touches first) brings in the host path and nothing beside it."""
    code = (
        "import sys, json; import securehost; securehost.Host; "
        f"print(json.dumps(sorted(m for m in {NOT_ON_THE_WARM_PATH!r} if m in sys.modules)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert loaded == []


ENTRY_POINTS = {"demoapp.plugins": {"warm": "acme_warm"}}
WARM_START = """
import json, sys
sys.path.insert(0, {site!r})
import securehost
import securehost._installed.filerecord, securehost._installed.scan
# the site was just written: without this its files are too young to be remembered (the racy window)
securehost._installed.filerecord.RACY_NS = securehost._installed.scan._RACY_NS = 0
class Spec:
    @securehost.HookspecMarker("demoapp")
    def hello(self): ...
host = securehost.Host(project="demoapp", group="demoapp.plugins", trust_store={store!r}, state_dir={state!r},
                       path=[{site!r}], guard=False, hookspecs=Spec)
report = host.load()
assert [p.status for p in report.plugins] == ["accepted"], report.summary()
assert report.warnings == (), report.warnings  # a load with nothing to say defines no note type
assert host.hook.hello() == [1]
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
from securehost._signing import predicate
strict = ["_sha256_re", "_name_re", "_tag_re", "_group_re", "_ep_name_re", "_bad_path_chars_re"]
print(json.dumps([name for name in strict if getattr(predicate, name).cache_info().currsize]))
"""


def test_a_warm_start_imports_no_signature_check_wheel_tools_isolation_or_health(tmp_path: Path) -> None:
    """A warm start-up finds every signature in the memo and its trust store remembered: nothing needs these.

    Nor does it compile the patterns of the statement's strict checks: the memo says these bytes passed them.
    """
    key = securehost.PrivateKey.generate()
    store = write_trust_store(trust_store_for(key), tmp_path / "trust.toml")
    files = {
        "acme_warm/__init__.py": "import pluggy\n\n\n@pluggy.HookimplMarker('demoapp')\ndef hello():\n    return 1\n"
    }
    wheel = build_wheel(tmp_path, files, name="acme-warm", version="1.0", entry_points=ENTRY_POINTS)
    site = PluginSite(tmp_path / "site")
    site.install(securehost.sign_wheel(wheel, key, output=f"{tmp_path / 'signed'}/"))
    heavy = [*NOT_ON_THE_WARM_PATH, "email.message", "packaging.tags", "packaging.version"]
    code = WARM_START.format(site=str(site.path), store=str(store), state=str(tmp_path / "state"), heavy=heavy)
    runs = [subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True) for _ in "12"]
    cold, warm = (run.stdout.splitlines() for run in runs)
    assert "cryptography" in json.loads(cold[0])  # cold: the signature is verified
    assert sorted(json.loads(cold[1])) == [
        "_bad_path_chars_re",
        "_ep_name_re",
        "_group_re",
        "_name_re",
        "_sha256_re",
        "_tag_re",
    ]
    assert json.loads(warm[0]) == []
    assert (
        json.loads(warm[1]) == []
    )  # the statement is rebuilt without its strict checks: their patterns stay uncompiled


VERIFY_ONE = """
import json, sys
from securehost._cli.app import main
assert main(["verify", {wheel!r}, "--store", {store!r}]) == 0
print(json.dumps(sorted(m for m in ["email.parser", "concurrent.futures", "zipfile"] if m in sys.modules)))
"""


def test_verifying_one_small_wheel_imports_no_email_parser_thread_pool_or_zipfile(tmp_path: Path) -> None:
    """``securehost verify``: plain metadata needs no email parser, a small wheel no threads, reading no zipfile."""
    key = securehost.PrivateKey.generate()
    store = write_trust_store(trust_store_for(key), tmp_path / "trust.toml")
    wheel = build_wheel(tmp_path, {"acme_small/__init__.py": "X = 1\n"}, name="acme-small", version="1.0")
    signed = securehost.sign_wheel(wheel, key, output=f"{tmp_path / 'signed'}/")
    code = VERIFY_ONE.format(wheel=str(signed), store=str(store))
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
