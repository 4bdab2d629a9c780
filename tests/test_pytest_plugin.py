"""The pytest plugin, exercised as a downstream project uses it: through ``pytester``.

Each test writes a downstream project (a host module and test files that use the fixtures) and runs pytest on
it, in a subprocess and in-process, once under pytest-xdist. The plugin is found through the ``pytest11`` entry
point when securehost is installed (as in ``nox -s tests``), and with ``-p securehost.pytest_plugin`` when it runs
from the source tree.
"""

from __future__ import annotations

import doctest
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

from securehost.testing import SiteTamper, WheelTamper

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "testing.md"


def _plugin_args() -> list[str]:
    """Load the plugin by its entry point when securehost is installed, else by module name (never both)."""
    entry_points = importlib.metadata.entry_points(group="pytest11", name="securehost")
    if any(ep.value == "securehost.pytest_plugin" for ep in entry_points):
        return ["-p", "securehost"]
    return ["-p", "securehost.pytest_plugin"]


PLUGIN_ARGS = _plugin_args()
# -W error: the fixtures must not warn (pytest-benchmark would, under xdist: it is not under test here)
COMMON_ARGS = [*PLUGIN_ARGS, "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:benchmark", "-W", "error"]

HOST = '''
"""The downstream host application."""

from securehost import HookspecMarker

hookspec = HookspecMarker("myhost")


class Spec:
    @hookspec
    def greet(self, name):
        """Greet someone."""

    @hookspec(firstresult=True)
    def read(self, path):
        """Read a file."""
'''

PLUGIN_CODE = """
import pluggy

hookimpl = pluggy.HookimplMarker("myhost")


@hookimpl
def greet(name):
    return f"hello {name}"


@hookimpl
def read(path):
    with open(path) as handle:
        return handle.read()
"""

