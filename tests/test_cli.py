"""The ``securehost`` command line: the documented contract, through ``python -m securehost`` in a subprocess (as a
user runs it), plus in-process calls of ``securehost._cli.main`` where only the logic matters.

Exit codes: 0 accepted / done, 1 rejected, 2 usage or configuration error (one line on stderr, no traceback),
3 internal error.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import securehost._wheel.wheelfile
from securehost import PrivateKey, PublicKey, TrustStore
from securehost._cli import main
from securehost._wheel.wheelfile import sign_wheel
from securehost.exceptions import KeyFormatError
from tests.strategies_envelope import private_key
from tests.wheelfactory import ISSUED, make_wheel, read_members, rewrite

SRC = Path(__file__).resolve().parent.parent / "src"
PERMISSION = "fs.read:/srv/data/**"


def cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m securehost ARGS`` with this worktree's sources, without a terminal."""
    environment = {k: v for k, v in os.environ.items() if k not in ("SECUREHOST_DEBUG", "SOURCE_DATE_EPOCH")}
    environment["PYTHONPATH"] = str(SRC)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "securehost", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def usage_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 2 with exactly one line on stderr that names *fragments*, nothing on stdout, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("securehost: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def verdicts(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return json.loads(result.stdout)


def codes(verdict: dict[str, object]) -> set[str]:
    return {r["code"] for r in verdict["reasons"]}  # type: ignore[attr-defined, index]


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    return make_wheel(tmp_path / "dist")


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    """An Ed25519 key written by ``securehost keygen`` (in-process), with KEY.pub next to it."""
    path = tmp_path / "keys" / "release"
    path.parent.mkdir()
    assert main(["keygen", str(path)]) == 0
    return path


@pytest.fixture
def store(tmp_path: Path, keyfile: Path) -> Path:
    path = tmp_path / "store.toml"
    args = ["trust", "add", "--store", str(path), f"{keyfile}.pub", "--names", "demo-*"]
    assert main([*args, "--max-permission", "fs.read:/srv/**"]) == 0
    return path


# --- keygen -------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_0600_and_the_public_key(tmp_path: Path) -> None:
    key = tmp_path / "signing"
    result = json.loads(ok(cli("keygen", key, "--json", "--comment", "release@acme")))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    loaded = PrivateKey.load(key.read_bytes())
    public_line = (tmp_path / "signing.pub").read_text()
    assert public_line.startswith("ssh-ed25519 ")
    assert public_line.endswith(" release@acme\n")
    assert PublicKey.load(public_line.encode()).key_id == loaded.key_id == result["key_id"]
    assert result == {
        "private_key": str(key),
        "public_key": f"{key}.pub",
        "key_id": loaded.key_id,
        "type": "ed25519",
    }


def test_keygen_into_a_directory_that_does_not_exist_creates_it_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example of ``securehost --help`` (``securehost keygen keys/release``) works in a fresh directory."""
    key = tmp_path / "keys" / "release"
    assert main(["keygen", str(key)]) == 0
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "keys" / "release.pub").read_text().startswith("ssh-ed25519 ")
    assert f"created {key.parent}/ (mode 0700)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kind", "key_type"), [("ecdsa-p256", "ecdsa-p256"), ("ecdsa-p384", "ecdsa-p384"), ("rsa-3072", "rsa")]
)
def test_keygen_types(tmp_path: Path, kind: str, key_type: str, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k"
    assert main(["keygen", str(key), "--type", kind]) == 0
    assert PrivateKey.load(key.read_bytes()).key_type.value == key_type
    assert f"key id: {PrivateKey.load(key.read_bytes()).key_id}" in capsys.readouterr().out


def test_keygen_refuses_to_overwrite_without_force(keyfile: Path) -> None:
    before = keyfile.read_bytes()
    usage_error(cli("keygen", keyfile), str(keyfile), "--force")
    assert keyfile.read_bytes() == before
    ok(cli("keygen", keyfile, "--force", "--type", "ecdsa-p256"))
    assert PrivateKey.load(keyfile.read_bytes()).key_type.value == "ecdsa-p256"


def test_encrypted_key_signs_with_password_env(tmp_path: Path, wheel: Path) -> None:
    key = tmp_path / "locked"
    env = {"SH_PASS": "correct horse battery staple"}
    ok(cli("keygen", key, "--password-env", "SH_PASS", env=env))
    assert b"ENCRYPTED" in key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(KeyFormatError, match=r"password|encrypted"):
        PrivateKey.load(key.read_bytes())
    usage_error(cli("sign", wheel, "--key", key), str(key))  # no passphrase, no terminal to ask on
    usage_error(cli("sign", wheel, "--key", key, "--password-env", "SH_PASS", env={"SH_PASS": "wrong"}), str(key))
    usage_error(cli("sign", wheel, "--key", key, "--password-env", "SH_UNSET"), "SH_UNSET", "not set")
    usage_error(cli("sign", wheel, "--key", key, "--password-env", "SH_PASS", env={"SH_PASS": ""}), "empty")
    assert "securehost.dsse.json" not in " ".join(read_members(wheel))
    ok(cli("sign", wheel, "--key", key, "--password-env", "SH_PASS", env=env))
    assert any(n.endswith("securehost.dsse.json") for n in read_members(wheel))
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    assert main(["sign", str(wheel), "--key", str(key), "--password-file", str(secret)]) == 0


def test_keygen_force_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("do not touch\n")
    key = tmp_path / "k"
    key.symlink_to(victim)
    assert main(["keygen", str(key), "--force"]) == 0
    assert victim.read_text() == "do not touch\n"
    assert not key.is_symlink()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_keygen_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.symlink_to(tmp_path / "elsewhere")
    usage_error(cli("keygen", key), str(key))
    assert not (tmp_path / "elsewhere").exists()


def test_keygen_force_never_writes_the_key_into_a_readable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "k"
    key.write_text("old\n")
    key.chmod(0o644)
    real_fdopen = os.fdopen
    modes: list[int] = []

    def fdopen(fd: int, *args: object, **kwargs: object) -> object:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fdopen(fd, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "fdopen", fdopen)
    assert main(["keygen", str(key), "--force"]) == 0
    assert modes == [0o600]


def test_keygen_refuses_an_empty_passphrase(tmp_path: Path) -> None:
    usage_error(cli("keygen", tmp_path / "k", "--password-env", "SH_PASS", env={"SH_PASS": ""}), "empty")
    assert not (tmp_path / "k").exists()


# --- trust --------------------------------------------------------------------------------------


def test_trust_add_creates_then_updates_the_store(tmp_path: Path, keyfile: Path) -> None:
    path = tmp_path / "trust" / "store.toml"
    path.parent.mkdir()
    out = ok(
        cli("trust", "add", "--store", path, f"{keyfile}.pub", "--names", "acme-*", "--max-permission", PERMISSION)
    )
    assert "trusted" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    key_id = PrivateKey.load(keyfile.read_bytes()).key_id
    loaded = TrustStore.load(path)
    assert list(loaded.keys) == [key_id]
    assert loaded.keys[key_id].label == "release"
    assert loaded.keys[key_id].names == ("acme-*",)
    assert loaded.keys[key_id].max_permissions.strings() == (PERMISSION,)
    ok(cli("trust", "add", "--store", path, f"{keyfile}.pub", "--names", "acme-*", "--names", "Demo_*",
           "--label", "Acme release"))  # fmt: skip
    updated = TrustStore.load(path).keys
    assert list(updated) == [key_id]
    assert updated[key_id].names == ("acme-*", "demo-*")
    assert updated[key_id].label == "Acme release"
    assert len(updated[key_id].max_permissions) == 0


def test_trust_list_remove_revoke_threshold(tmp_path: Path, store: Path, keyfile: Path) -> None:
    second = tmp_path / "second"
    assert main(["keygen", str(second), "--type", "ecdsa-p256"]) == 0
    assert main(["trust", "add", "--store", str(store), f"{second}.pub", "--names", "*"]) == 0
    first_id = PrivateKey.load(keyfile.read_bytes()).key_id
    second_id = PrivateKey.load(second.read_bytes()).key_id
    ok(cli("trust", "threshold", "--store", store, "demo-*", 2))
    ok(cli("trust", "revoke", "--store", store, second_id))
    listing = json.loads(ok(cli("trust", "list", "--store", store, "--json")))
    assert [k["key_id"] for k in listing["keys"]] == [first_id, second_id]
    assert [k["revoked"] for k in listing["keys"]] == [False, True]
    assert listing["keys"][0]["max_permissions"] == ["fs.read:/srv/**"]
    assert listing["keys"][1]["type"] == "ecdsa-p256"
    assert listing["revoked"] == [second_id]
    assert listing["thresholds"] == [{"pattern": "demo-*", "count": 2}]
    text = ok(cli("trust", "list", "--store", store))
    assert f"{second_id}  ecdsa-p256 second REVOKED" in text
    assert "threshold demo-*: 2" in text
    assert "already revoked" in ok(cli("trust", "revoke", "--store", store, second_id))
    ok(cli("trust", "remove", "--store", store, "second"))
    assert list(TrustStore.load(store).keys) == [first_id]
    usage_error(cli("trust", "remove", "--store", store, "nobody"), "store.toml", "nobody")
    usage_error(cli("trust", "threshold", "--store", store, "demo-*", 0), ">= 1")


def test_trust_list_shows_unscoped_and_scoped_permissions_of_one_kind(tmp_path: Path, keyfile: Path) -> None:
    store = tmp_path / "store.toml"
    args = ["--max-permission", "proc.spawn:/usr/bin/git", "--max-permission", "proc.spawn"]
    assert main(["trust", "add", "--store", str(store), f"{keyfile}.pub", "--names", "*", *args]) == 0
    listing = json.loads(ok(cli("trust", "list", "--store", store, "--json")))
    assert listing["keys"][0]["max_permissions"] == ["proc.spawn", "proc.spawn:/usr/bin/git"]


def test_trust_import_allowed_signers(tmp_path: Path, keyfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    public = (keyfile.parent / "release.pub").read_text().split()
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'release@acme namespaces="securehost" {public[0]} {public[1]}\n')
    store = tmp_path / "store.toml"
    args = ["trust", "import-allowed-signers", "--store", str(store), str(signers), "--names", "acme-*"]
    assert main(args) == 0
    assert "release@acme" in capsys.readouterr().out
    assert TrustStore.load(store).find("release@acme") is not None


# --- sign, verify, inspect ----------------------------------------------------------------------


def test_sign_verify_inspect(tmp_path: Path, wheel: Path, keyfile: Path, store: Path) -> None:
    out = tmp_path / "signed"
    text = ok(cli("sign", wheel, "--key", keyfile, "--permission", PERMISSION, "-o", f"{out}/"))
    signed = out / wheel.name
    assert f"signed {signed}" in text
    assert "securehost.dsse.json" not in " ".join(read_members(wheel))  # -o leaves the input alone

    result = cli("verify", signed, "--store", store)
    assert f"{signed}: ACCEPTED (demo-plugin 1.0)" in ok(result)
    (verdict,) = verdicts(cli("verify", signed, "--store", store, "--json"))
    key_id = PrivateKey.load(keyfile.read_bytes()).key_id
    assert verdict["accepted"] is True
    assert verdict["signers"] == [key_id]
    assert verdict["permissions"] == [PERMISSION]
    assert verdict["reasons"] == []

    text = ok(cli("inspect", signed))
    assert f"{signed}: demo-plugin 1.0 (py3-none-any)" in text
    assert f"permissions: {PERMISSION}" in text
    assert f"signature:   key {key_id}" in text
    assert "entry point: [demoapp.plugins] demo = demo_plugin.plugin:Plugin" in text
    info = json.loads(ok(cli("inspect", signed, "--json")))
    assert info["predicate"]["permissions"] == [PERMISSION]
    assert info["signatures"] == [key_id]


def test_verify_exits_1_with_json_reasons(tmp_path: Path, wheel: Path, keyfile: Path, store: Path) -> None:
    signed = tmp_path / "signed" / wheel.name
    assert main(["sign", str(wheel), "--key", str(keyfile), "-o", str(signed)]) == 0
    result = cli("verify", signed, wheel, "--store", store, "--json")
    assert result.returncode == 1
    assert result.stderr == ""
    good, bad = verdicts(result)
    assert good["accepted"] is True
    assert bad["accepted"] is False
    assert codes(bad) == {"envelope-missing"}
    assert bad["reasons"][0]["message"]  # type: ignore[index]
    text = cli("verify", wheel, "--store", store)
    assert text.returncode == 1
    assert "REJECTED" in text.stdout
    assert "[envelope-missing]" in text.stdout


def test_verify_reports_tampering_and_unknown_keys(tmp_path: Path, wheel: Path, keyfile: Path, store: Path) -> None:
    assert main(["sign", str(wheel), "--key", str(keyfile)]) == 0
    rewrite(wheel, {"demo_plugin/plugin.py": b"import os\n"})
    (verdict,) = verdicts(cli("verify", wheel, "--store", store, "--json"))
    assert codes(verdict) == {"digest-mismatch"}
    empty = tmp_path / "empty.toml"
    empty.write_text("version = 1\n")
    result = cli("verify", wheel, "--store", empty, "--json")
    assert result.returncode == 1
    assert codes(verdicts(result)[0]) == {"key-unknown", "threshold-not-met"}


def test_sign_with_expiry_and_verify_now(wheel: Path, keyfile: Path, store: Path) -> None:
    ok(cli("sign", wheel, "--key", keyfile, "--expires", "2030-01-01T00:00:00Z"))
    ok(cli("verify", wheel, "--store", store, "--now", "2029-12-31T23:59:59Z"))
    result = cli("verify", wheel, "--store", store, "--now", "2030-01-01T00:00:00+00:00", "--json")
    assert result.returncode == 1
    assert codes(verdicts(result)[0]) == {"statement-expired"}


def test_threshold_revocation_and_second_signature(tmp_path: Path, wheel: Path, keyfile: Path, store: Path) -> None:
    second = tmp_path / "second"
    assert main(["keygen", str(second), "--type", "ecdsa-p384"]) == 0
    assert main(["trust", "add", "--store", str(store), f"{second}.pub", "--names", "*"]) == 0
    assert main(["trust", "threshold", "--store", str(store), "demo-plugin", "2"]) == 0
    ok(cli("sign", wheel, "--key", keyfile))
    result = cli("verify", wheel, "--store", store, "--json")
    assert result.returncode == 1
    assert codes(verdicts(result)[0]) == {"threshold-not-met"}
    ok(cli("sign", wheel, "--key", second))  # adds a signature
    ok(cli("verify", wheel, "--store", store))
    second_id = PrivateKey.load(second.read_bytes()).key_id
    ok(cli("trust", "revoke", "--store", store, second_id))
    result = cli("verify", wheel, "--store", store, "--json")
    assert result.returncode == 1
    assert codes(verdicts(result)[0]) == {"key-revoked", "threshold-not-met"}


def test_fractional_expiry_is_a_usage_error_not_a_crash(wheel: Path, keyfile: Path) -> None:
    usage_error(cli("sign", wheel, "--key", keyfile, "--expires", "2030-01-01T00:00:00.5Z"), "whole seconds")


def test_trust_add_with_a_validity_window(
    wheel: Path, keyfile: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = f"{keyfile}.pub"
    args = ["trust", "add", "--store", str(store), public, "--names", "demo-*", "--max-permission", "fs.read:/srv/**"]
    assert main([*args, "--valid-after", "2020-01-01T00:00:00Z", "--valid-before", "2021-01-01T00:00:00+01:00"]) == 0
    listing = json.loads(ok(cli("trust", "list", "--store", store, "--json")))
    assert listing["keys"][0]["valid_before"] == "2020-12-31T23:00:00+00:00"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1583020800")  # 2020-03-01, inside the window
    assert main(["sign", str(wheel), "--key", str(keyfile)]) == 0
    result = cli("verify", wheel, "--store", store, "--json")
    assert result.returncode == 1
    assert codes(verdicts(result)[0]) == {"key-expired", "threshold-not-met"}
    ok(cli("verify", wheel, "--store", store, "--now", "2020-06-01T00:00:00Z"))


def test_sign_with_several_keys_at_once(tmp_path: Path, wheel: Path, keyfile: Path) -> None:
    second = tmp_path / "second"
    assert main(["keygen", str(second)]) == 0
    result = json.loads(ok(cli("sign", wheel, "--key", keyfile, "--key", second, "--json")))
    ids = [PrivateKey.load(p.read_bytes()).key_id for p in (keyfile, second)]
    assert result == {"wheel": str(wheel), "signers": ids}


def test_changing_permissions_needs_replace_statement(wheel: Path, keyfile: Path, store: Path) -> None:
    ok(cli("sign", wheel, "--key", keyfile, "--permission", PERMISSION))
    before = wheel.read_bytes()
    usage_error(cli("sign", wheel, "--key", keyfile, "--permission", "fs.read:/etc/**"), "replace")
    assert wheel.read_bytes() == before
    ok(cli("sign", wheel, "--key", keyfile, "--permission", "fs.read:/srv/other/**", "--replace-statement"))
    info = json.loads(ok(cli("inspect", wheel, "--json")))
    assert info["predicate"]["permissions"] == ["fs.read:/srv/other/**"]


def test_sign_refuses_an_unsound_wheel_and_a_renaming_output(tmp_path: Path, wheel: Path, keyfile: Path) -> None:
    rewrite(wheel, {"demo_plugin/plugin.py": b"changed\n"}, update_record=False)
    usage_error(cli("sign", wheel, "--key", keyfile), wheel.name, "record-mismatch")
    fresh = make_wheel(tmp_path / "fresh")
    usage_error(cli("sign", fresh, "--key", keyfile, "-o", tmp_path / "signed.whl"), "file name")
    usage_error(cli("sign", fresh, "--key", keyfile, "--permission", "fs.read:relative"), "relative")


def test_inspect_unsigned_and_unsound_wheels(wheel: Path, keyfile: Path) -> None:
    usage_error(cli("inspect", wheel), "not signed")
    assert main(["sign", str(wheel), "--key", str(keyfile)]) == 0
    rewrite(wheel, {"evil.pth": b"import os\n"})
    text = ok(cli("inspect", wheel))
    assert "problem:     [forbidden-file] evil.pth" in text


# --- errors: one line, exit 2, no traceback -----------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["bogus"],
        ["sign", "x.whl"],
        ["verify", "x.whl"],
        ["verify", "--store", "s.toml"],
        ["keygen", "k", "--type", "dsa"],
        ["trust", "add", "--store", "s.toml", "k.pub"],
        ["trust", "threshold", "--store", "s.toml", "demo-*", "two"],
        ["verify", "x.whl", "--store", "s.toml", "--now", "2026-01-01T00:00:00"],
        ["sign", "x.whl", "--key", "k", "--expires", "tomorrow"],
        ["sign", "x.whl", "--key", "k", "--password-env", "A", "--password-file", "f"],
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str]) -> None:
    usage_error(cli(*argv))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("version = 2\n", "version"),
        ("not toml [\n", "store.toml"),
        ('version = 1\n[[key]]\nlabel = "x"\n', "key[0]"),
        ("version = 1\nextra = 1\n", "extra"),
    ],
)
def test_malformed_store_exits_2_naming_the_file(tmp_path: Path, wheel: Path, content: str, fragment: str) -> None:
    store = tmp_path / "store.toml"
    store.write_text(content)
    line = usage_error(cli("verify", wheel, "--store", store), str(store), fragment)
    assert line.startswith(f"securehost: error: {store}")
    usage_error(cli("trust", "list", "--store", store), str(store))


def test_missing_or_world_writable_store_exits_2_naming_the_file(tmp_path: Path, wheel: Path) -> None:
    store = tmp_path / "store.toml"
    usage_error(cli("verify", wheel, "--store", store), str(store))
    store.write_text("version = 1\n")
    store.chmod(0o666)
    usage_error(cli("verify", wheel, "--store", store), str(store))


@pytest.mark.parametrize(
    "content",
    [b"", b"junk\n", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", b"\xff" * 100],
    ids=["empty", "junk", "bad-pem", "binary"],
)
def test_malformed_key_exits_2_naming_the_file(tmp_path: Path, wheel: Path, content: bytes) -> None:
    key = tmp_path / "broken.key"
    key.write_bytes(content)
    usage_error(cli("sign", wheel, "--key", key), str(key))
    usage_error(cli("trust", "add", "--store", tmp_path / "s.toml", key, "--names", "x"), str(key))
    assert not (tmp_path / "s.toml").exists()


def test_missing_files_exit_2_naming_them(tmp_path: Path, wheel: Path) -> None:
    missing = tmp_path / "nope.key"
    usage_error(cli("sign", wheel, "--key", missing), str(missing))
    usage_error(cli("trust", "add", "--store", tmp_path / "s.toml", missing, "--names", "x"), str(missing))
    usage_error(cli("sign", tmp_path / "gone-1.0-py3-none-any.whl", "--key", missing), str(missing))


def test_public_key_is_not_a_signing_key(wheel: Path, keyfile: Path) -> None:
    usage_error(cli("sign", wheel, "--key", f"{keyfile}.pub"), f"{keyfile}.pub")


def test_verify_of_missing_wheel_is_a_rejection_not_a_crash(tmp_path: Path, store: Path) -> None:
    result = cli("verify", tmp_path / "gone-1.0-py3-none-any.whl", "--store", store, "--json")
    assert result.returncode == 1
    assert codes(verdicts(result)[0]) == {"zip-unreadable"}


# --- in-process ---------------------------------------------------------------------------------


def test_main_returns_exit_codes(
    tmp_path: Path, wheel: Path, keyfile: Path, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(wheel), "--store", str(store)]) == 1
    assert main(["sign", str(wheel), "--key", str(keyfile), "--permission", PERMISSION]) == 0
    assert main(["verify", str(wheel), "--store", str(store), "--json"]) == 0
    capsys.readouterr()
    assert main(["sign", str(wheel), "--key", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(tmp_path / "missing") in err


def test_main_usage_error_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("securehost ")


def test_unexpected_errors_exit_3_in_one_line_or_raise_in_debug_mode(
    wheel: Path, keyfile: Path, store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(securehost._wheel.wheelfile, "verify_wheel", broken)
    monkeypatch.delenv("SECUREHOST_DEBUG", raising=False)
    assert main(["verify", str(wheel), "--store", str(store)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "internal error: RuntimeError: boom" in err
    monkeypatch.setenv("SECUREHOST_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["verify", str(wheel), "--store", str(store)])


def test_in_process_sign_matches_the_library(tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With SOURCE_DATE_EPOCH the command and the library write the same bytes (Ed25519 is deterministic)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(ISSUED.timestamp())))
    key = private_key("ed25519")
    keyfile = tmp_path / "k.pem"
    keyfile.write_bytes(key.to_pem())
    by_cli = tmp_path / "cli" / wheel.name
    assert main(["sign", str(wheel), "--key", str(keyfile), "--permission", PERMISSION, "-o", str(by_cli)]) == 0
    by_library = sign_wheel(wheel, key, permissions=[PERMISSION], output=tmp_path / "lib" / wheel.name)
    assert by_cli.read_bytes() == by_library.read_bytes()
