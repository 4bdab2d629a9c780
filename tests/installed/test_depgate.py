"""Tests for securehost._installed.depgate: the gate that joins the dependency policy, the host's closure and the
operator's approvals, and words every reason with its fix (issue 13: its mutation score).

The gate is driven directly here, over a site of installed distributions made by ``fake_install``, with the
verified module table and the import scanner the host hands it; ``tests/host/test_host_dependencies.py`` runs it
through the ``Host`` and the CLI.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from securehost._audit import AuditLog
from securehost._installed.approvals import approve_dependencies
from securehost._installed.closure import HostClosure
from securehost._installed.dependencies import DependencyPolicy, static_imports
from securehost._installed.depgate import DependencyGate, make_gate
from securehost._installed.modules import ModuleKind, VerifiedModule
from securehost._verdict import Reason, ReasonCode
from securehost.exceptions import ConfigurationError, VerificationImportError
from tests._plugins import fake_install

R = ReasonCode
PLUGIN = "plug-in"
API, LIB, FAST, OTHER = "dg_demo_api", "dg_hostlib", "dg_fastmath", "dg_other"


@attrs.frozen
class Site:
    root: Path
    site: Path
    approvals: Path
    audit: Path

    def gate(self, policy: DependencyPolicy | None = None, *, roots: tuple[str, ...] = ("dg-demo",)) -> DependencyGate:
        policy = policy or DependencyPolicy()
        closure = HostClosure(roots, path=[str(self.site)]) if policy.host_dependencies else None
        return DependencyGate(
            policy=policy,
            closure=closure,
            approvals_file=self.approvals,
            files=None,
            audit=AuditLog(self.audit),
            search_path=[str(self.site)],
        )

    def approve(self, plugin: str, *names: str) -> None:
        approve_dependencies(self.approvals, plugin, names, path=[str(self.site)])

    def events(self) -> list[dict[str, Any]]:
        """The audit events written, without their time."""
        if not self.audit.exists():
            return []
        events = [json.loads(line) for line in self.audit.read_text().splitlines()]
        return [{k: v for k, v in event.items() if k != "time"} for event in events]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    # The gate also looks on sys.path for what provides a module: leave the test environment's own distributions
    # out, so that the messages depend on the site below only (and no test pays for reading hundreds of RECORDs).
    # What the gate imports on demand is imported before.
    for name in ("importlib_metadata", "packaging.markers", "packaging.requirements"):
        importlib.import_module(name)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "-packages" not in p])
    root = tmp_path / "s"
    made = Site(root=root, site=root / "site", approvals=root / "approvals.json", audit=root / "audit.jsonl")
    fake_install(made.site, "dg-demo", "3.0", {f"{API}/__init__.py": ""}, requires=("dg-hostlib>=1",))
    fake_install(made.site, "dg-hostlib", "1.2", {f"{LIB}.py": ""})
    fake_install(made.site, "dg-fastmath", "2.0", {f"{FAST}/__init__.py": "", f"{FAST}/ops.py": ""})
    fake_install(made.site, "dg-other", "0.5", {f"{OTHER}/__init__.py": ""})
    return made


def module(kind: ModuleKind = ModuleKind.SOURCE, *, package: bool = False) -> VerifiedModule:
    return VerifiedModule(path="/nonexistent", sha256="0" * 64, is_package=package, kind=kind)


def scanner(sources: dict[str, Any], calls: list[tuple[str, VerifiedModule]] | None = None) -> Any:
    """The host's ``imports_of`` over *sources* (text, or an exception to raise); each call is added to *calls*."""

    def imports_of(fullname: str, verified: VerifiedModule) -> tuple[tuple[str, int, tuple[str, ...]], ...]:
        if calls is not None:
            calls.append((fullname, verified))
        source = sources[fullname]
        if isinstance(source, BaseException):
            raise source
        return static_imports(compile(source, fullname, "exec"))

    return imports_of


def run(gate: DependencyGate, modules: dict[str, VerifiedModule], sources: dict[str, Any], requires=()) -> list[Reason]:
    return gate.reasons(
        PLUGIN,
        modules,
        list(requires),
        imports_of=scanner(sources),
        verified_modules=(),
        verified_distributions=(),
    )