GOOD = f"""
import importlib.metadata
import importlib.util
import site
import sys

import pytest

from myhost import Spec
from securehost import PrivateKey, TrustStore, verify_wheel
from securehost.testing import (
    HostFactory, PluginSite, SiteTamper, WheelFactory, WheelTamper, assert_accepted, assert_denied,
    assert_rejected, denied,
)

PLUGIN = {PLUGIN_CODE!r}
KEYS = []


def build(factory, data, name="hello-plugin", **options):
    module = name.replace("-", "_")
    return factory.from_files(
        {{f"{{module}}/__init__.py": PLUGIN}},
        name=name,
        entry_points={{"myhost.plugins": {{"p": module}}}},
        permissions=[f"fs.read:{{data}}/**"],
        **options,
    )


@pytest.fixture
def data(tmp_path):
    path = tmp_path.resolve() / "data"
    path.mkdir()
    (path / "x.txt").write_text("content")
    return path


def test_fixture_types(securehost_key, securehost_trust_store, securehost_wheel_factory, securehost_site,
                       securehost_host_factory, tmp_path):
    assert isinstance(securehost_key, PrivateKey)
    assert isinstance(securehost_trust_store, TrustStore)
    assert securehost_trust_store.lookup(securehost_key.key_id) == securehost_key.public_key
    assert isinstance(securehost_wheel_factory, WheelFactory)
    assert isinstance(securehost_site, PluginSite)
    assert isinstance(securehost_host_factory, HostFactory)
    assert securehost_site.path.is_relative_to(tmp_path)
    assert securehost_wheel_factory.directory.is_relative_to(tmp_path)
    assert str(securehost_site.path) not in sys.path
    KEYS.append(securehost_key)


def test_key_is_made_once_per_session(securehost_key):
    assert KEYS == [securehost_key]


def test_signed_plugin_loads_and_is_denied_outside_its_grant(
    securehost_wheel_factory, securehost_site, securehost_host_factory, securehost_trust_store, data, tmp_path
):
    wheel = build(securehost_wheel_factory, data)
    assert_accepted(verify_wheel(wheel, securehost_trust_store))
    securehost_site.install(wheel)
    assert importlib.util.find_spec("hello_plugin") is None
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("hello-plugin")
    for directory in [*site.getsitepackages(), site.getusersitepackages()]:
        assert not list(__import__("pathlib").Path(directory).glob("hello_plugin*"))
    host = securehost_host_factory(project="myhost", hookspecs=Spec, grants={{"hello-*": [f"fs.read:{{data}}/**"]}})
    assert_accepted(host.load(), name="hello-plugin")
    assert host.hook.greet(name="Ada") == ["hello Ada"]
    assert host.hook.read(path=str(data / "x.txt")) == "content"
    secret = tmp_path.resolve() / "secret"
    secret.write_text("s")
    with denied(f"fs.read:{{secret}}", plugin="p") as caught:  # registered under its entry-point name
        host.hook.read(path=str(secret))
    assert caught.value.plugin == "p"
    assert_denied(lambda: host.hook.read(path=str(secret)), permission="fs.read")


def test_unsigned_plugin_is_rejected(securehost_wheel_factory, securehost_site, securehost_host_factory, data):
    securehost_site.install(build(securehost_wheel_factory, data, signed=False))
    report = securehost_host_factory(project="myhost", hookspecs=Spec).load()
    assert_rejected(report, name="hello-plugin", reason="envelope-missing")


@pytest.mark.parametrize("kind", list(WheelTamper))
def test_tampered_wheel(kind, securehost_wheel_factory, securehost_site, securehost_host_factory, data,
                        securehost_trust_store):
    wheel = build(securehost_wheel_factory, data, tamper=kind)
    assert_rejected(verify_wheel(wheel, securehost_trust_store), reason=kind.reason)
    securehost_site.install(wheel)
    report = securehost_host_factory(project="myhost", hookspecs=Spec, grants={{"*": [f"fs.read:{{data}}/**"]}}).load()
    assert_rejected(report, name="hello-plugin", reason=kind.installed_reason)


@pytest.mark.parametrize("kind", list(SiteTamper))
def test_tampered_site(kind, securehost_wheel_factory, securehost_site, securehost_host_factory, data):
    plugin = securehost_site.install(build(securehost_wheel_factory, data))
    securehost_site.tamper(plugin, kind)
    report = securehost_host_factory(project="myhost", hookspecs=Spec, grants={{"*": [f"fs.read:{{data}}/**"]}}).load()
    assert_rejected(report, name="hello-plugin", reason=kind.reason)


def test_from_project(securehost_wheel_factory, securehost_site, securehost_host_factory, tmp_path):
    project = tmp_path / "project"
    (project / "proj_plugin").mkdir(parents=True)
    (project / "proj_plugin" / "__init__.py").write_text(PLUGIN)
    (project / "pyproject.toml").write_text(
        '[build-system]\\nrequires = ["hatchling"]\\nbuild-backend = "hatchling.build"\\n'
        '[project]\\nname = "proj-plugin"\\nversion = "1.0"\\n'
        '[project.entry-points."myhost.plugins"]\\np = "proj_plugin"\\n'
    )
    securehost_site.install(securehost_wheel_factory.from_project(project))
    host = securehost_host_factory(project="myhost", hookspecs=Spec)
    assert_accepted(host.load(), name="proj-plugin")
    assert host.hook.greet(name="Bo") == ["hello Bo"]
"""
GOOD_COUNT = 5 + len(WheelTamper) + len(SiteTamper)

WRONG = f"""
import pytest

from myhost import Spec
from securehost.testing import assert_rejected, denied

PLUGIN = {PLUGIN_CODE!r}


@pytest.fixture
def host(securehost_wheel_factory, securehost_site, securehost_host_factory):
    wheel = securehost_wheel_factory.from_files(
        {{"hello_plugin/__init__.py": PLUGIN}},
        name="hello-plugin",
        entry_points={{"myhost.plugins": {{"p": "hello_plugin"}}}},
    )
    securehost_site.install(wheel)
    return securehost_host_factory(project="myhost", hookspecs=Spec)


def test_expects_a_good_plugin_to_be_rejected(host):
    assert_rejected(host.load(), name="hello-plugin", reason="digest-mismatch")


def test_expects_a_harmless_call_to_be_denied(host):
    host.load()
    with denied("fs.read:/etc/passwd"):
        host.hook.greet(name="Ada")


def test_expects_the_wrong_reason(host, securehost_site):
    securehost_site.tamper("hello-plugin", "modify-installed")
    assert_rejected(host.load(), name="hello-plugin", reason="key-revoked")


def test_expects_a_plugin_that_is_not_there(host):
    assert_rejected(host.load(), name="hello-plugni")
"""

