"""Build zip archives and wheels byte by byte, including malformed and malicious ones.

Every header field can be overridden independently in the local header and in the central directory,
so a test can forge exactly one inconsistency. Nothing here uses :mod:`zipfile`.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

LOCAL_SIG = 0x04034B50
CENTRAL_SIG = 0x02014B50
EOCD_SIG = 0x06054B50
DESCRIPTOR_SIG = 0x08074B50
UTF8_FLAG = 0x0800
DESCRIPTOR_FLAG = 0x0008
REGULAR = 0o100644 << 16
SYMLINK = 0o120777 << 16
DIRECTORY = (0o040755 << 16) | 0x10


def deflate(data: bytes, level: int = 6) -> bytes:
    """Return the raw deflate stream of *data*."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@dataclass
class Entry:
    """One archive entry. ``None`` overrides mean "the honest value"."""

    name: str | bytes
    data: bytes = b""
    method: int = 8
    # central directory values
    flags: int | None = None
    crc: int | None = None
    compressed_size: int | None = None
    size: int | None = None
    external_attr: int = REGULAR
    extra: bytes = b""
    comment: bytes = b""
    offset: int | None = None
    disk: int = 0
    # payload override (exact bytes written after the local header)
    payload: bytes | None = None
    # local header overrides
    local_name: bytes | None = None
    local_flags: int | None = None
    local_method: int | None = None
    local_crc: int | None = None
    local_compressed_size: int | None = None
    local_size: int | None = None
    local_extra: bytes | None = None
    # data descriptor: None, "signed" or "unsigned"; values default to the central ones
    descriptor: str | None = None
    descriptor_values: tuple[int, int, int] | None = None
    # filled by build()
    written_offset: int = field(default=0, init=False)

    @property
    def raw_name(self) -> bytes:
        return self.name if isinstance(self.name, bytes) else self.name.encode()

    def body(self) -> bytes:
        if self.payload is not None:
            return self.payload
        if self.method == 8:
            return deflate(self.data)
        return self.data

    def central_values(self) -> tuple[int, int, int, int]:
        flags = self.flags
        if flags is None:
            flags = 0 if self.raw_name.isascii() else UTF8_FLAG
            if self.descriptor:
                flags |= DESCRIPTOR_FLAG
        crc = zlib.crc32(self.data) if self.crc is None else self.crc
        csize = len(self.body()) if self.compressed_size is None else self.compressed_size
        size = len(self.data) if self.size is None else self.size
        return flags, crc, csize, size


def local_record(entry: Entry) -> bytes:
    """Return the local header, data and descriptor of *entry*."""
    flags, crc, csize, size = entry.central_values()
    lflags = flags if entry.local_flags is None else entry.local_flags
    if entry.descriptor:
        lcrc, lcsize, lsize = 0, 0, 0
    else:
        lcrc, lcsize, lsize = crc, csize, size
    lcrc = lcrc if entry.local_crc is None else entry.local_crc
    lcsize = lcsize if entry.local_compressed_size is None else entry.local_compressed_size
    lsize = lsize if entry.local_size is None else entry.local_size
    name = entry.raw_name if entry.local_name is None else entry.local_name
    extra = entry.extra if entry.local_extra is None else entry.local_extra
    method = entry.method if entry.local_method is None else entry.local_method
    header = struct.pack(
        "<I5H3I2H",
        LOCAL_SIG,
        20,
        lflags,
        method,
        0,
        0x21,
        lcrc,
        lcsize,
        lsize,
        len(name),
        len(extra),
    )
    out = header + name + extra + entry.body()
    if entry.descriptor:
        values = entry.descriptor_values or (crc, csize, size)
        sig = struct.pack("<I", DESCRIPTOR_SIG) if entry.descriptor == "signed" else b""
        out += sig + struct.pack("<3I", *values)
    return out


def central_record(entry: Entry) -> bytes:
    """Return the central directory record of *entry* (after :func:`build` set its offset)."""
    flags, crc, csize, size = entry.central_values()
    offset = entry.written_offset if entry.offset is None else entry.offset
    name = entry.raw_name
    return (
        struct.pack(
            "<I6H3I5H2I",
            CENTRAL_SIG,
            (3 << 8) | 20,
            20,
            flags,
            entry.method,
            0,
            0x21,
            crc,
            csize,
            size,
            len(name),
            len(entry.extra),
            len(entry.comment),
            entry.disk,
            0,
            entry.external_attr,
            offset,
        )
        + name
        + entry.extra
        + entry.comment
    )


