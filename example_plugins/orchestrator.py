"""The orchestrator demo: an agent platform that routes tasks to plugins by capability (``nox -s demo``).

1. Four example plugins are built with ``python -m build`` and signed with the capabilities and configuration schema
   that their ``[tool.securehost]`` tables declare; the operator trusts the key for ``data.*``, ``agent.*`` and
   ``integration.*`` only, so a copy that claims ``system.shell`` is rejected.
2. The platform configures them: a wrong or missing value holds a plugin back with reasons naming the keys (the
   webhook secret never appears); the operator fixes the configuration and every plugin starts.
3. Tasks are routed by capability (``host.select`` / ``host.hook_for``): data transforms, agent planning, a webhook
   whose HMAC-SHA256 signature is checked, a status posted to a local HTTP server on 127.0.0.1.
4. The misbehaving plugin runs isolated in a worker: its attempts to read secrets, write files and open sockets are
   denied, its hang is cut off by the call deadline, it is quarantined, and the platform carries on.
5. Health and counters are shown as a table, then the platform shuts down, stopping plugins in order.

Exits non-zero if any step does not behave as described.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import demoapp  # noqa: E402

from securehost import Host, ProcessIsolation, WorkerLimits  # noqa: E402
from securehost.metrics import prometheus_text  # noqa: E402

PLUGINS = {
    "csv": "csv_processor",
    "skill": "agent_skill",
    "github": "github_integration",
    "rogue": "misbehaving",
}
SECRET = "whsec-demo-0123456789abcdef"  # the webhook's shared secret: must never be printed by securehost
FAILURES: list[str] = []


def step(title: str) -> None:
    print(f"\n=== {title}")


def expect(condition: bool, what: str) -> None:
    print(f"  [{'ok' if condition else 'FAILED'}] {what}")
    if not condition:
        FAILURES.append(what)


def cli(*args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "securehost", *args], check=False, capture_output=True, text=True)
    for line in [] if quiet else (result.stdout + result.stderr).strip().splitlines():
        print(f"    {line}")
    if check and result.returncode != 0:
        FAILURES.append(f"securehost {' '.join(args)} exited {result.returncode}")
    return result


class StatusServer(BaseHTTPRequestHandler):
    """A stand-in for the GitHub status API, on 127.0.0.1 only."""

    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        StatusServer.received.append(json.loads(body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def build_and_sign(work: Path, key: Path) -> dict[str, Path]:
    dist = work / "dist"
    for project in PLUGINS.values():
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(HERE / project)],
            check=True,
            capture_output=True,
        )
    wheels = {short: next(dist.glob(f"securehost_example_{short}-*.whl")) for short in PLUGINS}
    for short, wheel in wheels.items():
        cli("sign", str(wheel), "--key", str(key), "--pyproject", str(HERE / PLUGINS[short] / "pyproject.toml"))
    return wheels


def install_into(wheel: Path, target: Path) -> None:
    scheme = {name: str(target) for name in ("purelib", "platlib")}
    scheme |= {name: str(target.parent / "prefix" / name) for name in ("scripts", "headers", "data")}
    destination = SchemeDictionaryDestination(
        scheme, interpreter=sys.executable, script_kind="posix", bytecode_optimization_levels=()
    )
    with WheelFile.open(wheel) as source:
        install(source, destination, additional_metadata={})


def make_host(work: Path, store: Path, site: Path, config: dict[str, dict[str, object]]) -> Host:
    return Host(
        project="demoapp",
        group=demoapp.GROUP,
        hookspecs=demoapp.DemoAppSpec,
        trust_store=store,
        grants={"securehost-example-skill": ["agent.control"], "securehost-example-github": ["net.connect:127.0.0.1"]},
        path=[site],
        state_dir=work / "state",
        audit_sink=work / "audit.jsonl",
        config=config,
        isolation={"securehost-example-rogue": ProcessIsolation(limits=WorkerLimits(call_timeout=2.0))},
        quarantine_after=5,
        lifecycle_timeout=5.0,
    )


def webhook_signature(secret: str, body: str) -> str:
    """The sender's side of a GitHub-style webhook: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def route(host: Host, capability: str, task: dict[str, object]) -> object:
    """What the platform does with every task: find who offers the capability, and ask only them."""
    offered_by = host.select(capability)
    try:
        answer = host.hook_for(capability).run_task(capability=capability, task=task)
    except Exception as exc:  # noqa: BLE001 - one failing plugin must not stop the platform
        answer = f"{type(exc).__name__}: ...{str(exc)[-90:]}"
    print(f"  {capability:<26} -> {', '.join(offered_by) or '(nobody)':<26} {answer}")
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", help="keep everything in this directory (default: a temporary one)")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="securehost-orchestrator-") as scratch:
        work = Path(args.workdir).resolve() if args.workdir else Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        run(work)
    print(f"\n(orchestrator demo ran in {time.monotonic() - started:.1f} s)")
    if FAILURES:
        print(f"\nDEMO FAILED: {len(FAILURES)} expectation(s) not met:\n  " + "\n  ".join(FAILURES))
        return 1
    print("Orchestrator demo complete: every step behaved as described.")
    return 0


