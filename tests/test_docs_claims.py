"""The documentation is true to the code: its tables are complete, its commands run, its security claims are attacked.

Two kinds of tests:

* Consistency checks over ``docs/``: every reason code has a line on the verification page, every test a page cites
  exists, every row of the security-claims table cites one, every public name has an API entry, every CLI command,
  option and exit code, every trust-store field and every audit event is documented, and the quick start's commands
  run as printed.
* Attacks on the Host claims that ``docs/host.md`` makes and no other test file covers (rollback, pins, statement age,
  held plugins, effective permissions, disabled plugins, failures while importing, the state file, the audit sink),
  each on a signed plugin installed the way an installer lays it out.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import typing
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import securehost
from securehost import HookspecMarker, Host, PrivateKey, ReasonCode, sign_wheel
from securehost._cli import EXIT_INTERNAL, EXIT_OK, EXIT_REJECTED, EXIT_USAGE
from securehost._cli.app import build_parser as _build_parser
from securehost._host.report import PluginStatus
from securehost._installed.distcheck import verify_installed
from securehost._trust.load import _KEY_FIELDS, _THRESHOLD_FIELDS, _TOP_FIELDS
from securehost.exceptions import ConfigurationError
from tests._plugins import fake_install
from tests.wheelfactory import ISSUED, NOW, make_wheel, trust

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "securehost"
TESTS = ROOT / "tests"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def all_pages() -> dict[str, str]:
    pages = (p for p in sorted(DOCS.rglob("*.md")) if "_build" not in p.relative_to(DOCS).parts)
    return {str(p.relative_to(DOCS)): p.read_text(encoding="utf-8") for p in pages}


def defined_tests() -> dict[str, set[str]]:
    """Test function names by test file name, read from the source (``def test_...`` at any indentation)."""
    found: dict[str, set[str]] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
        }
        found[path.name] = names
    return found


# --- reason codes -------------------------------------------------------------------------------------------------

REASON_ROW = re.compile(r"^\| `([a-z0-9-]+)` \| (.+) \|$", re.MULTILINE)


def test_every_reason_code_is_described_on_the_verification_page() -> None:
    rows = dict(REASON_ROW.findall(page("verification.md")))
    missing = sorted(code.value for code in ReasonCode if code.value not in rows)
    assert not missing, f"docs/verification.md has no table row for: {missing}"
    assert all(len(text.strip()) > 20 for text in rows.values())


def test_the_reason_table_lists_no_code_that_does_not_exist() -> None:
    known = {code.value for code in ReasonCode}
    rows = REASON_ROW.findall(page("verification.md"))
    codes = [code for code, _ in rows if code in known or "-" in code]
    assert len(codes) == len(set(codes)), "a reason code has two rows"
    unknown = sorted({code for code, _ in rows} - known)
    assert not unknown, f"docs/verification.md describes codes that do not exist: {unknown}"


def test_the_scan_finds_table_rows() -> None:
    assert REASON_ROW.findall("| `key-revoked` | The signature is by a revoked key; it never counts. |") == [
        ("key-revoked", "The signature is by a revoked key; it never counts.")
    ]


# --- tests cited by the docs --------------------------------------------------------------------------------------

CITED_IN_FILE = re.compile(r"\b(test_[a-z0-9_]+\.py)::(test_[A-Za-z0-9_]+)")
TOKEN = re.compile(r"(?<![\w./:])(test_[A-Za-z0-9_]*)(\.py|\*)?")


def cited_tests(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``(file, test)`` pairs written as ``test_file.py::test_name``, and other ``test_...`` names (even cut short).

    File names (``test_cli.py``) and globs (``test_gap_*``) are not test names.
    """
    pairs = CITED_IN_FILE.findall(text)
    bare = [m.group(1) for m in TOKEN.finditer(CITED_IN_FILE.sub("", text)) if not m.group(2) and m.group(1) != "test_"]
    return pairs, bare


