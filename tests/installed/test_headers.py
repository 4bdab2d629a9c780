"""The fast METADATA header reader agrees with the email parser (``compat32``) on every header block it accepts."""

from __future__ import annotations

import email.parser
import email.policy

from hypothesis import given
from hypothesis import strategies as st

from securehost._installed.headers import header_values, plain_headers

NAMES = st.sampled_from(["Name", "Version", "Requires-Dist", "requires-dist", "Summary", "X:Y", "", "From "])
VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
LINE = st.one_of(
    st.builds(lambda n, sep, v: f"{n}{sep}{v}", NAMES, st.sampled_from([":", ": ", ":\t", " :"]), VALUES),
    st.builds(lambda v: f" {v}", VALUES),  # a folded line
    VALUES,  # anything
)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


def email_values(raw: bytes, name: str) -> list[str]:
    message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return [str(v) for v in message.get_all(name) or []]


@given(st.lists(st.tuples(LINE, ENDINGS), max_size=8), st.sampled_from(["", "\n", "\nbody: x\n"]))
def test_plain_headers_agree_with_the_email_parser(lines: list[tuple[str, str]], tail: str) -> None:
    raw = ("".join(line + end for line, end in lines) + tail).encode("utf-8", "surrogateescape")
    plain = plain_headers(raw)
    for name in ("Name", "Version", "Requires-Dist", "Summary"):
        expected = email_values(raw, name)
        assert header_values(raw, name) == expected
        if plain is not None:
            assert plain.get(name.lower(), []) == expected


def test_a_typical_metadata_is_plain() -> None:
    raw = b"Metadata-Version: 2.1\nName: acme-csv\nVersion: 1.0\nRequires-Dist: pluggy>=1.5\n\nlong description\n"
    assert plain_headers(raw) == {
        "metadata-version": ["2.1"],
        "name": ["acme-csv"],
        "version": ["1.0"],
        "requires-dist": ["pluggy>=1.5"],
    }


def test_folded_or_non_ascii_headers_go_to_the_email_parser() -> None:
    assert plain_headers(b"Name: a\n b\n") is None
    assert plain_headers("Name: \u00e9\n".encode()) is None
    assert header_values(b"Requires-Dist: a\n b\n", "Requires-Dist") == ["a\n b"]
