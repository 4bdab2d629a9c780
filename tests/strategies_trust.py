"""Hypothesis strategies and fixtures data for the trust-store tests."""

from __future__ import annotations

from datetime import datetime, timezone

import tomlkit
from hypothesis import reject
from hypothesis import strategies as st

from securehost import Permission, PermissionSet, PrivateKey

# Key generation is slow (RSA) and Hypothesis does not need fresh keys: draw from a fixed pool.
KEY_POOL: tuple[PrivateKey, ...] = (
    *(PrivateKey.generate("ed25519") for _ in range(3)),
    PrivateKey.generate("ecdsa-p256"),
    PrivateKey.generate("ecdsa-p384"),
    PrivateKey.generate("rsa-3072"),
)

private_keys = st.sampled_from(KEY_POOL)
public_keys = private_keys.map(lambda k: k.public_key)

# Valid distribution-name patterns as a user might write them (mixed case, any separator, globs).
name_patterns = st.from_regex(r"[A-Za-z0-9*]([A-Za-z0-9._*-]{0,20}[A-Za-z0-9*])?", fullmatch=True)
distribution_names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True)

labels = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=40,
).filter(lambda s: s == s.strip() and s.isprintable())

_segment = st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True)
_path_glob = st.lists(_segment | st.just("*") | st.just("**"), min_size=1, max_size=4).map(
    lambda parts: "/" + "/".join(parts)
)
_host = st.tuples(
    st.booleans(), st.lists(st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True), min_size=1, max_size=3)
).map(lambda t: ("*." if t[0] else "") + ".".join(t[1]))
_port = st.none() | st.integers(1, 65535)
_permission_texts = st.one_of(
    _path_glob.map(lambda p: f"fs.read:{p}"),
    _path_glob.map(lambda p: f"fs.write:{p}"),
    st.tuples(_host, _port).map(lambda t: f"net.connect:{t[0]}" + (f":{t[1]}" if t[1] else "")),
    st.just("net.connect:*"),
    st.from_regex(r"[A-Z_*]{1,8}", fullmatch=True).map(lambda v: f"env.read:{v}"),
    st.just("proc.spawn"),
    _path_glob.map(lambda p: f"proc.spawn:{p}"),
    st.sampled_from(["agent.control", "db.write", "db.write:orders"]),
)
permissions = _permission_texts.map(Permission.parse)
permission_sets = st.lists(permissions, max_size=5).map(lambda ps: PermissionSet(frozenset(ps)))

utc_datetimes = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)


@st.composite
def windows(draw: st.DrawFn) -> tuple[datetime | None, datetime | None]:
    """An optional validity window with ``after < before``."""
    after = draw(st.none() | utc_datetimes)
    before = draw(st.none() | utc_datetimes)
    if after is not None and before is not None and after >= before:
        after, before = (before, after) if after > before else (after, None)
    return after, before


# --- near-valid TOML documents for the loader fuzz test ------------------------------------------

_FIELD_NAMES = (
    "version",
    "revoked",
    "key",
    "threshold",
    "label",
    "public_key",
    "key_id",
    "names",
    "max_permissions",
    "valid_after",
    "valid_before",
    "pattern",
    "count",
    "public_key_file",
)
_interesting_strings = st.one_of(
    st.text(max_size=20),
    name_patterns,
    _permission_texts,
    public_keys.map(lambda k: k.to_openssh()),
    public_keys.map(lambda k: k.to_pem().decode()),
    public_keys.map(lambda k: k.key_id),
    st.from_regex(r"[0-9a-fA-F]{60,68}", fullmatch=True),
    st.sampled_from(["*", "-", "acme-", "ssh-ed25519 AAAA", "-----BEGIN PUBLIC KEY-----"]),
)
_scalars = st.one_of(
    _interesting_strings,
    st.integers(-3, 3),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(timezones=st.none() | st.just(timezone.utc)),
    st.dates(),
)
toml_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(_FIELD_NAMES) | st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def near_valid_documents(draw: st.DrawFn) -> str:
    """A trust store document, valid at first, with a few random fields replaced or added."""
    key = draw(public_keys)
    document: dict[str, object] = {
        "version": 1,
        "revoked": [],
        "key": [{"label": "alice", "public_key": key.to_openssh(), "names": ["acme-*"]}],
        "threshold": [{"pattern": "acme-*", "count": 1}],
    }
    tables = [document, document["key"][0], document["threshold"][0]]  # type: ignore[index]
    for _ in range(draw(st.integers(1, 3))):
        target: dict[str, object] = draw(st.sampled_from(tables))
        field = draw(st.sampled_from(_FIELD_NAMES) | st.text(min_size=1, max_size=5))
        if draw(st.booleans()) and field in target:
            del target[field]
        else:
            target[field] = draw(toml_values)
    try:
        return tomlkit.dumps(document)
    except Exception:
        reject()
