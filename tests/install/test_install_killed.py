"""An install, upgrade or uninstall killed with SIGKILL in the middle is rolled back by the next change.

Each test runs the change in a child process that kills itself (``SIGKILL``: no ``finally``, no rollback of its own)
at a chosen step: before the Nth rename of the swap, or after the swap was committed. The next ``install_plugin`` or
``uninstall_plugin`` in the directory must put the directory back the way it was before the killed change (or keep
the completed change), say so in its result, and leave no scratch directory behind.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from securehost import LoadReport, PermissionSet, install_plugin, uninstall_plugin
from securehost._install.journal import JOURNAL_LOG, SCRATCH_PREFIX
from securehost._trust.edit import add_key
from securehost.testing import HostFactory, PluginSite

from .test_install import _NAMES, GROUP, KEY, STORE, Plugins, Spec, greetings, no_scratch_left, snapshot

KILLED = r"""
import itertools, os, signal, sys
import securehost._install.api as api
import securehost._install.journal as journal
from securehost import TrustStore, install_plugin, uninstall_plugin

wheel, target, store, step = sys.argv[1:5]
real_rename, calls = os.rename, itertools.count()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def rename(source, destination):
    if step != "commit" and next(calls) == int(step):
        die()
    real_rename(source, destination)


journal.os.rename = rename
if step == "commit":  # the swap is complete and committed; the process dies before it cleans up
    api.prune_empty = lambda *args: die()
if wheel == "-":
    uninstall_plugin(sys.argv[5], target=target)
else:
    install_plugin(wheel, target=target, store=TrustStore.load(store), upgrade=True)
