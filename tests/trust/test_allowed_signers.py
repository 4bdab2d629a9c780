"""Parsing and importing OpenSSH ``allowed_signers`` files, checked against ``ssh-keygen -Y``."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from securehost import PermissionSet, ReasonCode
from securehost._trust.allowed_signers import (
    import_allowed_signers,
    match_pattern_list,
    parse_allowed_signers,
)
from securehost._trust.store import TrustStore
from securehost.exceptions import KeyFormatError, TrustStoreError
from tests.strategies_trust import KEY_POOL, public_keys

ALICE, BOB = KEY_POOL[0], KEY_POOL[3]
A = ALICE.public_key.to_openssh("alice laptop")
B = BOB.public_key.to_openssh()
UTC = timezone.utc


def parse(text: str, **kwargs):
    return parse_allowed_signers(text, source="signers", **kwargs)


def test_parses_plain_lines_comments_and_blank_lines() -> None:
    text = f"# team keys\n\n   \nalice@example.com {A}\r\n\t# indented comment\nbob@x,*@ops {B}"
    first, second = parse(text)
    assert first.principals == ("alice@example.com",)
    assert first.key == ALICE.public_key
    assert first.comment == "alice laptop"
    assert first.namespaces is None
    assert first.valid_after is first.valid_before is None
    assert first.line == 4
    assert second.principals == ("bob@x", "*@ops")
    assert second.line == 6
    assert second.comment == ""


def test_parses_options_like_openssh() -> None:
    line = f'"alice smith@x" NameSpaces="file,securehost",VALID-AFTER="20260101Z",valid-before="202701021530UTC" {A}'
    (signer,) = parse(line)
    assert signer.principals == ("alice smith@x",)
    assert signer.namespaces == ("file", "securehost")
    assert signer.valid_after == datetime(2026, 1, 1, tzinfo=UTC)
    # OpenSSH's valid-before is the last valid second; ours is exclusive, one second later.
    assert signer.valid_before == datetime(2027, 1, 2, 15, 30, 1, tzinfo=UTC)
    assert signer.allows_namespace("securehost")
    assert not signer.allows_namespace("git")


def test_option_values_may_hold_spaces_commas_and_escaped_quotes() -> None:
    (signer,) = parse(f'a namespaces="x y,a\\"b,securehost" {A}')
    assert signer.namespaces == ("x y", 'a"b', "securehost")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20260304Z", datetime(2026, 3, 4, tzinfo=UTC)),
        ("202603040506z", datetime(2026, 3, 4, 5, 6, tzinfo=UTC)),
        ("20260304050607Z", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("20260304utc", datetime(2026, 3, 4, tzinfo=UTC)),
    ],
)
def test_time_formats(value: str, expected: datetime) -> None:
    (signer,) = parse(f'a valid-after="{value}" {A}')
    assert signer.valid_after == expected


def test_local_times_need_an_explicit_zone() -> None:
    with pytest.raises(KeyFormatError, match=r"^signers:1: time '20260101' is in the local time zone"):
        parse(f'a valid-after="20260101" {A}')
    plus_two = timezone(timedelta(hours=2))
    (signer,) = parse(f'a valid-after="202601010200" {A}', local_timezone=plus_two)
    assert signer.valid_after == datetime(2026, 1, 1, tzinfo=UTC)


LINE_ERRORS = {
    "cert-authority": (f"a cert-authority {A}", "cert-authority (trusting certificates) is not"),
    "unknown option": (f'a foo="x" {A}', "unsupported option 'foo=\"x\"'"),
    "option without value": (f"a namespaces {A}", "unsupported option"),
    "unquoted value": (f"a namespaces=securehost {A}", "must start with a double quote"),
    "unterminated quote": (f'a namespaces="securehost {A}', "unterminated double quote"),
    "option twice": (f'a namespaces="a",namespaces="b" {A}', "option namespaces is given twice"),
    "trailing comma": (f'a namespaces="a", {A}', "unexpected end of options after a comma"),
    "junk after value": (f'a namespaces="a"x {A}', "unexpected 'x' after option namespaces"),
    "bad time": (f'a valid-after="2026010Z" {A}', "invalid time '2026010'"),
    "bad month": (f'a valid-after="20261301Z" {A}', "invalid time '20261301': month must be"),
    "leap second": (f'a valid-after="20261231235960Z" {A}', "invalid time"),
    "epoch": (f'a valid-after="19700101Z" {A}', "not after 1970-01-01T00:00:00Z"),
    "non-ascii digits": (f'a valid-after="{chr(0xFF12) * 8}Z" {A}', "invalid time"),
    "window reversed": (
        f'a valid-after="20270101Z",valid-before="20260101Z" {A}',
        "valid-before is not later than valid-after",
    ),
    "window empty": (
        f'a valid-after="20270101Z",valid-before="20270101Z" {A}',
        "valid-before is not later than valid-after",
    ),
    "missing key": ("alice@example.com", "missing key"),
    "missing key after options": ('a namespaces="x"', "missing key after the options"),
    "bad base64": ("a ssh-ed25519 AAAA!!!!", "key: not a valid OpenSSH public key"),
    "no base64": ("a ssh-ed25519", "key: not a valid OpenSSH public key"),
    "unsupported type": ("a ssh-dss AAAAB3NzaC1kc3M=", "key: "),
    "certificate": ("a ssh-ed25519-cert-v01@openssh.com AAAA", "certificate key type"),
    "empty principal": (f"a,,b {A}", "empty principal in 'a,,b'"),
    "quote in principals": (f'a"b {A}', "a double quote inside unquoted principals"),
    "unclosed principals": (f'"a b {A}', "principals have no closing double quote"),
    "glued quoted principals": (f'"a"b {A}', "expected a space after the quoted principals"),
    "control character": (f"a {A}\x00", "control character in line"),
}


@pytest.mark.parametrize("case", list(LINE_ERRORS), ids=list(LINE_ERRORS))
def test_line_errors_name_the_line(case: str) -> None:
    line, expected = LINE_ERRORS[case]
    with pytest.raises(KeyFormatError) as caught:
        parse(f"# header\n{A.join(['ok ', ''])}\n{line}\n")
    message = str(caught.value)
    assert message.startswith("signers:3: "), message
    assert expected in message, message


def test_rejects_weak_and_unsupported_keys() -> None:
    p521 = (
        ec.generate_private_key(ec.SECP521R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    with pytest.raises(KeyFormatError, match=r"^signers:1: key: unsupported elliptic curve"):
        parse(f"a {p521}")


def test_rejects_oversized_text() -> None:
    with pytest.raises(KeyFormatError, match="larger than"):
        parse("#" * (1024 * 1024 + 1))


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        ("securehost", True),
        ("file,securehost", True),
        ("sec*", True),
        ("secure?ost", True),
        ("*,!securehost", False),
        ("!securehost,*", False),
        ("file", False),
        ("", False),
        ("securehost-x", False),
        ("SecureHost", False),
    ],
)
def test_namespace_pattern_lists_follow_openssh(patterns: str, expected: bool) -> None:
    assert match_pattern_list("securehost", patterns.split(",")) is expected


def test_overlong_subpatterns_never_match_like_openssh() -> None:
    assert not match_pattern_list("securehost", ["*" * 1023])
    assert match_pattern_list("securehost", ["*" * 1022])


def test_parse_rejects_bytes() -> None:
    with pytest.raises(TypeError):
        parse(b"a ssh-ed25519 AAAA")  # type: ignore[arg-type]


def test_import_requires_the_securehost_namespace(caplog: pytest.LogCaptureFixture) -> None:
    text = "\n".join(
        [
            f'alice@x namespaces="securehost" {A}',
            f'bob@x namespaces="git" {B}',
            f"carol@x {KEY_POOL[1].public_key.to_openssh()}",
        ]
    )
    with caplog.at_level(logging.INFO, logger="securehost"):
        (alice,) = import_allowed_signers(text, names=["Acme_*"])
    assert alice.key == ALICE.public_key
    assert alice.label == "alice@x"
    assert alice.names == ("acme-*",)
    assert alice.max_permissions == PermissionSet()
    assert alice.source == "<allowed_signers>:1"
    assert "line 2: namespaces do not allow 'securehost'" in caplog.text
    assert "line 3: no namespaces option" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_unsafe_any_namespace_imports_lines_without_namespaces_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = f'alice@x {A}\nbob@x namespaces="git" {B}\n'
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="securehost"):
            imported = import_allowed_signers(text, names=["*"], unsafe_any_namespace=True)
        assert [k.label for k in imported] == ["alice@x"]  # an explicit other namespace stays out
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "unsafe_any_namespace" in warnings[0].getMessage()


def test_import_keeps_the_window_and_permissions() -> None:
    text = f'a namespaces="securehost",valid-after="20260101Z",valid-before="20261231235959Z" {A}'
    (key,) = import_allowed_signers(text, names=["acme-*"], max_permissions=PermissionSet.parse(["db.write"]))
    assert key.valid_after == datetime(2026, 1, 1, tzinfo=UTC)
    assert key.valid_before == datetime(2027, 1, 1, tzinfo=UTC)
    assert key.max_permissions == PermissionSet.parse(["db.write"])


def test_import_labels_lines_with_the_same_principals_apart() -> None:
    text = f'ops namespaces="securehost" {A}\nops namespaces="securehost" {B}\n'
    labels = [k.label for k in import_allowed_signers(text, names=["*"])]
    assert labels == [f"ops [{ALICE.key_id[:12]}]", f"ops [{BOB.key_id[:12]}]"]


def test_import_rejects_the_same_key_on_two_selected_lines() -> None:
    text = f'a namespaces="securehost" {A}\nb namespaces="sec*" {A}\n'
    with pytest.raises(KeyFormatError, match=r"^<allowed_signers>:2: the same key as line 1$"):
        import_allowed_signers(text, names=["*"])


def test_import_rejects_principals_that_make_no_label() -> None:
    text = f'{"p" * 201} namespaces="securehost" {A}\n'
    with pytest.raises(KeyFormatError, match=r"^<allowed_signers>:1: principals cannot be a label"):
        import_allowed_signers(text, names=["*"])


def test_import_validates_names() -> None:
    line = f'a namespaces="securehost" {A}'
    with pytest.raises(TrustStoreError, match="invalid name pattern"):
        import_allowed_signers(line, names=["a/b"])
    with pytest.raises(TrustStoreError, match="names may not be empty"):
        import_allowed_signers(line, names=[])
    with pytest.raises(TypeError):
        import_allowed_signers(b"bytes", names=["a"])  # type: ignore[arg-type]


def test_import_reads_a_path(tmp_path: Path) -> None:
    path = tmp_path / "allowed_signers"
    path.write_text(f'a namespaces="securehost" {A}\n')
    (key,) = import_allowed_signers(path, names=["*"])
    assert key.source == f"{path}:1"
    with pytest.raises(KeyFormatError, match="cannot open allowed_signers file"):
        import_allowed_signers(tmp_path / "missing", names=["*"])
    path.write_bytes(b"\xff")
    with pytest.raises(KeyFormatError, match=r"not valid UTF-8"):
        import_allowed_signers(path, names=["*"])


# --- property tests ---------------------------------------------------------------------------

_pieces = st.sampled_from(
    [
        "a",
        '"a b"',
        " ",
        "\t",
        ",",
        '"',
        '\\"',
        "=",
        "namespaces=",
        'namespaces="securehost"',
        'valid-after="20260101Z"',
        'valid-before="2026"',
        "cert-authority",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "AAAA",
        "#",
        "\r",
        "\n",
        "!",
        "*",
    ]
)


@given(st.lists(_pieces | public_keys.map(lambda k: k.to_openssh()) | st.text(max_size=8), max_size=12))
def test_parser_raises_only_key_format_error_on_assembled_lines(pieces: list[str]) -> None:
    with contextlib.suppress(KeyFormatError):
        for signer in parse("".join(pieces)):
            assert signer.principals
            assert all(signer.principals)


@given(st.text(max_size=200))
def test_parser_raises_only_key_format_error_on_arbitrary_text(text: str) -> None:
    with contextlib.suppress(KeyFormatError):
        parse(text)


@given(st.text(max_size=100), st.text(max_size=100))
def test_import_raises_only_securehost_errors(prefix: str, suffix: str) -> None:
    text = f'{prefix} namespaces="securehost" {A}{suffix}'
    with contextlib.suppress(KeyFormatError, TrustStoreError):
        import_allowed_signers(text, names=["*"], unsafe_any_namespace=False)


# --- the same file with ssh-keygen -Y -----------------------------------------------------------

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
SSH_KEY_TYPES = [
    ("ed25519", []),
    ("ecdsa", ["-b", "256"]),
    ("ecdsa", ["-b", "384"]),
    ("rsa", ["-b", "3072"]),
]


def ssh_keygen(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ssh-keygen", *args], input=stdin, capture_output=True, check=False)


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen")
    directory = tmp_path_factory.mktemp("ssh")
    paths = []
    for index, (key_type, extra) in enumerate(SSH_KEY_TYPES):
        path = directory / f"key{index}"
        result = ssh_keygen("-q", "-t", key_type, *extra, "-N", "", "-C", f"k{index}", "-f", str(path))
        assert result.returncode == 0, result.stderr
        paths.append(path)
    return paths


@needs_ssh_keygen
def test_a_real_allowed_signers_file_verifies_with_ssh_keygen_and_imports(tmp_path: Path, ssh_keys: list[Path]) -> None:
    message = tmp_path / "message.txt"
    message.write_bytes(b"hello securehost\n")
    lines = ["# allowed signers for securehost plugins", ""]
    for index, path in enumerate(ssh_keys):
        public = path.with_suffix(".pub").read_text().strip()
        options = 'namespaces="securehost",valid-after="20200101Z",valid-before="20991231235959Z"'
        principal = f'"dev {index}@example.com"' if index % 2 else f"dev{index}@example.com"
        lines.append(f"{principal} {options} {public}")
    signers = tmp_path / "allowed_signers"
    signers.write_text("\n".join(lines) + "\n")

    for index, path in enumerate(ssh_keys):
        Path(f"{message}.sig").unlink(missing_ok=True)
        signed = ssh_keygen("-Y", "sign", "-n", "securehost", "-f", str(path), str(message))
        assert signed.returncode == 0, signed.stderr
        principal = f"dev {index}@example.com" if index % 2 else f"dev{index}@example.com"
        verify = ssh_keygen(
            "-Y", "verify", "-f", str(signers), "-I", principal, "-n", "securehost",
            "-s", f"{message}.sig", stdin=message.read_bytes(),
        )  # fmt: skip
        assert verify.returncode == 0, verify.stderr
        assert b'Good "securehost" signature' in verify.stdout

    imported = import_allowed_signers(signers, names=["acme-*"])
    assert [k.label for k in imported] == [
        "dev0@example.com",
        "dev 1@example.com",
        "dev2@example.com",
        "dev 3@example.com",
    ]
    for key, path in zip(imported, ssh_keys, strict=True):
        public = path.with_suffix(".pub").read_bytes()
        assert key.key.to_openssh() == " ".join(public.decode().split()[:2])
        assert key.valid_after == datetime(2020, 1, 1, tzinfo=UTC)
        assert key.valid_before == datetime(2100, 1, 1, tzinfo=UTC)


@needs_ssh_keygen
def test_import_agrees_with_ssh_keygen_on_namespaces_and_windows(tmp_path: Path, ssh_keys: list[Path]) -> None:
    key = ssh_keys[0]
    public = key.with_suffix(".pub").read_text().strip()
    message = tmp_path / "m"
    message.write_bytes(b"x")
    assert ssh_keygen("-Y", "sign", "-n", "securehost", "-f", str(key), str(message)).returncode == 0
    now = datetime.now(UTC)
    soon = (now + timedelta(days=2)).strftime("%Y%m%d")
    past = (now - timedelta(days=2)).strftime("%Y%m%d")
    options = [
        'namespaces="securehost"',
        'namespaces="file"',
        'namespaces="sec*,!file"',
        'namespaces="*,!securehost"',
        'namespaces="secure?ost"',
        f'namespaces="securehost",valid-after="{soon}Z"',
        f'namespaces="securehost",valid-before="{past}Z"',
        f'namespaces="securehost",valid-after="{past}Z",valid-before="{soon}Z"',
    ]
    for option in options:
        signers = tmp_path / "allowed_signers"
        signers.write_text(f"dev@x {option} {public}\n")
        ssh_accepts = (
            ssh_keygen(
                "-Y", "verify", "-f", str(signers), "-I", "dev@x", "-n", "securehost",
                "-s", f"{message}.sig", stdin=b"x",
            ).returncode
            == 0
        )  # fmt: skip
        imported = import_allowed_signers(signers, names=["*"])
        we_accept = False
        if imported:
            store = TrustStore.from_keys(imported)
            decision = store.evaluate(
                name="acme",
                requested=PermissionSet(),
                checks=[_Valid(imported[0].key_id)],
                now=now,
            )
            we_accept = decision.accepted
            if not we_accept:
                assert decision.reasons[0].code in (
                    ReasonCode.KEY_EXPIRED,
                    ReasonCode.KEY_NOT_YET_VALID,
                )
        assert we_accept == ssh_accepts, option


class _Valid:
    def __init__(self, keyid: str) -> None:
        self.keyid = keyid
        self.status = "valid"
