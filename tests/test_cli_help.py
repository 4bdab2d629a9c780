"""The command line for a first-time user: help for every option, usage on a bare command, JSON errors, permission
kinds checked with a did-you-mean, file modes kept, and a trust store that points at documentation that exists."""

from __future__ import annotations

import argparse
import json
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from securehost import PrivateKey, sign_wheel
from securehost._cli import main
from securehost._cli.app import build_parser
from securehost._permissions import BUILTIN_KINDS, check_kind
from securehost.exceptions import PermissionFormatError
from tests.test_cli import PERMISSION, cli, ok, usage_error
from tests.wheelfactory import make_wheel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["keygen", "sign", "verify", "inspect", "trust", "install", "upgrade", "uninstall", "list", "deps"]
TRUST_COMMANDS = ["add", "remove", "revoke", "threshold", "import-allowed-signers", "list"]
DEPS_COMMANDS = ["approve", "list", "closure"]


def parsers(parser: argparse.ArgumentParser, prefix: str = "securehost") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += parsers(sub, f"{prefix} {name}")
    return found


def test_every_option_and_argument_of_every_command_has_help() -> None:
    missing = []
    for command, parser in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{command} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, f"options without help text: {missing}"
    assert len(parsers(build_parser())) == 1 + len(COMMANDS) + len(TRUST_COMMANDS) + len(DEPS_COMMANDS)


def test_help_shows_examples_the_permission_grammar_and_the_exit_codes() -> None:
    text = ok(cli("--help"))
    assert "examples:" in text
    assert "securehost install dist/" in text
    for kind in BUILTIN_KINDS:
        assert re.search(rf"^  {re.escape(kind)}\b", text, re.MULTILINE), kind
    assert "exit codes: 0 done" in text
    for command in ("sign", "trust"):
        assert "KIND or KIND:SCOPE" in ok(cli(command, "--help"))


@pytest.mark.parametrize(("argv", "commands"), [([], COMMANDS), (["trust"], TRUST_COMMANDS), (["deps"], DEPS_COMMANDS)])
def test_a_bare_command_prints_its_usage_and_commands_on_stderr_and_exits_2(
    argv: list[str], commands: list[str]
) -> None:
    result = cli(*argv)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"usage: securehost {' '.join(argv)}".rstrip() + " ")
    for command in commands:
        assert re.search(rf"^    {re.escape(command)}\b", result.stderr, re.MULTILINE), command


def json_error(result: Any, code: str, exit_code: int) -> dict[str, Any]:
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    document = json.loads(result.stdout)
    error = document["error"]
    assert set(document) == {"error"}
    assert (error["code"], error["exit_code"]) == (code, exit_code)
    assert result.stderr.count("\n") == 1  # the one human line is still there
    assert error["message"] in result.stderr
    return error  # type: ignore[no-any-return]


def test_json_errors_are_json_on_stdout_with_the_same_exit_code(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist")
    missing = tmp_path / "missing.toml"
    error = json_error(cli("verify", wheel, "--store", missing, "--json"), "usage", 2)
    assert str(missing) in error["message"]
    error = json_error(cli("verify", wheel, "--json"), "usage", 2)  # the parser's own error
    assert (error["type"], "--store" in error["message"]) == ("UsageError", True)
    error = json_error(cli("install", wheel, "--target", tmp_path / "t", "--store", missing, "--json"), "usage", 2)
    assert str(missing) in error["message"]
    usage_error(cli("verify", wheel, "--store", missing))  # without --json: one line, nothing on stdout


def test_an_internal_error_under_json_is_a_json_error_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import securehost._wheel.wheelfile

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(securehost._wheel.wheelfile, "describe_wheel", broken)
    monkeypatch.delenv("SECUREHOST_DEBUG", raising=False)
    assert main(["inspect", str(tmp_path / "x-1.0-py3-none-any.whl"), "--json"]) == 3
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert (error["code"], error["type"], error["exit_code"]) == ("internal", "RuntimeError", 3)
    assert "internal error: RuntimeError: boom" in err


# --- permission kinds -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("fs.raed:/x", "fs.read:/x"),
        ("network", "net.connect"),
        ("net.listen:127.0.0.1:80", "net.bind:127.0.0.1:80"),
        ("sys.natve", "sys.native"),
        ("subprocess", "proc.spawn"),
    ],
)
def test_a_kind_that_cannot_be_meant_is_refused_with_a_did_you_mean(text: str, meant: str) -> None:
    with pytest.raises(PermissionFormatError, match=re.escape(f"did you mean {meant!r}?")):
        check_kind(text)


