"""An agent skill: safe arithmetic and unit conversion, offered to demoapp's agent."""

from __future__ import annotations

import ast
import operator

import pluggy

from securehost_example_skill import planning
from securehost_example_skill.units import convert

hookimpl = pluggy.HookimplMarker("demoapp")

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("only + - * / on numbers")


@hookimpl
def describe_plugin() -> dict[str, object]:
    return {"name": "skill", "capabilities": ["agent.skill.calc", "agent.skill.units"]}


@hookimpl
def agent_skills() -> list[str]:
    return ["calc", "convert"]


@hookimpl
def run_skill(name: str, arguments: dict[str, str]) -> str | None:
    if name == "calc":
        return f"{_evaluate(ast.parse(arguments['expression'], mode='eval')):g}"
    if name == "convert":
        return f"{convert(float(arguments['value']), arguments['from'], arguments['to']):g}"
    return None


MAX_STEPS = [8]


@hookimpl
def securehost_start(config: dict[str, object]) -> None:
    MAX_STEPS[0] = int(config.get("max_steps", 8))  # type: ignore[call-overload]


@hookimpl
def run_task(capability: str, task: dict[str, object]) -> dict[str, object] | None:
    """agent.analyze, agent.suggest, agent.estimate, agent.decompose on ``task["text"]``."""
    text = str(task.get("text", ""))
    if capability == "agent.analyze":
        return {"capability": capability, "result": planning.analyze(text)}
    if capability == "agent.suggest":
        return {"capability": capability, "result": planning.suggest(text)}
    if capability == "agent.estimate":
        return {"capability": capability, "result": planning.estimate(text)}
    if capability == "agent.decompose":
        return {"capability": capability, "result": planning.decompose(text, MAX_STEPS[0])}
    return None
