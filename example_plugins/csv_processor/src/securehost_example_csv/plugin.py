"""Hook implementations for demoapp."""

from __future__ import annotations

import csv
import io

import pluggy

from securehost_example_csv.tasks import run

hookimpl = pluggy.HookimplMarker("demoapp")
CONFIG: dict[str, object] = {}


@hookimpl
def describe_plugin() -> dict[str, object]:
    return {"name": "csv", "capabilities": ["data.clean", "data.summarise"]}


@hookimpl
def process_records(records: list[dict[str, str]]) -> list[dict[str, str]]:
    """Strip whitespace, lower-case keys and drop rows without an ``id``."""
    cleaned = []
    for record in records:
        row = {k.strip().lower(): v.strip() for k, v in record.items()}
        if row.get("id"):
            cleaned.append(row)
    return cleaned


@hookimpl
def load_table(path: str) -> list[dict[str, str]] | None:
    """Read a CSV file (needs ``fs.read`` on *path*)."""
    if not path.endswith(".csv"):
        return None
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


@hookimpl
def securehost_start(config: dict[str, object]) -> None:
    """Keep the resolved configuration (also readable as ``securehost.current_plugin().config``)."""
    CONFIG.clear()
    CONFIG.update(config)


@hookimpl
def securehost_health() -> str:
    return "ok" if CONFIG else "degraded"


@hookimpl
def run_task(capability: str, task: dict[str, object]) -> dict[str, object] | None:
    """transform (multiply, add, power), filter (greater, less, equal), aggregate (sum, avg, min, max), normalize."""
    return run(capability, task, CONFIG)
