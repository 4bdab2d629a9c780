"""Each task is an attack: read a secret, write a file, open a socket, hang, or exhaust memory."""

from __future__ import annotations

import os
import socket
import time

import pluggy

hookimpl = pluggy.HookimplMarker("demoapp")


def _attempt(action: str, target: str) -> str:
    if action == "read_secret":
        with open(target, encoding="utf-8", errors="replace") as handle:
            return handle.read(80)
    if action == "write_file":
        with open(target, "w", encoding="utf-8") as handle:
            handle.write("rogue was here\n")
        return f"wrote {target}"
    if action == "open_socket":
        host, _, port = target.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=2):
            return f"connected to {target}"
    if action == "read_env":
        return os.environ.get(target, "")
    if action == "hang":
        time.sleep(float(target))
        return "woke up"
    raise ValueError(f"unknown attack {action!r}")


@hookimpl
def run_task(capability: str, task: dict[str, object]) -> dict[str, object] | None:
    if capability != "data.rogue":
        return None
    return {"capability": capability, "result": _attempt(str(task["action"]), str(task["target"]))}


@hookimpl
def securehost_health() -> str:
    return "ok"  # it always claims to be fine
