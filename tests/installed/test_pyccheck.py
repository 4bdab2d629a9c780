"""``check_cached_bytecode``: every reason a ``__pycache__`` file is refused, provoked, and what is accepted.

A cache file is accepted only if it is exactly the compiled signed source (name, header, code, line tables). These
tests call the check directly on a small site; ``test_installed.py`` and ``test_sitecheck.py`` go through the walk.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import py_compile
import sys
from pathlib import Path

import pytest

from securehost._installed.pyccheck import SOURCE_MODIFIED, _same_line_tables, check_cached_bytecode

TAG = sys.implementation.cache_tag
SOURCE = b'"""A module."""\n\n\ndef f(x):\n    assert x > 0, "positive"\n    return x + 1\n'


def _site(tmp_path: Path, package: str = "p") -> tuple[Path, dict[str, str]]:
    """A site with *package*/mod.py and a top-level top.py, both signed."""
    site = tmp_path / "site"
    files = {f"{package}/__init__.py": b"", f"{package}/mod.py": SOURCE, "top.py": SOURCE}
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
    return site, {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}


def _compile(site: Path, source_rel: str, cache_rel: str, **kwargs: object) -> str:
    py_compile.compile(str(site / source_rel), cfile=str(site / cache_rel), doraise=True, **kwargs)  # type: ignore[arg-type]
    return cache_rel


def _check(site: Path, rel: str, signed: dict[str, str]) -> str | None:
    return check_cached_bytecode(str(site), rel, os.lstat(site / rel), signed, None)


@pytest.mark.parametrize("package", ["p", "appX", "a/b"])
def test_the_compiled_signed_source_is_accepted(tmp_path: Path, package: str) -> None:
    site, signed = _site(tmp_path, package)
    rel = _compile(site, f"{package}/mod.py", f"{package}/__pycache__/mod.{TAG}.pyc")
    assert _check(site, rel, signed) is None


def test_a_top_level_modules_cache_is_judged_against_the_top_level_source(tmp_path: Path) -> None:
    site, signed = _site(tmp_path)
    assert _check(site, _compile(site, "top.py", f"__pycache__/top.{TAG}.pyc"), signed) is None
    (site / "other.py").write_bytes(SOURCE)
    rel = _compile(site, "other.py", f"__pycache__/other.{TAG}.pyc")
    assert _check(site, rel, signed) == "other.py is not a signed source"


@pytest.mark.parametrize(
    "mode", [py_compile.PycInvalidationMode.CHECKED_HASH, py_compile.PycInvalidationMode.UNCHECKED_HASH]
)
def test_hash_based_cache_files_of_the_signed_source_are_accepted(tmp_path: Path, mode: object) -> None:
    site, signed = _site(tmp_path)
    rel = _compile(site, "p/mod.py", f"p/__pycache__/mod.{TAG}.pyc", invalidation_mode=mode)
    assert _check(site, rel, signed) is None


@pytest.mark.parametrize("level", [1, 2])
def test_optimised_cache_files_are_compared_at_their_level(tmp_path: Path, level: int) -> None:
    """``.opt-1`` drops the assert, ``.opt-2`` the docstring too: each is compared with its own compilation."""
    site, signed = _site(tmp_path)
    rel = _compile(site, "p/mod.py", f"p/__pycache__/mod.{TAG}.opt-{level}.pyc", optimize=level)
    assert _check(site, rel, signed) is None
    plain = _compile(site, "p/mod.py", f"p/__pycache__/mod.{TAG}.pyc", optimize=level)  # opt-N code, plain name
    assert _check(site, plain, signed) == "its code is not what compiling the signed p/mod.py gives"


def _rewrite_header(site: Path, rel: str, header: bytes) -> None:
    data = (site / rel).read_bytes()
    (site / rel).write_bytes(header + data[16:])


def _flags(value: int) -> bytes:
    return value.to_bytes(4, "little")


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (b"\0\0\0\0" + _flags(0) + b"\0" * 8, "not a cache file of this interpreter (magic number)"),
        (importlib.util.MAGIC_NUMBER + _flags(4) + b"\0" * 8, "invalid header flags"),
        (importlib.util.MAGIC_NUMBER + _flags(2) + b"\0" * 8, "invalid header flags"),  # "check" without "hash"
        (importlib.util.MAGIC_NUMBER + _flags(1) + b"\0" * 8, "its header names another source (hash)"),
        (importlib.util.MAGIC_NUMBER + _flags(3) + b"\1" * 8, "its header names another source (hash)"),
        (importlib.util.MAGIC_NUMBER + _flags(0) + b"\0" * 4 + (len(SOURCE) + 1).to_bytes(4, "little"),
         "its header names another source (size)"),
    ],
)  # fmt: skip
def test_each_header_problem_is_refused_with_its_reason(tmp_path: Path, header: bytes, why: str) -> None:
    """The code after the header is the compiled signed source: only the header is wrong."""
    site, signed = _site(tmp_path)
    rel = _compile(site, "p/mod.py", f"p/__pycache__/mod.{TAG}.pyc")
    _rewrite_header(site, rel, header)
    assert _check(site, rel, signed) == why


def test_a_file_shorter_than_a_header_is_refused(tmp_path: Path) -> None:
    """Even when it starts with this interpreter's magic number."""
    site, signed = _site(tmp_path)
    rel = f"p/__pycache__/mod.{TAG}.pyc"
    (site / rel).parent.mkdir()
    (site / rel).write_bytes(importlib.util.MAGIC_NUMBER + _flags(0) + b"\0" * 4)
    assert _check(site, rel, signed) == "not a cache file of this interpreter (magic number)"


