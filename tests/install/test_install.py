"""install_plugin / uninstall_plugin: verified wheels into a plugin directory that a Host then loads.

Wheels come from :class:`securehost.testing.WheelFactory` (signed with :func:`securehost.sign_wheel`); the plugin
directory is loaded by a real :class:`~securehost.Host` (``path=[target]``) through
:class:`securehost.testing.HostFactory`.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

import securehost._install.journal
from securehost import (
    HookspecMarker,
    InstallResult,
    PrivateKey,
    ReasonCode,
    UninstallResult,
    install_plugin,
    uninstall_plugin,
)
from securehost.exceptions import ConfigurationError
from securehost.testing import HostFactory, PluginSite, SiteTamper, WheelFactory, WheelTamper, trust_store_for

KEY = PrivateKey.generate("ed25519")
STORE = trust_store_for(KEY)
GROUP = "installhost.plugins"
hookspec = HookspecMarker("installhost")
_NAMES = itertools.count()


class Spec:
    @hookspec
    def greet(self, name: str) -> str:  # type: ignore[empty-body]
        """Greet someone."""


def plugin_files(package: str, answer: str, *, extra: dict[str, str] | None = None) -> dict[str, str]:
    code = (
        "import pluggy\n"
        "hookimpl = pluggy.HookimplMarker('installhost')\n"
        "@hookimpl\n"
        f"def greet(name):\n    return {answer!r} + name\n"
    )
    return {f"{package}/__init__.py": code, **(extra or {})}


class Plugins:
    """Signed versions of one fresh plugin (a new package name per test: modules never clash in sys.modules)."""

    def __init__(self, tmp_path: Path) -> None:
        number = next(_NAMES)
        self.package = f"inst_plugin_{number}"
        self.name = f"inst-plugin-{number}"
        self.factory = WheelFactory(tmp_path / "wheels", KEY)

    def wheel(self, version: str, *, extra: dict[str, str] | None = None, **options: object) -> Path:
        files = plugin_files(self.package, f"v{version} ", extra=extra)
        eps = {GROUP: {"greeter": self.package}}
        return self.factory.from_files(files, name=self.name, version=version, entry_points=eps, **options)  # type: ignore[arg-type]


@pytest.fixture
def plugins(tmp_path: Path) -> Plugins:
    return Plugins(tmp_path)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "plugins"


def greetings(tmp_path: Path, target: Path) -> list[str]:
    """Load *target* with a real Host and call the hook (an empty list: nothing loaded)."""
    with HostFactory(PluginSite(tmp_path / "unused-site"), STORE, tmp_path / f"hosts-{next(_NAMES)}") as hosts:
        host = hosts(project="installhost", group=GROUP, hookspecs=Spec, path=[target], guard=False)
        report = host.load()
        assert not report.rejected, report.summary()
        return list(host.hook.greet(name="Ada"))


def snapshot(root: Path) -> dict[str, str]:
    """Every file below *root* with its digest (symbolic links by their target)."""
    out = {}
    for directory, _, names in os.walk(root):
        for entry in names:
            path = Path(directory, entry)
            key = path.relative_to(root).as_posix()
            out[key] = os.readlink(path) if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def dist_infos(target: Path) -> list[str]:
    return sorted(p.name for p in target.glob("*.dist-info"))


def no_scratch_left(target: Path) -> bool:
    return not list(target.glob(".securehost-*"))


# --- install ------------------------------------------------------------------------------------------------


def test_install_verifies_and_installs_so_that_a_host_loads_it(tmp_path: Path, plugins: Plugins, target: Path) -> None:
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    assert isinstance(result, InstallResult)
    assert result, result.summary()
    assert result.action == "installed"
    assert (result.name, result.version, result.replaced) == (plugins.name, "1.0", ())
    assert result.verdict.signers == (KEY.key_id,)
    assert f"{plugins.package}/__init__.py" in result.files
    assert dist_infos(target) == [f"{plugins.package.replace('-', '_')}-1.0.dist-info"]
    assert (target / dist_infos(target)[0] / "INSTALLER").read_text() == "securehost\n"
    assert no_scratch_left(target)
    assert greetings(tmp_path, target) == ["v1.0 Ada"]
    assert result.to_json()["installed"] is True
    assert "installed" in result.summary()


def test_upgrade_replaces_the_old_version_without_leaving_a_second_dist_info(
    tmp_path: Path, plugins: Plugins, target: Path
) -> None:
    extra = {f"{plugins.package}/gone.py": "x = 1\n"}
    assert install_plugin(plugins.wheel("1.0", extra=extra), target=target, store=STORE)
    cache = target / plugins.package / "__pycache__"
    cache.mkdir()
    (cache / f"gone.{sys.implementation.cache_tag}.pyc").write_bytes(b"stale")  # as an import would leave it
    result = install_plugin(plugins.wheel("2.0"), target=target, store=STORE, upgrade=True)
    assert result, result.summary()
    assert (result.action, result.replaced) == ("upgraded", ("1.0",))
    assert dist_infos(target) == [f"{plugins.package}-2.0.dist-info"]
    assert not (target / plugins.package / "gone.py").exists()
    assert not cache.exists()  # the old module's bytecode went with it, and the emptied cache directory
    assert greetings(tmp_path, target) == ["v2.0 Ada"]


def test_upgrade_of_a_distribution_that_is_not_installed_installs_it(plugins: Plugins, target: Path) -> None:
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE, upgrade=True)
    assert (bool(result), result.action) == (True, "installed")


def test_install_refuses_a_distribution_that_is_installed_already(plugins: Plugins, target: Path) -> None:
    assert install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    before = snapshot(target)
    result = install_plugin(plugins.wheel("2.0"), target=target, store=STORE)
    assert not result
    assert result.action == "refused"
    assert {r.code for r in result.reasons} == {ReasonCode.ALREADY_INSTALLED}
    assert "securehost upgrade" in str(result.reasons[0])
    assert snapshot(target) == before
    assert no_scratch_left(target)


def test_downgrade_is_refused_unless_allowed(tmp_path: Path, plugins: Plugins, target: Path) -> None:
    assert install_plugin(plugins.wheel("2.0"), target=target, store=STORE)
    before = snapshot(target)
    older = plugins.wheel("1.0")
    refused = install_plugin(older, target=target, store=STORE, upgrade=True)
    assert not refused
    assert [r.code for r in refused.reasons] == [ReasonCode.DOWNGRADE]
    assert "--allow-downgrade" in refused.reasons[0].message
    assert snapshot(target) == before
    allowed = install_plugin(older, target=target, store=STORE, upgrade=True, allow_downgrade=True)
    assert (bool(allowed), allowed.action, allowed.replaced) == (True, "downgraded", ("2.0",))
    assert dist_infos(target) == [f"{plugins.package}-1.0.dist-info"]
    assert greetings(tmp_path, target) == ["v1.0 Ada"]


def test_reinstalling_the_same_version_repairs_a_tampered_install(
    tmp_path: Path, plugins: Plugins, target: Path
) -> None:
    wheel = plugins.wheel("1.0")
    assert install_plugin(wheel, target=target, store=STORE)
    module = target / plugins.package / "__init__.py"
    signed = module.read_bytes()
    module.write_bytes(signed + b"\nimport os\n")  # as SiteTamper.MODIFY_INSTALLED does
    result = install_plugin(wheel, target=target, store=STORE, upgrade=True)
    assert (bool(result), result.action) == (True, "reinstalled")
    assert module.read_bytes() == signed
    assert greetings(tmp_path, target) == ["v1.0 Ada"]
    assert SiteTamper.MODIFY_INSTALLED.reason is ReasonCode.INSTALLED_FILE_MODIFIED


@pytest.mark.parametrize(
    "kind", [WheelTamper.MODIFY_FILE, WheelTamper.ADD_FILE, WheelTamper.DROP_ENVELOPE, WheelTamper.RESIGN_UNTRUSTED]
)
def test_a_tampered_wheel_is_refused_with_the_verdict_reasons(
    plugins: Plugins, target: Path, kind: WheelTamper
) -> None:
    tampered = plugins.factory.tamper(plugins.wheel("1.0"), kind)
    result = install_plugin(tampered, target=target, store=STORE)
    assert not result
    assert result.action == "refused"
    assert kind.reason in {r.code for r in result.reasons}
    assert result.reasons == result.verdict.reasons
    assert result.to_json()["verdict"]["accepted"] is False
    assert "REFUSED" in result.summary()
    assert snapshot(target) == {}
    assert not target.exists()  # the refused install created the plugin directory, and removed it again


def test_a_refused_install_keeps_a_plugin_directory_that_existed(plugins: Plugins, target: Path) -> None:
    target.mkdir()
    tampered = plugins.factory.tamper(plugins.wheel("1.0"), WheelTamper.MODIFY_FILE)
    assert not install_plugin(tampered, target=target, store=STORE)
    assert target.is_dir()
    assert no_scratch_left(target)


def test_an_untrusted_signer_is_refused_even_for_an_upgrade(plugins: Plugins, target: Path) -> None:
    assert install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    before = snapshot(target)
    other = PrivateKey.generate("ed25519")
    result = install_plugin(plugins.wheel("2.0", keys=other), target=target, store=STORE, upgrade=True)
    assert ReasonCode.KEY_UNKNOWN in {r.code for r in result.reasons}
    assert snapshot(target) == before


def test_a_file_of_another_distribution_is_never_overwritten(plugins: Plugins, target: Path) -> None:
    first = install_plugin(
        plugins.wheel("1.0", extra={"shared_helper.py": "OWNER = 'first'\n"}), target=target, store=STORE
    )
    assert first
    before = snapshot(target)
    files = {"other_pkg/__init__.py": "", "shared_helper.py": "OWNER = 'second'\n"}
    other = plugins.factory.from_files(files, name="other-dist", version="1.0")
    result = install_plugin(other, target=target, store=STORE)
    assert not result
    assert [(r.code, r.subject) for r in result.reasons] == [(ReasonCode.FILE_CONFLICT, "shared_helper.py")]
    assert f"{plugins.name} 1.0" in result.reasons[0].message
    assert snapshot(target) == before


def test_a_file_that_no_distribution_owns_is_never_overwritten(plugins: Plugins, target: Path) -> None:
    (target / plugins.package).mkdir(parents=True)
    (target / plugins.package / "__init__.py").write_text("# the operator's own file\n")
    before = snapshot(target)
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    assert [r.code for r in result.reasons] == [ReasonCode.FILE_CONFLICT]
    assert "no installed distribution lists it" in result.reasons[0].message
    assert snapshot(target) == before


def test_a_file_written_through_a_link_out_of_the_directory_is_refused(
    tmp_path: Path, plugins: Plugins, target: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target.mkdir()
    (target / plugins.package).symlink_to(outside, target_is_directory=True)
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    assert ReasonCode.FILE_CONFLICT in {r.code for r in result.reasons}
    assert list(outside.iterdir()) == []


def test_a_file_written_below_a_link_into_directories_that_do_not_exist_yet_is_refused(
    tmp_path: Path, plugins: Plugins, target: Path
) -> None:
    """The link is above the file's missing parents: creating them would create them, and the file, outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    target.mkdir()
    (target / plugins.package).symlink_to(outside, target_is_directory=True)
    wheel = plugins.wheel("1.0", extra={f"{plugins.package}/sub/deeper/x.py": "X = 1\n"})
    result = install_plugin(wheel, target=target, store=STORE)
    assert f"{plugins.package}/sub/deeper/x.py" in {
        r.subject for r in result.reasons if r.code is ReasonCode.FILE_CONFLICT
    }
    assert list(outside.iterdir()) == []


