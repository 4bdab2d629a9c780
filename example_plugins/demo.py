"""securehost end to end, with real tools: ``nox -s demo`` (or ``python example_plugins/demo.py``).

1. The plugin author builds three example plugins with ``python -m build``, makes a key and signs the wheels.
2. The operator trusts the key for ``securehost-example-*`` and the permissions it may vouch for.
3. ``securehost verify`` accepts the signed wheels; a tampered copy is rejected with its reasons.
4. The wheels are installed with ``installer`` into a plugin directory, next to an unsigned look-alike that would
   write a canary file if any of its code ran.
5. demoapp's ``Host`` loads the plugins: the signed ones are accepted and registered, the look-alike is rejected,
   and no byte of it runs.
6. Hooks are called: permissions are checked (a read outside the grant and an unapproved connection are denied
   inside the plugin), and per-plugin counters show calls, errors, denials and latency.
7. An installed file is modified after installation: reloading rejects the plugin. Every decision is in the audit log.

Exits non-zero if any step does not behave as described, so the demo doubles as a smoke test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import demoapp  # noqa: E402

from securehost import Host, PermissionDeniedError  # noqa: E402

PLUGINS = ["csv_processor", "agent_skill", "github_integration"]
FAILURES: list[str] = []


def step(title: str) -> None:
    print(f"\n=== {title}")


def expect(condition: bool, what: str) -> None:
    print(f"  [{'ok' if condition else 'FAILED'}] {what}")
    if not condition:
        FAILURES.append(what)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "securehost", *args], check=False, capture_output=True, text=True)
    for line in (result.stdout + result.stderr).strip().splitlines():
        print(f"    {line}")
    if check and result.returncode != 0:
        FAILURES.append(f"securehost {' '.join(args)} exited {result.returncode}")
    return result


def build(work: Path) -> dict[str, Path]:
    dist = work / "dist"
    for project in PLUGINS:
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(HERE / project)],
            check=True,
            capture_output=True,
        )
    wheels = {p.name.split("-")[0].removeprefix("securehost_example_"): p for p in dist.glob("*.whl")}
    print("  built " + ", ".join(sorted(p.name for p in wheels.values())))
    return wheels


def evil_wheel(work: Path, canary: Path) -> Path:
    """An unsigned plugin that claims the same group; importing it would write the canary."""
    project = work / "evil"
    package = project / "src" / "evil_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"open({str(canary)!r}, 'w').write('attacker code ran')\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "evil-plugin"\nversion = "6.6.6"\n'
        '[project.entry-points."demoapp.plugins"]\nevil = "evil_plugin"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/evil_plugin"]\n'
    )
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(work / "dist-evil"), str(project)],
        check=True,
        capture_output=True,
    )
    return next((work / "dist-evil").glob("*.whl"))


def install_into(wheel: Path, target: Path) -> None:
    scheme = {name: str(target) for name in ("purelib", "platlib")}
    scheme |= {name: str(target.parent / "prefix" / name) for name in ("scripts", "headers", "data")}
    destination = SchemeDictionaryDestination(
        scheme, interpreter=sys.executable, script_kind="posix", bytecode_optimization_levels=()
    )
    with WheelFile.open(wheel) as source:
        install(source, destination, additional_metadata={})


def tamper(wheel: Path, out: Path) -> Path:
    """Change one line of plugin code and fix RECORD, as an attacker on a mirror would (pip would install it)."""
    target = out / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("plugin.py"):
                data = data.replace(b"return cleaned", b"__import__('os').system('id'); return cleaned")
            dst.writestr(item, data)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", help="keep everything in this directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="securehost-demo-") as scratch:
        work = Path(args.workdir).resolve() if args.workdir else Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        run(work)
    if FAILURES:
        print(f"\nDEMO FAILED: {len(FAILURES)} expectation(s) not met:\n  " + "\n  ".join(FAILURES))
        return 1
    print("\nDemo complete: every step behaved as described.")
    return 0


def run(work: Path) -> None:
    key, store = work / "acme-release", work / "trust.toml"
    data_dir = work / "data"
    data_dir.mkdir()
    (data_dir / "people.csv").write_text(" ID ,Name\n1, Ada \n,nobody\n2,Grace\n")

    step("1. Plugin author: build three plugins with python -m build, make a key, sign the wheels")
    wheels = build(work)
    cli("keygen", str(key))
    cli("sign", str(wheels["csv"]), "--key", str(key), "--permission", f"fs.read:{data_dir}/**")
    cli("sign", str(wheels["skill"]), "--key", str(key), "--permission", "agent.control")
    cli("sign", str(wheels["github"]), "--key", str(key), "--permission", "net.connect:api.github.com:443")

    step("2. Operator: trust the key for securehost-example-* and what it may vouch for")
    cli(
        "trust", "add", "--store", str(store), f"{key}.pub", "--names", "securehost-example-*", "--label", "Acme",
        "--max-permission", f"fs.read:{work}/**", "--max-permission", "agent.control",
        "--max-permission", "net.connect:*.github.com:443",
    )  # fmt: skip

    step("3. Verify the signed wheels; a tampered copy (RECORD fixed up, as pip would accept) is rejected")
    result = cli("verify", *map(str, wheels.values()), "--store", str(store))
    expect(result.returncode == 0, "all three signed wheels verify")
    (work / "tampered").mkdir()
    bad = tamper(wheels["csv"], work / "tampered")
    result = cli("verify", str(bad), "--store", str(store), "--json", check=False)
    codes = {r["code"] for v in json.loads(result.stdout) for r in v["reasons"]}
    expect(
        result.returncode == 1 and "digest-mismatch" in codes, f"tampered wheel rejected ({', '.join(sorted(codes))})"
    )

    step("4. Install with installer into a plugin directory, next to an unsigned look-alike")
    site = work / "plugins" / "site-packages"
    site.mkdir(parents=True)
    canary = work / "CANARY"
    for wheel in [*wheels.values(), evil_wheel(work, canary)]:
        install_into(wheel, site)
    print("  installed: " + ", ".join(sorted(p.name for p in site.glob("*.dist-info"))))

    step("5. demoapp's Host discovers, verifies and loads: signed plugins accepted, the look-alike rejected")
    host = Host(
        project="demoapp",
        group=demoapp.GROUP,
        hookspecs=demoapp.DemoAppSpec,
        trust_store=store,
        grants={
            "securehost-example-csv": [f"fs.read:{data_dir}/**"],
            "securehost-example-skill": ["agent.control"],
            "securehost-example-github": ["net.connect:api.github.com:443"],
        },
        path=[site],
        state_dir=work / "state",
        audit_sink=work / "audit.jsonl",
    )
    report = host.load()
    print("\n".join("  " + line for line in report.summary().splitlines()))
    expect(len(report.accepted) == 3, "three signed plugins accepted")
    expect(report["evil-plugin"].status == "rejected", "the unsigned look-alike is rejected")
    expect(not canary.exists(), "no byte of the look-alike ran (canary absent)")

    step("6. Dispatch with permissions and counters")
    rows = host.hook.process_records(records=[{" ID ": "1", "Name": " Ada "}, {" ID ": "", "Name": "x"}])
    print(f"  process_records -> {rows}")
    table = host.hook.load_table(path=str(data_dir / "people.csv"))
    expect(table is not None and len(table) == 3, f"csv plugin reads a granted file ({len(table or [])} rows)")
    print(f"  run_skill(calc) -> {host.hook.run_skill(name='calc', arguments={'expression': '6*7'})}")
    event = {"type": "issues.opened", "repository": "acme/app", "number": 7, "title": "Crash"}
    print(f"  handle_event -> {host.hook.handle_event(event=event)}")
    try:
        host.hook.load_table(path="/etc/passwd.csv")
        expect(False, "a read outside the grant is denied")
    except PermissionDeniedError as exc:
        expect(True, f"a read outside the grant is denied: {exc}")
    try:
        host.hook.post_status(host="127.0.0.1", port=9, message="hi")
        expect(False, "an unapproved connection is denied")
    except PermissionDeniedError as exc:
        expect(True, f"an unapproved connection is denied: {exc}")
    print("  per-plugin counters:")
    for s in host.manager.stats().entries:
        if s.calls:
            mean = (s.mean_ns or 0) / 1e3
            print(
                f"    {s.plugin:<27} {s.hook:<16} calls={s.calls} errors={s.errors} "
                f"denials={s.denials} mean={mean:.1f}us"
            )
    denials = sum(s.denials for s in host.manager.stats().entries)
    expect(denials == 2, f"both denials counted ({denials})")

    step("7. An installed file is modified after installation: reload rejects the plugin")
    installed = site / "securehost_example_skill" / "units.py"
    installed.write_text(installed.read_text() + "\nopen(" + repr(str(canary)) + ", 'w')\n")
    plugin = host.reload("securehost-example-skill")
    print("\n".join("  " + line for line in plugin.summary().splitlines()))
    expect(plugin.status == "rejected", "modified plugin rejected on reload")
    expect(not canary.exists(), "the modified code did not run")
    expect(host.implementations("run_skill") == [], "no implementation of run_skill remains")
    host.close()

    step("8. The csv plugin again, now in a worker confined by the kernel (isolation='process')")
    isolated = Host(
        project="demoapp",
        group=demoapp.GROUP,
        hookspecs=demoapp.DemoAppSpec,
        trust_store=store,
        grants={"securehost-example-csv": [f"fs.read:{data_dir}/**"]},
        path=[site],
        state_dir=work / "state-isolated",
        audit_sink=work / "audit.jsonl",
        isolation={"securehost-example-csv": "process"},
    )
    csv_report = isolated.load()["securehost-example-csv"]
    print("\n".join("  " + line for line in csv_report.summary().splitlines()))
    expect(csv_report.isolation is not None and csv_report.isolation["mode"] == "process", "csv runs in a worker")
    table = isolated.hook.load_table(path=str(data_dir / "people.csv"))
    expect(table is not None and len(table) == 3, "the isolated plugin reads its granted file")
    try:
        isolated.hook.load_table(path="/etc/passwd.csv")
        expect(False, "a read outside the grant is denied in the worker")
    except PermissionDeniedError as exc:
        expect(True, f"a read outside the grant is denied in the worker: {exc}")
    pids = isolated._pools["securehost-example-csv"].pids  # a private attribute, shown for the demo
    isolated.close()
    expect(not any(Path(f"/proc/{pid}").exists() for pid in pids), f"close() left no worker behind (pids {pids})")
    events = [json.loads(line)["event"] for line in (work / "audit.jsonl").read_text().splitlines()]
    print(f"  audit log: {len(events)} events: " + ", ".join(sorted(set(events))))


if __name__ == "__main__":
    sys.exit(main())
