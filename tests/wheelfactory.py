"""Small real wheels for the signing, verification and CLI tests, and tools to tamper with them.

* :func:`make_wheel` writes a valid wheel from a dict of files in pure Python (through
  :mod:`tests.wheelmaker`), fast enough for Hypothesis.
* :func:`build_examples` runs ``python -m build --no-isolation --wheel`` on the projects in
  ``example_plugins/`` (the ``example_wheels`` session fixture in ``conftest.py`` calls it once).
* :func:`rewrite` changes, adds or removes members and (by default) writes a correct ``RECORD`` for
  the result, so that a test can forge exactly one inconsistency.
* :func:`wheel_statement`, :func:`sign_by_hand` and :func:`inject_envelope` build a statement the
  signer would refuse (wrong name, extra file, ...) from the model classes, sign its envelope by
  hand and put it into a wheel; :func:`forge` does all three.
* :func:`trust` builds an in-memory trust store.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from securehost import PAYLOAD_TYPE, Envelope, PermissionSet, Statement, Threshold, TrustedKey, TrustStore
from securehost._signing.predicate import PluginPredicate, Subject
from securehost._wheel.check import inspect_wheel
from securehost._wheel.zipsafe import read_archive
from tests import wheelmaker as wm

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from securehost import PrivateKey

UTC = dt.timezone.utc
ISSUED = dt.datetime(2026, 1, 1, tzinfo=UTC)
NOW = ISSUED + dt.timedelta(days=1)

NAME = "demo_plugin"
CANONICAL = "demo-plugin"
VERSION = "1.0"
TAG = "py3-none-any"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
RECORD = f"{DIST_INFO}/RECORD"
ENVELOPE = f"{DIST_INFO}/securehost.dsse.json"
GROUP = "demoapp.plugins"
ENTRY_POINTS = f"[{GROUP}]\ndemo = demo_plugin.plugin:Plugin\n".encode()
FILES = {
    "demo_plugin/__init__.py": b'"""A demo plugin."""\n',
    "demo_plugin/plugin.py": b"class Plugin:\n    def hello(self):\n        return 'hi'\n",
    "demo_plugin/data/table.csv": b"a,b\n1,2\n",
}

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "csv": ("csv_processor", "securehost-example-csv"),
    "skill": ("agent_skill", "securehost-example-skill"),
    "github": ("github_integration", "securehost-example-github"),
    "rogue": ("misbehaving", "securehost-example-rogue"),
}


# --- building -------------------------------------------------------------------------------------


def make_wheel(
    directory: Path,
    files: Mapping[str, bytes] | None = None,
    *,
    name: str = NAME,
    version: str = VERSION,
    tag: str = TAG,
    entry_points: bytes | None = ENTRY_POINTS,
    metadata: bytes | None = None,
) -> Path:
    """Write a valid, unsigned wheel with *files* (default :data:`FILES`) into *directory*."""
    members = wm.wheel_files(
        metadata=metadata,
        name=name,
        version=version,
        tags=(tag,),
        files=dict(FILES if files is None else files),
        entry_points=entry_points,
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / wm.wheel_name(name, version, tag)
    path.write_bytes(wm.build_wheel(members))
    return path


def build_examples(outdir: Path) -> dict[str, Path]:
    """Build the example plugins with ``python -m build``; return ``{short name: wheel}``."""
    wheels: dict[str, Path] = {}
    for short, (folder, _) in EXAMPLES.items():
        target = outdir / short
        subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(target)],
            cwd=REPO / "example_plugins" / folder,
            check=True,
            capture_output=True,
            timeout=300,
        )
        (wheels[short],) = target.glob("*.whl")
    return wheels


def copy_wheel(wheel: Path, directory: Path) -> Path:
    """Copy *wheel* into *directory* (created), keeping its file name."""
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(wheel, directory / wheel.name))


# --- reading and rewriting ------------------------------------------------------------------------


def read_members(wheel: Path) -> dict[str, bytes]:
    """Every file member of *wheel*, in archive order (read with :mod:`zipfile`; the wheel is our own)."""
    with zipfile.ZipFile(wheel) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}


def dist_info_of(members: Iterable[str]) -> str:
    """The ``.dist-info`` directory that holds ``RECORD``."""
    (record,) = (n for n in members if n.count("/") == 1 and n.endswith(".dist-info/RECORD"))
    return record.split("/")[0]


def record_for(members: Mapping[str, bytes], record_path: str) -> bytes:
    """A correct ``RECORD`` for *members* (its own row last, with empty fields)."""
    rows = [f"{path},{wm.record_hash(data)},{len(data)}\n" for path, data in members.items() if path != record_path]
    return ("".join(rows) + f"{record_path},,\n").encode()


def rewrite(
    wheel: Path,
    changes: Mapping[str, bytes | None],
    *,
    update_record: bool = True,
    output: Path | None = None,
    method: int = 8,
) -> Path:
    """Change (``bytes``), add (``bytes``) or delete (``None``) members; rewrite ``RECORD`` unless told not to.

    New members go just before ``RECORD``, which stays last. A new ``RECORD`` given in *changes* is written as is
    only with ``update_record=False``. Returns the written wheel (*output* or *wheel*).
    """
    members = read_members(wheel)
    record_path = f"{dist_info_of(members)}/RECORD"
    record = members.pop(record_path)
    for name, data in changes.items():
        if name == record_path:
            record = data if data is not None else b""
        elif data is None:
            del members[name]
        else:
            members[name] = data
    members[record_path] = record_for(members, record_path) if update_record else record
    target = output or wheel
    target.write_bytes(wm.build([wm.Entry(n, d, method=method) for n, d in members.items()]))
    return target


# --- statements and envelopes made by hand --------------------------------------------------------


def wheel_statement(
    wheel: Path,
    *,
    permissions: Iterable[str] = (),
    issued_at: dt.datetime = ISSUED,
    expires_at: dt.datetime | None = None,
    subjects: Mapping[str, str] | None = None,
    **changes: Any,
) -> Statement:
    """The statement :func:`securehost._wheel.wheelfile.sign_wheel` would write for *wheel*, with *changes* to
    the predicate.

    *subjects* replaces the subject map (name -> sha256 hex); by default it is every member but ``RECORD`` and the
    envelope, as the signer computes it.
    """
    scan = read_archive(wheel)
    info = inspect_wheel(wheel.name, scan).info
    assert info is not None, "wheel_statement needs a wheel whose metadata parses"
    if subjects is None:
        skip = {info.record_path, f"{info.dist_info}/securehost.dsse.json"}
        subjects = {m.name: m.sha256 for m in scan.members if m.name not in skip}
    predicate = PluginPredicate(
        name=info.name,
        version=info.version,
        tags=tuple(sorted(info.wheel.tags)),
        permissions=tuple(permissions),
        entry_points=info.entry_points,
        issued_at=issued_at,
        expires_at=expires_at,
    )
    return Statement(
        subjects=[Subject(name=n, sha256=d) for n, d in subjects.items()],
        predicate=attrs.evolve(predicate, **changes),
    )


def sign_by_hand(payload: Statement | bytes, *keys: PrivateKey, payload_type: str = PAYLOAD_TYPE) -> Envelope:
    """An envelope over *payload* (a statement or raw bytes) of *payload_type*, signed by each key in order."""
    body = payload.to_json_bytes() if isinstance(payload, Statement) else payload
    envelope = Envelope(payload=body, payload_type=payload_type)
    for key in keys:
        envelope = envelope.sign(key)
    return envelope


def inject_envelope(wheel: Path, envelope: Envelope | bytes, *, output: Path | None = None) -> Path:
    """Put *envelope* into *wheel* as its ``securehost.dsse.json`` and list it in a correct ``RECORD``."""
    data = envelope.to_bytes() if isinstance(envelope, Envelope) else envelope
    name = f"{dist_info_of(read_members(wheel))}/securehost.dsse.json"
    return rewrite(wheel, {name: data}, output=output)


def forge(wheel: Path, *keys: PrivateKey, **changes: Any) -> Path:
    """Sign a hand-made statement of *wheel* (see :func:`wheel_statement`) with *keys* and inject it."""
    return inject_envelope(wheel, sign_by_hand(wheel_statement(wheel, **changes), *keys))


def envelope_of(wheel: Path) -> Envelope:
    """The parsed envelope inside *wheel*."""
    members = read_members(wheel)
    return Envelope.from_bytes(members[f"{dist_info_of(members)}/securehost.dsse.json"])


# --- trust ----------------------------------------------------------------------------------------


def trusted(
    key: PrivateKey,
    *,
    label: str | None = None,
    names: Iterable[str] = ("*",),
    max_permissions: Iterable[str] = (),
    valid_after: dt.datetime | None = None,
    valid_before: dt.datetime | None = None,
    capabilities: Iterable[str] = (),
) -> TrustedKey:
    """A trusted-key entry for *key*'s public half."""
    return TrustedKey(
        key=key.public_key,
        label=label or f"key {key.key_id[:12]}",
        names=tuple(names),
        max_permissions=PermissionSet.parse(max_permissions),
        valid_after=valid_after,
        valid_before=valid_before,
        capabilities=tuple(capabilities),
    )


def trust(
    *keys: PrivateKey | TrustedKey,
    revoked: Iterable[str] = (),
    thresholds: Mapping[str, int] | None = None,
    **options: Any,
) -> TrustStore:
    """A trust store of *keys* (private keys get :func:`trusted` with *options*), revocations and thresholds."""
    entries = [k if isinstance(k, TrustedKey) else trusted(k, **options) for k in keys]
    return TrustStore.from_keys(
        entries,
        revoked=revoked,
        thresholds=[Threshold(pattern=p, count=c) for p, c in (thresholds or {}).items()],
    )
