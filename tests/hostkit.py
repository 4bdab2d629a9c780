"""Shared helpers for the Host tests: signed plugin wheels installed with ``installer``, canaries, hosts.

* :class:`Canary`: attacker code that proves it ran. It first marks itself in :mod:`builtins` (no audit event, so
  the runtime guard, which other tests may have installed in this process, cannot hide a run), then writes a file.
* :func:`tool_files` / :func:`tool_wheel`: a small plugin package (``acme_tool``: three modules, a hookimpl of
  demoapp's ``describe_plugin``) as a wheel made with :func:`tests.wheelfactory.make_wheel`.
* :func:`sign` signs with :func:`securehost.sign_wheel`; :func:`install` installs with ``installer`` (no bytecode:
  installer does not list the files it compiles in ``RECORD``); :func:`uninstall` removes what ``RECORD`` lists.
* :class:`Lab`: a plugin directory with the signed example ``securehost-example-csv`` (built with ``python -m
  build``) installed as the *good* plugin, a state directory, an audit sink and the hosts to close afterwards.
* :func:`plain_load`: the same directory loaded the usual way (``importlib_metadata`` + ``ep.load()`` + pluggy) in a
  subprocess: the control that shows an attack is live ammunition without securehost.
* :func:`write_store`: a trust-store TOML file (for the CLI and for hosts in other processes).
"""

from __future__ import annotations

import builtins
import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
from installer import install as _install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile

from securehost import Host, PermissionSet, PrivateKey, ReasonCode, sign_wheel
from securehost._trust import edit as _trust_edit
from tests.wheelfactory import REPO, make_wheel

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from securehost import LoadReport, PluginReport, TrustStore

UTC: Final = dt.timezone.utc
GROUP: Final = "demoapp.plugins"
PROJECT: Final = "demoapp"
SRC: Final = REPO / "src"
GOOD: Final = "securehost-example-csv"
#: the good plugin's entry-point name: what it is registered under, as pluggy would
GOOD_EP: Final = "csv"
TOOL: Final = "acme-tool"
#: Signed "now" (a minute ago, whole seconds): hosts in these tests use the real clock.
SIGNED_AT: Final = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
_MARKERS: Final = "_securehost_test_canaries"
RECORDS: Final = [{" ID ": "1", "Name": " Ada "}, {" ID ": "", "Name": "nobody"}]
CLEANED: Final = [[{"id": "1", "name": "Ada"}]]


