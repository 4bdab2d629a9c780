"""Turns GitHub-style webhook events into chat messages, and (with ``net.connect``) posts status updates."""

from __future__ import annotations

import socket

import pluggy

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