ISOLATION = f"""
import sys

from myhost import Spec

PLUGIN = {PLUGIN_CODE!r}
SNAPSHOT = {{}}


def load(factory, site, hosts, name):
    module = name.replace("-", "_")
    wheel = factory.from_files(
        {{f"{{module}}/__init__.py": PLUGIN}}, name=name, entry_points={{"myhost.plugins": {{"p": module}}}}
    )
    site.install(wheel)
    site.install(factory.from_files({{"bad_one/__init__.py": "x = 1"}}, name="bad-one", tamper="modify-file"))
    host = hosts(project="myhost", hookspecs=Spec)
    assert host.load()[name].status == "accepted"
    assert host.hook.greet(name="x") == ["hello x"]
    assert module in sys.modules
    assert sys.meta_path[0] is host.importer
    hosts(project="myhost", hookspecs=Spec, guard=False).load()


def test_1_warm_up(securehost_wheel_factory, securehost_site, securehost_host_factory):
    load(securehost_wheel_factory, securehost_site, securehost_host_factory, "warm-plugin")


def test_2_snapshot():
    SNAPSHOT.update(path=list(sys.path), meta_path=list(sys.meta_path), modules=set(sys.modules))


def test_3_load_plugins(securehost_wheel_factory, securehost_site, securehost_host_factory):
    load(securehost_wheel_factory, securehost_site, securehost_host_factory, "hello-plugin")


def test_4_nothing_leaked():
    assert sys.path == SNAPSHOT["path"]
    assert sys.meta_path == SNAPSHOT["meta_path"]
    assert set(sys.modules) - SNAPSHOT["modules"] == set()
    assert SNAPSHOT["modules"] - set(sys.modules) == set()
    assert "hello_plugin" not in sys.modules
"""


def run(pytester: pytest.Pytester, mode: str, *args: str) -> pytest.RunResult:
    if mode == "subprocess":
        return pytester.runpytest_subprocess(*COMMON_ARGS, *args, timeout=600)
    return pytester.runpytest_inprocess(*COMMON_ARGS, *args)


@pytest.fixture
def downstream(pytester: pytest.Pytester) -> pytest.Pytester:
    pytest.importorskip("installer")
    pytester.makepyfile(myhost=HOST)
    pytester.syspathinsert()  # in-process runs import myhost from here (subprocesses get the directory too)
    return pytester


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["subprocess", "inprocess"])
def test_a_downstream_test_suite_that_uses_the_fixtures_passes(downstream: pytest.Pytester, mode: str) -> None:
    pytest.importorskip("hatchling")
    downstream.makepyfile(test_downstream=GOOD)
    result = run(downstream, mode, "-q")
    result.assert_outcomes(passed=GOOD_COUNT)


@pytest.mark.slow
def test_a_downstream_test_suite_passes_under_xdist(downstream: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytest.importorskip("hatchling")
    downstream.makepyfile(test_downstream=GOOD.replace("assert KEYS == [securehost_key]", "assert len(KEYS) <= 1"))
    result = run(downstream, "subprocess", "-n", "2", "-v")
    result.assert_outcomes(passed=GOOD_COUNT)
    output = result.stdout.str()
    assert "[gw0] " in output
    assert "[gw1] " in output


@pytest.mark.parametrize("mode", ["subprocess", "inprocess"])
def test_wrong_expectations_fail_with_readable_messages(downstream: pytest.Pytester, mode: str) -> None:
    downstream.makepyfile(test_wrong=WRONG)
    result = run(downstream, mode)
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            "*_ test_expects_a_good_plugin_to_be_rejected _*",
            "E * AssertionError: expected hello-plugin to be rejected with digest-mismatch, but it was accepted:",
            "E *hello-plugin 1.0.0: ACCEPTED",
            "E *signed by: *",
            "*_ test_expects_a_harmless_call_to_be_denied _*",
            "E * AssertionError: expected a denial of 'fs.read:/etc/passwd', but the block raised nothing",
            "*_ test_expects_the_wrong_reason _*",
            "E * AssertionError: expected hello-plugin to be rejected with key-revoked; "
            "it was rejected, but without key-revoked:",
            "E *hello-plugin 1.0.0: REJECTED",
            "E *- [[]installed-file-modified[]] hello_plugin/__init__.py was modified after signing*",
            "*_ test_expects_a_plugin_that_is_not_there _*",
            "E * AssertionError: expected 'hello-plugni' to be rejected, but it is not in the report for group "
            "'myhost.plugins': hello-plugin (accepted)",
        ]
    )
    output = result.stdout.str()
    assert "_testing_assert.py" not in output  # the helpers' own frames are hidden
    assert "Traceback" not in output


@pytest.mark.parametrize("mode", ["subprocess", "inprocess"])
def test_tests_that_load_plugins_leave_sys_path_meta_path_and_modules_as_they_were(
    downstream: pytest.Pytester, mode: str
) -> None:
    downstream.makepyfile(test_isolation=ISOLATION)
    result = run(downstream, mode, "-v")
    result.assert_outcomes(passed=4)


