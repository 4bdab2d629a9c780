"""Attacks on an installed plugin directory, through the Host: each is rejected with its own reason, no attacker byte
runs, and the good plugin in the same directory still loads and answers its hook.

Every plugin here is a real wheel, signed with :func:`securehost.sign_wheel` and installed with ``installer`` into a
target directory; the good plugin is ``example_plugins/csv_processor`` built with ``python -m build``. The attacker's
code is a :class:`tests.hostkit.Canary`. ``test_the_attack_is_live_without_securehost`` loads each attacked directory
the usual way (``importlib_metadata`` + ``ep.load()`` + pluggy, in a fresh interpreter) and shows that the canary
fires there: every attack below is live ammunition, not a file that nothing would run.
"""

from __future__ import annotations

import functools
import py_compile
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from securehost import PrivateKey, ReasonCode
from tests._plugins import _record_hash, make_project
from tests.hostkit import (
    GOOD,
    GROUP,
    SIGNED_AT,
    TOOL,
    Lab,
    editable_direct_url,
    editable_wheel,
    entry_points,
    install,
    lab_fixtures,
    plain_load,
    rejected,
    tool_files,
    tool_wheel,
    uninstall,
)
from tests.wheelfactory import forge, trust, trusted

if TYPE_CHECKING:
    from collections.abc import Callable

R = ReasonCode
KEY = PrivateKey.generate()  # the release key: trusted for every name
ROGUE = PrivateKey.generate()  # trusted once, then revoked (it leaked)
SCOPED = PrivateKey.generate()  # trusted only for other-* distributions
GRANTED = "fs.read:/srv/data/**"
NEW_PERMISSION = "net.connect:api.acme.example:443"
STORE = trust(
    trusted(KEY, label="release", max_permissions=["fs.read:/srv/**", "net.connect:*.acme.example:443"]),
    trusted(ROGUE, label="leaked"),
    trusted(SCOPED, label="other team", names=["other-*"]),
    revoked=[ROGUE.key_id],
)


good_wheel, lab = lab_fixtures(KEY, STORE)  # the signed example plugin and a lab that installs it


# --- the attacks: each sets up the plugin directory and returns extra host options ------------------------------


def modified_py(lab: Lab) -> dict[str, Any]:
    lab.tool()
    path = lab.site / "acme_tool" / "helpers.py"
    path.write_text(lab.canary.source() + path.read_text())
    return {}


def appended_code(lab: Lab) -> dict[str, Any]:
    lab.tool()
    with open(lab.site / "acme_tool" / "helpers.py", "a") as handle:
        handle.write("\n" + lab.canary.source())
    return {}


def extra_module(lab: Lab) -> dict[str, Any]:
    lab.tool()
    (lab.site / "acme_tool" / "speedups.py").write_text(lab.canary.source())  # plugin.py imports it if present
    return {}


