"""The Host's dependency policy: the host's closure allowed by default, every missing dependency in one report (for
``load()``, ``check()`` and ``securehost list`` alike) with the fix, and approvals pinned to file digests."""

from __future__ import annotations

import importlib
import json
import logging
import shlex
import sys
import uuid
from pathlib import Path
from typing import Any

import attrs
import pytest

from securehost import DependencyPolicy, PrivateKey, ReasonCode
from securehost._cli import main
from securehost.exceptions import ConfigurationError
from tests._plugins import fake_install
from tests.hostkit import GOOD, GROUP, PROJECT, TOOL, Lab, codes, lab_fixtures, rejected, tool_files, write_store
from tests.wheelfactory import trust, trusted

R = ReasonCode
KEY = PrivateKey.generate()
STORE = trust(trusted(KEY, label="release"))


good_wheel, lab = lab_fixtures(KEY, STORE)  # the signed example plugin and a lab that installs it


@attrs.frozen
class Env:
    """The host's environment: ``demoapp`` (module *api*) requiring ``hostlib`` (module *lib*), and ``fastmath``
    (module *extra*), which the host does not require, all installed in *site* on :data:`sys.path`."""

    site: Path
    api: str
    lib: str
    extra: str


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    token = uuid.uuid4().hex[:8]
    site = tmp_path / "host-site"
    made = Env(site=site, api=f"demoapp_api_{token}", lib=f"hostlib_{token}", extra=f"fastmath_{token}")
    fake_install(site, PROJECT, "3.0", {f"{made.api}/__init__.py": "API = 'api'\n"}, requires=("hostlib>=1",))
    fake_install(site, "hostlib", "1.2", {f"{made.lib}.py": "LIB = 'lib'\n"})
    fake_install(site, "fastmath", "2.0", {f"{made.extra}/__init__.py": "FAST = 'fast'\n"})
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    # The host application has imported its own package and its dependencies before it loads plugins. (Imported
    # first by a plugin, their files would be read under the plugin's identity, and a permission guard left installed
    # by an earlier test in this process would deny that: charging such reads to the library is another part of
    # issue 10.)
    importlib.import_module(made.api)
    importlib.import_module(made.lib)
    yield made
    for name in (made.api, made.lib, made.extra):
        sys.modules.pop(name, None)


def tool_using(*imports: str, helper_imports: tuple[str, ...] = ()) -> dict[str, bytes]:
    body = "".join(f"import {m}\n" for m in imports)
    files = tool_files()
    files["acme_tool/plugin.py"] = (body + files["acme_tool/plugin.py"].decode()).encode()
    files["acme_tool/helpers.py"] += "".join(f"import {m}\n" for m in helper_imports).encode()
    return files


def test_plugins_may_import_the_host_and_its_dependencies_by_default(lab: Lab, env: Env) -> None:
    lab.tool(files=tool_using(env.api, env.lib), requires=[f"{PROJECT}>=3", "hostlib", "pluggy"])
    host = lab.host()
    assert host.check()[TOOL].status == "verified"
    report = host.load()
    assert report[TOOL].status == "accepted", report[TOOL].summary()
    assert TOOL in host.implementations("describe_plugin")
    lab.good_answers(host)


def test_every_missing_dependency_is_one_report_in_check_load_and_list(lab: Lab, env: Env) -> None:
    lab.tool(
        files=tool_using(env.api, env.extra, "nowhere_to_be_found", helper_imports=(env.extra, "also_nowhere")),
        requires=["fastmath>=2", "absent-dist", "hostlib"],
    )
    host = lab.host()
    for report in (host.check(), host.load()):
        plugin = rejected(report, TOOL, {R.DEPENDENCY_NOT_ALLOWED})
        by_subject = {r.subject: r.message for r in plugin.verdict.reasons}
        assert sorted(by_subject) == sorted(
            ["fastmath", "absent-dist", env.extra, "nowhere_to_be_found", "also_nowhere"]
        )
        assert "from distribution fastmath 2.0" in by_subject[env.extra]
        assert "and 1 more" in by_subject[env.extra]  # imported by two modules
        assert "no installed distribution provides it" in by_subject["nowhere_to_be_found"]
        assert "not installed on the search path" in by_subject["absent-dist"]
        assert f"neither the host ({PROJECT})" in by_subject["fastmath"]
        for message in by_subject.values():
            assert "securehost deps approve" in message
            assert f"--plugin {TOOL}" in message
            assert "DependencyPolicy(allowed_distributions=['absent-dist', 'fastmath']" in message
            assert "allowed_modules=['also_nowhere', 'nowhere_to_be_found']" in message
    assert env.extra not in sys.modules
    lab.good_answers(host)
    store = write_store(lab.root / "t.toml", KEY)
    assert main(["list", "--group", GROUP, "--store", str(store), "--path", str(lab.site)]) == 1


