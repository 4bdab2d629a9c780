"""A plugin's statement recalled from the host's file record by its envelope file's identity, attacked.

The record keeps what parsing an envelope gave, under the envelope file's path and ``lstat`` identity. A recall is only
as good as that identity: a rewritten, replaced or removed envelope file is read again; an entry of another shape or
another securehost is no entry; an envelope nothing verified or that does not parse is never kept; and a recalled
statement is judged afresh (here: a key revoked after it was kept).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from securehost import ReasonCode
from securehost._host import recall
from securehost._host.recall import recall_statement, remember_statement
from securehost._installed.filerecord import FileRecord
from securehost._signing.envelope import Envelope, compact_envelope
from securehost._signing.statement import PAYLOAD_TYPE, compact_statement
from securehost._trust.verify import ENVELOPE_FILENAME, check_statement
from tests.trust.test_check_statement import ISSUED, KEY, NOW, OTHER, signed, store

R = ReasonCode


def _record(tmp_path: Path, racy_ns: int = 0) -> FileRecord:
    (tmp_path / "state").mkdir(mode=0o700, exist_ok=True)
    return FileRecord(tmp_path / "state" / "installed.record", b"k" * 32, racy_ns=racy_ns)


def _envelope(tmp_path: Path, data: bytes) -> str:
    md = tmp_path / "acme_csv-1.0.dist-info"
    md.mkdir(exist_ok=True)
    path = md / ENVELOPE_FILENAME
    path.write_bytes(data)
    return str(path)


def _kept(record: FileRecord, path: str) -> bool:
    data = Path(path).read_bytes()
    return remember_statement(record, path, os.lstat(path), check_statement(data, store(), now=NOW))


def test_a_kept_statement_is_recalled_as_the_check_of_the_file(tmp_path: Path) -> None:
    path = _envelope(tmp_path, signed(KEY))
    record = _record(tmp_path)
    assert _kept(record, path)
    record.save()
    again = _record(tmp_path)  # a later start-up: the record read back from the state directory
    assert recall_statement(again, path, store(), NOW) == check_statement(Path(path).read_bytes(), store(), now=NOW)


def test_a_recalled_statement_is_judged_afresh(tmp_path: Path) -> None:
    path = _envelope(tmp_path, signed(KEY))
    record = _record(tmp_path)
    assert _kept(record, path)
    revoked = store(revoked=(KEY.public_key.key_id,))
    check = recall_statement(record, path, revoked, NOW)
    assert check is not None
    assert check.statement is None
    assert R.KEY_REVOKED in {r.code for r in check.reasons}
    early = ISSUED - dt.timedelta(hours=1)  # the clock of the judging load, not the clock of today
    judged = recall_statement(record, path, store(), early)
    assert judged is not None
    assert [r.code for r in judged.reasons] == [R.STATEMENT_NOT_YET_VALID]
    assert judged == check_statement(Path(path).read_bytes(), store(), now=early)


@pytest.mark.parametrize("how", ["rewritten with the same bytes", "replaced by a rename", "removed", "a symlink"])
def test_an_envelope_file_changed_in_any_way_is_read_again(tmp_path: Path, how: str) -> None:
    path = _envelope(tmp_path, signed(KEY))
    record = _record(tmp_path)
    assert _kept(record, path)
    target = Path(path)
    if how == "rewritten with the same bytes":
        target.write_bytes(target.read_bytes())
    elif how == "replaced by a rename":
        other = target.with_name("new")
        other.write_bytes(signed(KEY, version="2.0"))
        other.replace(target)
    elif how == "removed":
        target.unlink()
    else:
        real = target.with_name("real")
        target.replace(real)
        target.symlink_to(real)
    assert recall_statement(record, path, store(), NOW) is None


def test_an_envelope_rewritten_with_its_old_times_restored_is_still_read_again(tmp_path: Path) -> None:
    """``mtime`` can be set back from user space; ``ctime`` cannot, and the identity holds both."""
    path = _envelope(tmp_path, signed(KEY))
    record = _record(tmp_path)
    assert _kept(record, path)
    before = os.lstat(path)
    Path(path).write_bytes(signed(KEY, version="2.0")[: before.st_size].ljust(before.st_size))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.lstat(path).st_size == before.st_size
    assert recall_statement(record, path, store(), NOW) is None


def test_an_envelope_that_nothing_verified_or_that_does_not_parse_is_not_kept(tmp_path: Path) -> None:
    record = _record(tmp_path)
    unsigned = _envelope(tmp_path, signed())
    assert not _kept(record, unsigned)
    untrusted = _envelope(tmp_path, signed(OTHER))
    assert not _kept(record, untrusted)
    assert recall_statement(record, untrusted, store(), NOW) is None
    malformed = Envelope(payload=b'{"not": "a statement"}', payload_type=PAYLOAD_TYPE).sign(KEY).to_bytes()
    check = check_statement(malformed, store(), now=NOW)
    assert [r.code for r in check.reasons] == [R.STATEMENT_MALFORMED]  # the key verified it: the statement is wrong
    path = _envelope(tmp_path, malformed)
    assert not remember_statement(record, path, os.lstat(path), check)
    assert recall_statement(record, path, store(), NOW) is None


def test_an_envelope_changed_within_the_racy_interval_is_not_kept(tmp_path: Path) -> None:
    path = _envelope(tmp_path, signed(KEY))
    record = _record(tmp_path, racy_ns=3_600 * 10**9)
    assert not _kept(record, path)
    assert recall_statement(record, path, store(), NOW) is None


@pytest.mark.parametrize(
    "outcome",
    [
        None,
        (),
        ("a", "b", "c", "d"),
        ((b"p", "t", ()), "not a statement", "0" * 64, ()),
        "text",
        ("good", "good", 5, ()),
        ("good", "good", "0" * 64, "not a tuple"),
    ],
    ids=["none", "empty", "strings", "statement", "text", "digest", "verified"],
)
def test_an_entry_of_another_shape_is_no_entry(tmp_path: Path, outcome: object) -> None:
    path = _envelope(tmp_path, signed(KEY))
    check = check_statement(Path(path).read_bytes(), store(), now=NOW)
    assert check.statement is not None
    assert check.envelope is not None
    if isinstance(outcome, tuple) and outcome[:2] == ("good", "good"):
        outcome = (compact_envelope(check.envelope), compact_statement(check.statement), *outcome[2:])
    record = _record(tmp_path)
    assert record.remember_check(path, recall._FINGERPRINT, [(path, os.lstat(path))], outcome)
    assert recall_statement(record, path, store(), NOW) is None


def test_an_entry_kept_by_another_securehost_is_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _envelope(tmp_path, signed(KEY))
    record = _record(tmp_path)
    assert _kept(record, path)
    monkeypatch.setattr(recall, "_FINGERPRINT", "another version's")
    assert recall_statement(record, path, store(), NOW) is None
