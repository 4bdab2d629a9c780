"""Reading a plugin directory's ``RECORD`` for install and uninstall: a RECORD that does not parse is an OSError."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from securehost._install import target
from securehost._install.target import read_distribution


def _dist_info(root: Path, record: bytes) -> str:
    (root / "acme-1.0.dist-info").mkdir()
    (root / "acme-1.0.dist-info" / "RECORD").write_bytes(record)
    return "acme-1.0.dist-info"


def test_a_record_lists_its_files_and_the_unsafe_ones_apart(tmp_path: Path) -> None:
    dist_info = _dist_info(tmp_path, b"acme/__init__.py,sha256=x,1\n../escape.py,,\nacme-1.0.dist-info/RECORD,,\n")
    dist = read_distribution(tmp_path.resolve(), dist_info)
    assert (dist.name, dist.version) == ("acme", "1.0")
    assert dist.files == ("acme/__init__.py", "acme-1.0.dist-info/RECORD")
    assert dist.unsafe == ("../escape.py",)


def test_a_record_that_csv_cannot_read_is_an_os_error_that_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise csv.Error("line contains NUL")

    monkeypatch.setattr(target.csv, "reader", refuse)
    dist_info = _dist_info(tmp_path, b"acme/__init__.py,sha256=x,1\n")
    with pytest.raises(OSError, match=r"RECORD is not a RECORD that can be read \(line contains NUL\); remove"):
        read_distribution(tmp_path.resolve(), dist_info)


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="csv refuses a NUL byte only before Python 3.11")
def test_a_nul_byte_in_a_record_is_an_os_error_on_python_3_10(tmp_path: Path) -> None:
    dist_info = _dist_info(tmp_path, b"acme/__init__.py\x00,sha256=x,1\n")
    with pytest.raises(OSError, match="line contains NUL"):
        read_distribution(tmp_path.resolve(), dist_info)
