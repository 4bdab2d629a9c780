"""Signed wheels against the real tools: ``python -m build``, ``pip``, ``python -m venv``, ``python -m installer``,
``ssh-keygen`` and securesystemslib.

The example plugins are built once per session (the ``example_wheels`` fixture), signed by two keys, then installed.
Installers must keep the envelope byte for byte (it is listed in ``RECORD``) where ``importlib.metadata`` finds it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from securehost import PrivateKey, PublicKey, Statement, TrustStore
from securehost._wheel.record import Record
from securehost._wheel.wheelfile import sign_wheel, verify_wheel
from tests.signing.test_envelope_interop import sslib_envelope, sslib_key, sslib_sign
from tests.strategies_envelope import private_key
from tests.wheelfactory import (
    EXAMPLES,
    ISSUED,
    NOW,
    copy_wheel,
    dist_info_of,
    envelope_of,
    inject_envelope,
    make_wheel,
    read_members,
    rewrite,
    trust,
)

pytestmark = pytest.mark.slow

KEY = private_key("ed25519")
SECOND = private_key("ecdsa-p384")
PERMISSION = "fs.read:/srv/data/**"
STORE = trust(KEY, SECOND, max_permissions=["fs.read:/srv/**"], thresholds={"securehost-example-*": 2})
SRC = Path(__file__).resolve().parents[2] / "src"


def run(*args: object, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, check=False, env=env)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def signed(example_wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("signed")
    return {
        short: sign_wheel(copy_wheel(wheel, out / short), [KEY, SECOND], permissions=[PERMISSION], issued_at=ISSUED)
        for short, wheel in example_wheels.items()
    }


def envelope_member(wheel: Path) -> tuple[str, bytes]:
    members = read_members(wheel)
    name = f"{dist_info_of(members)}/securehost.dsse.json"
    return name, members[name]


def read_with_importlib_metadata(python: Path | str, path: Path | None, distribution: str) -> bytes:
    """``importlib.metadata.distribution(NAME).read_text("securehost.dsse.json")`` in a fresh interpreter."""
    code = (
        "import sys, importlib.metadata as m\n"
        + (f"sys.path.insert(0, {str(path)!r})\n" if path else "")
        + f"sys.stdout.write(m.distribution({distribution!r}).read_text('securehost.dsse.json'))\n"
    )
    return run(python, "-I", "-c", code).encode()


def check_installed(site: Path, wheel: Path) -> Path:
    """The envelope is installed byte-identical and listed in the installed RECORD with its hash and size."""
    name, envelope = envelope_member(wheel)
    installed = site / name
    assert installed.read_bytes() == envelope
    record = Record.from_bytes((site / dist_info_of(read_members(wheel)) / "RECORD").read_bytes())
    (row,) = (e for e in record.entries if e.path == name)
    assert row.hexdigest == hashlib.sha256(envelope).hexdigest()
    assert row.size == len(envelope)
    return installed


def test_example_wheels_are_signed_by_both_keys(signed: dict[str, Path]) -> None:
    for short, wheel in signed.items():
        verdict = verify_wheel(wheel, STORE, now=NOW)
        assert verdict, verdict.summary()
        assert verdict.name == EXAMPLES[short][1]
        assert verdict.signers == (KEY.key_id, SECOND.key_id)
        assert verdict.permissions == (PERMISSION,)


@pytest.mark.parametrize("short", sorted(EXAMPLES))
def test_pip_install_target_keeps_the_envelope(signed: dict[str, Path], tmp_path: Path, short: str) -> None:
    site = tmp_path / "site"
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", site, signed[short])
    check_installed(site, signed[short])
    read = read_with_importlib_metadata(sys.executable, site, EXAMPLES[short][1])
    assert read == envelope_member(signed[short])[1]


def test_pip_install_into_a_fresh_venv_keeps_the_envelope(signed: dict[str, Path], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    wheel = signed["csv"]
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    check_installed(site, wheel)
    assert read_with_importlib_metadata(python, None, EXAMPLES["csv"][1]) == envelope_member(wheel)[1]
    # --no-deps left pluggy out of the venv, so the plugin cannot be imported there: compare its bytes instead.
    module = site / "securehost_example_csv" / "plugin.py"
    assert module.read_bytes() == read_members(wheel)["securehost_example_csv/plugin.py"]


@pytest.mark.parametrize("short", sorted(EXAMPLES))
def test_installer_validating_the_whole_record_keeps_the_envelope(
    signed: dict[str, Path], tmp_path: Path, short: str
) -> None:
    dest = tmp_path / "dest"
    wheel = signed[short]
    run(sys.executable, "-m", "installer", "--destdir", dest, "--prefix", "/usr/local", "--validate-record", "all",
        "--no-compile-bytecode", wheel)  # fmt: skip
    (dist_info,) = dest.rglob("*.dist-info")
    site = dist_info.parent
    check_installed(site, wheel)
    assert read_with_importlib_metadata(sys.executable, site, EXAMPLES[short][1]) == envelope_member(wheel)[1]


def test_installer_refuses_an_envelope_changed_behind_record(signed: dict[str, Path], tmp_path: Path) -> None:
    """Control: RECORD covers the envelope, so the installer itself notices a swapped one."""
    wheel = copy_wheel(signed["csv"], tmp_path / "tampered")
    name, envelope = envelope_member(wheel)
    rewrite(wheel, {name: envelope.replace(b'"keyid":"', b'"keyid":"0', 1)}, update_record=False)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "installer",
            "--destdir",
            str(tmp_path / "dest"),
            "--validate-record",
            "all",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "securehost.dsse.json" in result.stderr + result.stdout
    assert not verify_wheel(wheel, STORE, now=NOW)


# --- keys made by ssh-keygen --------------------------------------------------------------------

SSH_KEYS = {
    "ed25519": (["-t", "ed25519"], None),
    "ecdsa-256": (["-t", "ecdsa", "-b", "256"], None),
    "ecdsa-384": (["-t", "ecdsa", "-b", "384"], None),
    "rsa-3072": (["-t", "rsa", "-b", "3072"], None),
    "ed25519-encrypted": (["-t", "ed25519"], "a long passphrase"),
}


def ssh_keygen(directory: Path, options: list[str], passphrase: str | None) -> Path:
    if shutil.which("ssh-keygen") is None:  # pragma: no cover - depends on the machine
        pytest.skip("ssh-keygen is not installed")
    key = directory / "id_test"
    run("ssh-keygen", "-q", *options, "-N", passphrase or "", "-C", "release@acme", "-f", key)
    return key


@pytest.mark.parametrize("kind", sorted(SSH_KEYS))
def test_ssh_keygen_keys_sign_wheels_that_verify(tmp_path: Path, kind: str) -> None:
    options, passphrase = SSH_KEYS[kind]
    key_path = ssh_keygen(tmp_path, options, passphrase)
    assert key_path.read_bytes().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    key = PrivateKey.load(key_path.read_bytes(), passphrase.encode() if passphrase else None)
    line = key_path.with_name("id_test.pub").read_text().strip()
    assert PublicKey.load(line.encode()).key_id == key.key_id
    wheel = make_wheel(tmp_path / "dist")
    sign_wheel(wheel, key, permissions=[PERMISSION], issued_at=ISSUED)
    store = TrustStore.from_toml(
        'version = 1\n[[key]]\nlabel = "release@acme"\n'
        f'public_key = "{line}"\nnames = ["demo-*"]\nmax_permissions = ["fs.read:/srv/**"]\n',
        source="store.toml",
    )
    verdict = verify_wheel(wheel, store, now=NOW)
    assert verdict, verdict.summary()
    assert verdict.signers == (key.key_id,)


def test_encrypted_ssh_keygen_key_through_the_cli(tmp_path: Path) -> None:
    key_path = ssh_keygen(tmp_path, ["-t", "ecdsa", "-b", "384"], "a long passphrase")
    wheel = make_wheel(tmp_path / "dist")
    store = tmp_path / "store.toml"
    env = {**os.environ, "PYTHONPATH": str(SRC), "SH_PASS": "a long passphrase"}

    def securehost(*args: object) -> str:
        return run(sys.executable, "-m", "securehost", *args, env=env)

    securehost("trust", "add", "--store", store, f"{key_path}.pub", "--names", "demo-*")
    securehost("sign", wheel, "--key", key_path, "--password-env", "SH_PASS")
    assert "ACCEPTED" in securehost("verify", wheel, "--store", store)


# --- securesystemslib ---------------------------------------------------------------------------


def test_envelopes_in_signed_wheels_verify_with_securesystemslib(signed: dict[str, Path]) -> None:
    keys = [sslib_key(KEY.public_key), sslib_key(SECOND.public_key)]
    for wheel in signed.values():
        _, data = envelope_member(wheel)
        theirs = sslib_envelope(data)
        assert set(theirs.verify(keys, 2)) == {KEY.key_id, SECOND.key_id}
        assert theirs.payload == envelope_of(wheel).payload


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-3072"])
def test_securesystemslib_envelope_injected_into_a_wheel_verifies(
    signed: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    key = private_key(kind, 3)  # not KEY: two distinct signers
    wheel = copy_wheel(signed["skill"], tmp_path)
    statement = Statement.from_envelope(envelope_of(wheel))
    inject_envelope(wheel, sslib_sign(statement.to_json_bytes(), key, KEY))
    store = trust(key, KEY, max_permissions=["fs.read:/srv/**"], thresholds={"securehost-example-*": 2})
    verdict = verify_wheel(wheel, store, now=NOW)
    assert verdict, verdict.summary()
    assert set(verdict.signers) == {key.key_id, KEY.key_id}
    assert verdict.permissions == (PERMISSION,)


def test_securesystemslib_envelope_over_another_statement_is_rejected(signed: dict[str, Path], tmp_path: Path) -> None:
    wheel = copy_wheel(signed["github"], tmp_path)
    other = Statement.from_envelope(envelope_of(signed["csv"]))  # a valid statement, of another wheel
    inject_envelope(wheel, sslib_sign(other.to_json_bytes(), KEY, SECOND))
    verdict = verify_wheel(wheel, STORE, now=NOW)
    assert not verdict
    assert {"name-mismatch", "entry-points-mismatch", "file-not-signed", "signed-file-missing"} <= {
        c.value for c in verdict.codes
    }