@pytest.mark.parametrize("text", ["db.write:orders", "agent.control", "fs.read:/srv/**", "sys.native"])
def test_built_in_and_namespaced_host_kinds_pass(text: str) -> None:
    assert str(check_kind(text)) == text


def test_a_kind_without_a_namespace_and_no_likely_meaning_is_still_refused() -> None:
    with pytest.raises(PermissionFormatError, match="host-defined kind has a namespace") as info:
        check_kind("frobnicate")
    assert "did you mean" not in str(info.value)


def test_sign_refuses_unknown_kinds_in_the_library_and_the_cli(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist")
    before = wheel.read_bytes()
    key = PrivateKey.generate()
    with pytest.raises(PermissionFormatError, match=re.escape("did you mean 'fs.read:/x'")):
        sign_wheel(wheel, key, permissions=["fs.raed:/x"])
    keyfile = tmp_path / "k"
    assert main(["keygen", str(keyfile)]) == 0
    usage_error(cli("sign", wheel, "--key", keyfile, "--permission", "network"), "did you mean 'net.connect'?")
    assert wheel.read_bytes() == before
    ok(cli("sign", wheel, "--key", keyfile, "--permission", "db.write:orders"))  # a host-defined kind


def test_trust_add_refuses_unknown_kinds(tmp_path: Path) -> None:
    keyfile = tmp_path / "k"
    assert main(["keygen", str(keyfile)]) == 0
    store = tmp_path / "store.toml"
    add = ["trust", "add", f"{keyfile}.pub", "--store", store, "--names", "acme-*"]
    usage_error(cli(*add, "--max-permission", "fs.raed:/srv/**"), "did you mean 'fs.read:/srv/**'?")
    usage_error(cli(*add, "--max-permission", "network"), "did you mean 'net.connect'?")
    assert not store.exists()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'ci@acme namespaces="securehost" {Path(f"{keyfile}.pub").read_text()}')
    imported = ["trust", "import-allowed-signers", allowed, "--store", store, "--names", "acme-*"]
    usage_error(cli(*imported, "--max-permission", "proc:/bin/x"), "did you mean 'proc.spawn:/bin/x'?")
    assert not store.exists()


# --- file modes and the trust store's pointer to its documentation ----------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_a_signed_wheel_keeps_the_original_file_mode(tmp_path: Path, mode: int) -> None:
    wheel = make_wheel(tmp_path / "dist")
    wheel.chmod(mode)
    keyfile = tmp_path / "k"
    assert main(["keygen", str(keyfile)]) == 0
    ok(cli("sign", wheel, "--key", keyfile, "--permission", PERMISSION, "-o", f"{tmp_path / 'out'}/"))
    assert stat.S_IMODE((tmp_path / "out" / wheel.name).stat().st_mode) == mode
    ok(cli("sign", wheel, "--key", keyfile, "--permission", PERMISSION))
    assert stat.S_IMODE(wheel.stat().st_mode) == mode


def test_a_new_trust_store_points_at_documentation_that_exists(tmp_path: Path) -> None:
    keyfile = tmp_path / "k"
    assert main(["keygen", str(keyfile)]) == 0
    store = tmp_path / "store.toml"
    ok(cli("trust", "add", f"{keyfile}.pub", "--store", store, "--names", "acme-*"))
    header = [line for line in store.read_text().splitlines() if line.startswith("#")]
    pages = re.findall(r"docs/[\w./-]+\.md", "\n".join(header))
    assert pages, header
    for page in pages:
        assert (ROOT / page).is_file(), page
        assert "## Fields" in (ROOT / page).read_text(encoding="utf-8")
    assert "securehost trust --help" in "\n".join(header)
    assert "docs/trust-store.md" in ok(cli("trust", "--help"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "docs" in project["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]  # where the page ships
    urls = project["project"].get("urls", {})
    assert not [url for url in urls.values() if ".invalid" in url], urls
