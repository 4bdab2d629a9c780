"""The small file helpers: bounded reads that never follow a final symlink, atomic replacement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from securehost._fileio import SealedFile, SealedState, read_file, write_atomic


def test_read_file_refuses_symlinks_fifos_and_oversized_files(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    assert read_file(str(tmp_path / "f"), 5) == b"12345"
    with pytest.raises(OSError, match="at most 4 bytes"):
        read_file(str(tmp_path / "f"), 4)
    (tmp_path / "link").symlink_to(tmp_path / "f")
    with pytest.raises(OSError, match="symbolic links"):
        read_file(str(tmp_path / "link"), 5)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        read_file(str(tmp_path / "fifo"), 5)  # returns at once: a FIFO without a writer does not block


@pytest.mark.parametrize("durable", [False, True])
def test_write_atomic_replaces_the_file(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new", prefix=".state-", durable=durable)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()  # a directory cannot be replaced by a file
    (target / "keep").write_text("x")
    with pytest.raises(IsADirectoryError):
        write_atomic(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied"]
    assert (target / "keep").read_text() == "x"


def test_a_missing_directory_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "file", b"x")


def test_a_sealed_file_round_trips_and_refuses_a_forgery(tmp_path) -> None:
    from securehost._fileio import SealBrokenError, SealedFile

    sealed = SealedFile(tmp_path / "state", b"k" * 32, b"MAGIC\x01", context=b"ctx", limit=1024)
    assert sealed.read() is None  # nothing yet
    sealed.write(b"payload", prefix=".t-")
    assert sealed.read() == b"payload"
    blob = (tmp_path / "state").read_bytes()
    assert blob.startswith(b"MAGIC\x01\x00\x03ctx")  # the header: magic, the context's length, the context
    with pytest.raises(SealBrokenError):  # the same header, the MAC of another key
        SealedFile(tmp_path / "state", b"x" * 32, b"MAGIC\x01", context=b"ctx", limit=1024).read()
    (tmp_path / "state").write_bytes(blob[:-1] + b"X")  # payload changed, MAC kept
    with pytest.raises(SealBrokenError):
        sealed.read()
    (tmp_path / "state").write_bytes(blob[:11] + bytes([blob[11] ^ 1]) + blob[12:])  # the MAC's first byte changed
    with pytest.raises(SealBrokenError):
        sealed.read()
    (tmp_path / "state").write_bytes(blob[:12])  # cut short after the header: no MAC to match
    with pytest.raises(SealBrokenError):
        sealed.read()


@pytest.mark.parametrize(
    ("magic", "context"),
    [(b"MAGIC\x02", b"ctx"), (b"MAGIC\x01", b""), (b"MAGIC\x01", b"ctx2"), (b"MAGIC\x01", b"ct"), (b"OTHER!", b"ctx")],
)
def test_a_sealed_file_of_another_format_or_context_reads_as_none(tmp_path, magic: bytes, context: bytes) -> None:
    """Another format, or another securehost version (the context), is no file: not a broken seal, no alarm."""
    from securehost._fileio import SealedFile

    SealedFile(tmp_path / "state", b"k" * 32, magic, context=context, limit=1024).write(b"p", prefix=".t-")
    assert SealedFile(tmp_path / "state", b"k" * 32, b"MAGIC\x01", context=b"ctx", limit=1024).read() is None


class Counter(SealedState):
    """A sealed state of one number, for the save contract."""

    __slots__ = ("value",)

    def __init__(self, path: Path) -> None:
        super().__init__(SealedFile(path, b"k" * 32, b"COUNT\x01", limit=1024), None, tampered_event="t", prefix=".c-")
        self.value = 0

    def _decode(self, payload: bytes) -> None:
        self.value = int(payload)

    def _encode(self) -> bytes:
        return str(self.value).encode()

    def _clear(self) -> None:
        self.value = 0

    def bump(self) -> None:
        with self._lock:
            self._ensure_loaded()
            self.value += 1
            self._dirty = True


def test_a_state_that_cannot_be_saved_says_why_keeps_its_change_and_saves_it_next_time(tmp_path: Path) -> None:
    path = tmp_path / "counter"
    state = Counter(path)
    assert state.save() is None  # nothing changed: nothing written
    assert not path.exists()
    state.bump()
    path.mkdir()  # the file cannot be replaced: a real OSError from the rename
    assert state.save() == "[Errno 21] Is a directory"
    assert state.path == str(path)
    path.rmdir()
    assert state.save() is None  # still changed: written now
    again = Counter(path)
    again.bump()
    assert again.value == 2
    assert again.save() is None


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (OSError(28, "No space left on device"), "[Errno 28] No space left on device"),
        (OSError(28, "No space left on device", "/state/x"), "[Errno 28] No space left on device"),  # no path
        (OSError("grew beyond 5 bytes"), "grew beyond 5 bytes"),
        (OSError(), "OSError"),
        (PermissionError(13, "Permission denied"), "[Errno 13] Permission denied"),
    ],
)
def test_an_os_error_is_described_without_its_path(error: OSError, described: str) -> None:
    from securehost._fileio import describe_os_error

    assert describe_os_error(error) == described
