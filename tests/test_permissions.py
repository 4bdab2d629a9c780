"""Permission grammar and matching: examples for every rule, properties for soundness."""

from __future__ import annotations

import posixpath
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import Permission, PermissionSet
from securehost.exceptions import PermissionFormatError

# --- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "fs.read:/srv/data/**",
        "fs.read:/",
        "fs.write:/tmp/*.log",
        "fs.write:/a/**/b/*",
        "net.connect:api.example.com:443",
        "net.connect:*.example.com",
        "net.connect:*",
        "net.connect:10.0.0.1:5432",
        "net.connect:[::1]:8080",
        "net.connect:[2001:db8::1]",
        "net.bind:127.0.0.1:8000",
        "proc.spawn",
        "proc.spawn:/usr/bin/git",
        "env.read:HOME",
        "env.read:LC_*",
        "env.write:MY_APP_*",
        "sys.native",
        "agent.control",
        "db.write:orders/*",
    ],
)
def test_parses_and_round_trips(text: str) -> None:
    permission = Permission.parse(text)
    assert str(permission) == text
    assert Permission.parse(str(permission)) == permission


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        (" fs.read:/a", "whitespace"),
        ("FS.read:/a", "uppercase kind"),
        ("fs.read", "scope required"),
        ("fs.read:", "empty scope"),
        ("fs.read:relative/path", "not absolute"),
        ("fs.read:/a/../b", "dot-dot segment"),
        ("fs.read:/a/./b", "dot segment"),
        ("fs.read:/a//b", "empty segment"),
        ("fs.read:/a/", "trailing slash"),
        ("fs.read:/a/b**", "partial double star"),
        ("fs.read:/a/?", "question mark"),
        ("fs.read:/a/[ab]", "character class"),
        ("fs.read:/a\\b", "backslash"),
        ("net.connect", "scope required"),
        ("net.connect:Example.com", "uppercase host"),
        ("net.connect:example.com:0", "port zero"),
        ("net.connect:example.com:65536", "port too large"),
        ("net.connect:example.com:08", "leading zero port"),
        ("net.connect:example.com:", "empty port"),
        ("net.connect:127.1", "non-canonical IPv4"),
        ("net.connect:0x7f.1", "hex IPv4"),
        ("net.connect:1.2.3.04", "leading zero IPv4"),
        ("net.connect:[0::1]", "non-canonical IPv6"),
        ("net.connect:[::1", "unterminated IPv6"),
        ("net.connect:*.", "wildcard without domain"),
        ("net.connect:a.*.com", "inner wildcard"),
        ("env.read:HO-ME", "bad variable name"),
        ("sys.native:x", "sys.native takes no scope"),
        ("db.write:a b", "space in custom scope"),
        ("db.write:a**", "double star in custom scope"),
        ("x" * 5000, "too long"),
    ],
)
def test_rejects_malformed_permission(text: str, why: str) -> None:
    with pytest.raises(PermissionFormatError):
        Permission.parse(text)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(TypeError):
        Permission.parse(b"fs.read:/a")  # type: ignore[arg-type]


def test_permission_set_parse_rejects_single_string() -> None:
    with pytest.raises(TypeError):
        PermissionSet.parse("fs.read:/a")


@given(st.text(max_size=200))
def test_parse_raises_only_format_errors(text: str) -> None:
    try:
        permission = Permission.parse(text)
    except PermissionFormatError:
        return
    assert Permission.parse(str(permission)) == permission


