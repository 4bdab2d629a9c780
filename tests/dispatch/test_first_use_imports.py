"""Modules a start-up does not import are imported by their first use as the host, even inside a plugin's context.

A guarded plugin that lacks a permission a hook requires is registered inside its own context (the host imports
and registers plugin code as the plugin); the record of the implementation left out, a load note and a name of the
package resolved for the first time by plugin code (``securehost.HookStats``) come from modules imported on first
use. Reading them is securehost's doing: the guard must not judge it against the plugin's ``fs.read`` grants. The
subprocess imports securehost from a copy outside every library root, where the guard would refuse the plugin the
read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import securehost

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {lib!r})
    import securehost
    assert securehost.__file__.startswith({lib!r}), securehost.__file__
    from securehost import HookspecMarker, PermissionSet, SecurePluginManager
    from securehost._context import import_as_host

    hookspec = HookspecMarker("firstuse")
    hookimpl = __import__("pluggy").HookimplMarker("firstuse")

    class Spec:
        @hookspec(requires=["net.connect:example.org"])
        def fetch(self): ...

    class Plugin:
        @hookimpl
        def fetch(self):
            return 1

    for lazy in ("securehost._dispatch.skipped", "securehost._host.note", "securehost._dispatch.snapshot"):
        assert lazy not in sys.modules, lazy
    manager = SecurePluginManager("firstuse", guard=True)
    manager.add_hookspecs(Spec)
    with manager.plugin_context("weak", PermissionSet()):
        manager.register(Plugin(), name="weak", permissions=[])
        note = import_as_host("securehost._host.note")
        assert "securehost._dispatch.snapshot" not in sys.modules
        assert securehost.HookStats.__name__ == "HookStats"  # the package's lazy name, first resolved as the plugin
    (skipped,) = manager.skipped_impls()
    assert (skipped.plugin, skipped.hook) == ("weak", "fetch"), skipped
    assert note.NoteCode("no-hooks") is note.NoteCode.NO_HOOKS
    with manager.plugin_context("weak", PermissionSet()):
        try:
            open({probe!r}).close()
        except PermissionError as exc:
            print("denied:", exc)
        else:
            raise SystemExit("the guard let the plugin read a file outside its grants")
    print("ok")
    """
)


def test_first_use_imports_run_as_the_host_inside_a_plugins_context(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(Path(securehost.__file__).parent, lib / "securehost", ignore=shutil.ignore_patterns("__pycache__"))
    probe = lib / "securehost" / "_version.py"  # one of the copied files: the guard guards them
    code = SCRIPT.format(lib=str(lib), probe=str(probe))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "ok"
    assert "denied:" in result.stdout