def test_every_test_cited_in_the_docs_exists() -> None:
    tests = defined_tests()
    everywhere = set().union(*tests.values())
    problems = []
    for name, text in all_pages().items():
        # fenced code blocks are examples (testing.md shows a downstream project's tests), not citations
        pairs, bare = cited_tests(re.sub(r"```.*?```", "", text, flags=re.DOTALL))
        for file, test in pairs:
            if test not in tests.get(file, set()):
                problems.append(f"{name}: {file}::{test}")
        problems.extend(f"{name}: {test}" for test in bare if test not in everywhere)
    assert not problems, "the docs cite tests that do not exist:\n" + "\n".join(problems)


def test_the_citation_scan_sees_both_forms_and_truncated_names() -> None:
    pairs, bare = cited_tests(
        "see `test_trust.py::test_key_out_of_scope` and `test_gap_resetting_the_identity_variable`, "
        "`test_gap_native_function_pointers_...`; not tests/test_cli.py, test_docs_claims.py or `test_gap_*`"
    )
    assert pairs == [("test_trust.py", "test_key_out_of_scope")]
    assert bare == ["test_gap_resetting_the_identity_variable", "test_gap_native_function_pointers_"]


def claim_rows() -> list[tuple[str, str]]:
    """``(claim, tests cell)`` for every row of the claims table in ``docs/security.md``."""
    text = page("security.md")
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) == 2 and not set(cells[0]) <= {"-", " "} and cells[0] != "claim":
            rows.append((cells[0], cells[1]))
    return rows


def test_every_security_claim_cites_a_test_that_attacks_it() -> None:
    rows = claim_rows()
    assert len(rows) >= 40
    uncited = [claim for claim, tests in rows if not CITED_IN_FILE.search(tests)]
    assert not uncited, f"claims without a test: {uncited}"


# --- API reference ------------------------------------------------------------------------------------------------


def test_every_public_name_has_an_api_entry() -> None:
    api = "\n".join(p.read_text(encoding="utf-8") for p in sorted((DOCS / "api").glob("*.md")))
    documented = set(re.findall(r"\.\. (?:auto\w+|py:\w+):: securehost\.(\w+)", api))
    assert re.search(r"^\.\. automodule:: securehost\.exceptions$", api, re.MULTILINE)
    assert re.search(r"^\.\. automodule:: securehost\.metrics$", api, re.MULTILINE)
    # the exceptions that securehost re-exports are documented with their module
    documented |= {
        name
        for name in securehost.__all__
        if getattr(getattr(securehost, name), "__module__", "") == "securehost.exceptions"
    }
    missing = sorted(set(securehost.__all__) - documented - {"__version__"})
    assert not missing, f"public names without an API entry in docs/api/: {missing}"


def test_the_index_links_every_page() -> None:
    index = page("index.md")
    toctrees = "\n".join(re.findall(r"```\{toctree\}(.*?)```", index, re.DOTALL))
    listed = {line.strip() for line in toctrees.splitlines() if line.strip() and not line.strip().startswith(":")}
    pages = {str(p.relative_to(DOCS).with_suffix("")) for p in DOCS.rglob("*.md") if "_build" not in p.parts}
    assert pages - {"index"} <= listed


# --- command line -------------------------------------------------------------------------------------------------


