"""An agent skill: safe arithmetic and unit conversion, offered to demoapp's agent."""

from __future__ import annotations

import ast
import operator

import pluggy

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