@pytest.mark.parametrize("name", ["mod.pyc", f"mod.{TAG}.opt-3.pyc", f"mod.{TAG}.pyc.tmp", f".{TAG}.pyc"])
def test_a_name_python_would_not_read_is_refused(tmp_path: Path, name: str) -> None:
    site, signed = _site(tmp_path)
    rel = _compile(site, "p/mod.py", f"p/__pycache__/{name}")
    assert _check(site, rel, signed) == "not a cache file name Python would read"


def test_a_modified_source_cannot_be_compared(tmp_path: Path) -> None:
    site, signed = _site(tmp_path)
    rel = _compile(site, "p/mod.py", f"p/__pycache__/mod.{TAG}.pyc")
    (site / "p/mod.py").write_bytes(SOURCE + b"\n")
    assert _check(site, rel, signed) == SOURCE_MODIFIED


def test_trailing_bytes_beyond_the_slack_are_refused(tmp_path: Path) -> None:
    """Up to 64 KiB after the code are ignored, as ``marshal`` ignores them when Python loads the file; not more."""
    site, signed = _site(tmp_path)
    rel = _compile(site, "p/mod.py", f"p/__pycache__/mod.{TAG}.pyc")
    data = (site / rel).read_bytes()
    header, body = data[:16], data[16:]
    expected = marshal.dumps(compile(SOURCE, str(site / "p/mod.py"), "exec", dont_inherit=True))
    assert len(body) == len(expected)  # the slack is measured from what securehost compiles
    (site / rel).write_bytes(header + body + b"\0" * (64 * 1024))
    assert _check(site, rel, signed) is None
    (site / rel).write_bytes(header + body + b"\0" * (64 * 1024 + 1))
    assert _check(site, rel, signed) == "its code is not what compiling the signed p/mod.py gives"


def test_line_tables_are_compared_nested_code_included() -> None:
    """Python 3.10's code equality leaves line tables out; ``_same_line_tables`` does not, on every version."""
    a = compile("x = 1\ny = 2\ndef f():\n    return 1\n", "m", "exec")
    assert _same_line_tables(a, compile("x = 1\ny = 2\ndef f():\n    return 1\n", "m", "exec"))
    assert not _same_line_tables(a, compile("x = 1; y = 2\n\ndef f():\n    return 1\n", "m", "exec"))
    one = compile("def f():\n    x = 1; y = 2\n\n    return x + y\n", "m", "exec")
    other = compile("def f():\n    x = 1\n    y = 2\n    return x + y\n", "m", "exec")  # only f's line table differs
    assert one.co_linetable == other.co_linetable
    assert not _same_line_tables(one, other)
    assert _same_line_tables(a, "not code")  # only code objects have line tables to compare


@pytest.mark.parametrize("body", [b"", b"\xff" * 40, b"c" + b"\0" * 8])
def test_a_body_that_is_no_marshalled_code_is_refused(tmp_path: Path, body: bytes) -> None:
    site, signed = _site(tmp_path)
    rel = _compile(site, "p/mod.py", f"p/__pycache__/mod.{TAG}.pyc")
    (site / rel).write_bytes((site / rel).read_bytes()[:16] + body)
    assert _check(site, rel, signed) == "its code is not what compiling the signed p/mod.py gives"
