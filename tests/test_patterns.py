"""securehost._patterns: regular expressions compiled on first use."""

from __future__ import annotations

import re

import pytest

import securehost._patterns as patterns


def test_a_lazy_pattern_compiles_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real = re.compile

    def counting(expression: str, flags: int = 0) -> re.Pattern[str]:
        compiled.append(expression)
        return real(expression, flags)

    monkeypatch.setattr(patterns.re, "compile", counting)
    word = patterns.lazy_pattern(r"[a-z]+", re.IGNORECASE)
    assert compiled == []  # nothing at definition (module import) time
    assert word().fullmatch("Plugin") is not None  # the flags apply
    assert word() is word()
    assert compiled == [r"[a-z]+"]