def test_the_printed_approval_makes_the_plugin_load_and_a_changed_file_is_caught(
    lab: Lab, env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.tool(files=tool_using(env.api, env.extra), requires=["fastmath"])
    first = rejected(lab.host().load(), TOOL, {R.DEPENDENCY_NOT_ALLOWED})
    fixes = [r.message.split("approve with integrity: ")[1] for r in first.verdict.reasons]
    commands = {fix.split("; or allow by name")[0] for fix in fixes}
    assert len(first.verdict.reasons) == 2
    assert len(commands) == 1  # the same fix in both
    command = commands.pop()
    argv = shlex.split(command)
    assert argv[:3] == ["securehost", "deps", "approve"]
    assert argv[-1] == "fastmath"
    assert main(argv[1:]) == 0
    assert "approved for acme-tool: fastmath 2.0" in capsys.readouterr().out
    importlib.import_module(env.extra)  # see the env fixture
    host = lab.host()
    assert host.check()[TOOL].status == "verified"
    report = host.load()
    assert report[TOOL].status == "accepted", report[TOOL].summary()
    lab.close()
    (env.site / env.extra / "__init__.py").write_text("FAST = 'tampered'\n")
    for report in (lab.host().load(), lab.host().check()):
        plugin = rejected(report, TOOL, {R.DEPENDENCY_MODIFIED})
        (reason,) = plugin.verdict.reasons
        assert reason.subject == f"fastmath:{env.extra}/__init__.py"
        assert "was modified since it was approved" in reason.message
    lab.good_answers(lab.hosts[-2])
    assert main(["deps", "list", "--approvals", argv[argv.index("--approvals") + 1], "--check"]) == 1
    assert "MODIFIED" in capsys.readouterr().out


def test_an_approval_is_for_its_plugin_only(lab: Lab, env: Env, tmp_path: Path) -> None:
    approvals = tmp_path / "approvals.json"
    assert main(["deps", "approve", "--approvals", str(approvals), "--plugin", "someone-else", "fastmath"]) == 0
    lab.tool(files=tool_using(env.extra))
    rejected(lab.host(dependency_approvals=approvals).load(), TOOL, {R.DEPENDENCY_NOT_ALLOWED})
    assert main(["deps", "approve", "--approvals", str(approvals), "--plugin", TOOL, "fastmath"]) == 0
    importlib.import_module(env.extra)  # see the env fixture
    assert lab.host(dependency_approvals=approvals).load()[TOOL].status == "accepted"


def test_a_host_distribution_that_is_not_installed_is_named_in_the_reason(
    lab: Lab, env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    lab.tool(files=tool_using(env.lib))
    with caplog.at_level(logging.WARNING, logger="securehost.host"):
        plugin = rejected(lab.host(host_distribution="not-my-app").load(), TOOL, {R.DEPENDENCY_NOT_ALLOWED})
    assert "the host distribution not-my-app is not installed" in plugin.verdict.reasons[0].message
    assert "not-my-app is not installed" in caplog.text
    assert lab.host(host_distribution=["not-my-app", "hostlib"]).load()[TOOL].status == "accepted"


def test_host_dependencies_can_be_turned_off_and_report_mode_only_reports(lab: Lab, env: Env) -> None:
    lab.tool(files=tool_using(env.api), requires=["fastmath"])
    off = DependencyPolicy(allowed_modules=["pluggy"], host_dependencies=False)
    plugin = rejected(lab.host(dependency_policy=off).load(), TOOL, {R.DEPENDENCY_NOT_ALLOWED})
    assert "host_dependencies=False" in plugin.verdict.reasons[0].message
    lab.close()
    report = lab.host(dependency_policy=DependencyPolicy(mode="report", allowed_modules=["pluggy"])).load()
    assert report[TOOL].status == "accepted"
    reported = [e for e in lab.events() if e["event"] == "import.dependency_reported"]
    assert {e.get("requirement") for e in reported} >= {"fastmath"}


def test_signed_mode_lets_check_see_other_verified_plugins(lab: Lab) -> None:
    lab.tool(name="aaa-base", files=tool_files("aaa_base"))
    lab.tool(files=tool_using("aaa_base"), requires=["aaa-base"])
    host = lab.host()
    checked = host.check()
    assert (checked["aaa-base"].status, checked[TOOL].status) == ("verified", "verified")
    strict = lab.host(dependency_policy=DependencyPolicy(mode="allowlist", allowed_modules=["pluggy"]))
    assert codes(strict.check()[TOOL]) == {R.DEPENDENCY_NOT_ALLOWED}
    assert codes(host.load()[TOOL]) == set()


def test_effective_policy_spells_out_the_closure_and_approvals_for_isolated_workers(lab: Lab, env: Env) -> None:
    approvals = lab.root / "approvals.json"
    assert main(["deps", "approve", "--approvals", str(approvals), "--plugin", TOOL, "fastmath"]) == 0
    host = lab.host(dependency_approvals=approvals)
    policy = host._deps.effective_policy(TOOL)
    assert {env.api, env.lib, env.extra, "pluggy"} <= policy.allowed_modules
    assert {PROJECT, "hostlib", "fastmath", "pluggy"} <= policy.allowed_distributions
    assert policy.host_dependencies is False
    other = host._deps.effective_policy("someone-else")
    assert env.extra not in other.allowed_modules


@pytest.mark.parametrize(
    ("options", "message"),
    [({"host_distribution": 3}, "host_distribution"), ({"dependency_policy": "signed"}, "dependency_policy")],
)
def test_wrong_types_name_the_argument(lab: Lab, options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        lab.host(**options)


def test_a_malformed_approvals_file_is_a_configuration_error(lab: Lab) -> None:
    bad = lab.root / "approvals.json"
    bad.write_text("[]")
    with pytest.raises(ConfigurationError, match="approvals"):
        lab.host(dependency_approvals=bad)
    approvals = lab.root / "later.json"
    host = lab.host(dependency_approvals=approvals)
    approvals.write_text("{")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        host.load()


def test_a_plugin_module_that_does_not_compile_is_left_to_the_import(lab: Lab) -> None:
    files = tool_files()
    files["acme_tool/broken.py"] = b"def (:\n"
    lab.tool(files=files)
    host = lab.host()
    assert host.check()[TOOL].status == "verified"  # the static check skips it: nothing imports it
    assert host.load()[TOOL].status == "accepted"


def test_securehost_list_applies_the_same_policy(lab: Lab, env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    lab.tool(files=tool_using(env.api, env.extra), requires=["fastmath"])
    store = write_store(lab.root / "trust.toml", KEY)
    base = ["list", "--group", GROUP, "--store", str(store), "--path", str(lab.site), "--json"]
    assert main([*base, "--project", "unrelated"]) == 1
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert listed[TOOL]["status"] == "rejected"
    assert {r["code"] for r in listed[TOOL]["reasons"]} == {"dependency-not-allowed"}
    assert len(listed[TOOL]["reasons"]) == 3  # fastmath required, and both imports
    assert main([*base, "--project", PROJECT, "--allow-distribution", "fastmath", "--allow-module", env.extra]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert (listed[TOOL]["status"], listed[GOOD]["status"]) == ("verified", "verified")
    state = lab.root / "host-state"
    assert main(["deps", "approve", "--project", PROJECT, "--state-dir", str(state), "--plugin", TOOL, "fastmath"]) == 0
    capsys.readouterr()
    assert main([*base, "--project", PROJECT, "--state-dir", str(state)]) == 0
    capsys.readouterr()
    assert main([*base, "--project", PROJECT, "--no-host-dependencies", "--dependency-mode", "signed"]) == 1
    capsys.readouterr()
    assert main([*base, "--host-distribution", PROJECT, "--dependency-mode", "report"]) == 0


def test_the_allowed_names_compute_the_closure_only_when_asked(lab: Lab, env: Env) -> None:
    host = lab.host()
    names = host._deps.distributions_for(TOOL)
    closure = host._deps.closure
    assert closure is not None
    assert closure.distributions == {}  # nothing asked yet
    assert "nothing-approved" not in names  # a lookup: now computed
    assert sorted(names) == sorted(closure.distributions)
    assert len(names) == len(closure.distributions)
    assert PROJECT in names
    assert 3 not in names


def test_the_code_of_an_untrusted_plugin_is_not_read_for_its_imports(lab: Lab, env: Env) -> None:
    lab.tool(key=PrivateKey.generate(), files=tool_using(env.extra), requires=["fastmath"])
    plugin = lab.host().check()[TOOL]
    assert plugin.status == "rejected"
    assert R.DEPENDENCY_NOT_ALLOWED not in codes(plugin)


def test_reload_reads_the_approvals_again(lab: Lab, env: Env) -> None:
    lab.tool(files=tool_using(env.extra))
    host = lab.host()
    rejected(host.load(), TOOL, {R.DEPENDENCY_NOT_ALLOWED})
    approvals = str(host._deps.approvals_file)
    assert main(["deps", "approve", "--approvals", approvals, "--plugin", TOOL, "fastmath"]) == 0
    importlib.import_module(env.extra)  # see the env fixture
    assert host.reload(TOOL).status == "accepted"


def test_a_truncated_closure_says_so(lab: Lab, env: Env) -> None:
    lab.tool(files=tool_using(env.extra))
    host = lab.host()
    closure = host._deps.closure
    assert closure is not None
    closure._max = 1  # the host distribution only: hostlib is cut off
    plugin = rejected(host.load(), TOOL, {R.DEPENDENCY_NOT_ALLOWED})
    assert "the host's closure was cut at 1 distributions" in plugin.verdict.reasons[0].message
    assert closure.truncated