def test_a_failure_in_the_middle_of_an_upgrade_leaves_the_old_version(
    tmp_path: Path, plugins: Plugins, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {f"{plugins.package}/a.py": "A = 1\n", f"{plugins.package}/b.py": "B = 1\n"}
    assert install_plugin(plugins.wheel("1.0", extra=extra), target=target, store=STORE)
    before = snapshot(target)
    new = plugins.wheel("2.0", extra=extra)
    real_rename = os.rename
    calls = itertools.count()

    def failing_rename(source: object, destination: object) -> None:
        if next(calls) == 10:  # the 8 old files are out, 2 new ones are in
            raise OSError(28, "No space left on device")
        real_rename(source, destination)  # type: ignore[arg-type]

    monkeypatch.setattr(securehost._install.journal.os, "rename", failing_rename)
    with pytest.raises(OSError, match="No space left"):
        install_plugin(new, target=target, store=STORE, upgrade=True)
    assert next(calls) == 21  # the rollback renamed all 10 back
    monkeypatch.undo()
    assert snapshot(target) == before
    assert no_scratch_left(target)
    assert greetings(tmp_path, target) == ["v1.0 Ada"]


def test_when_the_rollback_itself_fails_the_old_files_are_kept_and_named(
    plugins: Plugins, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {f"{plugins.package}/a.py": "A = 1\n"}
    assert install_plugin(plugins.wheel("1.0", extra=extra), target=target, store=STORE)
    old = (target / plugins.package / "a.py").read_bytes()
    real_rename = os.rename
    calls = itertools.count()

    def failing_rename(source: object, destination: object) -> None:
        number = next(calls)
        if number == 9 or (number > 9 and "backup" in str(source) and str(source).endswith("a.py")):
            raise OSError(5, "Input/output error")  # the swap fails, and so does putting a.py back
        real_rename(source, destination)  # type: ignore[arg-type]

    monkeypatch.setattr(securehost._install.journal.os, "rename", failing_rename)
    with pytest.raises(OSError, match="could not be put back") as info:
        install_plugin(plugins.wheel("2.0", extra=extra), target=target, store=STORE, upgrade=True)
    monkeypatch.undo()
    (kept,) = target.glob(".securehost-backup-*")
    assert str(kept) in str(info.value)
    assert (kept / "files" / plugins.package / "a.py").read_bytes() == old


@pytest.mark.slow
def test_upgrade_cleans_up_two_dist_infos_left_by_pip_install_target(
    tmp_path: Path, plugins: Plugins, target: Path
) -> None:
    v1, v2 = plugins.wheel("1.0"), plugins.wheel("2.0")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target", str(target)]
    subprocess.run([*pip, str(v1)], check=True, capture_output=True)
    subprocess.run([*pip, "--upgrade", str(v2)], check=True, capture_output=True)
    if len(dist_infos(target)) != 2:
        pytest.fail(f"pip install --target --upgrade no longer leaves two .dist-info: {dist_infos(target)}")
    result = install_plugin(v2, target=target, store=STORE, upgrade=True)
    assert result, result.summary()
    assert sorted(result.replaced) == ["1.0", "2.0"]
    assert dist_infos(target) == [f"{plugins.package}-2.0.dist-info"]
    assert greetings(tmp_path, target) == ["v2.0 Ada"]


# --- uninstall ----------------------------------------------------------------------------------------------


def test_uninstall_removes_exactly_the_record_files(tmp_path: Path, plugins: Plugins, target: Path) -> None:
    assert install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    (target / "operator-notes.txt").write_text("keep me\n")
    other = plugins.factory.from_files({"kept_pkg/__init__.py": ""}, name="kept-dist", version="3")
    assert install_plugin(other, target=target, store=STORE)
    before = snapshot(target)
    result = uninstall_plugin(plugins.name.upper().replace("-", "_"), target=target)
    assert isinstance(result, UninstallResult)
    assert result, result.summary()
    assert (result.name, result.versions) == (plugins.name, ("1.0",))
    after = snapshot(target)
    assert set(before) - set(after) == set(result.files)
    assert all(after[p] == before[p] for p in after)
    assert "operator-notes.txt" in after
    assert not (target / plugins.package).exists()
    assert greetings(tmp_path, target) == []
    again = uninstall_plugin(plugins.name, target=target)
    assert not again
    assert [r.code for r in again.reasons] == [ReasonCode.NOT_INSTALLED]
    assert "kept-dist 3" in again.reasons[0].message


def test_uninstall_refuses_a_record_that_leaves_the_directory(tmp_path: Path, plugins: Plugins, target: Path) -> None:
    assert install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    record = target / f"{plugins.package}-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "../victim.txt,,\n/etc/hostname,,\n")
    before = snapshot(target)
    result = uninstall_plugin(plugins.name, target=target)
    assert not result
    assert [(r.code, r.subject) for r in result.reasons] == [
        (ReasonCode.INSTALLED_FILE_UNSAFE, "../victim.txt"),
        (ReasonCode.INSTALLED_FILE_UNSAFE, "/etc/hostname"),
    ]
    assert victim.read_text() == "precious\n"
    assert snapshot(target) == before
    upgrade = install_plugin(plugins.wheel("2.0"), target=target, store=STORE, upgrade=True)
    assert ReasonCode.INSTALLED_FILE_UNSAFE in {r.code for r in upgrade.reasons}
    assert snapshot(target) == before


def test_uninstall_refuses_a_record_path_through_a_link_out_of_the_directory(
    tmp_path: Path, plugins: Plugins, target: Path
) -> None:
    assert install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "data.txt").write_text("precious\n")
    (target / "linked").symlink_to(outside, target_is_directory=True)
    record = target / f"{plugins.package}-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "linked/data.txt,,\n")
    result = uninstall_plugin(plugins.name, target=target)
    assert [(r.code, r.subject) for r in result.reasons] == [(ReasonCode.INSTALLED_FILE_UNSAFE, "linked/data.txt")]
    assert (outside / "data.txt").read_text() == "precious\n"


def test_uninstall_keeps_a_file_that_another_distribution_lists(plugins: Plugins, target: Path) -> None:
    assert install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    other = plugins.factory.from_files({"other_pkg/__init__.py": ""}, name="other-dist", version="1")
    assert install_plugin(other, target=target, store=STORE)
    shared = f"{plugins.package}/__init__.py"
    record = target / "other_dist-1.dist-info" / "RECORD"
    record.write_text(record.read_text() + f"{shared},,\n")
    result = uninstall_plugin(plugins.name, target=target)
    assert result
    assert result.kept == (shared,)
    assert (target / shared).exists()
    assert "kept" in result.summary()


def test_a_failure_in_the_middle_of_an_uninstall_puts_everything_back(
    plugins: Plugins, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert install_plugin(plugins.wheel("1.0", extra={f"{plugins.package}/a.py": ""}), target=target, store=STORE)
    before = snapshot(target)
    real_rename = os.rename
    calls = itertools.count()

    def failing_rename(source: object, destination: object) -> None:
        if next(calls) == 2:
            raise PermissionError(13, "Permission denied")
        real_rename(source, destination)  # type: ignore[arg-type]

    monkeypatch.setattr(securehost._install.journal.os, "rename", failing_rename)
    with pytest.raises(PermissionError):
        uninstall_plugin(plugins.name, target=target)
    monkeypatch.undo()
    assert snapshot(target) == before
    assert no_scratch_left(target)


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_a_second_change_to_the_same_directory_at_once_is_refused(plugins: Plugins, target: Path) -> None:
    target.mkdir()
    holder = subprocess.Popen(  # another process in the middle of an install: it holds the directory's lock
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(target),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(ConfigurationError, match="another securehost install"):
            install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
        with pytest.raises(ConfigurationError, match="try again"):
            uninstall_plugin(plugins.name, target=target)
    finally:
        holder.communicate("")
    assert list(target.iterdir()) == []
    assert install_plugin(plugins.wheel("1.0"), target=target, store=STORE)


# --- arguments ----------------------------------------------------------------------------------------------


def test_wrong_argument_types_name_the_argument(plugins: Plugins, target: Path) -> None:
    wheel = plugins.wheel("1.0")
    with pytest.raises(TypeError, match="wheel must be"):
        install_plugin(42, target=target, store=STORE)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="target must be"):
        install_plugin(wheel, target=None, store=STORE)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store must be a TrustStore"):
        install_plugin(wheel, target=target, store="store.toml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="upgrade"):
        install_plugin(wheel, target=target, store=STORE, upgrade="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name must be"):
        uninstall_plugin(b"x", target=target)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="no such wheel"):
        install_plugin(target / "missing-1.0-py3-none-any.whl", target=target, store=STORE)
    with pytest.raises(FileNotFoundError, match="no such plugin directory"):
        uninstall_plugin("x", target=target / "nope")
