"""Hypothesis strategies and shared helpers for envelope and statement tests."""

from __future__ import annotations

import datetime as dt
import functools
import keyword
from typing import Any

from hypothesis import strategies as st
from packaging.version import Version

from securehost import PrivateKey
from securehost._signing.envelope import Envelope, Signature
from securehost._signing.predicate import PluginPredicate, Subject
from securehost._signing.statement import Statement

UTC = dt.timezone.utc
KEY_KINDS = ("ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-3072")


@functools.cache
def private_key(kind: str, index: int = 0) -> PrivateKey:
    """A key of *kind*, generated once per test session (RSA-3072 is slow to generate)."""
    return PrivateKey.generate(kind)


# --- statement parts ------------------------------------------------------------------------------

_SEGMENT_CHARS = st.characters(
    categories=("Lu", "Ll", "Nd", "Lo"), include_characters="_-.~+=@ ", exclude_characters="/\\"
)
segments = st.text(_SEGMENT_CHARS, min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
subject_names = st.lists(segments, min_size=1, max_size=4).map("/".join)
sha256_hex = st.binary(min_size=32, max_size=32).map(bytes.hex)


@st.composite
def subject_lists(draw: st.DrawFn, max_size: int = 8) -> list[Subject]:
    names = draw(st.lists(subject_names, min_size=1, max_size=max_size, unique=True))
    return [Subject(name=n, sha256=draw(sha256_hex)) for n in sorted(names)]


dist_names = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True)

versions = st.builds(
    lambda release, pre, local: str(Version(".".join(map(str, release)) + pre + local)),
    st.lists(st.integers(0, 2000), min_size=1, max_size=4),
    st.sampled_from(["", "a1", "b2", "rc3", ".post1", ".dev4", "rc1.post2.dev3"]),
    st.sampled_from(["", "+local.1", "+ubuntu7"]),
)

_INTERPRETERS = ["py3", "py2", "cp311", "cp312", "pp310", "py313"]
_ABIS = ["none", "abi3", "cp311", "cp312t"]
_PLATFORMS = ["any", "linux_x86_64", "manylinux_2_17_x86_64", "win_amd64", "macosx_11_0_arm64"]
single_tags = st.builds(
    "{}-{}-{}".format,
    st.sampled_from(_INTERPRETERS),
    st.sampled_from(_ABIS),
    st.sampled_from(_PLATFORMS),
)
tag_lists = st.lists(single_tags, min_size=1, max_size=4, unique=True).map(sorted)

_path_scopes = st.lists(
    st.one_of(st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True), st.just("*"), st.just("**")),
    min_size=1,
    max_size=4,
).map(lambda parts: "/" + "/".join(parts))
# host names start with a letter: an all-digit label like "0" reads as an (uncanonical) IPv4 address and is rejected
_hosts = st.from_regex(r"(\*\.)?[a-z][a-z0-9]{0,9}(\.[a-z]{2,6}){0,2}(:[1-9][0-9]{0,3})?", fullmatch=True)
permission_strings = st.one_of(
    st.builds("fs.read:{}".format, _path_scopes),
    st.builds("fs.write:{}".format, _path_scopes),
    st.builds("net.connect:{}".format, _hosts),
    st.builds("env.read:{}".format, st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}\*?", fullmatch=True)),
    st.sampled_from(["proc.spawn", "proc.spawn:/usr/bin/git", "agent.control", "db.write:orders"]),
)
permission_lists = st.lists(permission_strings, max_size=5, unique=True).map(sorted)

_identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))
_dotted = st.lists(_identifier, min_size=1, max_size=3).map(".".join)
object_references = st.one_of(_dotted, st.builds("{}:{}".format, _dotted, _dotted))
entry_point_groups = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,2}", fullmatch=True)
entry_point_names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,10}", fullmatch=True)
entry_point_maps = st.dictionaries(
    entry_point_groups,
    st.dictionaries(entry_point_names, object_references, min_size=1, max_size=3),
    max_size=3,
)

utc_seconds = st.datetimes(
    min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(9998, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@st.composite
def predicates(draw: st.DrawFn) -> PluginPredicate:
    issued = draw(utc_seconds)
    lifetime = draw(st.none() | st.integers(1, 10 * 365 * 86400))
    return PluginPredicate(
        name=draw(dist_names),
        version=draw(versions),
        tags=draw(tag_lists),
        permissions=draw(permission_lists),
        entry_points=draw(entry_point_maps),
        issued_at=issued,
        expires_at=None if lifetime is None else issued + dt.timedelta(seconds=lifetime),
    )


@st.composite
def statements(draw: st.DrawFn, max_subjects: int = 8) -> Statement:
    return Statement(subjects=draw(subject_lists(max_subjects)), predicate=draw(predicates()))


# --- envelopes ------------------------------------------------------------------------------------

_PRINTABLE = st.characters(categories=("L", "N", "P", "S"), include_characters=" ")
printable_text = st.text(_PRINTABLE, min_size=1, max_size=40).filter(str.isprintable)
signature_objects = st.builds(Signature, keyid=printable_text, sig=st.binary(min_size=1, max_size=600))
envelopes = st.builds(
    Envelope,
    payload=st.binary(max_size=300),
    payload_type=printable_text,
    signatures=st.lists(signature_objects, max_size=5).map(tuple),
)


# --- arbitrary JSON, for fuzzing the parsers ------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (tuple of keys and indexes) to a node of a decoded JSON document."""
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths.extend(json_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths.extend(json_paths(child, (*prefix, index)))
    return paths


def replace_at(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """Return a copy of *value* with the node at *path* replaced by *new*."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (replace_at(v, rest, new) if k == head else v) for k, v in value.items()}
    return [replace_at(v, rest, new) if i == head else v for i, v in enumerate(value)]


@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """Apply one to three random edits (replace, insert, delete, truncate) to *data*."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "replace" and out:
            out[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and out:
            del out[pos : pos + draw(st.integers(1, 4))]
        else:
            del out[pos:]
    return bytes(out)
