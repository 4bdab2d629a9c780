"""The bytecode cache is bounded by use: entries no load used for MAX_AGE are pruned, at most once a day."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from securehost._audit import AuditLog
from securehost._installed.bytecode import MAX_AGE, PRUNE_INTERVAL, BytecodeCache

DAY = 24 * 3600


def _source(i: int) -> tuple[bytes, str]:
    source = f"VALUE = {i}\n".encode()
    return source, hashlib.sha256(source).hexdigest()


def _cache(tmp_path: Path, audit: AuditLog | None = None) -> BytecodeCache:
    return BytecodeCache(tmp_path / "state" / "bytecode", tmp_path / "state" / "bytecode.key", audit)


def _entries(cache: BytecodeCache) -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in cache.directory.iterdir() if not p.name.startswith(".")}


def _age(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


def test_a_hit_marks_an_entry_used_again_only_once_a_day(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    source, digest = _source(1)
    cache.code(source, digest, "/site/p/one.py")
    (entry,) = cache.directory.iterdir()
    _age(entry, 0.5)
    marked = entry.stat().st_mtime
    assert cache.lookup(digest, "/site/p/one.py") is not None
    assert entry.stat().st_mtime == marked  # used within the day: no utime on every import
    _age(entry, 2)
    assert cache.lookup(digest, "/site/p/one.py") is not None
    assert time.time() - entry.stat().st_mtime < 60  # marked as used now


def test_prune_deletes_only_entries_unused_for_max_age(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    for i in range(3):
        source, digest = _source(i)
        cache.code(source, digest, f"/site/p/m{i}.py")
    old, recent, fresh = sorted(cache.directory.iterdir(), key=lambda p: p.name)
    _age(old, 31)
    _age(recent, 29)
    foreign = cache.directory / ("f" * 63)  # not an entry's name (63 hex digits)
    foreign.write_text("")
    _age(foreign, 400)
    linked = cache.directory / ("a" * 64)
    target = tmp_path / "outside"
    target.write_text("keep")
    linked.symlink_to(target)
    _age(target, 400)
    assert cache.prune() == 1
    assert sorted(p.name for p in cache.directory.iterdir()) == sorted(
        [recent.name, fresh.name, foreign.name, linked.name]
    )
    assert target.read_text() == "keep"
    assert cache.prune(max_age=28 * DAY) == 1  # the 29-day-old one now
    assert cache.prune() == 0


def test_a_pruned_entry_needed_again_is_compiled_again(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    source, digest = _source(7)
    cache.code(source, digest, "/site/p/seven.py")
    (entry,) = cache.directory.iterdir()
    _age(entry, 40)
    assert cache.prune() == 1
    assert cache.lookup(digest, "/site/p/seven.py") is None
    code, _ = cache.code(source, digest, "/site/p/seven.py")
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["VALUE"] == 7


def test_prune_if_due_runs_once_a_day_and_audits_what_it_deleted(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    cache = _cache(tmp_path, audit)
    source, digest = _source(2)
    cache.code(source, digest, "/site/p/two.py")
    (entry,) = cache.directory.iterdir()
    _age(entry, 31)
    assert cache.prune_if_due() == 1  # no marker yet (a new cache, or an older securehost's): due
    marker = cache.directory / ".last-prune"
    assert marker.is_file()
    cache.code(source, digest, "/site/p/two.py")
    _age(next(p for p in cache.directory.iterdir() if p != marker), 31)
    assert cache.prune_if_due() is None  # pruned less than a day ago
    _age(marker, PRUNE_INTERVAL / DAY + 0.01)
    assert cache.prune_if_due() == 1
    assert cache.prune_if_due() is None
    audit.close()
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(e["event"], e["removed"], e["max_age_days"]) for e in events] == [
        ("bytecode.pruned", 1, MAX_AGE / DAY),
        ("bytecode.pruned", 1, MAX_AGE / DAY),
    ]


def test_a_prune_that_deletes_nothing_says_nothing(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    cache = _cache(tmp_path, audit)
    source, digest = _source(3)
    cache.code(source, digest, "/site/p/three.py")
    assert cache.prune_if_due() == 0
    audit.close()
    assert (tmp_path / "audit.jsonl").read_text() == ""


def test_a_cache_directory_this_process_cannot_write_is_not_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in it could be deleted nor the marker written: scanning it would only repeat on every load."""
    from securehost._installed import bytecode

    cache = _cache(tmp_path)
    source, digest = _source(4)
    cache.code(source, digest, "/site/p/four.py")
    (entry,) = cache.directory.iterdir()
    _age(entry, 31)
    real_access = os.access
    asked: list[tuple[str, int]] = []

    def access(path: str, mode: int) -> bool:
        asked.append((str(path), mode))
        return False if str(path) == str(cache.directory) else real_access(path, mode)

    monkeypatch.setattr(bytecode.os, "access", access)
    scanned: list[float] = []
    monkeypatch.setattr(BytecodeCache, "prune", lambda _self, **kw: scanned.append(kw["max_age"]) or 0)
    assert cache.prune_if_due() is None
    assert asked == [(str(cache.directory), os.W_OK | os.X_OK)]
    assert scanned == []
    assert entry.exists()
    monkeypatch.setattr(bytecode.os, "access", real_access)
    assert cache.prune_if_due() == 0  # writable again: scanned (the stub deletes nothing)
    assert scanned == [MAX_AGE]
