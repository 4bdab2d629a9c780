"""Tests for securehost._wheel.record: strict RECORD parsing, canonical output, checks against members."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import ReasonCode
from securehost._wheel.record import Record, RecordEntry, sha256_row
from securehost._wheel.zipsafe import ArchiveScan, read_archive
from securehost._wheel.zipscan import MemberInfo
from securehost.exceptions import RecordFormatError, WheelFormatError
from tests import strategies_wheel as sw
from tests import wheelmaker as wm

DIST = "demo_plugin-1.0.dist-info"
RECORD_PATH = f"{DIST}/RECORD"


def b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


SHA = b64(hashlib.sha256(b"x").digest())


def scanned(files: dict[str, bytes]) -> ArchiveScan:
    scan = read_archive(wm.build_wheel(files))
    assert scan.ok, scan.reasons
    return scan


# --- parsing -------------------------------------------------------------------------------------


def test_parses_what_build_backends_write() -> None:
    files = wm.wheel_files()
    record = Record.from_bytes(files[RECORD_PATH])
    assert record.get(RECORD_PATH) == RecordEntry(path=RECORD_PATH)
    init = record.get("demo_plugin/__init__.py")
    assert init is not None
    assert init.algorithm == "sha256"
    assert init.hexdigest == hashlib.sha256(b"").hexdigest()
    assert init.size == 0
    assert record.to_bytes() == files[RECORD_PATH]


def test_reads_crlf_and_writes_lf() -> None:
    record = Record.from_bytes(f"a.py,sha256={SHA},1\r\nb,,\r\n".encode())
    assert record.to_bytes() == f"a.py,sha256={SHA},1\nb,,\n".encode()


def test_quotes_paths_with_commas_and_quotes() -> None:
    record = Record(entries=[sha256_row('we,ird "name".py', b"x")])
    data = record.to_bytes()
    assert data.startswith(b'"we,ird ""name"".py",')
    assert Record.from_bytes(data) == record


@pytest.mark.parametrize("algorithm", ["sha384", "sha512"])
def test_accepts_stronger_sha2_for_third_party_wheels(algorithm: str) -> None:
    digest = hashlib.new(algorithm, b"x").digest()
    entry = Record.from_bytes(f"a,{algorithm}={b64(digest)},1\n".encode()).entries[0]
    assert entry.algorithm == algorithm
    assert entry.digest == digest


BAD_RECORDS = [
    ("two fields", b"a,sha256=x\n"),
    ("four fields", f"a,sha256={SHA},1,x\n".encode()),
    ("blank row", f"a,sha256={SHA},1\n\nb,,\n".encode()),
    ("md5", f"a,md5={b64(hashlib.md5(b'x').digest())},1\n".encode()),
    ("sha1", f"a,sha1={b64(hashlib.sha1(b'x').digest())},1\n".encode()),
    ("unknown algorithm", f"a,blake2b={SHA},1\n".encode()),
    ("uppercase algorithm", f"a,SHA256={SHA},1\n".encode()),
    ("no equals sign", f"a,sha256{SHA},1\n".encode()),
    ("padding", f"a,sha256={SHA}=,1\n".encode()),
    ("standard alphabet", f"a,sha256={SHA.replace('-', '+').replace('_', '/')}x,1\n".encode()),
    ("not base64", b"a,sha256=!!!!,1\n"),
    ("short digest", f"a,sha256={SHA[:-4]},1\n".encode()),
    ("sha256 digest under sha512", f"a,sha512={SHA},1\n".encode()),
    # the last character of a 32-byte digest carries 2 unused bits: 'B' sets one of them
    ("non-canonical base64", f"a,sha256={SHA[:-1]}{'C' if SHA[-1] == 'B' else 'B'},1\n".encode()),
    ("space before hash", f"a, sha256={SHA},1\n".encode()),
    ("negative size", f"a,sha256={SHA},-1\n".encode()),
    ("plus size", f"a,sha256={SHA},+1\n".encode()),
    ("leading zero", f"a,sha256={SHA},01\n".encode()),
    ("arabic digits", f"a,sha256={SHA},\u0661\n".encode()),
    ("size too long", f"a,sha256={SHA},{'9' * 21}\n".encode()),
    ("hash without size", f"a,sha256={SHA},\n".encode()),
    ("size without hash", b"a,,1\n"),
    ("duplicate path", f"a,sha256={SHA},1\na,,\n".encode()),
    ("empty path", f",sha256={SHA},1\n".encode()),
    ("control character in path", b"a\x1b[31m,,\n"),
    ("newline in quoted path", b'"a\nb",,\n'),
    ("NUL", b"a\x00,,\n"),
    ("not UTF-8", b"\xff,,\n"),
    ("byte order mark", "\ufeffa,,\n".encode()),
    ("bad quoting", b'a"b,,\n"x,,\n'),
    ("unterminated quote", b'"a,,\n'),
    ("huge field", b"a" * 200_000 + b",,\n"),
]


@pytest.mark.parametrize("data", [d for _, d in BAD_RECORDS], ids=[n for n, _ in BAD_RECORDS])
def test_rejects_malformed_record(data: bytes) -> None:
    with pytest.raises(RecordFormatError):
        Record.from_bytes(data)


def test_rejects_oversized_record_and_wrong_types() -> None:
    with pytest.raises(RecordFormatError, match="more than 10"):
        Record.from_bytes(b"a,,\n" * 5, max_size=10)
    with pytest.raises(TypeError):
        Record.from_bytes("a,,\n")  # type: ignore[arg-type]


def test_entries_validate_when_built_in_code() -> None:
    with pytest.raises(RecordFormatError):
        RecordEntry(path="a", algorithm="sha256", digest=b"short", size=1)
    with pytest.raises(RecordFormatError):
        RecordEntry(path="a", algorithm="sha256", digest=bytes(32))
    with pytest.raises(RecordFormatError):
        RecordEntry(path="a\n")
    with pytest.raises(RecordFormatError, match="twice"):
        Record(entries=[RecordEntry(path="a"), RecordEntry(path="a")])


ROW = "RECORD line 1: RECORD row 'a': "
NOT_SHA2 = "is not sha256, sha384 or sha512"
# the exact message of each malformed RECORD above (the csv module's own words are left out: they vary by Python)
EXPECTED_MESSAGES = {
    "two fields": "RECORD line 1: a RECORD row has 2 fields, not 3",
    "four fields": "RECORD line 1: a RECORD row has 4 fields, not 3",
    "blank row": "RECORD line 2: a RECORD row has 0 fields, not 3",
    "md5": f"{ROW}hash 'md5=ndTkYSaMgDT1yFZO' {NOT_SHA2}",
    "sha1": f"{ROW}hash 'sha1=EfatjsUqKYSrqv1' {NOT_SHA2}",
    "unknown algorithm": f"{ROW}hash 'blake2b=LXEWQrcmsEQB' {NOT_SHA2}",  # the first 20 characters
    "uppercase algorithm": f"{ROW}hash 'SHA256=LXEWQrcmsEQBY' {NOT_SHA2}",
    "no equals sign": f"{ROW}hash 'sha256LXEWQrcmsEQBYn' {NOT_SHA2}",
    "padding": f"{ROW}digest is not base64url",
    "standard alphabet": f"{ROW}digest is not base64url",
    "not base64": f"{ROW}digest is not base64url",
    "short digest": f"{ROW}bad sha256 digest",
    "sha256 digest under sha512": f"{ROW}bad sha512 digest",
    "non-canonical base64": f"{ROW}digest is not canonical base64url",
    "space before hash": f"{ROW}hash ' sha256=LXEWQrcmsEQB' {NOT_SHA2}",
    "negative size": f"{ROW}size '-1' is invalid",
    "plus size": f"{ROW}size '+1' is invalid",
    "leading zero": f"{ROW}size '01' is invalid",
    "arabic digits": f"{ROW}size '\u0661' is invalid",
    "size too long": f"{ROW}size '{'9' * 21}' is invalid",
    "hash without size": f"{ROW}size '' is invalid",
    "size without hash": f"{ROW}hash '' {NOT_SHA2}",
    "duplicate path": "RECORD lists 'a' twice",
    "empty path": "RECORD line 1: RECORD path '' is empty or contains control characters",
    "control character in path": "RECORD line 1: RECORD path 'a\\x1b[31m' is empty or contains control characters",
    "newline in quoted path": "RECORD line 2: RECORD path 'a\\nb' is empty or contains control characters",
    # Python 3.10's csv module refuses the NUL itself; 3.11 and later pass it on to the path check
    "NUL": (
        "RECORD line 1: line contains NUL"
        if sys.version_info < (3, 11)
        else "RECORD line 1: RECORD path 'a\\x00' is empty or contains control characters"
    ),
    "not UTF-8": "RECORD is not UTF-8",
    "byte order mark": "RECORD starts with a byte order mark",
}


@pytest.mark.parametrize("name", list(EXPECTED_MESSAGES))
def test_malformed_record_messages(name: str) -> None:
    with pytest.raises(RecordFormatError) as info:
        Record.from_bytes(dict(BAD_RECORDS)[name])
    assert str(info.value) == EXPECTED_MESSAGES[name]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a,,\rb,,\n", "RECORD has a carriage return that is not part of a CRLF line end"),
        (b"a,sha256,1\n", f"{ROW}hash 'sha256' {NOT_SHA2}"),  # a known name without "="
        (f"a,sha256={SHA},{'1' * 30}\n".encode(), f"{ROW}size '{'1' * 22}' is invalid"),  # the first 22 characters
    ],
    ids=["lone-carriage-return", "hash-without-equals", "size-far-too-long"],
)
def test_more_malformed_record_messages(data: bytes, message: str) -> None:
    with pytest.raises(RecordFormatError) as info:
        Record.from_bytes(data)
    assert str(info.value) == message


def test_caller_mistakes_name_the_type() -> None:
    with pytest.raises(TypeError, match=r"^data must be bytes, not str$"):
        Record.from_bytes("a,,\n")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^path must be a str, not bytes$"):
        RecordEntry(path=b"a")  # type: ignore[arg-type]
    with pytest.raises(RecordFormatError, match=r"^RECORD row 'a': give hash and size, or neither$"):
        RecordEntry(path="a", size=1)


def test_sha384_digest_ending_in_x_round_trips() -> None:
    # sha384 digests fill their 64 base64 characters: the last one can be any letter, "X" included
    content = next(c for c in (b"%d" % i for i in range(10_000)) if b64(hashlib.sha384(c).digest()).endswith("X"))
    digest = hashlib.sha384(content).digest()
    entry = RecordEntry(path="a", algorithm="sha384", digest=digest, size=len(content))
    assert entry.to_row()[1] == f"sha384={b64(digest)}"
    assert Record.from_bytes(Record(entries=[entry]).to_bytes()).entries == (entry,)


# CSV that csv.reader without strict=True (and installer's RECORD parser) reads with a changed meaning
MALFORMED_CSV = [
    ("text after a closing quote", f'"a.py"x,sha256={SHA},1\n'.encode()),  # non-strict: path a.pyx
    ("space after a closing quote", b'"a.py" ,,\n'),
    ("quote after a quoted hash", f'a.py,"sha256={SHA}"",1\n'.encode()),
    ("text after a quoted size", f'a.py,sha256={SHA},"1"0\n'.encode()),
    ("quote at the end of the file", b'a,,\n"'),
]


@pytest.mark.parametrize("data", [d for _, d in MALFORMED_CSV], ids=[n for n, _ in MALFORMED_CSV])
def test_rejects_malformed_csv_quoting(data: bytes) -> None:
    with pytest.raises(RecordFormatError, match=r"^RECORD line \d+: "):
        Record.from_bytes(data)


def test_quoted_fields_are_read_like_unquoted_ones() -> None:
    quoted = Record.from_bytes(f'"a.py","sha256={SHA}","1"\n"b",,\n'.encode())
    assert quoted == Record.from_bytes(f"a.py,sha256={SHA},1\nb,,\n".encode())


def test_size_limits_at_n_and_n_plus_1() -> None:
    data = f"a,sha256={SHA},{'9' * 20}\n".encode()  # the largest size: 20 digits
    assert Record.from_bytes(data).entries[0].size == 10**20 - 1
    assert Record.from_bytes(data, max_size=len(data)).entries[0].path == "a"
    with pytest.raises(RecordFormatError, match=f"^RECORD is {len(data)} bytes, more than {len(data) - 1}$"):
        Record.from_bytes(data, max_size=len(data) - 1)
    digest = hashlib.sha256(b"x").digest()
    for size in (0, 1, 10**20 - 1):
        assert RecordEntry(path="a", algorithm="sha256", digest=digest, size=size).size == size


@pytest.mark.parametrize("size", [-1, 10**20, True, False])
def test_entry_built_in_code_rejects_bad_sizes(size: int) -> None:
    digest = hashlib.sha256(b"x").digest()
    with pytest.raises(RecordFormatError, match=f"^RECORD row 'a': bad size {size!r}$"):
        RecordEntry(path="a", algorithm="sha256", digest=digest, size=size)


# --- checking against the archive ----------------------------------------------------------------


def test_matching_record_has_no_reasons() -> None:
    scan = scanned(wm.wheel_files())
    record = Record.from_bytes(scan.read(RECORD_PATH))
    assert record.check_against(scan.members, record_path=RECORD_PATH) == ()


def test_from_members_round_trips_and_matches() -> None:
    scan = scanned(wm.wheel_files())
    record = Record.from_members(scan.members, record_path=RECORD_PATH)
    assert record.entries[-1] == RecordEntry(path=RECORD_PATH)
    paths = [e.path for e in record.entries[:-1]]
    assert paths == sorted(paths)
    assert Record.from_bytes(record.to_bytes()) == record
    assert record.check_against(scan.members, record_path=RECORD_PATH) == ()


def _check(files: dict[str, bytes], record: bytes, **kwargs: object) -> list[str]:
    files = {**files, RECORD_PATH: record}
    scan = scanned(files)
    reasons = Record.from_bytes(record).check_against(scan.members, record_path=RECORD_PATH, **kwargs)
    assert all(r.code is ReasonCode.RECORD_MISMATCH for r in reasons)
    # every reason names the file it is about: in its message, or RECORD itself
    assert all(r.subject is not None and (r.subject in r.message or r.subject == RECORD_PATH) for r in reasons)
    return [r.message for r in reasons]


BASE = {"pkg/a.py": b"a = 1\n", "pkg/b.py": b"b = 2\n"}


def row(path: str, content: bytes) -> str:
    return f"{path},{wm.record_hash(content)},{len(content)}\n"


def test_reports_member_missing_from_record() -> None:
    messages = _check(BASE, f"{row('pkg/a.py', BASE['pkg/a.py'])}{RECORD_PATH},,\n".encode())
    assert messages == ["RECORD does not list pkg/b.py"]


def test_reports_listed_file_missing_from_archive() -> None:
    rows = "".join(row(p, c) for p, c in BASE.items()) + row("pkg/gone.py", b"") + f"{RECORD_PATH},,\n"
    assert _check(BASE, rows.encode()) == ["RECORD lists pkg/gone.py, which the archive does not contain"]


def test_reports_wrong_hash_and_wrong_size() -> None:
    rows = row("pkg/a.py", b"a = 2\n") + f"pkg/b.py,{wm.record_hash(BASE['pkg/b.py'])},99\n" + f"{RECORD_PATH},,\n"
    assert _check(BASE, rows.encode()) == [
        "pkg/a.py does not match its sha256",
        "pkg/b.py is 6 bytes, not 99",
    ]


def test_reports_record_problems_with_itself() -> None:
    rows = "".join(row(p, c) for p, c in BASE.items())
    assert _check(BASE, rows.encode()) == [
        f"RECORD does not list {RECORD_PATH}",
        "RECORD does not list itself",
    ]
    with_hash = rows + f"{RECORD_PATH},sha256={SHA},3\n"
    assert _check(BASE, with_hash.encode()) == ["RECORD lists a hash and size for itself"]


def test_reports_member_listed_without_hash() -> None:
    rows = row("pkg/a.py", BASE["pkg/a.py"]) + f"pkg/b.py,,\n{RECORD_PATH},,\n"
    assert _check(BASE, rows.encode()) == ["RECORD has no hash and size for pkg/b.py"]


def test_signature_files_must_not_be_listed() -> None:
    files = {**BASE, f"{DIST}/RECORD.jws": b"{}", f"{DIST}/RECORD.p7s": b"sig"}
    rows = "".join(row(p, c) for p, c in BASE.items())
    assert _check(files, f"{rows}{RECORD_PATH},,\n".encode()) == []
    listed = rows + row(f"{DIST}/RECORD.jws", b"{}") + f"{RECORD_PATH},,\n"
    assert _check(files, listed.encode()) == [f"RECORD lists the signature file {DIST}/RECORD.jws"]


def test_other_algorithms_need_a_digest_function() -> None:
    digest = hashlib.sha512(BASE["pkg/a.py"]).digest()
    rows = f"pkg/a.py,sha512={b64(digest)},6\n" + row("pkg/b.py", BASE["pkg/b.py"])
    record = f"{rows}{RECORD_PATH},,\n".encode()
    assert _check(BASE, record) == ["pkg/a.py does not match its sha512"]
    scan = scanned({**BASE, RECORD_PATH: record})
    assert _check(BASE, record, digest=scan.digest) == []

    def broken(name: str, algorithm: str) -> str:
        raise WheelFormatError("changed")

    assert _check(BASE, record, digest=broken) == ["pkg/a.py does not match its sha512"]
    wrong = f"pkg/a.py,sha512={b64(bytes(64))},6\n" + row("pkg/b.py", BASE["pkg/b.py"])
    wrong_record = f"{wrong}{RECORD_PATH},,\n".encode()
    assert _check(BASE, wrong_record, digest=scan.digest) == ["pkg/a.py does not match its sha512"]


# --- properties ----------------------------------------------------------------------------------


@given(sw.records)
def test_serialise_parse_round_trip(record: Record) -> None:
    data = record.to_bytes()
    parsed = Record.from_bytes(data)
    assert parsed == record
    assert parsed.to_bytes() == data


@given(sw.record_like_bytes)
def test_record_like_bytes_parse_or_raise_record_format_error(data: bytes) -> None:
    try:
        record = Record.from_bytes(data)
    except RecordFormatError:
        return
    assert Record.from_bytes(record.to_bytes()) == record


@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_record_format_error(data: bytes) -> None:
    with contextlib.suppress(RecordFormatError):
        Record.from_bytes(data)


def _info(name: str, content: bytes) -> MemberInfo:
    return MemberInfo(
        name=name,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        compressed_size=len(content),
        method=0,
        crc32=0,
        offset=0,
    )


@pytest.mark.parametrize("record_path", ["RECORD", "a/b.dist-info/RECORD"])
def test_signature_files_sit_next_to_record_wherever_it_is(record_path: str) -> None:
    directory = record_path.rpartition("/")[0]
    signature = f"{directory}/RECORD.jws" if directory else "RECORD.jws"
    members = [_info("m.py", b"x"), _info(signature, b"{}"), _info(record_path, b"")]
    record = Record(entries=[sha256_row("m.py", b"x"), RecordEntry(path=record_path)])
    assert record.check_against(members, record_path=record_path) == ()
    listed = Record(entries=[*record.entries, sha256_row(signature, b"{}")])
    assert [r.message for r in listed.check_against(members, record_path=record_path)] == [
        f"RECORD lists the signature file {signature}"
    ]


def test_record_listing_itself_is_not_an_extra_file_when_it_is_not_a_member() -> None:
    record = Record(entries=[sha256_row("m.py", b"x"), RecordEntry(path=RECORD_PATH)])
    assert record.check_against([_info("m.py", b"x")], record_path=RECORD_PATH) == ()
