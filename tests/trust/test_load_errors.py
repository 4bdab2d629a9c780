"""The trust store loader's messages, exactly: they name the file, the entry and the field, and say what to do.

``test_trust.py`` checks that each rule refuses; here each message is pinned, with the boundaries of the readers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from securehost import PrivateKey, TrustStore
from securehost._trust.load import MAX_STORE_BYTES, parse_document, read_limited
from securehost.exceptions import TrustStoreError
from tests.trust.test_trust import document, entry, load

KEY = PrivateKey.generate()


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (
            entry(KEY, "é" + "a" * 100, 'public_key_file = "k.pub"'),
            f'store.toml: key[0] ("é{"a" * 79}"): unknown field "public_key_file" (keys are stored inline, so that '
            "the store is one reviewable file: paste the key into public_key)",
        ),
        (entry(KEY, "alice", 'colour = "red"'), 'store.toml: key[0] ("alice"): unknown field "colour"'),
        (
            entry(KEY, "alice", 'capabilities = ["data.x", "data.x"]'),
            "store.toml: key[0] (\"alice\"): capabilities: 'data.x' is listed twice",
        ),
        (
            entry(KEY, "alice", 'capabilities = ["Data X"]'),
            "store.toml: key[0] (\"alice\"): capabilities: invalid capability pattern 'Data X': use a capability "
            "('data.transform'), a prefix followed by '.*' ('data.*') or '*'",
        ),
        (
            entry(KEY, "alice", names=("acme-*", "ACME-*")),
            'store.toml: key[0] ("alice"): names: \'ACME-*\' repeats "acme-*"',
        ),
        (
            entry(KEY, "alice", f'key_id = "{"0" * 64}"'),
            f"store.toml: key[0] (\"alice\"): key_id: '{'0' * 64}' is not the key's id {KEY.public_key.key_id}",
        ),
        (
            entry(KEY, "alice", 'capabilities = "data.x"'),
            'store.toml: key[0] ("alice"): capabilities: must be an array of strings',
        ),
        (
            entry(KEY, "alice") + f'\n[[threshold]]\npattern = "{"a" * 100}"\ncount = 0\n',
            f'store.toml: threshold[0] ("{"a" * 80}"): count: must be an integer of at least 1, not 0',
        ),
    ],
)
def test_each_entry_error_names_the_file_the_entry_and_the_field(part: str, message: str) -> None:
    with pytest.raises(TrustStoreError) as info:
        load(document(part))
    assert str(info.value) == message


def test_a_key_without_optional_fields_loads() -> None:
    store = load(document(entry(KEY, "alice")))
    (trusted,) = store.keys.values()
    assert (trusted.capabilities, len(trusted.max_permissions)) == ((), 0)


def test_the_text_must_be_str() -> None:
    with pytest.raises(TypeError) as info:
        parse_document(b"version = 1", source="store.toml")  # type: ignore[arg-type]
    assert str(info.value) == "text and source must be str"


def test_a_text_of_exactly_the_largest_size_is_parsed_one_byte_more_is_refused() -> None:
    head = "version = 1\n#"
    text = head + "x" * (MAX_STORE_BYTES - len(head))
    assert TrustStore.from_toml(text, source="store.toml").keys == {}
    with pytest.raises(TrustStoreError) as info:
        TrustStore.from_toml(text + "x", source="store.toml")
    assert str(info.value) == f"store.toml: trust store is larger than {MAX_STORE_BYTES} bytes"


def _read(path: Path) -> str:
    return read_limited(path, limit=10, error=TrustStoreError, what="trust store")


def test_read_limited_reads_exactly_the_limit_and_refuses_one_byte_more(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    path.write_text("0123456789")
    assert _read(path) == "0123456789"
    path.write_text("0123456789!")
    with pytest.raises(TrustStoreError) as info:
        _read(path)
    assert str(info.value) == f"{path}: trust store is larger than 10 bytes"


def test_read_limited_says_why_a_file_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(TrustStoreError) as info:
        _read(missing)
    assert str(info.value) == f"{missing}: cannot open trust store: {os.strerror(2)}"
    with pytest.raises(TrustStoreError) as info:
        _read(tmp_path)
    assert str(info.value) == f"{tmp_path}: trust store is not a regular file"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"ab\xffcd")
    with pytest.raises(TrustStoreError) as info:
        _read(binary)
    assert str(info.value) == f"{binary}: trust store is not valid UTF-8 (byte 2)"


def test_read_limited_opens_without_blocking_and_without_leaking_the_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``O_NONBLOCK``: a FIFO put in the store's place cannot hang the host; ``O_CLOEXEC``: no child inherits it."""
    path = tmp_path / "store.toml"
    path.write_text("version=1\n")
    seen: list[int] = []
    real = os.open

    def recording(file: object, flags: int, *args: object) -> int:
        seen.append(flags)
        return real(file, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", recording)
    _read(path)
    (flags,) = seen
    assert flags & os.O_NONBLOCK
    assert flags & os.O_CLOEXEC
    assert flags & os.O_ACCMODE == os.O_RDONLY


def _smaller(real: Callable[[int], os.stat_result]) -> Callable[[int], os.stat_result]:
    """``fstat`` that reports 5 bytes: the file grows between the size check and the read."""

    def fstat(fd: int) -> os.stat_result:
        st = real(fd)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, 5, *st[7:10]))

    return fstat


def _failing(real: Callable[[int], os.stat_result]) -> Callable[[int], os.stat_result]:
    """``fstat`` that fails on the file that opened."""

    def fstat(fd: int) -> os.stat_result:
        raise OSError(5, os.strerror(5))

    return fstat


@pytest.mark.parametrize(
    ("fake", "content", "message"),
    [
        (_smaller, "0123456789" * 2, "trust store is larger than 10 bytes"),
        (_failing, "version=1\n", f"cannot read trust store: {os.strerror(5)}"),
    ],
)
def test_read_limited_refuses_a_file_that_grows_or_cannot_be_read_after_it_opened(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[Callable[[int], os.stat_result]], Callable[[int], os.stat_result]],
    content: str,
    message: str,
) -> None:
    path = tmp_path / "store.toml"
    path.write_text(content)
    with monkeypatch.context() as patch:
        patch.setattr(os, "fstat", fake(os.fstat))
        with pytest.raises(TrustStoreError) as info:
            _read(path)
    assert str(info.value) == f"{path}: {message}"