# --- matching examples ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant", "value", "expected"),
    [
        ("fs.read:/srv/data/**", "/srv/data", True),
        ("fs.read:/srv/data/**", "/srv/data/a/b.csv", True),
        ("fs.read:/srv/data/**", "/srv/database", False),
        ("fs.read:/srv/data/**", "/srv/data/../etc/passwd", False),
        ("fs.read:/srv/data/**", "/srv/data/./x", False),
        ("fs.read:/srv/data/**", "/srv/data//x", False),
        ("fs.read:/srv/data/**", "srv/data/x", False),
        ("fs.read:/srv/data/**", "//srv/data/x", False),
        ("fs.read:/srv/data/*", "/srv/data/x", True),
        ("fs.read:/srv/data/*", "/srv/data/x/y", False),
        ("fs.read:/srv/data/*", "/srv/data/a*b", True),
        ("fs.read:/srv/*/in", "/srv/a/in", True),
        ("fs.read:/srv/*/in", "/srv/in", False),
        ("fs.read:/srv/**/in", "/srv/in", True),
        ("fs.read:/srv/**/in", "/srv/a/b/in", True),
        ("fs.read:/srv/**/in", "/srv/a/b/xin", False),
        ("fs.read:/", "/", True),
        ("fs.read:/", "/etc", False),
        ("fs.read:/**", "/etc/passwd", True),
        ("fs.read:/a", "/a\x00", False),
        ("net.connect:api.example.com:443", "api.example.com:443", True),
        ("net.connect:api.example.com:443", "API.Example.com.:443", True),
        ("net.connect:api.example.com:443", "api.example.com:80", False),
        ("net.connect:api.example.com:443", "api.example.com", True),
        ("net.connect:api.example.com", "api.example.com:22", True),
        ("net.connect:api.example.com", "evil.com", False),
        ("net.connect:*.example.com", "a.b.example.com:1", True),
        ("net.connect:*.example.com", "example.com:1", False),
        ("net.connect:*.example.com", "badexample.com:1", False),
        ("net.connect:*", "anything.at.all:9", True),
        ("net.connect:127.0.0.1", "127.1:80", False),
        ("net.connect:127.0.0.1", "2130706433:80", False),
        ("net.connect:127.0.0.1", "127.0.0.1:80", True),
        ("net.connect:127.0.0.1", "[::ffff:127.0.0.1]:80", True),
        ("net.connect:[::1]:80", "[0:0::1]:80", True),
        ("net.connect:[::1]:80", "[::2]:80", False),
        ("net.connect:*.example.com", "[::1]:80", False),
        ("net.connect:*", "*.example.com", False),
        ("net.connect:example.com", "example.com:notaport", False),
        ("env.read:LC_*", "LC_ALL", True),
        ("env.read:LC_*", "LANG", False),
        ("proc.spawn", "/usr/bin/anything", True),
        ("proc.spawn:/usr/bin/git", "/usr/bin/git", True),
        ("proc.spawn:/usr/bin/git", "/usr/bin/gitk", False),
        ("db.write:orders/*", "orders/2024/01", True),
        ("db.write:orders/*", "customers/1", False),
        ("agent.control", "anything", True),
    ],
)
def test_matches(grant: str, value: str, expected: bool) -> None:
    assert Permission.parse(grant).matches(value) is expected


@pytest.mark.parametrize(
    ("grant", "wanted", "expected"),
    [
        ("fs.read:/srv/**", "fs.read:/srv/data/**", True),
        ("fs.read:/srv/*", "fs.read:/srv/**", False),
        ("fs.read:/srv/*", "fs.read:/srv/*", True),
        ("fs.read:/srv/a*", "fs.read:/srv/*", False),
        ("fs.read:/srv/**", "fs.write:/srv/x", False),
        ("fs.read:/srv/**/x", "fs.read:/srv/**", False),
        ("net.connect:*.example.com", "net.connect:a.example.com:443", True),
        ("net.connect:*.example.com:443", "net.connect:*.example.com", False),
        ("net.connect:*", "net.connect:*.example.com", True),
        ("net.connect:a.example.com", "net.connect:*", False),
        ("proc.spawn", "proc.spawn:/usr/bin/git", True),
        ("proc.spawn:/usr/bin/*", "proc.spawn", False),
        ("db.write", "db.write:orders", True),
        ("db.write:orders", "db.write", False),
    ],
)
def test_covers(grant: str, wanted: str, expected: bool) -> None:
    assert Permission.parse(grant).covers(Permission.parse(wanted)) is expected


# --- sets -----------------------------------------------------------------------------------------


def test_permission_set_queries() -> None:
    grants = PermissionSet.parse(["fs.read:/srv/**", "net.connect:*.example.com:443", "proc.spawn"])
    assert len(grants) == 3
    assert Permission.parse("proc.spawn") in grants
    assert grants.allows("fs.read", "/srv/x")
    assert not grants.allows("fs.read", "/etc/x")
    assert grants.allows("proc.spawn")
    assert not grants.allows("fs.read")  # no unscoped fs.read
    assert not grants.allows("env.read", "HOME")
    assert grants.covers(Permission.parse("fs.read:/srv/a/*"))
    assert grants.strings() == tuple(sorted(grants.strings()))
    missing = grants.missing([Permission.parse("db.write"), Permission.parse("fs.read:/srv/x")])
    assert missing.strings() == ("db.write",)


