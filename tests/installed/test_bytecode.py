"""The host's bytecode cache directly: its key file, its directory, what an entry is bound to, how code is compiled.

``test_importer.py`` drives it through the verified importer; these cases pin what that path leaves implicit.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import types
from pathlib import Path

import pytest

from securehost._audit import AuditLog
from securehost._installed import bytecode
from securehost._installed.bytecode import BytecodeCache, default_state_dir, load_key, private_dir
from securehost.exceptions import ConfigurationError

SOURCE = b'"""Doc."""\n\n\ndef f(x: int) -> int:\n    assert x > 0\n    return x\n'
DIGEST = hashlib.sha256(SOURCE).hexdigest()


def cache(tmp_path: Path, audit: AuditLog | None = None) -> BytecodeCache:
    return BytecodeCache(tmp_path / "state" / "bytecode", tmp_path / "state" / "bytecode.key", audit)


def run(code: types.CodeType) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(code, namespace)
    return namespace


def test_plugin_code_is_compiled_without_securehosts_own_future_flags(tmp_path: Path) -> None:
    """``bytecode.py`` has ``from __future__ import annotations``; a plugin's annotations must stay real objects."""
    code, _ = cache(tmp_path).code(SOURCE, DIGEST, "/site/p/mod.py")
    assert run(code)["f"].__annotations__ == {"x": int, "return": int}  # type: ignore[attr-defined]


def test_entries_are_bound_to_the_optimisation_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Code compiled under ``-OO`` (no asserts, no docstrings) is never served to a host running without it."""
    plain = cache(tmp_path)
    plain.code(SOURCE, DIGEST, "/site/p/mod.py")
    monkeypatch.setattr(sys, "flags", types.SimpleNamespace(optimize=2))
    optimised = cache(tmp_path)
    assert optimised.lookup(DIGEST, "/site/p/mod.py") is None
    code, _ = optimised.code(SOURCE, DIGEST, "/site/p/mod.py")
    namespace = run(code)
    assert namespace.get("__doc__") is None
    assert namespace["f"](-1) == -1  # type: ignore[operator]  # the assert is gone at level 2
    monkeypatch.undo()
    code, _ = cache(tmp_path).lookup(DIGEST, "/site/p/mod.py")  # type: ignore[misc]
    with pytest.raises(AssertionError):
        run(code)["f"](-1)  # type: ignore[operator]


def _one_entry(tmp_path: Path) -> tuple[AuditLog, BytecodeCache, Path]:
    """An audited cache holding the entry of one module of ``acme-csv``."""
    audit = AuditLog(tmp_path / "audit.jsonl")
    first = cache(tmp_path, audit)
    first.code(SOURCE, DIGEST, "/site/p/mod.py", plugin="acme-csv")
    (entry,) = first.directory.iterdir()
    return audit, first, entry


def test_a_tampered_entry_is_reported_with_the_plugin_the_entry_and_the_source(tmp_path: Path) -> None:
    audit, first, entry = _one_entry(tmp_path)
    blob = entry.read_bytes()
    entry.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    assert first.code(SOURCE, DIGEST, "/site/p/mod.py", plugin="acme-csv")[0] is not None  # compiled again
    audit.close()
    (event,) = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert event["event"] == "bytecode.tampered"
    assert event["plugin"] == "acme-csv"
    assert (event["entry"], event["source"]) == (str(entry), "/site/p/mod.py")


def test_an_entry_of_an_older_format_is_a_silent_miss_and_is_replaced(tmp_path: Path) -> None:
    """An upgrade finds the previous securehost's entries at the same names: no tamper alarm, replaced on compile."""
    audit, first, entry = _one_entry(tmp_path)
    current = entry.read_bytes()
    assert current.startswith(bytecode._MAGIC)
    older = b"SHBC\x00\x01\r\n" + os.urandom(32) + current[len(bytecode._MAGIC) + 32 :]  # HMAC-SHA256 era
    entry.write_bytes(older)
    assert first.lookup(DIGEST, "/site/p/mod.py", plugin="acme-csv") is None
    assert entry.read_bytes() == older  # a miss leaves it; compiling replaces it
    first.code(SOURCE, DIGEST, "/site/p/mod.py", plugin="acme-csv")
    assert sorted(first.directory.iterdir()) == [entry]
    assert entry.read_bytes().startswith(bytecode._MAGIC)
    assert first.lookup(DIGEST, "/site/p/mod.py") is not None
    audit.close()
    assert (tmp_path / "audit.jsonl").read_text() == ""