def planted_pycache(lab: Lab) -> dict[str, Any]:
    lab.tool()
    real = lab.site / "acme_tool" / "helpers.py"
    evil = lab.root / "evil_helpers.py"
    evil.write_text(lab.canary.source() + real.read_text())
    target = lab.site / "acme_tool" / "__pycache__" / f"helpers.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(str(evil), cfile=str(target), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    data = bytearray(target.read_bytes())
    st = real.stat()
    data[8:12] = int(st.st_mtime).to_bytes(4, "little")  # the header matches the real source: Python would use it
    data[12:16] = (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    target.write_bytes(bytes(data))
    return {}


def _add_record_row(lab: Lab, row: str) -> None:
    (record,) = lab.site.glob("acme_tool-*.dist-info/RECORD")
    record.write_text(record.read_text() + row + "\n")


def planted_pycache_hashless_record_row(lab: Lab) -> dict[str, Any]:
    """The planted file, listed in a rewritten RECORD without a hash (as pip lists what it compiles), RECORD later."""
    planted_pycache(lab)
    time.sleep(0.01)  # RECORD's ctime is now later than the planted file's
    _add_record_row(lab, f"acme_tool/__pycache__/helpers.{sys.implementation.cache_tag}.pyc,,")
    return {}


def planted_pycache_record_row_with_its_hash(lab: Lab) -> dict[str, Any]:
    """The planted file, listed in a rewritten RECORD with its own (correct) hash."""
    planted_pycache(lab)
    rel = f"acme_tool/__pycache__/helpers.{sys.implementation.cache_tag}.pyc"
    data = (lab.site / rel).read_bytes()
    _add_record_row(lab, f"{rel},{_record_hash(data)},{len(data)}")
    return {}


def unsigned_same_entry_point(lab: Lab) -> dict[str, Any]:
    files = {"evil_csv/__init__.py": b"", "evil_csv/plugin.py": lab.canary.source().encode()}
    wheel = tool_wheel(
        lab.root / "dist" / "evil", name="evil-csv", files=files, eps=entry_points(csv="evil_csv.plugin")
    )
    install(wheel, lab.site)  # the good plugin's entry point is "csv" in the same group
    return {}


def entry_point_at_other_distribution(lab: Lab) -> dict[str, Any]:
    library = tool_wheel(
        lab.root / "dist" / "lib",
        name="evil-lib",
        files={"evil_lib/__init__.py": lab.canary.source().encode()},
        eps=b"",
    )
    install(library, lab.site)  # an unsigned library, no plugin of the group
    lab.tool(name="acme-steal", eps=entry_points(steal="evil_lib"))  # signed, aims at the library
    return {}


def rollback(lab: Lab) -> dict[str, Any]:
    newer = lab.tool(version="2.0")
    first = lab.host()
    assert first.load()[TOOL].status == "accepted"
    first.close()
    uninstall(newer)
    lab.tool(version="1.0", files=tool_files(payload=lab.canary.source()))  # the old release, with its known hole
    return {}


def revoked_key(lab: Lab) -> dict[str, Any]:
    lab.tool(key=ROGUE, files=tool_files(payload=lab.canary.source()))
    return {}


def key_out_of_scope(lab: Lab) -> dict[str, Any]:
    lab.tool(key=SCOPED, files=tool_files(payload=lab.canary.source()))
    return {}


def update_with_new_permissions(lab: Lab) -> dict[str, Any]:
    grants = {"acme-*": [GRANTED]}
    old = lab.tool(version="1.0", permissions=[GRANTED])
    first = lab.host(grants=grants)
    assert first.load()[TOOL].granted == (GRANTED,)
    first.close()
    uninstall(old)
    lab.tool(version="1.1", permissions=[GRANTED, NEW_PERMISSION], files=tool_files(payload=lab.canary.source()))
    return {"grants": grants}


def editable_install(lab: Lab, *, signed: bool = False) -> dict[str, Any]:
    """``pip install -e`` as pip does it: the PEP 660 wheel of the backend, plus ``direct_url.json``."""
    files = {k: v.decode() for k, v in tool_files(payload=lab.canary.source()).items()}
    project = make_project(lab.root, TOOL, files, entry_points={"tool": "acme_tool.plugin"}, group=GROUP)
    wheel = editable_wheel(project, lab.root / "dist" / "editable")
    if signed:  # sign_wheel refuses a wheel with a .pth: a statement signed by hand with the trusted key
        forge(wheel, KEY, issued_at=SIGNED_AT)
    install(wheel, lab.site, additional_metadata={"direct_url.json": editable_direct_url(project)})
    return {}


def shadowed(lab: Lab) -> dict[str, Any]:
    lab.tool()  # the signed release, in the plugin directory
    first = lab.root / "earlier"
    wheel = tool_wheel(lab.root / "dist" / "look-alike", files=tool_files(payload=lab.canary.source()))
    install(wheel, first)  # an unsigned copy earlier on the path: Python would import this one
    return {"path": [first, lab.site]}


def unsigned_entry_point_file(lab: Lab) -> dict[str, Any]:
    # A signed library that is no plugin of the group, with a module never meant to be loaded as one; the attacker
    # adds an entry_points.txt (the .dist-info is not a package directory, so the file walk does not see it).
    files = {**tool_files("acme_lib"), "acme_lib/admin.py": lab.canary.source().encode()}
    dist_info = lab.tool(name="acme-lib", files=files, eps=b"")
    (dist_info / "entry_points.txt").write_text(entry_points(lib="acme_lib.admin").decode())
    return {}


def check(lab: Lab, attack: Callable[[Lab], dict[str, Any]], name: str, expected: set[ReasonCode], **kw: Any) -> None:
    """Run *attack*, load, and check the verdict, the canary, the audit trail and the good plugin."""
    host = lab.host(**attack(lab))
    report = host.load()
    plugin = rejected(report, name, expected, **kw)
    assert not lab.canary.fired()
    assert not [m for m in sys.modules if m.startswith(("acme_", "evil_"))]
    lab.good_answers(host)
    assert set(host.plugins) == {GOOD}
    (decision,) = [e for e in lab.events() if e.get("location") == plugin.location]
    assert decision["event"] == f"plugin.{plugin.status}"
    assert {r["code"] for r in decision["reasons"]} == {c.value for c in expected}


# --- one test per attack -----------------------------------------------------------------------------------------


def test_modified_installed_py_is_rejected(lab: Lab) -> None:
    check(lab, modified_py, TOOL, {R.INSTALLED_FILE_MODIFIED})


def test_appended_code_is_rejected(lab: Lab) -> None:
    check(lab, appended_code, TOOL, {R.INSTALLED_FILE_MODIFIED})


def test_a_single_appended_byte_is_rejected(lab: Lab) -> None:
    def one_byte(lab: Lab) -> dict[str, Any]:
        lab.tool()
        with open(lab.site / "acme_tool" / "__init__.py", "ab") as handle:
            handle.write(b"\n")
        return {}

    check(lab, one_byte, TOOL, {R.INSTALLED_FILE_MODIFIED})


def test_extra_module_in_the_package_is_rejected(lab: Lab) -> None:
    check(lab, extra_module, TOOL, {R.INSTALLED_FILE_UNSIGNED})


def test_planted_pycache_with_matching_header_is_rejected(lab: Lab) -> None:
    check(lab, planted_pycache, TOOL, {R.INSTALLED_FILE_UNSIGNED})


def test_planted_pycache_listed_without_hash_in_a_rewritten_record_is_rejected(lab: Lab) -> None:
    check(lab, planted_pycache_hashless_record_row, TOOL, {R.INSTALLED_FILE_UNSIGNED})


def test_planted_pycache_listed_with_its_own_hash_in_a_rewritten_record_is_rejected(lab: Lab) -> None:
    check(lab, planted_pycache_record_row_with_its_hash, TOOL, {R.INSTALLED_FILE_UNSIGNED})


def test_pycache_compiled_from_the_signed_source_is_accepted(lab: Lab) -> None:
    lab.tool()
    for source in (lab.site / "acme_tool").glob("*.py"):
        py_compile.compile(str(source), doraise=True)  # what Python writes when the plugin runs without securehost
    host = lab.host()
    assert host.load()[TOOL].status == "accepted"
    accepted = host.check()[TOOL].verdict.evidence["pycache_accepted"]
    assert accepted
    assert all(basis.endswith("the code compiled from the signed source") for basis in accepted)


def test_unsigned_distribution_with_the_same_entry_point_is_rejected(lab: Lab) -> None:
    check(lab, unsigned_same_entry_point, "evil-csv", {R.ENVELOPE_MISSING})


def test_entry_point_at_another_distributions_module_is_rejected(lab: Lab) -> None:
    check(lab, entry_point_at_other_distribution, "acme-steal", {R.ENTRY_POINT_OUTSIDE_DISTRIBUTION})


def test_entry_point_at_the_good_plugins_module_is_rejected(lab: Lab) -> None:
    def steal(lab: Lab) -> dict[str, Any]:
        lab.tool(name="acme-steal", eps=entry_points(steal="securehost_example_csv.plugin"))
        return {}

    check(lab, steal, "acme-steal", {R.ENTRY_POINT_OUTSIDE_DISTRIBUTION})


def test_entry_point_at_os_system_is_rejected(lab: Lab) -> None:
    def shell(lab: Lab) -> dict[str, Any]:
        lab.tool(name="acme-shell", eps=entry_points(shell="os:system"))
        return {}

    check(lab, shell, "acme-shell", {R.ENTRY_POINT_OUTSIDE_DISTRIBUTION})
    import os

    assert all(plugin is not os.system for plugin in lab.hosts[-1].manager.get_plugins())


def test_rollback_to_an_older_signed_version_is_rejected(lab: Lab) -> None:
    check(lab, rollback, TOOL, {R.ROLLBACK})


def test_signature_by_a_revoked_key_is_rejected(lab: Lab) -> None:
    check(lab, revoked_key, TOOL, {R.KEY_REVOKED, R.THRESHOLD_NOT_MET})


def test_signature_by_a_key_outside_its_name_scope_is_rejected(lab: Lab) -> None:
    check(lab, key_out_of_scope, TOOL, {R.KEY_OUT_OF_SCOPE, R.THRESHOLD_NOT_MET})


def test_update_asking_for_new_permissions_is_held(lab: Lab) -> None:
    check(lab, update_with_new_permissions, TOOL, {R.PERMISSION_NOT_GRANTED}, status="held")
    held = lab.hosts[-1].check()[TOOL]
    assert [r.subject for r in held.verdict.reasons] == [NEW_PERMISSION]  # the old grant does not stretch


def test_editable_install_is_rejected(lab: Lab) -> None:
    check(lab, editable_install, TOOL, {R.EDITABLE_INSTALL, R.ENVELOPE_MISSING})
    assert lab.hosts[-1].check()[TOOL].verdict.reasons[0].code is R.EDITABLE_INSTALL  # found first, by discovery


def test_editable_install_is_rejected_even_with_a_trusted_signature(lab: Lab) -> None:
    # The editable wheel holds a .pth instead of the package: a signature vouches for the .pth, never for the
    # project's working tree, which is where the code comes from.
    check(
        lab,
        functools.partial(editable_install, signed=True),
        TOOL,
        {R.EDITABLE_INSTALL, R.FORBIDDEN_FILE, R.ENTRY_POINT_OUTSIDE_DISTRIBUTION},
    )


def test_shadowing_copy_earlier_on_the_path_is_rejected(lab: Lab) -> None:
    check(lab, shadowed, TOOL, {R.DISTRIBUTION_SHADOWED, R.ENVELOPE_MISSING})
    copies = [p for p in lab.hosts[-1].check().plugins if p.name == TOOL]
    assert len(copies) == 2
    assert {r.code for r in copies[1].verdict.reasons} == {R.DISTRIBUTION_SHADOWED}  # the signed copy too


def test_entry_point_the_signature_does_not_list_is_rejected(lab: Lab) -> None:
    check(lab, unsigned_entry_point_file, "acme-lib", {R.ENTRY_POINTS_MISMATCH})


# --- the control: without securehost, each attack runs ----------------------------------------------------------

LIVE = [
    modified_py,
    appended_code,
    extra_module,
    planted_pycache,
    planted_pycache_hashless_record_row,
    planted_pycache_record_row_with_its_hash,
    unsigned_same_entry_point,
    entry_point_at_other_distribution,
    rollback,
    revoked_key,
    key_out_of_scope,
    update_with_new_permissions,
    editable_install,
    functools.partial(editable_install, signed=True),
    shadowed,
    unsigned_entry_point_file,
]


@pytest.mark.parametrize("attack", LIVE, ids=[getattr(a, "__name__", "editable_install_signed") for a in LIVE])
def test_the_attack_is_live_without_securehost(lab: Lab, attack: Callable[[Lab], dict[str, Any]]) -> None:
    options = attack(lab)
    assert not lab.canary.fired()
    plain_load(options.get("path", [lab.site]))
    assert lab.canary.path.exists()