def run(work: Path) -> None:
    key, store, site = work / "acme-release", work / "trust.toml", work / "plugins" / "site-packages"
    site.mkdir(parents=True)

    step("1. Build and sign four plugins with the capabilities and configuration schema they declare")
    cli("keygen", str(key))
    wheels = build_and_sign(work, key)
    cli("inspect", str(wheels["github"]))
    cli(
        "trust", "add", "--store", str(store), f"{key}.pub", "--names", "securehost-example-*", "--label", "Acme",
        "--max-permission", "agent.control", "--max-permission", "net.connect:127.0.0.1",
        "--capability", "data.*", "--capability", "agent.*", "--capability", "integration.*",
    )  # fmt: skip
    (work / "greedy").mkdir()
    greedy = Path(shutil.copy2(wheels["rogue"], work / "greedy" / wheels["rogue"].name))
    cli("sign", str(greedy), "--key", str(key), "--replace-statement", "--capability", "data.rogue",
        "--capability", "system.shell")  # fmt: skip
    result = cli("verify", str(greedy), "--store", str(store), "--json", check=False)
    codes = {r["code"] for v in json.loads(result.stdout) for r in v["reasons"]}
    expect(
        codes == {"capability-not-vouched"},
        "a copy claiming system.shell, which the key may not vouch for, is rejected",
    )
    for wheel in wheels.values():
        install_into(wheel, site)

    server = HTTPServer(("127.0.0.1", 0), StatusServer)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"  status server listening on 127.0.0.1:{port}")

    step("2. Configure: a wrong precision and a missing webhook secret hold two plugins back")
    host = make_host(work, store, site, {"securehost-example-csv": {"precision": "high"},
                                         "securehost-example-github": {"status_port": port}})  # fmt: skip
    report = host.load()
    for name in ("securehost-example-csv", "securehost-example-github"):
        plugin = report[name]
        print(f"  {name}: {plugin.status.upper()}")
        for reason in plugin.verdict.reasons:
            print(f"    - {reason}")
        expect(plugin.status == "held", f"{name} is held with config-invalid")
    expect(report["securehost-example-skill"].status == "accepted", "the agent skill starts regardless")
    host.close()

    step("3. The operator fixes the configuration: every plugin starts (secrets redacted in reports)")
    fixed = {"status_port": port, "webhook_secret": SECRET}
    host = make_host(
        work, store, site, {"securehost-example-csv": {"precision": 3}, "securehost-example-github": fixed}
    )
    report = host.load()
    expect(all(p.status == "accepted" for p in report.plugins), "four plugins accepted and started")
    github = report["securehost-example-github"]
    print(f"  github configuration as reported: {dict(github.config or {})}")
    expect(SECRET not in json.dumps(report.to_json()), "the webhook secret is nowhere in the load report")
    print(f"  offers data.*: {host.select('data.*')}; agent.*: {host.select('agent.*')}")

    step("4. Route tasks by capability")
    values = [3, 1, 4, 1, 5, 9, 2, 6]
    answer = route(host, "data.transform", {"op": "multiply", "operand": 1.5, "values": values})
    expect(isinstance(answer, dict) and answer["result"][0] == 4.5, "data.transform multiplies")
    route(host, "data.filter", {"op": "greater", "operand": 3, "values": values})
    answer = route(host, "data.aggregate", {"op": "avg", "values": values})
    expect(isinstance(answer, dict) and answer["result"] == 3.875, "data.aggregate averages with precision 3")
    route(host, "data.normalize", {"values": values})
    text = "Load the sales CSV, normalize the amounts; aggregate per region then open a GitHub issue"
    route(host, "agent.analyze", {"text": text})
    route(host, "agent.suggest", {"text": text})
    route(host, "agent.estimate", {"text": text})
    answer = route(host, "agent.decompose", {"text": text})
    expect(isinstance(answer, dict) and len(answer["result"]) == 3, "agent.decompose splits the task into steps")
    body = json.dumps({"type": "issues.opened", "repository": "acme/app", "number": 7, "title": "Crash"})
    answer = route(host, "integration.github.webhook", {"body": body, "signature": webhook_signature(SECRET, body)})
    expect(isinstance(answer, dict) and answer["accepted"] is True, "a correctly signed webhook is accepted")
    answer = route(host, "integration.github.webhook", {"body": body, "signature": webhook_signature("guess", body)})
    expect(isinstance(answer, dict) and answer["accepted"] is False, "a forged webhook signature is refused")
    route(host, "integration.github.status", {"sha": "c0ffee", "state": "success"})
    expect(StatusServer.received == [{"sha": "c0ffee", "state": "success", "context": "securehost-demo"}],
           "the status reached the local server on 127.0.0.1")  # fmt: skip

    step("5. The misbehaving plugin, isolated: denied, cut off, quarantined; the platform carries on")
    isolation = report["securehost-example-rogue"].isolation or {}
    print(f"  rogue runs: {isolation.get('mode')}")
    for action, target in (
        ("read_secret", "/etc/shadow"),
        ("read_secret", str(Path.home() / ".ssh" / "id_ed25519")),
        ("write_file", str(work / "rogue-was-here.txt")),
        ("open_socket", f"127.0.0.1:{port}"),
        ("hang", "60"),
    ):
        route(host, "data.rogue", {"action": action, "target": target})
    answer = route(host, "data.rogue", {"action": "read_env", "target": "HOME"})
    expect(answer is None, "after five failures in a row the rogue is quarantined: nobody answers")
    expect(not (work / "rogue-was-here.txt").exists(), "no file was written")
    expect(len(StatusServer.received) == 1, "no connection reached the status server")
    (rogue_plugin,) = report["securehost-example-rogue"].plugins  # registered under its entry-point name
    expect((rogue_plugin, "run_task") in host.manager.quarantined(), "the rogue is quarantined")
    answer = route(host, "data.aggregate", {"op": "max", "values": values})
    expect(isinstance(answer, dict) and answer["result"] == 9.0, "the other plugins still answer")

    step("6. Health and counters")
    health = host.health()
    print("\n".join("  " + line for line in health.table().splitlines()))
    expect(health["securehost-example-rogue"].state == "failing", "the rogue is failing (quarantined)")
    expect(health["securehost-example-csv"].state == "ok", "the data processor is ok")
    expect(SECRET not in json.dumps(health.to_json()), "the secret is nowhere in the health report")
    metrics = prometheus_text(host.manager, health=health)
    print(f"  prometheus export: {len(metrics.splitlines())} lines, e.g.")
    print("    " + next(line for line in metrics.splitlines() if 'state="failing"} 1' in line))
    host.close()
    server.shutdown()
    server.server_close()
    audit = (work / "audit.jsonl").read_text()
    events = [json.loads(line)["event"] for line in audit.splitlines()]
    print(f"  audit log: {len(events)} events: " + ", ".join(sorted(set(events))))
    expect(SECRET not in audit, "the secret is nowhere in the audit log")


if __name__ == "__main__":
    sys.exit(main())
