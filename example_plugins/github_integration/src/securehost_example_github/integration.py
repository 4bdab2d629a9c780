"""Turns GitHub-style webhook events into chat messages, and (with ``net.connect``) posts status updates."""

from __future__ import annotations

import http.client
import json
import socket

import pluggy

from securehost_example_github.webhooks import verify

hookimpl = pluggy.HookimplMarker("demoapp")
API_HOST = "api.github.com"


@hookimpl
def describe_plugin() -> dict[str, object]:
    return {"name": "github", "capabilities": ["integration.github"]}


@hookimpl
def handle_event(event: dict[str, object]) -> str | None:
    kind = event.get("type")
    repo = event.get("repository", "?")
    if kind == "issues.opened":
        return f"[{repo}] issue #{event['number']} opened: {event['title']}"
    if kind == "pull_request.merged":
        return f"[{repo}] PR #{event['number']} merged by {event['user']}"
    return None


@hookimpl
def post_status(host: str, port: int, message: str) -> bool:
    """Open a connection to the status endpoint (needs ``net.connect`` for that host)."""
    with socket.create_connection((host, port), timeout=2) as conn:
        conn.sendall(message.encode())
    return True


CONFIG: dict[str, object] = {}


@hookimpl
def securehost_start(config: dict[str, object]) -> None:
    CONFIG.clear()
    CONFIG.update(config)


@hookimpl
def securehost_health() -> dict[str, object]:
    try:
        with socket.create_connection((str(CONFIG["status_host"]), int(CONFIG["status_port"])), timeout=1):  # type: ignore[call-overload]
            return {"status": "ok"}
    except OSError as exc:
        return {"status": "degraded", "reason": f"status server unreachable: {exc.__class__.__name__}"}


def _post(path: str, payload: dict[str, object]) -> int:
    conn = http.client.HTTPConnection(str(CONFIG["status_host"]), int(CONFIG["status_port"]), timeout=3)  # type: ignore[call-overload]
    try:
        conn.request("POST", path, body=json.dumps(payload), headers={"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


@hookimpl
def run_task(capability: str, task: dict[str, object]) -> dict[str, object] | None:
    """integration.github.webhook: verify and handle a delivery; integration.github.status: post a commit status."""
    if capability == "integration.github.webhook":
        body = str(task["body"]).encode()
        if not verify(str(CONFIG["webhook_secret"]), body, str(task.get("signature", ""))):
            return {"capability": capability, "accepted": False, "error": "bad signature"}
        event = json.loads(body)
        return {"capability": capability, "accepted": True, "message": handle_event(event)}
    if capability == "integration.github.status":
        status = _post("/status", {"sha": task["sha"], "state": task["state"], "context": "securehost-demo"})
        return {"capability": capability, "http_status": status}
    return None
