"""What a warm host trusts its state directory for, attacked: upgrades, forged seals, a swapped statement.

State files written by another securehost (another format or version) are no files: no tamper alarm, rewritten.

Upgrading securehost is not an attack. Each sealed state file (the signature memo, the file record, the trust-store
memo) starts with a header naming its format and what it was made under; a file with another header is read as a
missing one, and the load that follows rewrites it. A file with this version's header and a wrong MAC is still the
tampering the audit events report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from securehost import PrivateKey, ReasonCode
from securehost._installed import filerecord, scan
from securehost._signing import memo as signature_memo
from securehost._trust import memo as trust_memo
from tests.hostkit import GOOD, Lab, lab_fixtures
from tests.wheelfactory import trust, trusted

KEY = PrivateKey.generate()
good_wheel, lab = lab_fixtures(KEY, trust(trusted(KEY, label="release")))

#: file name, magic and context of each sealed state file of this version
FILES = {
    "signatures.memo": (signature_memo._MAGIC, signature_memo._CONTEXT),
    "installed.record": (filerecord._MAGIC, b""),
    "trust-store.memo": (trust_memo._MAGIC, trust_memo._CONTEXT),
}
TAMPERED = {"signatures.memo_tampered", "installed.record_tampered", "trust_store.memo_tampered"}


def _header(magic: bytes, context: bytes) -> bytes:
    return magic + len(context).to_bytes(2, "big") + context


@pytest.fixture
def store_file(lab: Lab) -> Path:
    path = lab.root / "trust.toml"
    path.write_text(
        f'version = 1\nrevoked = []\n\n[[key]]\nlabel = "release"\npublic_key = "{KEY.public_key.to_openssh()}"\n'
        'names = ["*"]\nmax_permissions = ["fs.read:/srv/**"]\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def _warm(lab: Lab, store_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filerecord, "RACY_NS", 0)  # the site was just written: remember it anyway
    monkeypatch.setattr(scan, "_RACY_NS", 0)
    host = lab.host(trust_store=store_file)
    assert host.load()[GOOD].status == "accepted"
    host.close()
    for name, (magic, context) in FILES.items():
        assert (lab.state / name).read_bytes().startswith(_header(magic, context)), name


def _rewrite_header(path: Path, old: bytes, new: bytes) -> None:
    blob = path.read_bytes()
    assert blob.startswith(old)
    path.write_bytes(new + blob[len(old) :])


@pytest.mark.parametrize("change", ["format", "version"])
def test_state_files_of_another_securehost_are_read_as_none_without_an_alarm_and_rewritten(
    lab: Lab, store_file: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    _warm(lab, store_file, monkeypatch)
    for name, (magic, context) in FILES.items():
        other = (magic[:-3] + b"\x01\r\n", context) if change == "format" else (magic, context + b"0.0.0-older\0")
        _rewrite_header(lab.state / name, _header(magic, context), _header(*other))
    host = lab.host(trust_store=store_file)
    assert host.load()[GOOD].status == "accepted"
    host.close()
    assert not TAMPERED & {event["event"] for event in lab.events()}
    for name, (magic, context) in FILES.items():  # the load rewrote each with this version's header
        assert (lab.state / name).read_bytes().startswith(_header(magic, context)), name


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_state_file_with_this_header_and_a_wrong_mac_is_still_reported(
    lab: Lab, store_file: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    _warm(lab, store_file, monkeypatch)
    magic, context = FILES[name]
    path = lab.state / name
    blob = bytearray(path.read_bytes())
    blob[len(_header(magic, context))] ^= 1  # the MAC's first byte
    path.write_bytes(bytes(blob))
    if name == "signatures.memo":  # a warm load recalls the statement from the record: the memo is read without it
        (lab.state / "installed.record").unlink()
    host = lab.host(trust_store=store_file)
    assert host.load()[GOOD].status == "accepted"
    host.close()
    expected = {"signatures.memo": "signatures.memo_tampered", "installed.record": "installed.record_tampered"}
    event = expected.get(name, "trust_store.memo_tampered")
    assert [e["path"] for e in lab.events() if e["event"] == event] == [str(path)]


def test_a_warm_host_judges_a_swapped_statement_afresh(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed files stay, the statement is swapped for one signed by the same trusted key over other digests.

    A warm load names a remembered installed-file check by the digest of the statement's payload: another payload
    is another check, so the files are compared with the new statement's digests and the plugin is rejected.
    """
    from securehost._signing.envelope import Envelope
    from securehost._signing.predicate import Subject
    from securehost._signing.statement import Statement
    from tests.wheelfactory import sign_by_hand

    monkeypatch.setattr(filerecord, "RACY_NS", 0)
    monkeypatch.setattr(scan, "_RACY_NS", 0)
    for _ in "12":  # the second load is warm: it remembers the check under the first statement
        host = lab.host()
        assert host.load()[GOOD].status == "accepted"
        host.close()
    (path,) = lab.site.glob("*.dist-info/securehost.dsse.json")
    statement = Statement.from_envelope(Envelope.from_bytes(path.read_bytes()))
    first, *rest = statement.subjects
    swapped = Statement(subjects=[Subject(name=first.name, sha256="0" * 64), *rest], predicate=statement.predicate)
    path.write_bytes(sign_by_hand(swapped, KEY).to_bytes())
    host = lab.host()
    report = host.load()[GOOD]
    host.close()
    assert report.status == "rejected"
    assert ReasonCode.INSTALLED_FILE_MODIFIED in report.verdict.codes


