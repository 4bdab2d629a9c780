"""Task analysis for an agent: what a task is about, how to approach it, how hard it is, and its steps."""

from __future__ import annotations

import re
from typing import Any

_KINDS = {
    "data": ("csv", "data", "table", "records", "aggregate", "normalize", "transform"),
    "integration": ("github", "webhook", "pull request", "issue", "status"),
    "code": ("bug", "fix", "refactor", "test", "implement", "function"),
}
_APPROACHES = {
    "data": ["load the data and check its schema", "transform in small, verifiable steps", "aggregate and report"],
    "integration": ["verify the event's signature", "map the event to an action", "post a status back"],
    "code": ["reproduce with a failing test", "make the smallest change that passes", "refactor with tests green"],
    "general": ["clarify the goal", "split it into independent parts", "check each part's result"],
}


def analyze(text: str) -> dict[str, Any]:
    lowered = text.lower()
    scores = {kind: sum(word in lowered for word in words) for kind, words in _KINDS.items()}
    kind = max(scores, key=lambda k: scores[k]) if any(scores.values()) else "general"
    return {"kind": kind, "keywords": sorted(w for words in _KINDS.values() for w in words if w in lowered)}


def suggest(text: str) -> list[str]:
    return list(_APPROACHES[analyze(text)["kind"]])


def estimate(text: str) -> dict[str, Any]:
    clauses = [c for c in re.split(r"[.;,]| and | then ", text) if c.strip()]
    score = len(clauses) + len(analyze(text)["keywords"])
    level = "low" if score <= 3 else "medium" if score <= 6 else "high"
    return {"score": score, "level": level}


def decompose(text: str, max_steps: int) -> list[str]:
    clauses = [c.strip() for c in re.split(r"[.;]| then ", text) if c.strip()]
    steps = [f"{i}. {c[0].upper()}{c[1:]}" for i, c in enumerate(clauses, 1)]
    return steps[:max_steps]