def _load_demoapp() -> Any:
    spec = importlib.util.spec_from_file_location("_hostkit_demoapp", REPO / "example_plugins" / "demoapp.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: demoapp's hook specifications (``example_plugins/demoapp.py``), loaded without touching :data:`sys.path`.
DemoAppSpec: Final = _load_demoapp().DemoAppSpec


def codes(report: PluginReport) -> set[ReasonCode]:
    """The reason codes of one plugin's report."""
    return {r.code for r in report.verdict.reasons}


# --- canaries ---------------------------------------------------------------------------------------------------


@attrs.frozen
class Canary:
    """Attacker code that leaves two traces when it runs: a mark in :mod:`builtins` and a file."""

    path: Path
    token: str = attrs.field(factory=lambda: uuid.uuid4().hex)

    def source(self, *, write_file: bool = True) -> str:
        """One line of Python that marks the run (and writes the canary file)."""
        line = f"import builtins as _b, pathlib as _p; _b.__dict__.setdefault({_MARKERS!r}, set()).add({self.token!r})"
        if write_file:
            line += f"; _p.Path({str(self.path)!r}).write_text('attacker code ran')"
        return line + "\n"

    def fired(self) -> bool:
        """Whether the code ran, in this process (mark) or in any process (file)."""
        return self.path.exists() or self.token in getattr(builtins, _MARKERS, ())


# --- wheels -----------------------------------------------------------------------------------------------------

TOOL_PLUGIN: Final = (
    "import pluggy\n"
    "from acme_tool.helpers import shout\n"
    "try:\n"
    "    from acme_tool import speedups  # optional accelerator, as many packages have\n"
    "except ImportError:\n"
    "    speedups = None\n"
    "hookimpl = pluggy.HookimplMarker('demoapp')\n"
    "\n"
    "@hookimpl\n"
    "def describe_plugin():\n"
    "    return {'name': shout('tool'), 'capabilities': ['tool']}\n"
)


def tool_files(package: str = "acme_tool", *, payload: str = "", plugin: str | None = None) -> dict[str, bytes]:
    """The files of a small plugin package; *payload* is prepended to its ``plugin`` module."""
    text = (plugin if plugin is not None else TOOL_PLUGIN).replace("acme_tool", package)
    return {
        f"{package}/__init__.py": f'"""The {package} plugin."""\n'.encode(),
        f"{package}/helpers.py": b"def shout(text):\n    return text.upper()\n",
        f"{package}/plugin.py": (payload + text).encode(),
    }


def entry_points(**targets: str) -> bytes:
    """An ``entry_points.txt`` for demoapp's group."""
    return (f"[{GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in targets.items())).encode()


def tool_wheel(
    directory: Path,
    *,
    name: str = TOOL,
    version: str = "1.0",
    files: Mapping[str, bytes] | None = None,
    eps: bytes | None = None,
    requires: Iterable[str] = (),
) -> Path:
    """An unsigned wheel of the tool plugin (or of *files*), with one entry point named *name* at ``<package>.plugin``.

    *eps* replaces ``entry_points.txt``; ``b""`` leaves it out; *requires* become ``Requires-Dist`` lines.
    """
    package = name.replace("-", "_")
    metadata = f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires) + "\nA plugin.\n"
    return make_wheel(
        directory,
        dict(files) if files is not None else tool_files(package),
        metadata=metadata.encode() if requires else None,
        name=package,
        version=version,
        entry_points=(eps or None) if eps is not None else entry_points(**{name: f"{package}.plugin"}),
    )


def sign(
    wheel: Path,
    key: PrivateKey | Iterable[PrivateKey],
    *,
    permissions: Iterable[str] = (),
    issued_at: dt.datetime = SIGNED_AT,
    expires_at: dt.datetime | None = None,
    capabilities: Iterable[str] = (),
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Sign *wheel* into a ``signed/`` directory next to it; return the signed copy."""
    keys = [key] if isinstance(key, PrivateKey) else list(key)
    return sign_wheel(
        wheel,
        keys,
        permissions=permissions,
        output=f"{wheel.parent / 'signed'}{os.sep}",
        issued_at=issued_at,
        expires_at=expires_at,
        capabilities=capabilities,
        config=config,
    )


def install(wheel: Path, site: Path, *, additional_metadata: Mapping[str, bytes] | None = None) -> Path:
    """Install *wheel* into *site* with ``installer``, without bytecode; return its ``.dist-info`` directory."""
    site.mkdir(parents=True, exist_ok=True)
    prefix = site.parent / f"{site.name}-prefix"
    scheme = {"purelib": str(site), "platlib": str(site)}
    scheme |= {key: str(prefix / key) for key in ("scripts", "headers", "data")}
    destination = SchemeDictionaryDestination(
        scheme, interpreter=sys.executable, script_kind="posix", bytecode_optimization_levels=()
    )
    with WheelFile.open(wheel) as source:
        _install(source, destination, additional_metadata=dict(additional_metadata or {}))
        dist_info = source.dist_info_dir
    return site / dist_info


def uninstall(dist_info: Path) -> None:
    """Remove every file that the installed ``RECORD`` lists (as ``pip uninstall`` does), and empty directories."""
    site = dist_info.parent
    for line in (dist_info / "RECORD").read_text().splitlines():
        path = site / line.split(",")[0]
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == site or any(parent.iterdir()):
                break
            parent.rmdir()


def write_store(
    path: Path,
    key: PrivateKey,
    *,
    names: Iterable[str] = ("*",),
    max_permissions: Iterable[str] = (),
    label: str = "test key",
    capabilities: Iterable[str] = (),
) -> Path:
    """Add *key* to the trust-store file *path* (created if missing)."""
    _trust_edit.add_key(
        path,
        key.public_key,
        label=label,
        names=list(names),
        max_permissions=PermissionSet.parse(max_permissions),
        capabilities=capabilities,
    )
    return path


def revoke(path: Path, key: PrivateKey) -> None:
    """Revoke *key* in the trust-store file *path*."""
    _trust_edit.revoke(path, key.key_id)


# --- a plugin directory with a good plugin in it -----------------------------------------------------------------


@attrs.define
class Lab:
    """A plugin directory (``site``) holding the signed good plugin, plus state, audit sink and canary.

    Attributes:
        root: the test's temporary directory.
        key: the trusted signing key.
        store: the trust store hosts use by default.
        good_wheel: the signed ``securehost-example-csv`` wheel (built with ``python -m build``).
    """

    root: Path
    key: PrivateKey
    store: TrustStore
    good_wheel: Path
    canary: Canary = attrs.field(init=False)
    hosts: list[Host] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        self.canary = Canary(self.root / "CANARY")

    @property
    def site(self) -> Path:
        return self.root / "site"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    def install_good(self) -> Path:
        return install(self.good_wheel, self.site)

    def tool(
        self,
        *,
        key: PrivateKey | None = None,
        name: str = TOOL,
        version: str = "1.0",
        files: Mapping[str, bytes] | None = None,
        eps: bytes | None = None,
        permissions: Iterable[str] = (),
        site: Path | None = None,
        requires: Iterable[str] = (),
        **sign_options: Any,
    ) -> Path:
        """Build, sign (with *key*, default the lab's) and install the tool plugin; return its ``.dist-info``."""
        directory = self.root / "dist" / f"{name}-{version}"
        wheel = tool_wheel(directory, name=name, version=version, files=files, eps=eps, requires=requires)
        signed = sign(wheel, key or self.key, permissions=permissions, **sign_options)
        return install(signed, site or self.site)

    def host(self, **options: Any) -> Host:
        """A host over the lab's plugin directory (closed when the test ends)."""
        settings: dict[str, Any] = {
            "project": PROJECT,
            "group": GROUP,
            "trust_store": self.store,
            "hookspecs": DemoAppSpec,
            "path": [self.site],
            "state_dir": self.state,
            "audit_sink": self.audit,
            "guard": False,
        }
        settings.update(options)
        made = Host(**settings)
        self.hosts.append(made)
        return made

    def close(self) -> None:
        for made in self.hosts:
            made.close()

    def events(self) -> list[dict[str, Any]]:
        """The audit sink, parsed line by line."""
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text(encoding="utf-8").splitlines()]

    def good_answers(self, host: Host) -> None:
        """The good plugin is accepted, registered, and its hook answers."""
        report = host.plugins[GOOD]
        assert report.status == "accepted", report.summary()
        assert host.hook.process_records(records=RECORDS) == CLEANED
        assert host.implementations("process_records") == [GOOD_EP]


def lab_fixtures(key: PrivateKey, store: Any) -> tuple[Any, Any]:
    """The ``good_wheel`` (module scope) and ``lab`` fixtures of a test module: ``good_wheel, lab = lab_fixtures(...)``.

    ``good_wheel`` is the csv example plugin signed with *key*; ``lab`` a :class:`Lab` whose host trusts *store*, with
    that wheel installed, closed after the test.
    """
    import pytest

    from tests.wheelfactory import copy_wheel

    @pytest.fixture(scope="module")
    def good_wheel(example_wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
        return sign(copy_wheel(example_wheels["csv"], tmp_path_factory.mktemp("good")), key)

    @pytest.fixture
    def lab(tmp_path: Path, good_wheel: Path) -> Any:
        made = Lab(root=tmp_path, key=key, store=store, good_wheel=good_wheel)
        made.install_good()
        yield made
        made.close()

    return good_wheel, lab


def rejected(report: LoadReport, name: str, expected: set[ReasonCode], *, status: str = "rejected") -> PluginReport:
    """Assert that *name* was rejected with exactly the *expected* reason codes and nothing of it is registered."""
    plugin = report[name]
    assert plugin.status == status, plugin.summary()
    assert codes(plugin) == expected, plugin.summary()
    assert plugin.plugins == ()
    assert plugin.granted == ()
    return plugin


# --- the control: the usual way of loading plugins -------------------------------------------------------------

_PLAIN_LOADER: Final = """
import site, sys
import importlib_metadata, pluggy
for entry in {paths!r}:
    site.addsitedir(entry)
pm = pluggy.PluginManager("demoapp")
for ep in importlib_metadata.entry_points(group={group!r}):
    try:
        pm.register(ep.load(), name=ep.dist.name + ":" + ep.name)
    except Exception as exc:
        print("failed:", ep.value, type(exc).__name__, exc)
print(sorted(name for name, _ in pm.list_name_plugin()))
"""


def plain_load_code(paths: Iterable[Path], group: str = GROUP) -> str:
    """Python code that adds *paths* as site directories and loads the group's plugins the usual way."""
    return _PLAIN_LOADER.format(paths=[str(p) for p in paths], group=group)


def plain_load(paths: Iterable[Path], group: str = GROUP) -> subprocess.CompletedProcess[str]:
    """Load the plugins of *paths* the usual way, in a fresh interpreter, and return the finished process."""
    code = plain_load_code(paths, group)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True, env=env
    )


def copy_tree(source: Path, target: Path) -> Path:
    """Copy a directory tree, keeping symlinks."""
    shutil.copytree(source, target, symlinks=True)
    return target


def editable_wheel(project: Path, outdir: Path) -> Path:
    """Build the PEP 660 editable wheel of *project* with hatchling's ``build_editable`` hook, as ``pip -e`` does."""
    outdir.mkdir(parents=True, exist_ok=True)
    code = f"import hatchling.build as backend; print(backend.build_editable({str(outdir)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=300, check=True
    )
    return outdir / done.stdout.strip().splitlines()[-1]


def editable_direct_url(project: Path) -> bytes:
    """The ``direct_url.json`` that pip writes for ``pip install -e PROJECT`` (PEP 610, PEP 660)."""
    return json.dumps({"url": project.as_uri(), "dir_info": {"editable": True}}).encode()