def fix_text(site: Site, *, installs: str = "", approve: tuple[str, ...] = (), by_name: str = "") -> str:
    parts = [f"install {installs}"] if installs else []
    if approve:
        command = ["securehost", "deps", "approve", "--approvals", str(site.approvals), "--plugin", PLUGIN]
        command += ["--path", str(site.site), *approve]
        parts.append(f"approve with integrity: {shlex.join(command)}")
    parts.append(f"or allow by name, without integrity: DependencyPolicy({by_name})")
    return f"To allow every missing dependency of {PLUGIN}: " + "; then ".join(parts[:-1]) + "; " + parts[-1]


NOT_THE_HOST = "it is neither the host (dg-demo) nor one of its installed dependencies"


def test_every_reason_names_what_is_missing_where_it_comes_from_and_the_one_fix(site: Site) -> None:
    modules = {"plug": module(package=True), "plug.a": module(), "plug.b": module()}
    sources = {
        "plug": f"import {FAST}.ops\nimport {API}\nimport {LIB}\nfrom . import a\nimport os\n",
        "plug.a": f"import {FAST}.ops\nimport nowhere\nfrom .b import x\n",
        "plug.b": f"import {FAST}.ops\nimport nowhere.deep\n",
    }
    reasons = run(site.gate(), modules, sources, ["dg-fastmath", "absent-dist", "dg-hostlib", "dg-demo[x]"])
    fix = fix_text(
        site,
        installs="absent-dist, a distribution providing nowhere, a distribution providing nowhere.deep",
        approve=("absent-dist", "dg-fastmath"),
        by_name="allowed_distributions=['absent-dist', 'dg-fastmath'], allowed_modules=['nowhere', 'nowhere.deep']",
    )
    why = f"which the 'signed' dependency policy does not allow: {NOT_THE_HOST}. {fix}"
    assert [(r.code, r.subject, r.message) for r in reasons] == [
        (R.DEPENDENCY_NOT_ALLOWED, "dg-fastmath", f"requires dg-fastmath (installed), {why}"),
        (R.DEPENDENCY_NOT_ALLOWED, "absent-dist", f"requires absent-dist (not installed on the search path), {why}"),
        (
            R.DEPENDENCY_NOT_ALLOWED,
            f"{FAST}.ops",
            f"plug (and 2 more) imports {FAST}.ops (from distribution dg-fastmath 2.0), {why}",
        ),
        (R.DEPENDENCY_NOT_ALLOWED, "nowhere", f"plug.a imports nowhere (no installed distribution provides it), {why}"),
        (
            R.DEPENDENCY_NOT_ALLOWED,
            "nowhere.deep",
            f"plug.b imports nowhere.deep (no installed distribution provides it), {why}",
        ),
    ]
    assert site.events() == []


def test_an_import_of_two_modules_counts_its_importers(site: Site) -> None:
    modules = {"plug": module(package=True), "plug.a": module()}
    sources = {"plug": f"import {OTHER}\n", "plug.a": f"import {OTHER}\nimport {OTHER}\n"}
    (reason,) = run(site.gate(), modules, sources)
    assert reason.message.startswith(f"plug (and 1 more) imports {OTHER} (from distribution dg-other 0.5), ")
    (reason,) = run(site.gate(), {"plug.a": module()}, sources)
    assert reason.message.startswith(f"plug.a imports {OTHER} (from distribution dg-other 0.5), ")


def test_only_the_fix_that_applies_is_offered(site: Site) -> None:
    # only installed distributions: nothing to install, the approval and the names
    (reason,) = run(site.gate(), {}, {}, ["dg-other"])
    fix = fix_text(site, approve=("dg-other",), by_name="allowed_distributions=['dg-other']")
    assert reason.message == f"requires dg-other (installed), which the 'signed' dependency policy does not allow: " \
        f"{NOT_THE_HOST}. {fix}"  # fmt: skip
    # only modules that nothing provides: install them or allow them by name, nothing to approve
    (reason,) = run(site.gate(), {"plug": module()}, {"plug": "import nowhere\n"})
    fix = fix_text(site, installs="a distribution providing nowhere", by_name="allowed_modules=['nowhere']")
    assert reason.message.endswith(f"{NOT_THE_HOST}. {fix}")
    assert "approve with integrity" not in reason.message