def test_a_load_prunes_cache_entries_no_load_used_and_keeps_the_ones_it_used(lab: Lab) -> None:
    """The daily prune runs after the load's imports: what this load used is marked used, so only stale code goes."""
    import os
    import time

    first = lab.host()
    assert first.load()[GOOD].status == "accepted"
    first.close()
    cache = lab.state / "bytecode"
    used = sorted(p for p in cache.iterdir() if not p.name.startswith("."))
    assert used
    stale = cache / ("0" * 64)  # the code of a plugin since removed
    stale.write_bytes(b"whatever it held")
    then = time.time() - 40 * 24 * 3600
    for path in (*used, stale):
        os.utime(path, (then, then))
    (cache / ".last-prune").unlink()
    again = lab.host()
    assert again.load()[GOOD].status == "accepted"
    lab.good_answers(again)
    assert sorted(p for p in cache.iterdir() if not p.name.startswith(".")) == used
    assert not stale.exists()
    pruned = [e for e in lab.events() if e["event"] == "bytecode.pruned"]
    assert [e["removed"] for e in pruned] == [1]


def test_a_warm_load_recalls_each_statement_and_reads_a_changed_envelope_again(
    lab: Lab, store_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Warm: no envelope file is read. Paranoid, or after the file changed: it is read, and the plugin still loads."""
    from securehost._host import judge

    _warm(lab, store_file, monkeypatch)
    reads: list[str] = []
    real = judge.read_envelope
    monkeypatch.setattr(judge, "read_envelope", lambda path: reads.append(path) or real(path))
    for paranoid, expected in ((False, 0), (True, 1)):
        host = lab.host(trust_store=store_file, paranoid=paranoid)
        assert host.load()[GOOD].status == "accepted"
        host.close()
        assert len(reads) == expected, paranoid
    (path,) = lab.site.glob("*.dist-info/securehost.dsse.json")
    path.write_bytes(path.read_bytes())  # the same bytes, a new ctime
    host = lab.host(trust_store=store_file)
    assert host.load()[GOOD].status == "accepted"
    host.close()
    assert reads[1:] == [str(path)]


def test_a_warm_load_judges_a_recalled_statement_against_the_trust_store_of_today(
    lab: Lab, store_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is revoked after a warm start: the next load recalls the statement and rejects it all the same."""
    _warm(lab, store_file, monkeypatch)
    text = store_file.read_text(encoding="utf-8")
    store_file.write_text(text.replace("revoked = []", f'revoked = ["{KEY.public_key.key_id}"]'), encoding="utf-8")
    host = lab.host(trust_store=store_file)
    report = host.load()[GOOD]
    host.close()
    assert report.status == "rejected"
    assert ReasonCode.KEY_REVOKED in report.verdict.codes


def test_state_files_that_cannot_be_written_are_notes_and_a_later_load_writes_them(
    lab: Lab, store_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A full or broken state directory costs time, never safety, and is never silent.

    The three sealed files cannot replace a directory standing at their path (a real ``IsADirectoryError``); the
    bytecode cache gets a full disk. The load still accepts the plugin, with one ``state-unwritable`` note for each
    (logged too); the memos stay in memory, and the next load of the same host writes them.
    """
    import logging

    from securehost import NoteCode
    from securehost._installed import bytecode

    def full_disk(path: object, data: bytes, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    lab.state.mkdir()
    for name in FILES:
        (lab.state / name).mkdir()
    monkeypatch.setattr(bytecode, "write_atomic", full_disk)
    monkeypatch.setattr(filerecord, "RACY_NS", 0)  # the site was just written: record it anyway
    caplog.set_level(logging.WARNING, logger="securehost.host")
    host = lab.host(trust_store=store_file)
    report = host.load()
    assert report[GOOD].status == "accepted"
    lab.good_answers(host)
    notes = {note.subject: note for note in report.warnings}
    assert {note.code for note in notes.values()} == {NoteCode.STATE_UNWRITABLE}
    assert sorted(notes) == sorted([*(str(lab.state / name) for name in FILES), str(lab.state / "bytecode")])
    for name in FILES:
        assert "([Errno 21] Is a directory)" in notes[str(lab.state / name)].message
    cached = notes[str(lab.state / "bytecode")].message
    assert cached.startswith("cannot write 3 bytecode cache entries in ")  # the example plugin's three modules
    assert "([Errno 28] No space left on device), so the next start-up compiles those modules again" in cached
    assert all("give the Host a state_dir it can write" in note.message for note in notes.values())
    logged = [r.securehost_note for r in caplog.records if hasattr(r, "securehost_note")]  # type: ignore[attr-defined]
    assert sorted(n["subject"] for n in logged) == sorted(notes)

    for name in FILES:
        (lab.state / name).rmdir()
    again = host.load()  # the same host: the plugin is loaded already, the memos still wait to be written
    assert again.warnings == ()
    for name, (magic, context) in FILES.items():
        assert (lab.state / name).read_bytes().startswith(_header(magic, context)), name
    host.close()


def test_a_warm_start_up_takes_the_search_path_scans_from_the_record_and_a_paranoid_one_scans(
    lab: Lab, store_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discovery's directory listings and ``entry_points.txt`` files come from the file record when unchanged."""
    from securehost._installed import scancache

    _warm(lab, store_file, monkeypatch)
    seen: list[str] = []
    real_read, real_list = scan.read_small, scancache.list_dir
    monkeypatch.setattr(scan, "read_small", lambda path, *a: seen.append(path) or real_read(path, *a))
    monkeypatch.setattr(scancache, "list_dir", lambda entry: seen.append(entry) or real_list(entry))
    for paranoid in (False, True):
        seen.clear()
        host = lab.host(trust_store=store_file, paranoid=paranoid)
        assert host.load()[GOOD].status == "accepted"
        host.close()
        scanned = [p for p in seen if p == str(lab.site) or p.endswith("entry_points.txt")]
        if paranoid:
            assert sorted(scanned) == sorted([str(lab.site), *map(str, lab.site.glob("*.dist-info/entry_points.txt"))])
        else:
            assert scanned == []
