"""Hypothesis strategies for archives, wheels and their metadata files."""

from __future__ import annotations

import io
import unicodedata
import zipfile

from hypothesis import strategies as st

from securehost._wheel.record import HASH_ALGORITHMS, Record, RecordEntry
from tests import wheelmaker as wm

_SEGMENT_ALPHABET = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.éßΩж")


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


@st.composite
def safe_names(draw: st.DrawFn) -> str:
    """A safe relative member name: 1-3 segments, none empty, '.', '..', or ending in a dot."""
    segments = draw(
        st.lists(
            st.text(_SEGMENT_ALPHABET, min_size=1, max_size=12).filter(
                lambda s: s not in (".", "..") and not s.endswith(".")
            ),
            min_size=1,
            max_size=3,
        )
    )
    return "/".join(segments)


def _consistent(names: list[str]) -> bool:
    keys = [_key(n) for n in names]
    parents = {k[:i] for k in keys for i, c in enumerate(k) if c == "/"}
    return len(set(keys)) == len(keys) and not parents & set(keys)


contents = st.one_of(
    st.binary(max_size=3000),
    st.builds(lambda word, n: word * n, st.binary(min_size=1, max_size=20), st.integers(1, 200)),
)


@st.composite
def member_sets(draw: st.DrawFn, *, max_size: int = 8) -> dict[str, bytes]:
    """Distinct, non-colliding names with their contents."""
    names = draw(st.lists(safe_names(), max_size=max_size, unique_by=_key).filter(_consistent))
    return {name: draw(contents) for name in names}


@st.composite
def forged_archives(draw: st.DrawFn) -> tuple[bytes, dict[str, bytes]]:
    """A valid archive built by :mod:`tests.wheelmaker`, random methods and data descriptors."""
    members = draw(member_sets())
    entries = [
        wm.Entry(
            name,
            data,
            method=draw(st.sampled_from([0, 8])),
            descriptor=draw(st.sampled_from([None, "signed", "unsigned"])),
        )
        for name, data in members.items()
    ]
    comment = draw(st.binary(max_size=30).filter(lambda c: b"PK" not in c))
    return wm.build(entries, comment=comment), members


@st.composite
def zipfile_archives(draw: st.DrawFn) -> tuple[bytes, dict[str, bytes]]:
    """A valid archive written by :mod:`zipfile`."""
    members = draw(member_sets())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(
                name,
                data,
                compress_type=draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])),
            )
    return buffer.getvalue(), members


@st.composite
def mutated_archives(draw: st.DrawFn) -> bytes:
    """A valid archive with a few bytes overwritten, inserted or removed."""
    data, _ = draw(forged_archives())
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not buffer:
            break
        at = draw(st.integers(0, len(buffer) - 1))
        action = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        if action == "set":
            buffer[at] = draw(st.integers(0, 255))
        elif action == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del buffer[at : at + draw(st.integers(1, 8))]
        else:
            del buffer[at:]
    return bytes(buffer)


_RECORD_PATH_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))],
)


@st.composite
def record_entries(draw: st.DrawFn) -> RecordEntry:
    """A valid RECORD row: any printable path (commas and quotes included), any accepted hash."""
    path = draw(st.text(_RECORD_PATH_CHARS, min_size=1, max_size=40))
    if draw(st.booleans()):
        return RecordEntry(path=path)
    algorithm = draw(st.sampled_from(sorted(HASH_ALGORITHMS)))
    digest = draw(st.binary(min_size=HASH_ALGORITHMS[algorithm], max_size=HASH_ALGORITHMS[algorithm]))
    size = draw(st.integers(0, 10**20 - 1))
    return RecordEntry(path=path, algorithm=algorithm, digest=digest, size=size)


records = st.lists(record_entries(), max_size=10, unique_by=lambda e: e.path).map(
    lambda entries: Record(entries=entries)
)

#: text that looks like RECORD lines, to reach deep into the parser
record_like_bytes = st.text(st.sampled_from(list('ab/,"\n\r=sha256384512-_+/=0123456789 \x00é')), max_size=200).map(
    lambda t: t.encode("utf-8")
)


_IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
_DOTTED = st.lists(_IDENT, min_size=1, max_size=3).map(".".join)
_SPACE = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def entry_point_values(draw: st.DrawFn) -> str:
    """A value: module[:attr][extras], with random spacing."""
    value = draw(_DOTTED)
    if draw(st.booleans()):
        value += draw(_SPACE) + ":" + draw(_SPACE) + draw(_DOTTED)
    if draw(st.integers(0, 4)) == 0:
        extras = draw(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,4}[a-z0-9]", fullmatch=True), max_size=2))
        value += draw(_SPACE) + "[" + ", ".join(extras) + "]"
    return value


@st.composite
def entry_point_texts(draw: st.DrawFn) -> bytes:
    """entry_points.txt-like files: mostly valid, with random layout and the odd corruption."""
    lines: list[str] = []
    for group in draw(st.lists(st.from_regex(r"[a-z][a-z0-9_.-]{0,8}", fullmatch=True), max_size=3)):
        lines.append(f"[{group}]")
        for _ in range(draw(st.integers(0, 3))):
            name = draw(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_. -]{0,6}[A-Za-z0-9_]", fullmatch=True))
            lines.append(f"{name}{draw(_SPACE)}={draw(_SPACE)}{draw(entry_point_values())}")
        if draw(st.integers(0, 3)) == 0:
            lines.append(draw(st.sampled_from(["", "# comment", "; comment", "  indented = a:b", "x: y"])))
    if lines and draw(st.integers(0, 4)) == 0:  # duplicate a random line
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(lines)))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return end.join(lines).encode()