def test_relative_imports_resolve_against_the_package_of_the_importing_module(site: Site) -> None:
    modules = {"plug": module(package=True), "plug.sub": module(package=True), "plug.sub.leaf": module()}
    sources = {
        "plug": "from . import mine\nfrom .missing_a import x\n",
        "plug.sub": "from .. import sub\nfrom ..missing_b import y\n",
        "plug.sub.leaf": "from . import leaf\nfrom .missing_c import z\nfrom .... import beyond\nfrom ... import top\n",
    }
    reasons = run(site.gate(DependencyPolicy(host_dependencies=False)), modules, sources)
    # `from . import mine` in plug is the module plug itself (its fromlist names are attributes or submodules that
    # the import system checks when it gets to them); an import beyond the top-level package resolves to nothing
    assert [r.subject for r in reasons] == ["plug.missing_a", "plug.missing_b", "plug.sub.missing_c"]
    assert [r.message.partition(" imports ")[0] for r in reasons] == ["plug", "plug.sub", "plug.sub.leaf"]


def test_modules_that_run_no_readable_source_are_not_scanned(site: Site) -> None:
    modules = {
        "plug": module(ModuleKind.NAMESPACE, package=True),
        "plug.ext": module(ModuleKind.EXTENSION),
        "plug.src": module(),
        "plug.z": module(),
    }
    sources: dict[str, Any] = {"plug": "import nowhere_ns\n", "plug.ext": "import nowhere_ext\n"}
    sources["plug.src"] = "import nowhere_src\n"
    sources["plug.z"] = "import nowhere_z\n"
    calls: list[tuple[str, VerifiedModule]] = []
    reasons = site.gate().reasons(
        PLUGIN,
        modules,
        [],
        imports_of=scanner(sources, calls),
        verified_modules=(),
        verified_distributions=(),
    )
    assert [r.subject for r in reasons] == ["nowhere_src", "nowhere_z"]
    # each source module is read once, as its own verified module (the scanner reads the verified file)
    assert calls == [("plug.src", modules["plug.src"]), ("plug.z", modules["plug.z"])]
    assert calls[0][1] is modules["plug.src"]