def test_from_project_fails_with_a_clear_message_when_the_backend_is_missing(downstream: pytest.Pytester) -> None:
    downstream.makepyfile(
        test_build="""
        def test_build(securehost_wheel_factory, tmp_path):
            (tmp_path / "pyproject.toml").write_text(
                '[build-system]\\nrequires = ["no-such-backend>=1"]\\nbuild-backend = "no_such_backend"\\n'
            )
            securehost_wheel_factory.from_project(tmp_path)
        """
    )
    result = run(downstream, "inprocess", "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*build requirements not installed: no-such-backend>=1 (install them in the test environment*",
            "FAILED test_build.py::test_build - Failed: *",
        ]
    )
    assert result.ret == 1


def test_fixtures_are_listed_with_their_documentation(downstream: pytest.Pytester) -> None:
    result = run(downstream, "inprocess", "--fixtures")
    assert result.ret == 0
    output = result.stdout.str()
    for name, words in [
        ("securehost_key [session scope]", "throwaway Ed25519 signing key"),
        ("securehost_trust_store", "trusts ``securehost_key``"),
        ("securehost_wheel_factory", "Build wheels from a dict of files"),
        ("securehost_site", "isolated site directory"),
        ("securehost_host_factory", "Make hosts that load plugins"),
    ]:
        assert name in output
        assert words in output


def test_the_entry_point_names_the_plugin_module() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    pyproject = REPO / "pyproject.toml"
    if pyproject.exists():
        config = tomllib.loads(pyproject.read_text())
        assert config["project"]["entry-points"]["pytest11"] == {"securehost": "securehost.pytest_plugin"}
    installed = importlib.metadata.entry_points(group="pytest11", name="securehost")
    for ep in installed:  # when securehost is installed (nox), the entry point loads the plugin module
        assert ep.load().__name__ == "securehost.pytest_plugin"
    assert pyproject.exists() or installed


# --- the guide's examples ------------------------------------------------------------------------------------

_FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_FILE_HEADER = re.compile(r"# (?P<path>[\w./-]+\.(?:py|toml))\n")


def guide_blocks() -> tuple[dict[str, str], list[str]]:
    """The guide's example files (blocks whose first line names a file) and its doctest blocks."""
    files: dict[str, str] = {}
    doctests: list[str] = []
    for match in _FENCE.finditer(DOCS.read_text(encoding="utf-8")):
        info, body = match["info"].strip(), match["body"]
        header = _FILE_HEADER.match(body)
        if info in ("python", "toml") and header:
            files[header["path"]] = body
        elif info == "{doctest}":
            doctests.append(body)
    return files, doctests


def test_the_guide_has_the_examples_this_suite_runs() -> None:
    files, doctests = guide_blocks()
    assert sorted(files) == [
        "conftest.py",
        "hello-plugin/pyproject.toml",
        "hello-plugin/src/hello_plugin/__init__.py",
        "hello-plugin/tests/test_hello_plugin_project.py",
        "myapp.py",
        "test_myapp_plugins.py",
    ]
    assert len(doctests) == 1


@pytest.mark.slow
def test_the_guides_example_test_suites_pass(pytester: pytest.Pytester) -> None:
    pytest.importorskip("installer")
    pytest.importorskip("hatchling")
    files, _ = guide_blocks()
    for path, body in files.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    result = pytester.runpytest_subprocess(*COMMON_ARGS, "-v", timeout=600)
    expected = 6 + len(WheelTamper) + len(SiteTamper)  # test_myapp_plugins.py, then the plugin project's test
    result.assert_outcomes(passed=expected)
    result.stdout.fnmatch_lines(["*test_the_built_plugin_loads_in_myapp PASSED*"])


def test_the_guides_doctests_pass() -> None:
    _, blocks = guide_blocks()
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for number, block in enumerate(blocks):
        test = parser.get_doctest(block, {}, f"testing.md[{number}]", str(DOCS), 0)
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 10
    assert results.failed == 0


def test_the_guides_tamper_tables_match_the_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    wheel_rows = re.findall(r"^\| `([a-z-]+)` \| [^|]+ \| `([a-z-]+)` \| `([a-z-]+)` \|$", text, re.MULTILINE)
    assert wheel_rows == [(k.value, k.reason.value, k.installed_reason.value) for k in WheelTamper]
    site_rows = re.findall(r"^\| `([a-z-]+)` \| [^|]+ \| `([a-z-]+)` \|$", text, re.MULTILINE)
    assert site_rows == [(k.value, k.reason.value) for k in SiteTamper]