def test_a_cache_that_cannot_be_written_still_compiles_and_counts_what_it_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(path: object, data: bytes, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bytecode, "write_atomic", full_disk)
    cached = cache(tmp_path)
    assert cached.take_unwritten() is None
    code, _ = cached.code(SOURCE, DIGEST, "/site/p/mod.py")
    assert run(code)["f"](2) == 2  # type: ignore[operator]
    cached.code(SOURCE, "b" * 64, "/site/p/other.py")
    assert cached.take_unwritten() == (2, "[Errno 28] No space left on device")  # how many, and the first error
    assert cached.take_unwritten() is None  # said once
    monkeypatch.undo()
    cached.code(SOURCE, DIGEST, "/site/p/mod.py")
    assert cached.take_unwritten() is None
    assert cached.lookup(DIGEST, "/site/p/mod.py") is not None


def test_the_default_state_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "securehost"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir() == tmp_path / "home" / ".cache" / "securehost"


def test_a_symlinked_key_file_is_refused_even_when_it_points_at_a_good_key(tmp_path: Path) -> None:
    good = tmp_path / "good.key"
    load_key(good)  # creates it: 32 bytes, 0600, ours
    link = tmp_path / "bytecode.key"
    link.symlink_to(good)
    with pytest.raises(ConfigurationError, match=r"^cannot open the key file .*bytecode\.key \(symlink\?\): "):
        load_key(link)


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (b"k" * 31, 0o600, "must hold exactly 32 bytes"),
        (b"k" * 33, 0o600, "must hold exactly 32 bytes"),
        (b"k" * 32, 0o640, "must be a regular file with mode 0600 (is 640)"),
    ],
)
def test_a_key_file_of_the_wrong_size_or_mode_is_refused(
    tmp_path: Path, content: bytes, mode: int, message: str
) -> None:
    key = tmp_path / "bytecode.key"
    key.write_bytes(content)
    key.chmod(mode)
    with pytest.raises(ConfigurationError, match=f"^{key}"):
        load_key(key)
    with pytest.raises(ConfigurationError) as info:
        load_key(key)
    assert str(info.value).endswith(message)


def test_a_key_file_that_cannot_be_created_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "bytecode.key"
    with pytest.raises(ConfigurationError, match=r"^cannot create the key file .*no-such-dir/bytecode\.key: "):
        load_key(missing)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root")
def test_state_that_belongs_to_another_user_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "bytecode.key"
    load_key(key)
    os.chown(key, 12345, -1)
    with pytest.raises(ConfigurationError, match=r"belongs to uid 12345, not to this user$"):
        load_key(key)
    directory = tmp_path / "bytecode"
    directory.mkdir(mode=0o700)
    os.chown(directory, 12345, -1)
    with pytest.raises(ConfigurationError, match=r"belongs to uid 12345, not to this user$"):
        private_dir(directory)


def test_private_directories_are_created_0700_parents_too(tmp_path: Path) -> None:
    made = private_dir(tmp_path / "a" / "b")
    assert (os.stat(made).st_mode & 0o777, os.stat(made.parent).st_mode & 0o777) == (0o700, 0o700)


@pytest.mark.parametrize("mode", [0o720, 0o702, 0o701])
def test_a_private_directory_others_may_write_is_refused(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "bytecode"
    directory.mkdir()
    directory.chmod(mode)
    if mode & 0o022:
        with pytest.raises(ConfigurationError, match=rf"is writable by group or others \(mode {mode:o}\)$"):
            private_dir(directory)
    else:
        assert private_dir(directory) == directory  # others may enter, not write


def test_a_symlinked_or_uncreatable_private_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigurationError, match=r"link is not a real directory \(symlink\?\)$"):
        private_dir(tmp_path / "link")
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigurationError, match=r"^cannot create the private directory .*file/sub: "):
        private_dir(tmp_path / "file" / "sub")


def test_derived_keys_are_a_fixed_construction_of_the_cache_key(tmp_path: Path) -> None:
    """The memo and the file record are sealed with these: a change voids every host's state (one cold start-up)."""
    import hashlib

    first = cache(tmp_path)
    key = (tmp_path / "state" / "bytecode.key").read_bytes()
    expected = hashlib.blake2b(b"securehost derived key\0signature memo", key=key, digest_size=32).digest()
    assert first.derive_key(b"signature memo") == expected
    assert first.derive_key(b"installed record") != expected


def test_a_tampered_entry_that_cannot_be_deleted_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cache(tmp_path)
    first.code(SOURCE, DIGEST, "/site/p/mod.py")
    (entry,) = first.directory.iterdir()
    blob = entry.read_bytes()
    entry.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))

    def refuse(path: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "unlink", refuse)
    assert first.lookup(DIGEST, "/site/p/mod.py") is None
    assert entry.exists()