def build(
    entries: list[Entry],
    *,
    prefix: bytes = b"",
    gaps: dict[int, bytes] | None = None,
    before_cd: bytes = b"",
    cd_tail: bytes = b"",
    comment: bytes = b"",
    suffix: bytes = b"",
    count: int | None = None,
    cd_offset: int | None = None,
    cd_size: int | None = None,
    comment_length: int | None = None,
    disk: int = 0,
    adjust_offsets: bool = False,
) -> bytes:
    """Assemble an archive.

    Args:
        entries: the entries, written in this order.
        prefix: bytes before the first local header; offsets include it only with *adjust_offsets*.
        gaps: bytes inserted before entry ``i``'s local header.
        before_cd: bytes between the last entry and the central directory.
        cd_tail: bytes appended to the central directory (counted in its size).
        comment: the archive comment.
        suffix: bytes after the end record.
        count, cd_offset, cd_size, comment_length, disk: end record overrides.
        adjust_offsets: whether the offsets account for *prefix* (like ``zip -A``).
    """
    gaps = gaps or {}
    body = bytearray()
    base = len(prefix) if adjust_offsets else 0
    for i, entry in enumerate(entries):
        body += gaps.get(i, b"")
        entry.written_offset = base + len(body)
        body += local_record(entry)
    body += before_cd
    central = b"".join(central_record(e) for e in entries) + cd_tail
    eocd = struct.pack(
        "<I4H2IH",
        EOCD_SIG,
        disk,
        0,
        len(entries) if count is None else count,
        len(entries) if count is None else count,
        len(central) if cd_size is None else cd_size,
        base + len(body) if cd_offset is None else cd_offset,
        len(comment) if comment_length is None else comment_length,
    )
    return prefix + bytes(body) + central + eocd + comment + suffix


def record_hash(data: bytes) -> str:
    """Return the RECORD hash field for *data*."""
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def wheel_files(
    *,
    name: str = "demo_plugin",
    version: str = "1.0",
    tags: tuple[str, ...] = ("py3-none-any",),
    files: dict[str, bytes] | None = None,
    metadata: bytes | None = None,
    wheel: bytes | None = None,
    entry_points: bytes | None = b"[demoapp.plugins]\ndemo = demo_plugin.plugin:Plugin\n",
    record: bool = True,
) -> dict[str, bytes]:
    """Return the members of a valid wheel (with a correct RECORD unless *record* is false)."""
    dist_info = f"{name}-{version}.dist-info"
    out = dict(
        files
        if files is not None
        else {"demo_plugin/__init__.py": b"", "demo_plugin/plugin.py": b"class Plugin:\n    pass\n"}
    )
    out[f"{dist_info}/METADATA"] = (
        metadata
        if metadata is not None
        else f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA plugin.\n".encode()
    )
    out[f"{dist_info}/WHEEL"] = (
        wheel
        if wheel is not None
        else (
            "Wheel-Version: 1.0\nGenerator: wheelmaker\nRoot-Is-Purelib: true\n" + "".join(f"Tag: {t}\n" for t in tags)
        ).encode()
    )
    if entry_points is not None:
        out[f"{dist_info}/entry_points.txt"] = entry_points
    if record:
        rows = [f"{path},{record_hash(data)},{len(data)}\n" for path, data in out.items()]
        rows.append(f"{dist_info}/RECORD,,\n")
        out[f"{dist_info}/RECORD"] = "".join(rows).encode()
    return out


def build_wheel(files: dict[str, bytes], *, method: int = 8) -> bytes:
    """Assemble *files* into an archive."""
    return build([Entry(path, data, method=method) for path, data in files.items()])


def wheel_name(name: str = "demo_plugin", version: str = "1.0", tag: str = "py3-none-any") -> str:
    """Return the file name of a wheel."""
    return f"{name}-{version}-{tag}.whl"


def build_real_wheel(directory: Path) -> Path:
    """Build a tiny plugin project with ``python -m build --no-isolation``; return the wheel.

    Uses hatchling when it is installed, else setuptools; skips the calling test when neither can
    build offline.
    """
    import importlib.util
    import subprocess
    import sys

    import pytest

    if importlib.util.find_spec("hatchling") is not None:
        backend = 'requires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        extra = '[tool.hatch.build.targets.wheel]\npackages = ["src/demo_plugin"]\n'
    elif importlib.util.find_spec("setuptools") is not None and importlib.util.find_spec("wheel"):
        backend = 'requires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        extra = '[tool.setuptools.packages.find]\nwhere = ["src"]\n'
    else:  # pragma: no cover - depends on the machine
        pytest.skip("neither hatchling nor setuptools+wheel is installed for an offline build")
    project = directory / "project"
    package = project / "src" / "demo_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Demo plugin."""\n')
    (package / "plugin.py").write_text("class Plugin:\n    def hello(self):\n        return 'hi'\n" * 50)
    (package / "data.bin").write_bytes(bytes(range(256)) * 64)
    (project / "pyproject.toml").write_text(
        f"[build-system]\n{backend}\n"
        '[project]\nname = "Demo.Plugin"\nversion = "1.2.0"\n'
        '[project.entry-points."demoapp.plugins"]\ndemo = "demo_plugin.plugin:Plugin"\n' + extra
    )
    out = directory / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(project),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return wheel
