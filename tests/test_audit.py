from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from securehost._audit import AUDIT_LOGGER_NAME, AuditLog
from securehost.exceptions import ConfigurationError


def test_events_go_to_logger_and_sink(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sink = tmp_path / "audit.jsonl"
    log = AuditLog(sink)
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER_NAME):
        log.emit("plugin.accepted", plugin="acme", signers=("k1",), version="1.0")
        log.emit("plugin.rejected", plugin="evil", reasons=["digest-mismatch"])
    log.close()
    lines = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [e["event"] for e in lines] == ["plugin.accepted", "plugin.rejected"]
    assert lines[0]["signers"] == ["k1"]
    assert lines[1]["plugin"] == "evil"
    levels = {r.message.split()[0]: r.levelno for r in caplog.records}
    assert levels == {"plugin.accepted": logging.INFO, "plugin.rejected": logging.WARNING}
    assert caplog.records[1].securehost_event["reasons"] == ["digest-mismatch"]  # type: ignore[attr-defined]


def test_an_event_nobody_listens_to_is_still_returned_whole(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=AUDIT_LOGGER_NAME):
        record = AuditLog().emit("plugin.loaded", plugin="acme", version="1.0")  # INFO: not logged, no sink
        warned = AuditLog().emit("plugin.rejected", plugin="evil", reasons=["digest-mismatch"])  # WARNING: logged
    assert record.to_json()["version"] == "1.0"
    assert record.plugin == "acme"
    assert [r.message for r in caplog.records] == ["plugin.rejected evil: digest-mismatch"]
    assert warned.to_json()["reasons"] == ["digest-mismatch"]


def test_sink_is_append_only_across_instances(tmp_path: Path) -> None:
    sink = tmp_path / "audit.jsonl"
    for i in range(3):
        log = AuditLog(sink)
        log.emit("e", n=i)
        log.close()
    assert [json.loads(x)["n"] for x in sink.read_text().splitlines()] == [0, 1, 2]


def test_concurrent_emits_lose_nothing(tmp_path: Path) -> None:
    sink = tmp_path / "audit.jsonl"
    log = AuditLog(sink)

    def work(t: int) -> None:
        for i in range(50):
            log.emit("e", thread=t, i=i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    events = [json.loads(x) for x in sink.read_text().splitlines()]
    assert len(events) == 400
    assert {(e["thread"], e["i"]) for e in events} == {(t, i) for t in range(8) for i in range(50)}


def test_unwritable_sink_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="audit sink"):
        AuditLog(tmp_path / "missing-dir" / "audit.jsonl")