def test_restrict_is_intersection_of_grants() -> None:
    requested = PermissionSet.parse(["fs.read:/srv/data/**", "net.connect:api.example.com:443", "db.write"])
    granted = PermissionSet.parse(["fs.read:/srv/**", "db.write"])
    vouched = PermissionSet.parse(["fs.read:/**", "net.connect:*"])
    effective = requested.restrict(granted, vouched)
    assert effective.strings() == ("fs.read:/srv/data/**",)


# --- properties -----------------------------------------------------------------------------------

_SEGMENT = st.sampled_from(["a", "b", "ab", "x.y", "*", "a*", "*b"])
_CONCRETE_SEGMENT = st.sampled_from(["a", "b", "ab", "ba", "x.y", "aab", "*", "a*b"])


@st.composite
def path_globs(draw: st.DrawFn) -> str:
    segments = draw(st.lists(st.one_of(_SEGMENT, st.just("**")), min_size=0, max_size=4))
    return "/" + "/".join(segments) if segments else "/"


@st.composite
def concrete_paths(draw: st.DrawFn) -> str:
    segments = draw(st.lists(_CONCRETE_SEGMENT, min_size=0, max_size=5))
    return "/" + "/".join(segments) if segments else "/"


def _reference_match(pattern: str, value: str) -> bool:
    """An independent, segment-by-segment matcher: what a path glob says, and nothing more."""
    pat = [] if pattern == "/" else pattern[1:].split("/")
    val = [] if value == "/" else value[1:].split("/")

    def segment(p: str, v: str) -> bool:
        return re.fullmatch(".*".join(re.escape(part) for part in p.split("*")), v, re.DOTALL) is not None

    def walk(i: int, j: int) -> bool:
        if i == len(pat):
            return j == len(val)
        if pat[i] == "**":
            return any(walk(i + 1, k) for k in range(j, len(val) + 1))
        return j < len(val) and segment(pat[i], val[j]) and walk(i + 1, j + 1)

    return walk(0, 0)


@st.composite
def instances_of(draw: st.DrawFn, glob: str) -> str:
    """A concrete path that the glob *glob* matches."""
    out: list[str] = []
    for seg in [] if glob == "/" else glob[1:].split("/"):
        if seg == "**":
            out += draw(st.lists(_CONCRETE_SEGMENT, max_size=3))
        else:
            pieces = seg.split("*")
            fills = [draw(st.sampled_from(["", "a", "b", "x.y", "*"])) for _ in pieces[1:]]
            text = pieces[0] + "".join(f + p for f, p in zip(fills, pieces[1:], strict=True))
            out.append(text if text not in ("", ".", "..") else "a")
    return "/" + "/".join(out) if out else "/"


@given(path_globs(), concrete_paths())
def test_path_scope_matches_exactly_what_it_says(glob: str, value: str) -> None:
    permission = Permission.parse(f"fs.read:{glob}")
    assert permission.matches(value) is _reference_match(glob, value)


@given(path_globs(), concrete_paths(), st.sampled_from(["..", ".", ""]), st.integers(0, 5))
def test_dot_dot_never_widens(glob: str, value: str, bad: str, where: int) -> None:
    parts = value.split("/")
    parts.insert(min(where, len(parts) - 1) + 1, bad)
    tricky = "/".join(parts)
    permission = Permission.parse(f"fs.write:{glob}")
    assert not permission.matches(tricky)
    # what a resolved (normalised) spelling is allowed to reach is judged on that spelling only
    resolved = posixpath.normpath(tricky)
    if not resolved.startswith("//"):
        assert permission.matches(resolved) is _reference_match(glob, resolved)


@st.composite
def generalisations(draw: st.DrawFn, glob: str) -> str:
    """A glob that is likely (not certain) to cover *glob*: some segments widened to * or **."""
    out: list[str] = []
    for seg in [] if glob == "/" else glob[1:].split("/"):
        choice = draw(st.sampled_from(["keep", "keep", "star", "double"]))
        if choice == "double" or seg == "**":
            if not out or out[-1] != "**":
                out.append("**")
        else:
            out.append("*" if choice == "star" else seg)
    return "/" + "/".join(out) if out else "/"