@pytest.mark.parametrize(
    "error",
    [
        VerificationImportError("changed"),
        SyntaxError("bad"),
        ValueError("null bytes"),
        RecursionError("deep"),
        MemoryError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_module_that_cannot_be_read_or_compiled_is_left_to_its_import(site: Site, error: BaseException) -> None:
    modules = {"plug.a": module(), "plug.b": module(), "plug.c": module()}
    sources: dict[str, Any] = {"plug.a": "import nowhere_a\n", "plug.b": error, "plug.c": "import nowhere_c\n"}
    assert [r.subject for r in run(site.gate(), modules, sources)] == ["nowhere_a", "nowhere_c"]


def test_own_modules_the_standard_library_the_closure_and_the_lists_are_allowed(site: Site) -> None:
    modules = {"plug": module(package=True), "plug.util": module()}
    sources = {
        "plug": f"import plug.util\nimport os.path\nimport {API}\nimport {LIB}\nimport listed.sub\n",
        "plug.util": "import json\n",
    }
    policy = DependencyPolicy(allowed_modules=["listed"], allowed_distributions=["dg-other"])
    gate = site.gate(policy)
    assert run(gate, modules, sources, ["dg-demo", "dg-hostlib>=1", "dg-other"]) == []
    reasons = run(site.gate(DependencyPolicy(host_dependencies=False, allowed_modules=["listed"])), modules, sources)
    assert sorted(r.subject for r in reasons) == [API, LIB]
    assert all("(host dependencies are off: host_dependencies=False)" in r.message for r in reasons)
    assert reasons[0].message.startswith(
        f"plug imports {API} (from distribution dg-demo 3.0), which the 'signed' dependency policy does not allow "
        "(host dependencies are off: host_dependencies=False). To allow every missing dependency of plug-in: "
    )


def test_a_requirement_that_does_not_parse_is_passed_on_as_it_is(site: Site) -> None:
    reasons = run(site.gate(), {}, {}, ["bad ;;", "absent-dist"])
    assert [(r.code, r.subject) for r in reasons] == [
        (R.DISTRIBUTION_METADATA_INVALID, "bad ;;"),
        (R.DEPENDENCY_NOT_ALLOWED, "absent-dist"),
    ]
    assert reasons[0].message.startswith("Requires-Dist 'bad ;;' does not parse: ")
    # the line that does not parse is no distribution: the fix is for absent-dist only
    fix = fix_text(site, installs="absent-dist", by_name="allowed_distributions=['absent-dist']")
    fix = fix.replace("; or allow", f"; then approve with integrity: securehost deps approve --approvals "
                      f"{shlex.quote(str(site.approvals))} --plugin {PLUGIN} absent-dist; or allow")  # fmt: skip
    assert reasons[1].message == (
        "requires absent-dist (not installed on the search path), which the 'signed' dependency policy does not "
        f"allow: {NOT_THE_HOST}. {fix}"
    )
    only_invalid = run(site.gate(), {}, {}, ["bad ;;"])
    assert [(r.code, r.subject) for r in only_invalid] == [(R.DISTRIBUTION_METADATA_INVALID, "bad ;;")]
    assert "To allow" not in only_invalid[0].message


def test_report_mode_turns_every_missing_dependency_into_an_audit_event(site: Site) -> None:
    modules = {"plug": module(package=True), "plug.a": module()}
    sources = {"plug": "import nowhere\nimport nowhere\n", "plug.a": f"import nowhere\nimport {FAST}\n"}
    gate = site.gate(DependencyPolicy(mode="report"))
    assert run(gate, modules, sources, ["absent-dist", "bad ;;", "dg-hostlib"]) == []
    event = {"event": "import.dependency_reported", "plugin": PLUGIN}
    assert site.events() == [
        {**event, "requirement": "absent-dist"},
        {**event, "requirement": "bad ;;"},
        {**event, "module": "nowhere", "importer": "plug"},
        {**event, "module": FAST, "importer": "plug.a"},
    ]


def test_report_mode_still_returns_the_reasons_of_modified_approvals(site: Site) -> None:
    site.approve(PLUGIN, "dg-fastmath")
    (site.site / FAST / "ops.py").write_text("CHANGED = 1\n")
    gate = site.gate(DependencyPolicy(mode="report"))
    reasons = run(gate, {"plug": module()}, {"plug": "import nowhere\n"})
    assert [(r.code, r.subject) for r in reasons] == [(R.DEPENDENCY_MODIFIED, f"dg-fastmath:{FAST}/ops.py")]
    event = {"event": "import.dependency_reported", "plugin": PLUGIN, "module": "nowhere", "importer": "plug"}
    assert site.events() == [event]


def test_approvals_allow_their_modules_and_distributions_to_their_plugin_only(site: Site) -> None:
    site.approve(PLUGIN, "dg-fastmath")
    gate = site.gate()
    for name in (FAST, f"{FAST}.ops", f"{FAST}.ops.deeper"):
        assert gate.module_allowed_for(PLUGIN, name), name
    for name in (f"{FAST}x", f"x.{FAST}", OTHER, "fast"):
        assert not gate.module_allowed_for(PLUGIN, name), name
    assert not gate.module_allowed_for("someone-else", FAST)
    # the closure's modules, for every plugin; its distributions are matched whole
    for plugin in (PLUGIN, "someone-else"):
        assert gate.module_allowed_for(plugin, API)
        assert gate.module_allowed_for(plugin, f"{LIB}.sub")
        assert not gate.module_allowed_for(plugin, f"{LIB}x")
    names = gate.distributions_for(PLUGIN)
    assert "dg-fastmath" in names
    assert "dg-demo" in names
    assert "dg-hostlib" in names
    assert "dg-other" not in names
    assert sorted(names) == ["dg-demo", "dg-fastmath", "dg-hostlib"]
    assert list(names) == ["dg-demo", "dg-fastmath", "dg-hostlib"]
    assert len(names) == 3
    assert 3 not in names
    other = gate.distributions_for("someone-else")
    assert "dg-fastmath" not in other
    assert list(other) == ["dg-demo", "dg-hostlib"]
    modules = {"plug": module()}
    sources = {"plug": f"import {FAST}.ops\nimport {OTHER}\n"}
    assert [r.subject for r in run(gate, modules, sources, ["dg-fastmath", "dg-other"])] == ["dg-other", OTHER]


def test_without_the_closure_only_approvals_are_allowed_besides_the_policy(site: Site) -> None:
    site.approve(PLUGIN, "dg-fastmath")
    gate = site.gate(DependencyPolicy(host_dependencies=False))
    assert gate.closure is None
    assert gate.module_allowed_for(PLUGIN, FAST)
    assert not gate.module_allowed_for(PLUGIN, API)
    names = gate.distributions_for(PLUGIN)
    assert "dg-fastmath" in names
    assert "dg-demo" not in names
    assert (list(names), len(names)) == (["dg-fastmath"], 1)
    assert list(gate.distributions_for("someone-else")) == []


def test_approved_files_are_checked_once_per_load_and_again_after_begin(site: Site) -> None:
    site.approve(PLUGIN, "dg-fastmath", "dg-other")
    site.approve("second", "dg-fastmath")
    gate = site.gate()
    assert gate.approval_reasons(PLUGIN) == []
    (site.site / FAST / "ops.py").write_text("CHANGED = 1\n")
    (site.site / OTHER / "__init__.py").write_text("CHANGED = 1\n")
    assert gate.approval_reasons(PLUGIN) == []  # this load checked them already
    gate.begin()
    expected = [f"dg-fastmath:{FAST}/ops.py", f"dg-other:{OTHER}/__init__.py"]
    assert [r.subject for r in gate.approval_reasons(PLUGIN)] == expected
    assert [r.subject for r in gate.approval_reasons("second")] == expected[:1]
    assert [r.code for r in gate.approval_reasons(PLUGIN)] == [R.DEPENDENCY_MODIFIED] * 2
    assert gate.approval_reasons("someone-else") == []


def test_begin_reads_the_approvals_file_again(site: Site) -> None:
    gate = site.gate()
    assert not gate.module_allowed_for(PLUGIN, OTHER)
    site.approve(PLUGIN, "dg-other")
    assert not gate.module_allowed_for(PLUGIN, OTHER)  # read when the gate was made
    gate.begin()
    assert gate.module_allowed_for(PLUGIN, OTHER)
    assert "dg-other" in gate.distributions_for(PLUGIN)
    site.approvals.write_text("{")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        gate.begin()


def test_plugins_noted_as_verified_are_allowed_in_signed_mode_only(site: Site) -> None:
    modules = {"plug": module()}
    sources = {"plug": "import sibling.core\nimport given\n"}
    for mode in ("signed", "allowlist"):
        gate = site.gate(DependencyPolicy(mode=mode))  # type: ignore[arg-type]
        gate.note_verified("sibling-dist", ["sibling", "sibling.core"])
        reasons = gate.reasons(
            PLUGIN,
            modules,
            ["sibling-dist", "given-dist"],
            imports_of=scanner(sources),
            verified_modules={"given"},
            verified_distributions={"given-dist"},
        )
        subjects = [r.subject for r in reasons]
        if mode == "signed":
            assert subjects == []
        else:
            assert subjects == ["sibling-dist", "given-dist", "sibling.core", "given"]
        gate.begin()  # forgets the noted plugins
        gate.note_verified("third-dist", ["third"])
        third = gate.reasons(
            PLUGIN,
            {"plug": module()},
            ["third-dist"],
            imports_of=scanner({"plug": "import third\n"}),
            verified_modules=(),
            verified_distributions=(),
        )
        assert [r.subject for r in third] == ([] if mode == "signed" else ["third-dist", "third"])
        gate.begin()
        reasons = gate.reasons(
            PLUGIN,
            modules,
            ["sibling-dist", "given-dist"],
            imports_of=scanner(sources),
            verified_modules={"given"},
            verified_distributions={"given-dist"},
        )
        strict = ["sibling-dist", "given-dist", "sibling.core", "given"]
        assert [r.subject for r in reasons] == (["sibling-dist", "sibling.core"] if mode == "signed" else strict)


def test_the_effective_policy_spells_out_the_closure_and_the_approvals(site: Site) -> None:
    site.approve(PLUGIN, "dg-fastmath")
    gate = site.gate(DependencyPolicy(mode="allowlist", allowed_modules=["listed"], allowed_distributions=["named"]))
    policy = gate.effective_policy(PLUGIN)
    assert policy == DependencyPolicy(
        mode="allowlist",
        allowed_modules=["listed", API, LIB, FAST],
        allowed_distributions=["named", "dg-demo", "dg-hostlib", "dg-fastmath"],
        host_dependencies=False,
    )
    other = gate.effective_policy("someone-else")
    assert other.allowed_modules == {"listed", API, LIB}
    assert other.allowed_distributions == {"named", "dg-demo", "dg-hostlib"}
    off = site.gate(DependencyPolicy(mode="report", host_dependencies=False)).effective_policy(PLUGIN)
    assert off == DependencyPolicy(
        mode="report", allowed_modules=[FAST], allowed_distributions=["dg-fastmath"], host_dependencies=False
    )


def test_a_host_distribution_that_is_not_installed_is_named_and_warned_about_once(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    gate = site.gate(roots=("dg-missing-app[web]", "dg-demo", "dg-absent"))
    with caplog.at_level(logging.WARNING, logger="securehost.host"):
        first = run(gate, {"plug": module()}, {"plug": "import nowhere\n"})
        second = run(gate, {"plug": module()}, {"plug": "import nowhere\n"})
    assert first == second
    assert first[0].message.startswith(
        "plug imports nowhere (no installed distribution provides it), which the 'signed' dependency policy does "
        "not allow; note: the host distribution dg-missing-app[web], dg-absent is not installed, so its dependencies "
        "are not allowed either (pass Host(host_distribution=NAME)). To allow every missing dependency of plug-in: "
    )
    warnings = [r for r in caplog.records if r.name == "securehost.host"]
    assert [(r.levelno, r.getMessage()) for r in warnings] == [
        (
            logging.WARNING,
            "securehost: the host distribution dg-missing-app[web], dg-absent is not installed: plugins may import "
            "only the standard library, pluggy and what the dependency policy lists "
            "(pass Host(host_distribution=...))",
        )
    ]
    # a root with extras that is installed is not missing
    (reason,) = run(site.gate(roots=("dg-demo[web]",)), {"plug": module()}, {"plug": "import nowhere\n"})
    assert "neither the host (dg-demo[web]) nor one of its installed dependencies. " in reason.message


def test_a_closure_cut_short_says_where(site: Site) -> None:
    gate = site.gate(roots=("dg-demo", "dg-other"))
    assert gate.closure is not None
    gate.closure._max = 2
    (reason,) = run(gate, {"plug": module()}, {"plug": "import nowhere\n"})
    assert (
        "does not allow: it is neither the host (dg-demo, dg-other) nor one of its installed dependencies "
        "(the host's closure was cut at 2 distributions). To allow" in reason.message
    )


def test_make_gate_builds_the_default_policy_and_the_closure_of_the_host(site: Site) -> None:
    def make(**options: Any) -> DependencyGate:
        settings: dict[str, Any] = {
            "project": "dg-demo",
            "host_distribution": None,
            "policy": None,
            "approvals_file": site.approvals,
            "files": None,
            "audit": AuditLog(),
            "search_path": [str(site.site)],
        }
        return make_gate(**{**settings, **options})

    gate = make()
    assert gate.policy == DependencyPolicy(mode="signed", allowed_modules=["pluggy"], allowed_distributions=["pluggy"])
    assert gate.closure is not None
    assert gate.closure.roots == ("dg-demo",)
    assert gate.approvals_file == site.approvals
    assert make(host_distribution="dg-other").closure.roots == ("dg-other",)  # type: ignore[union-attr]
    assert make(host_distribution=["a", "b"]).closure.roots == ("a", "b")  # type: ignore[union-attr]
    assert make(host_distribution=("a",)).closure.roots == ("a",)  # type: ignore[union-attr]
    policy = DependencyPolicy(mode="allowlist")
    assert make(policy=policy).policy is policy
    assert make(policy=DependencyPolicy(host_dependencies=False)).closure is None
    with pytest.raises(TypeError, match=r"^dependency_policy must be a DependencyPolicy, not str$"):
        make(policy="signed")
    for wrong, kind in ((3, "int"), (["a", 3], "list"), ({"a"}, "set"), (b"a", "bytes")):
        with pytest.raises(TypeError, match=rf"^host_distribution must be a name or a list of names, not {kind}$"):
            make(host_distribution=wrong)


def test_a_module_of_an_installed_distribution_that_is_not_required_is_approved_from_its_site(site: Site) -> None:
    (reason,) = run(site.gate(), {"plug": module()}, {"plug": f"import {OTHER}\n"})
    fix = fix_text(site, approve=("dg-other",), by_name="allowed_distributions=['dg-other']")
    assert reason.message == (
        f"plug imports {OTHER} (from distribution dg-other 0.5), which the 'signed' dependency policy does not "
        f"allow: {NOT_THE_HOST}. {fix}"
    )


def test_an_approved_namespace_package_allows_its_own_part_only(site: Site) -> None:
    fake_install(site.site, "dg-ns-part", "1.0", {"dg_ns/part/__init__.py": "", "dg_ns/part/mod.py": ""})
    site.approve(PLUGIN, "dg-ns-part")
    gate = site.gate()
    for name in ("dg_ns.part", "dg_ns.part.mod"):
        assert gate.module_allowed_for(PLUGIN, name), name
    for name in ("dg_ns", "dg_ns.other", "dg_ns.partx"):
        assert not gate.module_allowed_for(PLUGIN, name), name


def test_an_empty_module_name_in_the_approvals_allows_nothing(site: Site) -> None:
    site.approve(PLUGIN, "dg-other")
    document = json.loads(site.approvals.read_text())
    document["distributions"]["dg-other"]["modules"].append("")
    site.approvals.write_text(json.dumps(document))
    gate = site.gate()
    assert gate.module_allowed_for(PLUGIN, OTHER)
    assert not gate.module_allowed_for(PLUGIN, "anything")


def test_the_file_record_spares_rereading_approved_files(site: Site) -> None:
    from securehost._installed.filerecord import FileRecord

    site.approve(PLUGIN, "dg-other")
    files = FileRecord(site.root / "files.rec", b"k" * 32, racy_ns=0)
    gate = DependencyGate(
        policy=DependencyPolicy(),
        closure=None,
        approvals_file=site.approvals,
        files=files,
        audit=AuditLog(),
        search_path=None,
    )
    path = str(site.site / OTHER / "__init__.py")
    assert files.digest(path, os.lstat(path)) is None
    assert gate.approval_reasons(PLUGIN) == []
    assert files.digest(path, os.lstat(path)) == hashlib.sha256(b"").hexdigest()  # the gate hashed it through it


def test_make_gate_hands_its_parts_to_the_gate(site: Site) -> None:
    from securehost._installed.filerecord import FileRecord
    from securehost._installed.scancache import DiscoveryCache

    sys.path.insert(0, str(site.site))  # the host's closure is looked up on sys.path
    files = FileRecord(site.root / "files.rec", b"k" * 32, racy_ns=0)
    cache = DiscoveryCache()
    options: dict[str, Any] = {"project": "dg-demo", "host_distribution": None, "approvals_file": site.approvals}
    gate = make_gate(
        **options,
        policy=DependencyPolicy(mode="report"),
        files=files,
        audit=AuditLog(site.audit),
        search_path=[str(site.site)],
        cache=cache,
    )
    assert gate.closure is not None
    assert gate.closure._cache is cache  # it only saves listing work: nothing else shows that it is used
    assert run(gate, {"plug": module()}, {"plug": f"import nowhere\nimport {API}\n"}) == []
    assert [e["module"] for e in site.events()] == ["nowhere"]
    site.approve(PLUGIN, "dg-other")
    gate.begin()
    gate.approval_reasons(PLUGIN)
    path = str(site.site / OTHER / "__init__.py")
    assert files.digest(path, os.lstat(path)) is not None
    # without a search path, the modules' distributions are looked up on sys.path alone
    sys.path.remove(str(site.site))
    for search_path, source in (([str(site.site)], "from distribution dg-fastmath 2.0"), (None, "no installed")):
        strict = make_gate(**options, policy=None, files=None, audit=AuditLog(), search_path=search_path, cache=None)
        (reason,) = run(strict, {"plug": module()}, {"plug": f"import {FAST}\n"})
        assert reason.message.startswith(f"plug imports {FAST} ({source}"), reason.message
