"""securehost.testing used directly: wheels from files, tampering, plugin sites, trust stores, host factories.

The pytest fixtures that wrap these helpers are tested through ``pytester`` in ``test_pytest_plugin.py``.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path

import pluggy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from installer.sources import WheelFile
from packaging.utils import parse_wheel_filename

from securehost import (
    HookError,
    HookspecMarker,
    LoadReport,
    PermissionDeniedError,
    PluginReport,
    PrivateKey,
    ReasonCode,
    SecurePluginManager,
    TrustStore,
    current_plugin,
    sign_wheel,
    verify_wheel,
)
from securehost.exceptions import ConfigurationError, SigningError
from securehost.testing import (
    EVERY_BUILTIN_PERMISSION,
    BuildUnavailableError,
    HostFactory,
    PluginSite,
    ProjectBuildError,
    SiteTamper,
    WheelFactory,
    WheelTamper,
    assert_accepted,
    assert_denied,
    assert_rejected,
    build_project,
    build_wheel,
    denied,
    tamper_wheel,
    trust_store_for,
    wheel_members,
    write_trust_store,
)

KEY = PrivateKey.generate("ed25519")
STORE = trust_store_for(KEY)
GROUP = "myhost.plugins"
hookspec = HookspecMarker("myhost")


class Spec:
    @hookspec
    def greet(self, name: str) -> str:  # type: ignore[empty-body]
        """Greet someone."""


PLUGIN = (
    "import pluggy\n"
    "hookimpl = pluggy.HookimplMarker('myhost')\n"
    "@hookimpl\n"
    "def greet(name):\n"
    "    return f'hello {name}'\n"
)
FILES = {"hello_plugin/__init__.py": PLUGIN, "hello_plugin/data.txt": b"\x00\x01data"}
ENTRY_POINTS = {GROUP: {"hello": "hello_plugin"}}


def hello_wheel(directory: Path, **options: object) -> Path:
    return build_wheel(directory, FILES, name="hello-plugin", version="1.0", entry_points=ENTRY_POINTS, **options)


# --- building ------------------------------------------------------------------------------------------------


def test_built_wheel_follows_the_wheel_format(tmp_path: Path) -> None:
    wheel = build_wheel(
        tmp_path,
        FILES,
        name="Hello.Plugin",
        version="01.0",
        entry_points=ENTRY_POINTS,
        requires=["pluggy>=1.5"],
        tag="py2.py3-none-any",
    )
    assert wheel.name == "hello_plugin-1.0-py2.py3-none-any.whl"
    name, version, _, tags = parse_wheel_filename(wheel.name)
    assert (name, str(version)) == ("hello-plugin", "1.0")
    with WheelFile.open(wheel) as source:
        source.validate_record()  # installer's own RECORD check: every hash and size
        assert source.dist_info_dir == "hello_plugin-1.0.dist-info"
    members = wheel_members(wheel)
    assert list(members)[-1] == "hello_plugin-1.0.dist-info/RECORD"
    metadata = email.parser.BytesHeaderParser().parsebytes(members["hello_plugin-1.0.dist-info/METADATA"])
    assert (metadata["Metadata-Version"], metadata["Name"], metadata["Version"]) == ("2.1", "Hello.Plugin", "1.0")
    assert metadata.get_all("Requires-Dist") == ["pluggy>=1.5"]
    wheel_file = members["hello_plugin-1.0.dist-info/WHEEL"].decode()
    assert sorted(line for line in wheel_file.splitlines() if line.startswith("Tag:")) == sorted(
        f"Tag: {t}" for t in tags
    )
    assert members["hello_plugin/data.txt"] == b"\x00\x01data"
    assert members["hello_plugin-1.0.dist-info/entry_points.txt"] == b"[myhost.plugins]\nhello = hello_plugin\n"


def test_building_is_deterministic(tmp_path: Path) -> None:
    first = hello_wheel(tmp_path / "a").read_bytes()
    assert hello_wheel(tmp_path / "b").read_bytes() == first


def test_built_wheel_signs_and_verifies_even_with_a_compressed_tag(tmp_path: Path) -> None:
    wheel = hello_wheel(tmp_path, tag="py2.py3-none-any")
    assert verify_wheel(wheel, STORE).codes == {ReasonCode.ENVELOPE_MISSING}
    sign_wheel(wheel, KEY, permissions=["fs.read:/srv/**"])
    verdict = verify_wheel(wheel, STORE)
    assert verdict.accepted, verdict.summary()
    assert verdict.permissions == ("fs.read:/srv/**",)


@pytest.mark.parametrize(
    ("files", "options", "message"),
    [
        ({"/abs.py": b""}, {}, "relative POSIX path"),
        ({"pkg/../x.py": b""}, {}, "relative POSIX path"),
        ({"pkg//x.py": b""}, {}, "relative POSIX path"),
        ({"pkg\\x.py": b""}, {}, "relative POSIX path"),
        ({"hello_plugin-1.0.dist-info/METADATA": b""}, {}, "writes the .dist-info metadata"),
        ({"hello_plugin-1.0.dist-info/securehost.dsse.json": b""}, {}, "writes the .dist-info metadata"),
        ({"other-1.0.dist-info/licenses/LICENSE": b""}, {}, "writes the .dist-info metadata"),
        (FILES, {"name": "-bad-"}, "not a valid distribution name"),
        (FILES, {"version": "one"}, "not a PEP 440 version"),
        (FILES, {"tag": "py3"}, "not a compatibility tag"),
        (FILES, {"entry_points": {"bad group!": {"a": "b"}}}, "not a valid group name"),
        (FILES, {"entry_points": {GROUP: {"a=b": "c"}}}, "cannot be written"),
        (FILES, {"entry_points": {GROUP: {"a": "b\n[x]"}}}, "cannot be written"),
    ],
)
def test_builder_rejects_what_it_cannot_write_faithfully(
    tmp_path: Path, files: dict[str, bytes], options: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"name": "hello-plugin", "version": "1.0", **options}
    with pytest.raises(ValueError, match=message):
        build_wheel(tmp_path, files, **arguments)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_builder_accepts_extra_dist_info_files(tmp_path: Path) -> None:
    wheel = build_wheel(
        tmp_path, {**FILES, "hello_plugin-1.0.dist-info/licenses/LICENSE": "MIT"}, name="hello-plugin", version="1.0"
    )
    assert wheel_members(wheel)["hello_plugin-1.0.dist-info/licenses/LICENSE"] == b"MIT"


@pytest.mark.parametrize(
    ("files", "options"),
    [({"a.py": 1}, {}), ({1: b""}, {}), (FILES, {"requires": "pluggy"}), (FILES, {"entry_points": {GROUP: "x"}})],
)
def test_builder_rejects_wrong_types(tmp_path: Path, files: dict[object, object], options: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        build_wheel(tmp_path, files, name="x", version="1", **options)  # type: ignore[arg-type]


segment = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
file_paths = st.builds(
    lambda dirs, stem, ext: "/".join([*dirs, f"{stem}.{ext}"]),
    st.lists(segment, min_size=1, max_size=3),
    segment,
    st.sampled_from(["py", "txt", "json"]),
)
file_trees = st.dictionaries(file_paths, st.binary(max_size=200), min_size=1, max_size=6)


@given(files=file_trees, kind=st.sampled_from(list(WheelTamper)))
def test_any_file_tree_round_trips_and_any_tampering_is_rejected(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], kind: WheelTamper
) -> None:
    directory = tmp_path_factory.mktemp("prop")
    wheel = build_wheel(directory / "built", files, name="prop-plugin", version="2.0")
    members = wheel_members(wheel)
    assert {n: d for n, d in members.items() if not n.startswith("prop_plugin-2.0.dist-info/")} == files
    sign_wheel(wheel, KEY)
    assert verify_wheel(wheel, STORE).accepted
    tampered = tamper_wheel(wheel, kind, directory / "tampered")
    verdict = verify_wheel(tampered, STORE)
    assert kind.reason in verdict.codes, verdict.summary()


# --- tampering -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(WheelTamper))
def test_every_tamper_kind_is_rejected_with_its_reason(tmp_path: Path, kind: WheelTamper) -> None:
    wheel = sign_wheel(hello_wheel(tmp_path / "signed"), KEY, permissions=["fs.read:/srv/**"])
    tampered = tamper_wheel(wheel, kind.value, tmp_path / "tampered")
    assert tampered.name == wheel.name
    assert verify_wheel(wheel, STORE).accepted  # the original is untouched
    verdict = verify_wheel(tampered, STORE)
    assert_rejected(verdict, reason=kind.reason)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(WheelTamper))
def test_tampering_applies_to_wheels_built_by_a_real_backend(
    example_wheels: dict[str, Path], tmp_path: Path, kind: WheelTamper
) -> None:
    factory = WheelFactory(tmp_path, KEY)
    signed = factory.sign(example_wheels["csv"], permissions=["fs.read:/srv/**"])
    assert_accepted(verify_wheel(signed, STORE))
    assert_rejected(verify_wheel(factory.tamper(signed, kind), STORE), reason=kind.reason)


@pytest.mark.parametrize("kind", list(WheelTamper))
def test_every_tampered_wheel_once_installed_is_rejected_by_the_host(
    tmp_path: Path, host_factory: HostFactory, kind: WheelTamper
) -> None:
    canary = tmp_path / "CANARY"
    files = {**FILES, "hello_plugin/util.py": f"open({str(canary)!r}, 'w').close()\n"}
    wheel = WheelFactory(tmp_path / "w", KEY).from_files(files, name="hello-plugin", entry_points=ENTRY_POINTS)
    host_factory.site.install(WheelFactory(tmp_path / "t", KEY).tamper(wheel, kind))
    report = host_factory(project="myhost", hookspecs=Spec).load()
    assert_rejected(report, name="hello-plugin", reason=kind.installed_reason)
    assert not canary.exists()


def test_tampering_a_chosen_member(tmp_path: Path) -> None:
    wheel = sign_wheel(hello_wheel(tmp_path / "signed"), KEY)
    tampered = tamper_wheel(wheel, WheelTamper.APPEND_BYTE, tmp_path / "t", target="hello_plugin/data.txt")
    verdict = verify_wheel(tampered, STORE)
    assert [(r.code, r.subject) for r in verdict.reasons] == [(ReasonCode.DIGEST_MISMATCH, "hello_plugin/data.txt")]
    assert wheel_members(tampered)["hello_plugin/data.txt"] == b"\x00\x01data\n"


def test_record_mismatch_leaves_record_alone(tmp_path: Path) -> None:
    wheel = sign_wheel(hello_wheel(tmp_path / "signed"), KEY)
    tampered = tamper_wheel(wheel, WheelTamper.RECORD_MISMATCH, tmp_path / "t")
    record = "hello_plugin-1.0.dist-info/RECORD"
    assert wheel_members(tampered)[record] == wheel_members(wheel)[record]
    with WheelFile.open(tampered) as source, pytest.raises(Exception, match=r"hello_plugin/__init__\.py"):
        source.validate_record()


def test_resigning_with_an_untrusted_key_keeps_the_requested_permissions(tmp_path: Path) -> None:
    wheel = sign_wheel(hello_wheel(tmp_path / "signed"), KEY, permissions=["net.connect:example.org:443"])
    tampered = tamper_wheel(wheel, WheelTamper.RESIGN_UNTRUSTED, tmp_path / "t")
    other = verify_wheel(tampered, trust_store_for(PrivateKey.generate()))
    assert ReasonCode.KEY_UNKNOWN in other.codes
    assert verify_wheel(tampered, STORE).codes == {ReasonCode.KEY_UNKNOWN, ReasonCode.THRESHOLD_NOT_MET}


@pytest.mark.parametrize("kind", [k for k in WheelTamper if k.needs_envelope])
def test_envelope_tampering_needs_a_signed_wheel(tmp_path: Path, kind: WheelTamper) -> None:
    with pytest.raises(ValueError, match="needs a signed wheel"):
        tamper_wheel(hello_wheel(tmp_path / "unsigned"), kind, tmp_path / "t")
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    ("kind", "target", "where", "message"),
    [
        ("modify-file", "nope.py", "t", "is not a file of the wheel"),
        ("modify-file", "hello_plugin-1.0.dist-info/METADATA", "t", "is not a file of the wheel"),
        ("no-such-kind", None, "t", "is not a valid WheelTamper"),
        ("modify-file", None, "signed", "another directory"),
    ],
)
def test_tampering_refuses_impossible_requests(
    tmp_path: Path, kind: str, target: str | None, where: str, message: str
) -> None:
    wheel = sign_wheel(hello_wheel(tmp_path / "signed"), KEY)
    with pytest.raises(ValueError, match=message):
        tamper_wheel(wheel, kind, tmp_path / where, target=target)
    assert verify_wheel(wheel, STORE).accepted


def test_tampering_needs_a_member_outside_the_dist_info(tmp_path: Path) -> None:
    wheel = sign_wheel(build_wheel(tmp_path / "w", {}, name="empty", version="1"), KEY)
    with pytest.raises(ValueError, match=r"no file outside its \.dist-info"):
        tamper_wheel(wheel, WheelTamper.MODIFY_FILE, tmp_path / "t")


# --- the wheel factory ---------------------------------------------------------------------------------------


def test_factory_signs_by_default_and_keeps_every_variant(tmp_path: Path) -> None:
    factory = WheelFactory(tmp_path, KEY)
    signed = factory.from_files(FILES, name="hello-plugin", permissions=["fs.read:/srv/**"])
    unsigned = factory.from_files(FILES, name="hello-plugin", signed=False)
    tampered = factory.from_files(FILES, name="hello-plugin", tamper="add-file")
    assert len({signed.parent, unsigned.parent, tampered.parent}) == 3
    assert signed.name == unsigned.name == tampered.name == "hello_plugin-1.0.0-py3-none-any.whl"
    assert verify_wheel(signed, STORE).permissions == ("fs.read:/srv/**",)
    assert_rejected(verify_wheel(unsigned, STORE), reason=ReasonCode.ENVELOPE_MISSING)
    assert_rejected(verify_wheel(tampered, STORE), reason=ReasonCode.FILE_NOT_SIGNED)


def test_factory_signs_with_several_keys_for_thresholds(tmp_path: Path) -> None:
    second = PrivateKey.generate("ecdsa-p256")
    store = trust_store_for(KEY, second, thresholds={"hello-*": 2})
    factory = WheelFactory(tmp_path, KEY)
    one = factory.from_files(FILES, name="hello-plugin")
    assert_rejected(verify_wheel(one, store), reason="threshold-not-met")
    assert_accepted(verify_wheel(factory.sign(one, keys=second), store))
    assert_accepted(verify_wheel(factory.from_files(FILES, name="hello-plugin", keys=[KEY, second]), store))
    assert_rejected(verify_wheel(one, store))  # sign() worked on a copy


def test_factory_refuses_to_tamper_with_an_unsigned_wheel(tmp_path: Path) -> None:
    factory = WheelFactory(tmp_path, KEY)
    with pytest.raises(ValueError, match=r"use signed=True, or factory\.tamper\(\) on the wheel"):
        factory.from_files(FILES, signed=False, tamper="modify-file")
    with pytest.raises(ValueError, match="use signed=True"):
        factory.from_project(tmp_path / "never-built", signed=False, tamper="modify-file")
    assert list(tmp_path.iterdir()) == []


def test_factory_ignores_signing_options_for_an_unsigned_wheel(tmp_path: Path) -> None:
    options = {
        "permissions": ["sys.native"],
        "keys": KEY,
        "expires_at": dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc),
    }
    wheel = WheelFactory(tmp_path, KEY).from_files(FILES, signed=False, **options)  # type: ignore[arg-type]
    assert verify_wheel(wheel, STORE).codes == {ReasonCode.ENVELOPE_MISSING}


def test_factory_takes_permissions_from_any_iterable(tmp_path: Path) -> None:
    wheel = WheelFactory(tmp_path, KEY).from_files(FILES, permissions=(p for p in ["sys.native"]))
    assert verify_wheel(wheel, STORE).permissions == ("sys.native",)


def test_factory_refuses_unknown_tamper_kinds(tmp_path: Path) -> None:
    factory = WheelFactory(tmp_path, KEY)
    with pytest.raises(ValueError, match="not a valid WheelTamper"):
        factory.from_files(FILES, tamper="nonsense")
    assert list(tmp_path.iterdir()) == []


def test_factory_passes_signing_errors_through(tmp_path: Path) -> None:
    past = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    with pytest.raises(SigningError, match="cannot build the statement"):
        WheelFactory(tmp_path, KEY).from_files(FILES, expires_at=past)


# --- trust stores --------------------------------------------------------------------------------------------


def test_trust_store_for_vouches_every_builtin_permission_by_default(tmp_path: Path) -> None:
    factory = WheelFactory(tmp_path, KEY)
    requested = ["fs.read:/srv/data/**", "net.connect:api.example.org:443", "proc.spawn:/usr/bin/git", "sys.native"]
    assert_accepted(verify_wheel(factory.from_files(FILES, permissions=requested), STORE))
    custom = factory.from_files(FILES, permissions=["agent.control"])
    assert_rejected(verify_wheel(custom, STORE), reason="permission-not-vouched")
    assert_accepted(verify_wheel(custom, trust_store_for(KEY, vouch=["agent.control"])))
    assert_rejected(verify_wheel(custom, trust_store_for(KEY, names=["other-*"])), reason="key-out-of-scope")
    assert_rejected(verify_wheel(custom, trust_store_for(KEY, revoked=[KEY])), reason="key-revoked")
    assert len(EVERY_BUILTIN_PERMISSION) == 8


def test_written_trust_store_loads_back_equal(tmp_path: Path) -> None:
    second = PrivateKey.generate("ecdsa-p256")
    revoked = PrivateKey.generate()
    store = trust_store_for(
        KEY,
        second,
        revoked,
        names=["acme-*"],
        vouch=["fs.read:/srv/**", "agent.control"],
        revoked=[revoked.key_id],
        thresholds={"acme-*": 2},
        valid_after=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
    )
    path = write_trust_store(store, tmp_path / "trust.toml")
    loaded = TrustStore.load(path)
    assert (dict(loaded.keys), loaded.revoked, loaded.thresholds) == (dict(store.keys), store.revoked, store.thresholds)
    with pytest.raises(ConfigurationError, match="exists already"):
        write_trust_store(store, path)
    empty = TrustStore.load(write_trust_store(trust_store_for(), tmp_path / "empty.toml"))
    assert not empty.keys


# --- plugin sites --------------------------------------------------------------------------------------------


def test_site_installs_with_installer_and_stays_off_sys_path(tmp_path: Path) -> None:
    path_before = list(sys.path)
    site = PluginSite(tmp_path / "plugins")
    plugin = site.install(WheelFactory(tmp_path / "w", KEY).from_files(FILES, name="hello-plugin"))
    assert (plugin.name, plugin.version) == ("hello-plugin", "1.0.0")
    assert plugin.dist_info == site.path / "hello_plugin-1.0.0.dist-info"
    assert plugin.modules == ("hello_plugin/__init__.py",)
    assert plugin.path("hello_plugin/data.txt").read_bytes() == b"\x00\x01data"
    assert "hello_plugin-1.0.0.dist-info/securehost.dsse.json" in plugin.files
    assert not list(site.path.rglob("*.pyc"))  # no bytecode compiled
    assert sys.path == path_before
    assert importlib.util.find_spec("hello_plugin") is None
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("hello-plugin")
    found = list(importlib.metadata.distributions(path=[str(site.path)]))
    assert [d.metadata["Name"] for d in found] == ["hello-plugin"]
    assert site["Hello_Plugin"] == plugin
    assert list(site) == [plugin]


def test_site_uninstalls_everything_and_can_install_again(tmp_path: Path) -> None:
    site = PluginSite(tmp_path / "plugins")
    factory = WheelFactory(tmp_path / "w", KEY)
    site.install(factory.from_files(FILES, name="hello-plugin", version="2.0"))
    with pytest.raises(ConfigurationError, match="already installed"):
        site.install(factory.from_files(FILES, name="hello-plugin", version="1.0"))
    site.tamper("hello-plugin", "plant-pyc")
    site.uninstall("hello-plugin")
    assert list(site.path.iterdir()) == []
    assert site.install(factory.from_files(FILES, name="hello-plugin", version="1.0")).version == "1.0"
    with pytest.raises(KeyError):
        site.uninstall("not-installed")


def test_site_needs_installer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "installer", None)
    with pytest.raises(ConfigurationError, match="pip install installer"):
        PluginSite(tmp_path).install(hello_wheel(tmp_path / "w"))


@pytest.fixture
def host_factory(tmp_path: Path) -> HostFactory:
    site = PluginSite(tmp_path / "plugins")
    with HostFactory(site, STORE, tmp_path / "hosts") as factory:
        yield factory  # type: ignore[misc]


@pytest.mark.parametrize("kind", list(SiteTamper))
def test_every_site_tamper_kind_is_rejected_by_the_host(
    tmp_path: Path, host_factory: HostFactory, kind: SiteTamper
) -> None:
    canary = tmp_path / "CANARY"
    code = PLUGIN + f"def run():\n    open({str(canary)!r}, 'w').close()\n"
    files = {"hello_plugin/__init__.py": code, "hello_plugin/util.py": "run = 1\n"}
    wheel = WheelFactory(tmp_path / "w", KEY).from_files(files, name="hello-plugin", entry_points=ENTRY_POINTS)
    plugin = host_factory.site.install(wheel)
    assert_accepted(host_factory(project="myhost", hookspecs=Spec).check())
    changed = host_factory.site.tamper(plugin, kind)
    assert changed.is_relative_to(host_factory.site.path)
    assert changed.exists() is (kind is not SiteTamper.REMOVE_INSTALLED)
    report = host_factory(project="myhost", hookspecs=Spec).load()
    assert_rejected(report, name="hello-plugin", reason=kind.reason)
    assert not canary.exists()
    assert "hello_plugin" not in sys.modules


def test_site_tampering_refuses_impossible_requests(tmp_path: Path) -> None:
    site = PluginSite(tmp_path / "plugins")
    factory = WheelFactory(tmp_path / "w", KEY)
    lone = site.install(factory.from_files({"lone.py": "x = 1\n"}, name="lone"))
    with pytest.raises(ValueError, match="inside a package"):
        site.tamper(lone, SiteTamper.PLANT_PYC)
    with pytest.raises(ValueError, match=r"has no installed module 'other\.py'"):
        site.tamper(lone, "modify-installed", target="other.py")
    broken = site.install(factory.from_files({"broken/__init__.py": "def (:\n"}, name="broken"))
    with pytest.raises(ValueError, match="does not compile"):
        site.tamper(broken, "plant-pyc")
    data_only = site.install(factory.from_files({"data/x.txt": "x"}, name="data-only"))
    with pytest.raises(ValueError, match="has no installed module"):
        site.tamper(data_only, "modify-installed")
    with pytest.raises(KeyError):
        site.tamper("unknown", "modify-installed")


# --- host factories ------------------------------------------------------------------------------------------


def test_host_factory_cleans_up_modules_and_meta_path(tmp_path: Path, host_factory: HostFactory) -> None:
    host_factory.site.install(
        WheelFactory(tmp_path / "w", KEY).from_files(FILES, name="hello-plugin", entry_points=ENTRY_POINTS)
    )
    warm = host_factory(project="myhost", hookspecs=Spec)
    warm.load()  # the first load imports what securehost imports lazily
    warm.close()
    modules, meta_path, path = set(sys.modules), list(sys.meta_path), list(sys.path)
    host = host_factory(project="myhost", hookspecs=Spec)
    assert host.path == (str(host_factory.site.path),)
    assert host.state_dir.is_relative_to(tmp_path / "hosts")
    assert_accepted(host.load(), name="hello-plugin")
    assert host.hook.greet(name="you") == ["hello you"]
    assert "hello_plugin" in sys.modules
    assert sys.meta_path[0] is host.importer
    host_factory.close()
    assert (set(sys.modules), sys.meta_path, sys.path) == (modules, meta_path, path)
    assert host_factory.hosts == ()
    with pytest.raises(RuntimeError, match="closed"):
        host_factory(project="myhost")
    host_factory.close()  # idempotent


def test_host_factory_removes_modules_that_escaped_the_importer(tmp_path: Path, host_factory: HostFactory) -> None:
    stray = host_factory.site.path / "stray_module.py"
    stray.write_text("x = 1\n")
    spec = importlib.util.spec_from_file_location("stray_module", stray)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["stray_module"] = module
    outside = tmp_path.parent / f"{tmp_path.name}-outside.py"
    sys.modules["outside_module"] = type(sys)("outside_module")
    sys.modules["outside_module"].__file__ = str(outside)
    try:
        host_factory.close()
        assert "stray_module" not in sys.modules
        assert "outside_module" in sys.modules  # not a file of the test's plugin site
    finally:
        sys.modules.pop("outside_module", None)
        sys.modules.pop("stray_module", None)


def test_host_factory_closes_every_host_even_if_one_fails(host_factory: HostFactory) -> None:
    first, second = host_factory(project="myhost"), host_factory(project="myhost")
    second.importer.install()
    first.importer.install()

    def fail() -> None:
        raise OSError("disk gone")

    first.close = fail  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk gone"):
        host_factory.close()
    assert first.importer not in sys.meta_path
    assert second.importer not in sys.meta_path


def test_host_factory_hosts_use_options_and_their_own_state(tmp_path: Path, host_factory: HostFactory) -> None:
    other_store = trust_store_for(PrivateKey.generate())
    one = host_factory(project="myhost", group="custom.group", trust_store=other_store, isolate=True)
    two = host_factory(project="myhost", path=[tmp_path / "elsewhere"])
    assert (one.group, two.group) == ("custom.group", "myhost.plugins")
    assert one.store is other_store
    assert two.store is STORE
    assert one.state_dir != two.state_dir
    assert two.path == (str(tmp_path / "elsewhere"),)
    assert host_factory.hosts == (one, two)
    two.load()
    assert (tmp_path / "hosts" / "host-2" / "audit.jsonl").exists()


def test_a_host_of_the_factory_rejects_an_unsigned_plugin_without_running_it(
    tmp_path: Path, host_factory: HostFactory
) -> None:
    canary = tmp_path / "CANARY"
    files = {"evil/__init__.py": f"open({str(canary)!r}, 'w').close()\n"}
    factory = WheelFactory(tmp_path / "w", KEY)
    host_factory.site.install(factory.from_files(files, name="evil", entry_points={GROUP: {"e": "evil"}}, signed=False))
    report = host_factory(project="myhost").load()
    assert_rejected(report, name="evil", reason=ReasonCode.ENVELOPE_MISSING)
    assert not canary.exists()


# --- building projects with python -m build ------------------------------------------------------------------


def write_project(root: Path, *, backend: str = "hatchling.build", requires: str = "hatchling") -> Path:
    package = root / "src" / "hello_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["{requires}"]\nbuild-backend = "{backend}"\n'
        '[project]\nname = "hello-plugin"\nversion = "3.0"\ndependencies = ["pluggy>=1.5"]\n'
        f'[project.entry-points."{GROUP}"]\nhello = "hello_plugin"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/hello_plugin"]\n'
    )
    return root


@pytest.mark.slow
def test_from_project_builds_with_the_real_backend_without_touching_the_project(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    project = write_project(tmp_path / "project")
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    wheel = WheelFactory(tmp_path / "w", KEY).from_project(project, permissions=["fs.read:/srv/**"])
    assert wheel.name.startswith("hello_plugin-3.0-")
    assert "Generator: hatchling" in wheel_members(wheel)["hello_plugin-3.0.dist-info/WHEEL"].decode()
    assert_accepted(verify_wheel(wheel, STORE))
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


@pytest.mark.slow
def test_from_project_reuses_a_cached_build_until_the_project_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("hatchling")
    import securehost.testing._factory as module

    builds: list[Path] = []
    real_build = module.build_project

    def counting(project: Path, directory: Path, **options: bool) -> Path:
        builds.append(project)
        return real_build(project, directory, **options)

    monkeypatch.setattr(module, "build_project", counting)
    project = write_project(tmp_path / "project")
    cache = tmp_path / "cache"
    first = WheelFactory(tmp_path / "w1", KEY, build_cache=cache).from_project(project)
    second = WheelFactory(tmp_path / "w2", KEY, build_cache=cache).from_project(project, tamper="modify-file")
    assert len(builds) == 1
    assert_accepted(verify_wheel(first, STORE))
    assert_rejected(verify_wheel(second, STORE), reason="digest-mismatch")
    (project / "src" / "hello_plugin" / "extra.py").write_text("x = 1\n")
    third = WheelFactory(tmp_path / "w3", KEY, build_cache=cache).from_project(project)
    assert len(builds) == 2
    assert "hello_plugin/extra.py" in wheel_members(third)
    (project / "src" / "hello_plugin" / "__pycache__").mkdir()
    (project / "src" / "hello_plugin" / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    WheelFactory(tmp_path / "w4", KEY, build_cache=cache).from_project(project)
    assert len(builds) == 2  # caches are not part of the project


@pytest.mark.parametrize(
    ("backend", "requires", "message"),
    [
        ("no_such_backend.api", "no-such-backend-dist", "build requirements not installed: no-such-backend-dist"),
        ("hatchling.build", "hatchling>=999", r"hatchling>=999 \(installed: "),
    ],
)
def test_from_project_reports_missing_build_requirements(
    tmp_path: Path, backend: str, requires: str, message: str
) -> None:
    project = write_project(tmp_path / "project", backend=backend, requires=requires)
    told: list[str] = []
    factory = WheelFactory(tmp_path / "w", KEY, on_build_unavailable=told.append)
    with pytest.raises(BuildUnavailableError, match=message):
        factory.from_project(project)
    assert len(told) == 1
    assert re.search(message, told[0])
    assert "isolation=True" in told[0]


def test_from_project_needs_the_build_frontend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "build" else real(name, *a))
    project = write_project(tmp_path / "project")
    for isolation in (False, True):
        with pytest.raises(BuildUnavailableError, match="pip install build"):
            build_project(project, tmp_path / f"out-{isolation}", isolation=isolation)


@pytest.mark.slow
def test_building_a_project_installs_nothing_unless_isolation_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """securehost.testing installs nothing behind the user's back: with every package index closed, the default
    build works from what is installed; the explicit ``isolation=True`` would install and so fails here."""
    pytest.importorskip("hatchling")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_OFFLINE", "1")
    project = write_project(tmp_path / "project")
    wheel = build_project(project, tmp_path / "offline")
    assert wheel.name.startswith("hello_plugin-3.0-")
    with pytest.raises(ProjectBuildError, match="python -m build failed"):
        build_project(project, tmp_path / "isolated", isolation=True)


@pytest.mark.slow
def test_a_failing_build_shows_the_build_output(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    project = write_project(tmp_path / "project")
    text = (project / "pyproject.toml").read_text().replace('version = "3.0"', 'version = "not a version"')
    (project / "pyproject.toml").write_text(text)
    with pytest.raises(ProjectBuildError, match=r"(?s)python -m build failed.*exit status 1.*not a version") as info:
        WheelFactory(tmp_path / "w", KEY).from_project(project)
    assert not isinstance(info.value, BuildUnavailableError)


@pytest.mark.parametrize("content", [None, "this is [not toml"])
def test_build_project_needs_a_directory_and_readable_configuration(tmp_path: Path, content: str | None) -> None:
    if content is None:
        with pytest.raises(ProjectBuildError, match="is not a project directory"):
            build_project(tmp_path / "missing", tmp_path / "out")
        with pytest.raises(ProjectBuildError, match="is not a project directory"):
            WheelFactory(tmp_path / "w", KEY, build_cache=tmp_path / "c").from_project(tmp_path / "missing")
    else:
        (tmp_path / "project").mkdir()
        (tmp_path / "project" / "pyproject.toml").write_text(content)
        with pytest.raises(ProjectBuildError, match=r"pyproject\.toml cannot be read"):
            build_project(tmp_path / "project", tmp_path / "out")


# --- assertions: rejections ----------------------------------------------------------------------------------


@pytest.fixture
def mixed_report(tmp_path: Path, host_factory: HostFactory) -> LoadReport:
    factory = WheelFactory(tmp_path / "w", KEY)
    site = host_factory.site
    site.install(factory.from_files(FILES, name="hello-plugin", entry_points=ENTRY_POINTS))
    site.install(
        factory.from_files(
            {"bad_plugin/__init__.py": "x = 1\n"},
            name="bad-plugin",
            entry_points={GROUP: {"b": "bad_plugin"}},
            tamper="modify-file",
        )
    )
    site.install(
        factory.from_files(
            {"held_plugin/__init__.py": "x = 1\n"},
            name="held-plugin",
            entry_points={GROUP: {"h": "held_plugin"}},
            permissions=["net.connect:example.org:443"],
        )
    )
    return host_factory(project="myhost", hookspecs=Spec).load()


def test_assert_rejected_returns_the_plugin_report(mixed_report: LoadReport) -> None:
    report = assert_rejected(mixed_report, name="Bad_Plugin", reason=ReasonCode.INSTALLED_FILE_MODIFIED)
    assert isinstance(report, PluginReport)
    assert report.name == "bad-plugin"
    assert assert_rejected(mixed_report, name="bad-plugin", reason=["installed-file-modified"]) == report
    assert assert_rejected(mixed_report, name="bad-plugin") == report
    held = assert_rejected(mixed_report, name="held-plugin", reason="permission-not-granted")
    assert held.status == "held"  # held back for a permission counts as not loaded
    assert assert_rejected(report, reason="installed-file-modified") is report
    assert assert_accepted(mixed_report, name="hello-plugin").status == "accepted"


def test_assert_rejected_on_an_accepted_plugin_shows_the_decision(mixed_report: LoadReport) -> None:
    with pytest.raises(AssertionError) as info:
        assert_rejected(mixed_report, name="hello-plugin", reason="key-unknown")
    message = str(info.value)
    assert message.startswith("expected hello-plugin to be rejected with key-unknown, but it was accepted:")
    assert "hello-plugin 1.0.0: ACCEPTED" in message
    assert "signed by:" in message


def test_assert_rejected_for_other_reasons_lists_the_actual_ones(mixed_report: LoadReport) -> None:
    with pytest.raises(AssertionError) as info:
        assert_rejected(mixed_report, name="bad-plugin", reason=["installed-file-modified", ReasonCode.KEY_REVOKED])
    message = str(info.value)
    assert (
        "to be rejected with installed-file-modified, key-revoked; it was rejected, but without key-revoked:" in message
    )
    assert "- [installed-file-modified] bad_plugin/__init__.py was modified after signing" in message
    assert "bad-plugin 1.0.0: REJECTED" in message


def test_assert_rejected_needs_a_plugin_that_is_in_the_report(mixed_report: LoadReport) -> None:
    with pytest.raises(AssertionError, match=r"'ghost' to be rejected, but it is not in the report for group "):
        assert_rejected(mixed_report, name="ghost")
    with pytest.raises(AssertionError, match=r"several plugins: .*bad-plugin \(rejected\).*held-plugin \(held\)"):
        assert_rejected(mixed_report)
    with pytest.raises(AssertionError, match="no plugins at all"):
        assert_rejected(LoadReport(group=GROUP), name="x")
    with pytest.raises(AssertionError, match="a decision about 'other', got one about 'bad-plugin'"):
        assert_rejected(mixed_report["bad-plugin"], name="other")


def test_assert_rejected_checks_its_arguments(mixed_report: LoadReport) -> None:
    with pytest.raises(ValueError, match="unknown reason code in \\['digest-missmatch'\\]"):
        assert_rejected(mixed_report, name="bad-plugin", reason="digest-missmatch")
    with pytest.raises(TypeError, match="not dict"):
        assert_rejected({"name": "x"})  # type: ignore[arg-type]


def test_assert_helpers_accept_wheel_verdicts(tmp_path: Path) -> None:
    factory = WheelFactory(tmp_path, KEY)
    good = verify_wheel(factory.from_files(FILES), STORE)
    bad = verify_wheel(factory.from_files(FILES, tamper="drop-envelope"), STORE)
    assert assert_accepted(good) is good
    assert assert_rejected(bad, name="example-plugin", reason="envelope-missing") is bad
    with pytest.raises(
        AssertionError, match=r"^expected example-plugin to be rejected, but it was accepted:\n.*ACCEPTED"
    ):
        assert_rejected(good)
    with pytest.raises(
        AssertionError,
        match=r"(?s)^expected example-plugin to be accepted, but it was rejected:\n.*\[envelope-missing\]",
    ):
        assert_accepted(bad)


def test_assert_accepted_lists_every_reason(mixed_report: LoadReport) -> None:
    with pytest.raises(AssertionError) as info:
        assert_accepted(mixed_report, name="held-plugin")
    assert str(info.value).startswith("expected held-plugin to be accepted, but it was held:")
    assert "[permission-not-granted] requests net.connect:example.org:443" in str(info.value)


# --- assertions: denials -------------------------------------------------------------------------------------

deny_spec = HookspecMarker("denials")
deny_impl = pluggy.HookimplMarker("denials")


class DenySpec:
    @deny_spec(firstresult=True)
    def act(self, need: str | None) -> str:  # type: ignore[empty-body]
        """Require *need*, if given."""

    @deny_spec(isolate=True)
    def isolated(self, need: str) -> str:  # type: ignore[empty-body]
        """Require *need* (errors isolated)."""


class Actor:
    @deny_impl
    def act(self, need: str | None) -> str:
        context = current_plugin()
        assert context is not None
        if need:
            context.require(need)
        return "done"

    @deny_impl
    def isolated(self, need: str) -> str:
        return self.act(need)


@pytest.fixture
def manager() -> SecurePluginManager:
    pm = SecurePluginManager("denials", guard=False)
    pm.add_hookspecs(DenySpec)
    pm.register(Actor(), name="actor", permissions=["fs.read:/srv/**"])
    return pm


def test_assert_denied_calls_and_returns_the_denial(manager: SecurePluginManager) -> None:
    denial = assert_denied(lambda: manager.hook.act(need="fs.read:/etc/passwd"), permission="fs.read:/etc/passwd")
    assert isinstance(denial, PermissionDeniedError)
    assert (denial.plugin, denial.permission) == ("actor", "fs.read:/etc/passwd")
    assert assert_denied(lambda: manager.hook.act(need="net.connect:x.org"), permission="net.connect").plugin == "actor"
    assert assert_denied(lambda: manager.hook.act(need="sys.native"), plugin="actor").permission == "sys.native"


def test_assert_denied_takes_exceptions_and_exception_info(manager: SecurePluginManager) -> None:
    with pytest.raises(PermissionDeniedError) as info:
        manager.hook.act(need="sys.native")
    assert assert_denied(info, permission="sys.native") is info.value
    assert assert_denied(info.value, permission="sys.native") is info.value


def test_assert_denied_finds_denials_inside_other_errors(manager: SecurePluginManager) -> None:
    with pytest.raises(HookError) as info:
        manager.hook.isolated(need="sys.native")
    assert assert_denied(info, permission="sys.native").plugin == "actor"

    def wrap() -> None:
        try:
            manager.hook.act(need="sys.native")
        except PermissionDeniedError as exc:
            raise RuntimeError("wrapped") from exc

    with pytest.raises(RuntimeError) as wrapped:
        wrap()
    assert assert_denied(wrapped, permission="sys.native").permission == "sys.native"
    if sys.version_info >= (3, 11):
        members = [ValueError("x"), PermissionDeniedError("no", permission="env.read:HOME")]
        group = ExceptionGroup("tasks", members)  # noqa: F821 - a builtin from Python 3.11 on
        assert assert_denied(group, permission="env.read:HOME").permission == "env.read:HOME"


def test_assert_denied_when_nothing_is_denied_says_what_happened(manager: SecurePluginManager) -> None:
    with pytest.raises(AssertionError, match=r"^expected a denial of 'fs.read', but the call returned 'done'$"):
        assert_denied(lambda: manager.hook.act(need="fs.read:/srv/data"), permission="fs.read")
    with pytest.raises(AssertionError, match=r"^expected a permission denial, but KeyError was raised: 'k'$"):
        assert_denied(lambda: {}["k"])
    with pytest.raises(AssertionError) as info:
        assert_denied(lambda: manager.hook.act(need="sys.native"), permission="fs.read:/etc/passwd", plugin="other")
    assert str(info.value) == (
        "expected a denial of 'fs.read:/etc/passwd' for plugin 'other', but other permissions were denied:\n"
        "    plugin 'actor' was denied 'sys.native': plugin 'actor' (hook 'act') lacks permission 'sys.native'"
    )
    assert isinstance(info.value.__cause__, PermissionDeniedError)
    with pytest.raises(AssertionError, match=r"denial of 'fs\.read:/srv' for plugin 'other'"):
        assert_denied(lambda: manager.hook.act(need="fs.read:/srv"), permission="fs.read:/srv", plugin="other")


def test_assert_denied_kind_matching_is_by_whole_kind(manager: SecurePluginManager) -> None:
    with pytest.raises(AssertionError, match="other permissions were denied"):
        assert_denied(lambda: manager.hook.act(need="fs.readx"), permission="fs.read")
    with pytest.raises(AssertionError, match="other permissions were denied"):
        assert_denied(lambda: manager.hook.act(need="fs.read:/etc/passwd"), permission="fs.read:/etc")


def test_assert_denied_rejects_what_it_cannot_examine() -> None:
    with pytest.raises(TypeError, match="not int"):
        assert_denied(42)


def test_denied_context_manager(manager: SecurePluginManager) -> None:
    with denied("fs.read:/etc/shadow", plugin="actor") as caught:
        manager.hook.act(need="fs.read:/etc/shadow")
    assert caught.value.permission == "fs.read:/etc/shadow"
    assert "fs.read:/etc/shadow" in repr(caught)
    nothing = r"^expected a denial of 'sys.native', but the block raised nothing$"
    with pytest.raises(AssertionError, match=nothing), denied("sys.native") as holder:
        manager.hook.act(need=None)
    with pytest.raises(AttributeError, match="no denial was caught"):
        _ = holder.value
    with pytest.raises(AssertionError, match="but ZeroDivisionError was raised") as info, denied():
        _ = 1 / 0
    assert isinstance(info.value.__cause__, ZeroDivisionError)
