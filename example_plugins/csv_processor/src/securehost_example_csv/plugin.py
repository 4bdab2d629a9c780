"""Hook implementations for demoapp."""

from __future__ import annotations

import csv
import io

import pluggy

hookimpl = pluggy.HookimplMarker("demoapp")


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
