"""securehost's loggers: no ``logging`` import until a record could reach a handler, never stderr by default."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from securehost._log import WARNING, LazyLogger


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_a_record_is_dropped_without_importing_logging_when_nothing_imported_it() -> None:
    done = _run(
        "import sys; from securehost._log import LazyLogger; "
        "log = LazyLogger('securehost.host'); log.warning('dropped %s', 1); "
        "print(log.isEnabledFor(30), 'logging' in sys.modules)"
    )
    assert done.stdout.split() == ["False", "False"]
    assert done.stderr == ""


def test_an_application_that_imported_logging_but_configured_nothing_sees_no_record_on_stderr() -> None:
    """securehost's NullHandler is in place before its first record: logging's last resort never prints it."""
    done = _run(
        "import logging; from securehost._log import LazyLogger; "
        "LazyLogger('securehost.host').warning('from securehost'); logging.getLogger('other').warning('from other')"
    )
    assert "from securehost" not in done.stderr
    assert "from other" in done.stderr  # the last resort is active: the check above could fail


def test_records_reach_the_applications_handlers_with_the_callers_origin(caplog: pytest.LogCaptureFixture) -> None:
    log = LazyLogger("securehost.host")
    with caplog.at_level(logging.INFO, logger="securehost"):
        log.warning("one %s", "arg", extra={"securehost_note": {"k": 1}})
        log.info("two")
        log.log(WARNING, "three")
        log.debug("below the level")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "one arg"),
        ("INFO", "two"),
        ("WARNING", "three"),
    ]
    assert caplog.records[0].securehost_note == {"k": 1}  # type: ignore[attr-defined]
    assert {r.funcName for r in caplog.records} == {
        "test_records_reach_the_applications_handlers_with_the_callers_origin"
    }
    assert log.standard() is logging.getLogger("securehost.host")
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("securehost").handlers)
