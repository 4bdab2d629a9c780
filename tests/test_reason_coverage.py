"""Every reason code is provoked by some test: a meta-test over the test files.

A code counts as covered when a test file other than this one mentions it as ``ReasonCode.NAME``, through an alias
of ``ReasonCode`` that the file defines (``R = ReasonCode``, ``_R = ReasonCode``, ``import ReasonCode as R``), or by
its quoted string value (``"key-revoked"``, as in ``--json`` output). Codes that belong to parts not merged yet are
listed in :data:`PENDING`; the test fails as soon as one of them is covered, so the set only shrinks.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from securehost import ReasonCode

TESTS = Path(__file__).resolve().parent
THIS = Path(__file__).resolve()

#: Codes that only the Host (``securehost._host``, not merged yet) reports. Remove a code here when the test that
#: provokes it lands. The other Host codes (INSTALLED_*, EDITABLE_INSTALL, DISTRIBUTION_SHADOWED,
#: ENTRY_POINT_INVALID, ENTRY_POINT_OUTSIDE_DISTRIBUTION, DEPENDENCY_NOT_ALLOWED, DISTRIBUTION_METADATA_INVALID) are
#: already provoked by the discovery, installed-file and importer tests.
PENDING: frozenset[ReasonCode] = frozenset(
    {
        ReasonCode.ENTRY_POINT_NOT_SIGNED,  # an entry point whose group/name the statement does not list
        ReasonCode.ROLLBACK,  # a lower version than the one recorded as last seen
        ReasonCode.IMPORT_FAILED,  # the verified plugin raised while being imported
        ReasonCode.REGISTRATION_FAILED,  # the plugin manager refused the plugin object
        ReasonCode.DISABLED,  # the operator disabled the plugin
    }
)

_ALIAS_RES = (
    re.compile(r"^\s*(\w+)\s*(?::[^=]*)?=\s*(?:securehost\.)?ReasonCode\s*$", re.MULTILINE),
    re.compile(r"\bReasonCode\s+as\s+(\w+)"),
)


@functools.cache
def _test_files() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in sorted(TESTS.rglob("test_*.py")) if p.resolve() != THIS}


def _prefixes(text: str) -> set[str]:
    aliases = {m.group(1) for pattern in _ALIAS_RES for m in pattern.finditer(text)}
    return {"ReasonCode", *aliases}


def mentions(text: str, code: ReasonCode) -> bool:
    """Whether *text* (one test file) mentions *code*."""
    names = "|".join(re.escape(p) for p in sorted(_prefixes(text)))
    if re.search(rf"\b(?:{names})\.{code.name}\b", text):
        return True
    return f'"{code.value}"' in text or f"'{code.value}'" in text


def covering_files(code: ReasonCode) -> list[str]:
    return [p.name for p, text in _test_files().items() if mentions(text, code)]


def test_every_reason_code_is_provoked_by_a_test() -> None:
    missing = sorted(c.name for c in ReasonCode if c not in PENDING and not covering_files(c))
    assert not missing, f"no test mentions these reason codes: {missing}"


def test_pending_codes_are_not_covered_yet() -> None:
    """When a pending code gets its test, remove it from PENDING (the set only shrinks)."""
    covered = {c.name: covering_files(c) for c in PENDING if covering_files(c)}
    assert not covered, f"covered now, remove from PENDING: {covered}"


def test_the_scan_sees_the_ways_tests_name_codes() -> None:
    assert mentions("assert ReasonCode.KEY_REVOKED in verdict.codes", ReasonCode.KEY_REVOKED)
    assert mentions("R = ReasonCode\nrejected(w, s, R.KEY_REVOKED)", ReasonCode.KEY_REVOKED)
    assert mentions("_R: Final = ReasonCode\nx = _R.KEY_REVOKED", ReasonCode.KEY_REVOKED)
    assert mentions("from securehost import ReasonCode as RC\nRC.KEY_REVOKED", ReasonCode.KEY_REVOKED)
    assert mentions('codes == {"key-revoked"}', ReasonCode.KEY_REVOKED)
    assert not mentions("R.KEY_REVOKED", ReasonCode.KEY_REVOKED)  # R is not known to be ReasonCode here
    assert not mentions("ReasonCode.KEY_REVOKED_LATER", ReasonCode.KEY_REVOKED)
    assert not mentions("key-revoked", ReasonCode.KEY_REVOKED)  # an unquoted word is not a code
    assert not mentions("ReasonCode.KEY_EXPIRED", ReasonCode.KEY_REVOKED)


def test_this_file_is_not_counted() -> None:
    assert THIS not in _test_files()
    assert len(_test_files()) > 10