raise SystemExit("not killed")
"""

EXTRA = {"a.py": "A = 1\n", "b.py": "B = 1\n", "c.py": "C = 1\n"}


@pytest.fixture
def plugins(tmp_path: Path) -> Plugins:
    return Plugins(tmp_path)


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "trust.toml"
    add_key(path, KEY.public_key, label="tests", names=["inst-plugin-*"], max_permissions=PermissionSet())
    return path


def extra(plugins: Plugins) -> dict[str, str]:
    return {f"{plugins.package}/{name}": text for name, text in EXTRA.items()}


def load(tmp_path: Path, target: Path) -> LoadReport:
    with HostFactory(PluginSite(tmp_path / "unused-site"), STORE, tmp_path / f"hosts-{next(_NAMES)}") as hosts:
        return hosts(project="installhost", group=GROUP, hookspecs=Spec, path=[target], guard=False).load()


def run_killed(wheel: Path | str, target: Path, store: Path, step: str, name: str = "") -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(wheel), str(target), str(store), step, name],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


@pytest.mark.parametrize("step", ["0", "5", "9", "12"])
def test_an_upgrade_killed_midway_is_rolled_back_by_the_next_change(
    tmp_path: Path, plugins: Plugins, store_file: Path, step: str
) -> None:
    target = tmp_path / "plugins"
    old = plugins.wheel("1.0", extra=extra(plugins))
    assert install_plugin(old, target=target, store=STORE)
    before = snapshot(target)
    run_killed(plugins.wheel("2.0", extra=extra(plugins)), target, store_file, step)
    (scratch,) = target.glob(f"{SCRATCH_PREFIX}*")  # the killed process left its scratch directory and journal
    assert (scratch / JOURNAL_LOG).is_file()
    if step != "0":
        assert {k: v for k, v in snapshot(target).items() if not k.startswith(".")} != before  # half swapped
    (note,) = [n for n in load(tmp_path, target).warnings if n.code.value == "install-interrupted"]
    assert note.subject == str(scratch)
    assert "next `securehost install`, `upgrade` or `uninstall` in that directory rolls the change back" in note.message

    result = install_plugin(old, target=target, store=STORE)  # the same version: refused, after the recovery
    assert result.action == "refused"
    assert len(result.recovered) == 1
    assert "rolled back" in result.recovered[0]
    assert "first finished what a killed install" in result.summary()
    assert result.to_json()["recovered"] == list(result.recovered)
    assert snapshot(target) == before
    assert no_scratch_left(target)
    assert greetings(tmp_path, target) == ["v1.0 Ada"]
    assert not [n for n in load(tmp_path, target).warnings if n.code.value == "install-interrupted"]
    upgraded = install_plugin(plugins.wheel("2.0", extra=extra(plugins)), target=target, store=STORE, upgrade=True)
    assert upgraded
    assert upgraded.recovered == ()
    assert greetings(tmp_path, target) == ["v2.0 Ada"]


def test_an_upgrade_killed_after_it_completed_keeps_the_new_version(
    tmp_path: Path, plugins: Plugins, store_file: Path
) -> None:
    target = tmp_path / "plugins"
    assert install_plugin(plugins.wheel("1.0", extra=extra(plugins)), target=target, store=STORE)
    run_killed(plugins.wheel("2.0", extra=extra(plugins)), target, store_file, "commit")
    (scratch,) = target.glob(f"{SCRATCH_PREFIX}*")
    assert json.loads((scratch / JOURNAL_LOG).read_text().splitlines()[-1]) == ["commit"]
    result = uninstall_plugin("unrelated", target=target)  # any change in the directory recovers first
    assert not result
    assert result.recovered == (f"{scratch.name}: a completed change left its scratch directory; removed",)
    assert no_scratch_left(target)
    assert greetings(tmp_path, target) == ["v2.0 Ada"]


def test_an_uninstall_killed_midway_is_rolled_back_by_the_next_change(
    tmp_path: Path, plugins: Plugins, store_file: Path
) -> None:
    target = tmp_path / "plugins"
    assert install_plugin(plugins.wheel("1.0", extra=extra(plugins)), target=target, store=STORE)
    before = snapshot(target)
    run_killed("-", target, store_file, "3", plugins.name)
    assert {k: v for k, v in snapshot(target).items() if not k.startswith(".")} != before  # half removed
    result = install_plugin(plugins.wheel("1.0", extra=extra(plugins)), target=target, store=STORE)
    assert "rolled back" in result.recovered[0]
    assert snapshot(target) == before
    assert greetings(tmp_path, target) == ["v1.0 Ada"]
    assert uninstall_plugin(plugins.name, target=target)
    assert greetings(tmp_path, target) == []


def test_an_install_killed_before_it_changed_anything_leaves_nothing(
    tmp_path: Path, plugins: Plugins, store_file: Path
) -> None:
    target = tmp_path / "plugins"
    target.mkdir()
    run_killed(plugins.wheel("1.0"), target, store_file, "0")  # the first rename is the first staged file
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    assert result
    assert result.recovered[0].endswith("rolled back (0 file(s) put back)")
    assert no_scratch_left(target)
    assert greetings(tmp_path, target) == ["v1.0 Ada"]


def test_a_scratch_directory_without_a_journal_is_removed(tmp_path: Path, plugins: Plugins) -> None:
    target = tmp_path / "plugins"
    (target / f"{SCRATCH_PREFIX}dead" / "wheel").mkdir(parents=True)  # died while copying the wheel
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    assert result.recovered == (f"{SCRATCH_PREFIX}dead: an install that stopped before changing anything; removed",)
    assert no_scratch_left(target)


@pytest.mark.parametrize(
    "record",
    [
        ["move", "../outside.txt", "inside.txt"],  # would pull a file from outside the directory in
        ["move", "kept.txt", "/etc/hostname"],  # would push one out
        ["rm", "kept.txt"],  # not a step securehost writes
    ],
)
def test_a_forged_journal_moves_nothing_and_is_kept(tmp_path: Path, plugins: Plugins, record: list[str]) -> None:
    target = tmp_path / "plugins"
    scratch = target / f"{SCRATCH_PREFIX}forged"
    scratch.mkdir(parents=True)
    (scratch / JOURNAL_LOG).write_text(json.dumps(record) + "\n")
    (tmp_path / "outside.txt").write_text("outside")
    (target / "inside.txt").write_text("inside")
    (target / "kept.txt").write_text("kept")
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    assert result
    assert "forged" in result.recovered[0]
    assert "left in place" in result.recovered[0] or "rolled back only in part" in result.recovered[0]
    assert scratch.is_dir()
    assert (tmp_path / "outside.txt").read_text() == "outside"
    assert (target / "inside.txt").read_text() == "inside"
    assert (target / "kept.txt").read_text() == "kept"


def test_a_killed_process_mid_line_loses_only_the_step_it_never_took(tmp_path: Path, plugins: Plugins) -> None:
    target = tmp_path / "plugins"
    scratch = target / f"{SCRATCH_PREFIX}torn"
    (scratch / "backup").mkdir(parents=True)
    (scratch / "backup" / "old.txt").write_text("old")  # the one step taken: old.txt moved into the backup
    taken = json.dumps(["move", "old.txt", f"{SCRATCH_PREFIX}torn/backup/old.txt"])
    (scratch / JOURNAL_LOG).write_text(taken + '\n["move", "ne')  # the next line was cut off
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    assert result.recovered == (f"{SCRATCH_PREFIX}torn: an interrupted change was rolled back (1 file(s) put back)",)
    assert (target / "old.txt").read_text() == "old"
    assert no_scratch_left(target)


def test_a_journal_that_is_a_link_is_not_followed(tmp_path: Path, plugins: Plugins) -> None:
    target = tmp_path / "plugins"
    scratch = target / f"{SCRATCH_PREFIX}linked"
    scratch.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.log"
    elsewhere.write_text(json.dumps(["move", "a.txt", "b.txt"]) + "\n")  # a valid journal, but not in its place
    (target / "b.txt").write_text("b")
    (scratch / JOURNAL_LOG).symlink_to(elsewhere)
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    assert "not a journal securehost wrote" in result.recovered[0]
    assert (target / "b.txt").read_text() == "b"
    assert not (target / "a.txt").exists()


def test_a_forged_journal_cannot_move_a_file_out_through_a_link_below_a_missing_directory(
    tmp_path: Path, plugins: Plugins
) -> None:
    target = tmp_path / "plugins"
    scratch = target / f"{SCRATCH_PREFIX}forged"
    (scratch / "backup").mkdir(parents=True)
    (scratch / "backup" / "payload.txt").write_text("payload")
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "link").symlink_to(outside)  # link/new does not exist: only its existing ancestor leaves the directory
    record = ["move", "link/new/payload.txt", f"{SCRATCH_PREFIX}forged/backup/payload.txt"]
    (scratch / JOURNAL_LOG).write_text(json.dumps(record) + "\n")
    result = install_plugin(plugins.wheel("1.0"), target=target, store=STORE)
    assert "a path that leaves" in result.recovered[0]
    assert list(outside.iterdir()) == []  # nothing created or moved outside
    assert (scratch / "backup" / "payload.txt").read_text() == "payload"  # kept, and named in the note