@given(path_globs(), st.data())
def test_path_covers_is_sound(request_glob: str, data: st.DataObject) -> None:
    grant_glob = data.draw(st.one_of(path_globs(), generalisations(request_glob)))
    grant = Permission.parse(f"fs.read:{grant_glob}")
    request = Permission.parse(f"fs.read:{request_glob}")
    value = data.draw(instances_of(request_glob))
    assert request.matches(value)
    if grant.covers(request):
        assert grant.matches(value)


_HOST_PATTERNS = st.sampled_from(
    ["*", "example.com", "*.example.com", "a.example.com", "*.a.example.com", "10.0.0.1", "[::1]"]
)
_PORTS = st.sampled_from(["", ":443", ":80"])
_CONCRETE_HOSTS = st.sampled_from(
    [
        "example.com",
        "a.example.com",
        "b.a.example.com",
        "xexample.com",
        "10.0.0.1",
        "[::1]",
        "[::2]",
    ]
)


@given(_HOST_PATTERNS, _PORTS, _HOST_PATTERNS, _PORTS, _CONCRETE_HOSTS, st.sampled_from([443, 80, 22]))
def test_host_covers_is_sound(
    grant_host: str, grant_port: str, request_host: str, request_port: str, host: str, port: int
) -> None:
    grant = Permission.parse(f"net.connect:{grant_host}{grant_port}")
    request = Permission.parse(f"net.connect:{request_host}{request_port}")
    value = f"{host}:{port}"
    if grant.covers(request) and request.matches(value):
        assert grant.matches(value)


@given(_HOST_PATTERNS, _PORTS, _CONCRETE_HOSTS, st.sampled_from([443, 80]))
def test_host_scope_matches_exactly_what_it_says(pattern: str, port_text: str, host: str, port: int) -> None:
    permission = Permission.parse(f"net.connect:{pattern}{port_text}")
    if pattern == "*":
        host_ok = True
    elif pattern.startswith("*."):
        host_ok = host.endswith(pattern[1:]) and host != pattern[2:]
    else:
        host_ok = host == pattern
    port_ok = not port_text or port_text == f":{port}"
    assert permission.matches(f"{host}:{port}") is (host_ok and port_ok)


_NAMES = st.text(alphabet="AB_*", min_size=1, max_size=5)


@given(_NAMES, _NAMES, st.text(alphabet="AB_", min_size=1, max_size=6))
def test_name_covers_is_sound(grant_glob: str, request_glob: str, name: str) -> None:
    grant = Permission.parse(f"env.read:{grant_glob}")
    request = Permission.parse(f"env.read:{request_glob}")
    if grant.covers(request) and request.matches(name):
        assert grant.matches(name)


@given(st.lists(st.sampled_from(["fs.read:/a/**", "fs.read:/a/b", "db.write", "net.connect:*"]), max_size=4))
def test_restrict_never_adds(texts: list[str]) -> None:
    requested = PermissionSet.parse(texts)
    granted = PermissionSet.parse(["fs.read:/a/**"])
    effective = requested.restrict(granted)
    assert effective.permissions <= requested.permissions
    assert all(granted.covers(p) for p in effective)


def test_permission_set_orders_scoped_and_unscoped_of_one_kind_as_text() -> None:
    from securehost import PermissionSet

    perms = PermissionSet.parse(["proc.spawn:/usr/bin/git", "proc.spawn", "agent.control"])
    assert perms.strings() == ("agent.control", "proc.spawn", "proc.spawn:/usr/bin/git")
    assert [str(p) for p in perms] == list(perms.strings())


def test_empty_results_share_one_empty_set_and_stay_equal_to_any_other() -> None:
    from securehost._permissions import NO_PERMISSIONS

    some = PermissionSet.parse(["fs.read:/srv/**"])
    assert PermissionSet.parse([]) is NO_PERMISSIONS
    assert some.missing(some) is NO_PERMISSIONS
    assert some.restrict(PermissionSet()) is NO_PERMISSIONS
    assert NO_PERMISSIONS.restrict(some) is NO_PERMISSIONS
    assert NO_PERMISSIONS == PermissionSet() == PermissionSet(frozenset())
    assert hash(NO_PERMISSIONS) == hash(PermissionSet())
    assert some.restrict(some) == some
    assert PermissionSet().missing(some) == some
