"""The example plugins of ``example_plugins/``: built with ``python -m build``, signed with what their
``[tool.securehost]`` tables declare, installed, loaded by demoapp's host and exercised by capability.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from securehost import Host, PermissionDeniedError, PrivateKey, ReasonCode, sign_wheel
from securehost._orchestrator.config import REDACTED
from securehost._orchestrator.declare import read_declaration
from tests.hostkit import DemoAppSpec, install
from tests.wheelfactory import EXAMPLES, REPO, copy_wheel, trust, trusted

KEY = PrivateKey.generate()
STORE = trust(
    trusted(
        KEY,
        max_permissions=["agent.control", "net.connect:127.0.0.1"],
        capabilities=["data.*", "agent.*", "integration.*"],
    )
)
SECRET = "whsec-test-0123456789abcdef"


class Status(BaseHTTPRequestHandler):
    received: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        Status.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Any:
    made = HTTPServer(("127.0.0.1", 0), Status)
    threading.Thread(target=made.serve_forever, daemon=True).start()
    yield made.server_address[1]
    made.shutdown()
    made.server_close()


@pytest.fixture(scope="module")
def site(example_wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples")
    for short, wheel in example_wheels.items():
        declared = read_declaration(REPO / "example_plugins" / EXAMPLES[short][0] / "pyproject.toml")
        signed = sign_wheel(
            copy_wheel(wheel, root / short),
            KEY,
            permissions=declared.permissions,
            capabilities=declared.capabilities,
            config=declared.config,
        )
        install(signed, root / "site")
    return root / "site"


@pytest.fixture
def host(site: Path, server: int, tmp_path: Path) -> Any:
    made = Host(
        project="demoapp",
        group="demoapp.plugins",
        hookspecs=DemoAppSpec,
        trust_store=STORE,
        grants={"securehost-example-skill": ["agent.control"], "securehost-example-github": ["net.connect:127.0.0.1"]},
        path=[site],
        state_dir=tmp_path / "state",
        config={"securehost-example-github": {"webhook_secret": SECRET, "status_port": server}},
    )
    report = made.load()
    assert report.all_accepted, report.summary()
    yield made
    made.close()


def task(host: Host, capability: str, **fields: object) -> Any:
    return host.hook_for(capability).run_task(capability=capability, task=fields)


def test_every_example_declares_what_it_offers(host: Host) -> None:
    assert host.select("data.transform") == ("securehost-example-csv",)
    assert host.select("agent.*") == ("securehost-example-skill",)
    assert host.select("integration.*") == ("securehost-example-github",)
    assert host.select("data.rogue") == ("securehost-example-rogue",)
    assert host.plugins["securehost-example-github"].config == {
        "status_host": "127.0.0.1",
        "status_port": host.plugins["securehost-example-github"].config["status_port"],  # type: ignore[index]
        "webhook_secret": REDACTED,
    }


@pytest.mark.parametrize(
    ("capability", "fields", "result"),
    [
        ("data.transform", {"op": "multiply", "operand": 2, "values": [1, 2.5]}, [2.0, 5.0]),
        ("data.transform", {"op": "add", "operand": 1, "values": [1, 2]}, [2.0, 3.0]),
        ("data.transform", {"op": "power", "operand": 2, "values": [3]}, [9.0]),
        ("data.filter", {"op": "greater", "operand": 2, "values": [1, 2, 3]}, [3.0]),
        ("data.filter", {"op": "less", "operand": 2, "values": [1, 2, 3]}, [1.0]),
        ("data.filter", {"op": "equal", "operand": 2, "values": [1, 2, 3]}, [2.0]),
        ("data.aggregate", {"op": "sum", "values": [1, 2, 3]}, 6.0),
        ("data.aggregate", {"op": "avg", "values": [1, 2]}, 1.5),
        ("data.aggregate", {"op": "min", "values": [4, 2, 9]}, 2.0),
        ("data.aggregate", {"op": "max", "values": [4, 2, 9]}, 9.0),
        ("data.normalize", {"values": [0, 5, 10]}, [0.0, 0.5, 1.0]),
    ],
)
def test_the_data_processor(host: Host, capability: str, fields: dict[str, Any], result: Any) -> None:
    assert task(host, capability, **fields) == {"capability": capability, "result": result}


def test_the_data_processor_refuses_too_many_records(site: Path, tmp_path: Path) -> None:
    with Host(
        project="demoapp",
        group="demoapp.plugins",
        hookspecs=DemoAppSpec,
        trust_store=STORE,
        path=[site],
        state_dir=tmp_path,
        config={"securehost-example-csv": {"max_records": 2, "precision": "x"}},
    ) as made:
        report = made.load()["securehost-example-csv"]
        assert report.status == "held"
        assert {r.code for r in report.verdict.reasons} == {ReasonCode.CONFIG_INVALID}


def test_the_agent_skill(host: Host) -> None:
    text = "Load the CSV; normalize the amounts then open a GitHub issue"
    assert task(host, "agent.analyze", text=text)["result"]["kind"] == "data"
    assert len(task(host, "agent.suggest", text=text)["result"]) == 3
    assert task(host, "agent.estimate", text=text)["result"]["level"] in {"low", "medium", "high"}
    assert task(host, "agent.decompose", text=text)["result"] == [
        "1. Load the CSV",
        "2. Normalize the amounts",
        "3. Open a GitHub issue",
    ]


def test_the_github_integration_checks_webhook_signatures_and_posts_status(host: Host) -> None:
    body = json.dumps({"type": "issues.opened", "repository": "a/b", "number": 1, "title": "T"})
    good = "sha256=" + hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    answer = task(host, "integration.github.webhook", body=body, signature=good)
    assert answer["accepted"] is True
    assert answer["message"] == "[a/b] issue #1 opened: T"
    forged = "sha256=" + hmac.new(b"guess", body.encode(), hashlib.sha256).hexdigest()
    assert task(host, "integration.github.webhook", body=body, signature=forged)["accepted"] is False
    assert task(host, "integration.github.status", sha="abc", state="success")["http_status"] == 201
    assert Status.received[-1] == {"sha": "abc", "state": "success", "context": "securehost-demo"}
    assert host.health()["securehost-example-github"].state == "ok"


@pytest.mark.parametrize(
    ("action", "target"),
    [("read_secret", "/etc/shadow"), ("write_file", "/tmp/rogue-was-here"), ("open_socket", "127.0.0.1:9")],
)
def test_the_misbehaving_plugin_is_denied(host: Host, action: str, target: str) -> None:
    with pytest.raises(PermissionDeniedError):
        task(host, "data.rogue", action=action, target=target)
    assert not Path("/tmp/rogue-was-here").exists()
    assert host.health()["securehost-example-rogue"].denials == 1


# --- the README's demo command: both demo scripts, run as `nox -s demo` runs them -----------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("script", ["demo.py", "orchestrator.py"])
def test_the_demo_scripts_behave_as_they_describe(script: str, tmp_path: Path) -> None:
    """Each demo checks its own expectations and exits 1 on the first one not met (the README's first command)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    done = subprocess.run(
        [sys.executable, str(REPO / "example_plugins" / script)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "every step behaved as described" in done.stdout