def _commands(parser: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for action in parser._actions:
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            for name, sub in choices.items():
                yield f"{prefix}{name}", sub
                yield from _commands(sub, f"{prefix}{name} ")


def test_every_cli_command_and_option_is_documented() -> None:
    text = page("cli.md")
    problems = []
    for command, parser in _commands(_build_parser()):
        if f"`securehost {command}" not in text:
            problems.append(f"command securehost {command}")
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help" and f"`{option}" not in text:
                    problems.append(f"securehost {command} {option}")
    assert not problems, "undocumented in docs/cli.md: " + ", ".join(problems)


def test_the_documented_exit_codes_are_the_clis() -> None:
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", page("cli.md"), re.MULTILINE))
    assert set(table) == {str(EXIT_OK), str(EXIT_REJECTED), str(EXIT_USAGE), str(EXIT_INTERNAL), "130"}
    assert "SECUREHOST_DEBUG" in table[str(EXIT_INTERNAL)]


# --- trust store and audit events ---------------------------------------------------------------------------------


def test_every_trust_store_field_is_in_the_format_reference() -> None:
    text = page("trust-store.md")
    rows = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    missing = sorted((_TOP_FIELDS | _KEY_FIELDS | _THRESHOLD_FIELDS) - rows)
    assert not missing, f"trust-store fields without a row in docs/trust-store.md: {missing}"


EVENT = re.compile(r"[a-z_]+\.[a-z_]+")


def emitted_events() -> set[str]:
    """Audit event names in the source, including ``plugin.<status>`` for every report status.

    An event name is a string constant passed first to an ``emit``/``_emit`` call, passed as a keyword argument whose
    name ends in ``event`` (``tampered_event="signatures.memo_tampered"``), or assigned to a variable named ``event``
    (``event = "guard.denied" if ... else "hook.denied"``).
    """
    events = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("emit", "_emit") and node.args:
                    values.append(node.args[0])
                values.extend(k.value for k in node.keywords if k.arg is not None and k.arg.endswith("event"))
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "event" for t in node.targets
            ):
                values.append(node.value)
            for value in values:
                events.update(
                    c.value
                    for c in ast.walk(value)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str) and EVENT.fullmatch(c.value)
                )
    events.update(f"plugin.{status}" for status in typing.get_args(PluginStatus))
    return events


def test_every_audit_event_is_documented() -> None:
    rows = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", page("host.md"), re.MULTILINE))
    events = emitted_events()
    assert {"plugin.accepted", "guard.denied", "bytecode.tampered", "import.dependency_denied"} <= events
    missing = sorted(events - rows)
    assert not missing, f"audit events without a row in docs/host.md: {missing}"
    assert not rows - events, f"docs/host.md documents events nobody emits: {sorted(rows - events)}"


# --- the quick start runs as printed ------------------------------------------------------------------------------

BLOCK = re.compile(r"```(\{code-block\} \w+|console)\n(.*?)```", re.DOTALL)


def quickstart_files_and_commands() -> tuple[dict[str, str], list[str]]:
    files: dict[str, str] = {}
    commands: list[str] = []
    for kind, body in BLOCK.findall(page("quickstart.md")):
        if kind == "console":
            commands.extend(line[2:] for line in body.splitlines() if line.startswith("$ "))
        else:
            caption, _, content = body.partition("\n\n")
            files[caption.removeprefix(":caption: ").strip()] = content
    return files, commands


def test_the_quick_start_plugin_is_the_one_its_doctest_loads() -> None:
    files, _ = quickstart_files_and_commands()
    source = files["acme-hello/src/acme_hello/__init__.py"]
    assert f"PLUGIN = '''{source}'''" in page("quickstart.md")


@pytest.mark.slow
def test_quick_start_commands_run_as_documented(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    files, commands = quickstart_files_and_commands()
    assert len(commands) >= 8
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cwd = tmp_path
    for command in commands:
        words = shlex.split(command)
        if words[0] == "cd":
            cwd = (cwd / words[1]).resolve()
            continue
        if words[0] == "securehost":
            words = [sys.executable, "-m", "securehost", *words[1:]]
        elif words[0] == "python":
            words = [sys.executable, *words[1:]]
            if words[1:4] == ["-m", "build", "--wheel"]:
                words.append("--no-isolation")  # offline: use the hatchling that is installed
            if words[1:4] == ["-m", "pip", "install"]:
                words.append("--no-index")
        result = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
    list_command = [sys.executable, "-m", "securehost", "list", "--group", "myapp.plugins"]
    listing = subprocess.run(
        [*list_command, "--store", "trust.toml", "--path", "plugins", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert listing.returncode == EXIT_REJECTED
    (plugin,) = json.loads(listing.stdout)["plugins"]
    assert (plugin["name"], plugin["status"]) == ("acme-hello", "held")  # without --grant, the host grants nothing


# --- attacks on the Host's claims ---------------------------------------------------------------------------------

PROJECT = "demoapp"
GROUP = "demoapp.plugins"
hookspec = HookspecMarker(PROJECT)


class Spec:
    @hookspec
    def hello(self) -> str:  # type: ignore[empty-body]
        """Say who you are."""

    @hookspec
    def goodbye(self) -> str:  # type: ignore[empty-body]
        """Say goodbye."""


PLUGIN = (
    "import pluggy\n\nhookimpl = pluggy.HookimplMarker('demoapp')\n\n\n@hookimpl\ndef hello():\n    return __name__\n"
)


class Plugins:
    """Signed plugins, installed into one site directory as an installer lays them out."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.site = tmp_path / "site"
        self.site.mkdir()
        self.key = PrivateKey.generate()
        self.store = trust(self.key, names=["acme-*"], max_permissions=["db.write"])

    def install(
        self,
        name: str = "acme-claims",
        version: str = "1.0",
        *,
        source: str = PLUGIN,
        permissions: tuple[str, ...] = (),
        issued_at: dt.datetime = ISSUED,
        signed: bool = True,
    ) -> Path:
        module = name.replace("-", "_")
        wheel = make_wheel(
            self.tmp / f"dist-{module}-{version}",
            {f"{module}/__init__.py": source.encode()},
            name=module,
            version=version,
            entry_points=f"[{GROUP}]\n{name} = {module}\n".encode(),
        )
        if signed:
            sign_wheel(wheel, self.key, permissions=permissions, issued_at=issued_at)
        for old in self.site.glob(f"{module}*"):
            shutil.rmtree(old)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(self.site)
        return self.site / module

    def host(self, **options: Any) -> Host:
        options.setdefault("clock", lambda: NOW)
        return Host(
            project=PROJECT,
            group=GROUP,
            hookspecs=Spec,
            trust_store=self.store,
            path=[self.site],
            state_dir=self.tmp / "state",
            guard=False,
            **options,
        )


@pytest.fixture
def plugins(tmp_path: Path) -> Iterator[Plugins]:
    made = Plugins(tmp_path)
    yield made
    leftovers = [m for m in sys.modules if m.startswith("acme_")]
    for name in leftovers:
        del sys.modules[name]
    assert not leftovers, f"a host left plugin modules behind: {leftovers}"


def codes(report: Any) -> set[ReasonCode]:
    return set(report.verdict.codes)


def test_host_rejects_an_unsigned_plugin_and_none_of_its_code_runs(plugins: Plugins) -> None:
    canary = plugins.tmp / "CANARY"
    plugins.install("acme-evil", source=f"open({str(canary)!r}, 'w').write('ran')\n", signed=False)
    plugins.install("acme-good")
    with plugins.host() as host:
        report = host.load()
        assert report["acme-evil"].status == "rejected"
        assert ReasonCode.ENVELOPE_MISSING in codes(report["acme-evil"])
        assert report["acme-good"].status == "accepted"  # one bad plugin never stops the others
        assert host.hook.hello() == ["acme_good"]
    assert not canary.exists()


def test_host_rejects_a_rollback_and_a_pin_allows_exactly_that_version(plugins: Plugins) -> None:
    plugins.install(version="2.0")
    with plugins.host() as host:
        assert host.load()["acme-claims"].status == "accepted"
    plugins.install(version="1.0")
    with plugins.host() as host:
        report = host.load()["acme-claims"]
        assert report.status == "rejected"
        assert codes(report) == {ReasonCode.ROLLBACK}
        assert host.hook.hello() == []
    with plugins.host(pins={"acme-claims": "1.5"}) as host:
        assert codes(host.load()["acme-claims"]) == {ReasonCode.ROLLBACK}
    with plugins.host(pins={"Acme_Claims": "1.0"}) as host:
        assert host.load()["acme-claims"].status == "accepted"
    with plugins.host() as host:  # the pin is a decision of that host, not a new high-water mark
        assert codes(host.load()["acme-claims"]) == {ReasonCode.ROLLBACK}


def test_check_does_not_record_a_version(plugins: Plugins) -> None:
    plugins.install(version="2.0")
    with plugins.host() as host:
        assert host.check()["acme-claims"].status == "verified"
    plugins.install(version="1.0")
    with plugins.host() as host:
        assert host.load()["acme-claims"].status == "accepted"


def test_host_rejects_statements_older_than_max_statement_age(plugins: Plugins) -> None:
    plugins.install(issued_at=NOW - dt.timedelta(days=30))
    with plugins.host(max_statement_age=dt.timedelta(days=31)) as host:
        assert host.load()["acme-claims"].status == "accepted"
    with plugins.host(max_statement_age=dt.timedelta(days=29)) as host:
        report = host.load()["acme-claims"]
        assert codes(report) == {ReasonCode.STATEMENT_EXPIRED}
        assert host.hook.hello() == []


def test_host_holds_a_plugin_whose_permissions_are_not_granted(plugins: Plugins) -> None:
    plugins.install(permissions=("db.write:orders",))
    with plugins.host(grants={"acme-*": ["db.read"]}) as host:
        report = host.load()
        held = report["acme-claims"]
        assert held.status == "held"
        assert [(r.code, r.subject) for r in held.verdict.reasons] == [
            (ReasonCode.PERMISSION_NOT_GRANTED, "db.write:orders")
        ]
        assert held.granted == ()
        assert held in report.rejected
        assert not report.all_accepted
        assert host.hook.hello() == []
        assert "acme_claims" not in sys.modules


def test_a_plugin_with_another_reason_besides_a_missing_grant_is_rejected_not_held(plugins: Plugins) -> None:
    plugins.install(version="2.0")
    with plugins.host() as host:
        host.load()
    plugins.install(version="1.0", permissions=("db.write:orders",))
    with plugins.host() as host:
        report = host.load()["acme-claims"]
        assert report.status == "rejected"
        assert codes(report) == {ReasonCode.ROLLBACK, ReasonCode.PERMISSION_NOT_GRANTED}


def test_a_wider_grant_never_widens_the_effective_permissions(plugins: Plugins) -> None:
    plugins.install(permissions=("db.write:orders",))
    with plugins.host(grants={"*": ["db.write"], "acme-*": ["db.read"]}) as host:
        report = host.load()["acme-claims"]
        assert report.status == "accepted"
        assert report.granted == ("db.write:orders",)
        permissions = host.manager.get_permissions("acme-claims")
        assert permissions is not None
        assert permissions.strings() == ("db.write:orders",)


def test_a_disabled_plugin_stays_disabled_across_hosts_until_enabled(plugins: Plugins) -> None:
    plugins.install()
    with plugins.host() as host:
        host.load()
        host.disable("Acme_Claims")
        assert host.implementations("hello") == []
    with plugins.host() as host:
        report = host.load()
        assert report["acme-claims"].status == "disabled"
        assert codes(report["acme-claims"]) == {ReasonCode.DISABLED}
        assert report.all_accepted  # disabled plugins do not count against
        host.enable("acme-claims")
    with plugins.host() as host:
        assert host.load()["acme-claims"].status == "accepted"


def test_a_plugin_that_fails_while_loading_is_rejected_and_removed(plugins: Plugins) -> None:
    plugins.install("acme-broken", source=PLUGIN + "raise RuntimeError('broken at import')\n")
    plugins.install("acme-fine")
    with plugins.host() as host:
        report = host.load()
        assert codes(report["acme-broken"]) == {ReasonCode.IMPORT_FAILED}
        assert report["acme-fine"].status == "accepted"
        assert host.implementations("hello") == ["acme-fine"]
        assert "acme_broken" not in sys.modules


REFUSED = (
    "import pluggy\n\nhookimpl = pluggy.HookimplMarker('demoapp')\n\n\n"
    "@hookimpl\ndef goodbye():\n    return 'still here'\n\n\n"  # valid, and registered first (dir() order)
    "@hookimpl\ndef hello(extra):\n    pass\n"  # does not match its specification
)


def test_a_plugin_the_manager_refuses_is_reported_as_registration_failed(plugins: Plugins) -> None:
    plugins.install(source=REFUSED)
    with plugins.host() as host:
        report = host.load()["acme-claims"]
        assert report.status == "rejected"
        assert codes(report) == {ReasonCode.REGISTRATION_FAILED}
        assert host.plugins == {}


def test_a_plugin_raising_value_error_while_imported_is_import_failed_not_registration_failed(
    plugins: Plugins,
) -> None:
    plugins.install(source="raise ValueError('broken at import')\n")
    with plugins.host() as host:
        report = host.load()["acme-claims"]
        assert report.status == "rejected"
        assert codes(report) == {ReasonCode.IMPORT_FAILED}
        assert "ValueError" in report.verdict.reasons[0].message
        assert host.plugins == {}


def test_a_plugin_the_manager_refuses_leaves_nothing_registered(plugins: Plugins) -> None:
    plugins.install(source=REFUSED)
    with plugins.host() as host:
        host.load()
        assert host.hook.goodbye() == []
        assert host.manager.get_plugins() == set()


def test_a_plugin_importing_what_the_policy_does_not_allow_never_runs(plugins: Plugins) -> None:
    canary = plugins.tmp / "CANARY"
    source = f"import attr\nopen({str(canary)!r}, 'w').write('ran')\n"
    plugins.install(source=source)
    with plugins.host() as host:
        report = host.load()["acme-claims"]
        assert codes(report) == {ReasonCode.DEPENDENCY_NOT_ALLOWED}
        assert host.manager.get_plugins() == set()
    assert not canary.exists()


def test_a_file_modified_after_loading_is_rejected_on_reload(plugins: Plugins) -> None:
    package = plugins.install()
    with plugins.host() as host:
        assert host.load()["acme-claims"].status == "accepted"
        (package / "__init__.py").write_text(PLUGIN + "x = 1\n")
        report = host.reload("acme-claims")
        assert codes(report) == {ReasonCode.INSTALLED_FILE_MODIFIED}
        assert host.implementations("hello") == []
        assert host.plugins == {}


def test_a_corrupt_state_file_is_an_error_not_a_reset(plugins: Plugins) -> None:
    plugins.install(version="2.0")
    with plugins.host() as host:
        host.load()
    state = plugins.tmp / "state" / "state.json"
    state.write_text("{not json")
    with pytest.raises(ConfigurationError, match="refusing to reset"):
        plugins.host()


def test_a_state_directory_others_may_write_is_refused(plugins: Plugins) -> None:
    (plugins.tmp / "state").mkdir(mode=0o700)
    (plugins.tmp / "state").chmod(0o777)
    with pytest.raises(ConfigurationError, match="writable by group or others"):
        plugins.host()


def test_the_audit_sink_has_one_json_line_per_decision(plugins: Plugins) -> None:
    plugins.install("acme-good")
    plugins.install("acme-evil", signed=False)
    sink = plugins.tmp / "audit.jsonl"
    with plugins.host(audit_sink=sink) as host:
        host.load()
    events = [json.loads(line) for line in sink.read_text().splitlines()]
    by_plugin = {(e["event"], e["plugin"]) for e in events}
    assert {("plugin.accepted", "acme-good"), ("plugin.rejected", "acme-evil"), ("plugin.unloaded", "acme-good")} <= (
        by_plugin
    )
    rejected = next(e for e in events if e["event"] == "plugin.rejected")
    assert [r["code"] for r in rejected["reasons"]] == ["envelope-missing"]
    assert all(e["time"].endswith("+00:00") for e in events)
    assert sink.stat().st_mode & 0o777 == 0o600


def test_a_signed_sitecustomize_or_pth_fails_the_installed_check(tmp_path: Path) -> None:
    """docs/host.md: the installed check applies the wheel's start-up-hook rule to what was signed."""
    metadata_dir, subjects = fake_install(
        tmp_path, "acme-boot", "1.0", {"acme_boot/__init__.py": "", "sitecustomize.py": "print('every start')\n"}
    )
    assert {r.code for r in verify_installed(metadata_dir, subjects).reasons} == {ReasonCode.FORBIDDEN_FILE}
    pth_dir, pth_subjects = fake_install(tmp_path / "pth", "acme-pth", "1.0", {"acme-pth.pth": "import os\n"})
    assert {r.code for r in verify_installed(pth_dir, pth_subjects).reasons} == {ReasonCode.FORBIDDEN_FILE}
