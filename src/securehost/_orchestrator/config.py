"""A plugin's configuration: the signed JSON Schema and defaults, the host's values, validation and redaction.

The plugin author declares ``{"schema": {...}, "defaults": {...}}`` (signed in the statement). The schema is a JSON
Schema (Draft 2020-12) whose top level is ``"type": "object"``; references stay inside the schema (``$ref`` starting
with ``#``: nothing is fetched). A property is a *secret* when its schema has ``"format": "password"`` or
``"writeOnly": true``; secrets have no signed default, and their values never appear in reports, logs or audit
events (:func:`redact`, :func:`scrub`).

The host's configuration is the signed defaults, overlaid by the host's configuration file, overlaid by the mapping
passed to the ``Host`` (objects merge key by key, anything else replaces). The result is validated before the plugin
starts; every failure names the key (a JSON pointer) and the rule, never the value.

:mod:`jsonschema` is imported on first use, so ``import securehost`` and plugins without a configuration never pay
for it.
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from securehost.exceptions import ConfigDeclarationError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "REDACTED",
    "canonical",
    "check_declaration",
    "freeze",
    "load_config_file",
    "merge",
    "pointer",
    "redact",
    "resolve",
    "schema_problems",
    "scrub",
    "secret_paths",
    "secret_values",
    "validate",
]

REDACTED: Final = "********"
_MAX_PROBLEMS: Final = 20
Path = tuple[str, ...]


def _validator_class() -> Any:
    import jsonschema  # noqa: PLC0415 - lazy: only plugins with a configuration need it

    return jsonschema.Draft202012Validator


def pointer(path: Iterable[object]) -> str:
    """Return the JSON pointer of *path* (``/db/password``; ``/`` for the whole configuration)."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts)


def _refs(node: object) -> Iterator[object]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef"):
                yield value
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def schema_problems(schema: object) -> list[str]:
    """Return what is wrong with *schema* as a configuration schema (empty: nothing)."""
    if not isinstance(schema, Mapping):
        return [f"the configuration schema must be a JSON object, not {type(schema).__name__}"]
    problems = []
    if schema.get("type") != "object":
        problems.append('the configuration schema must have "type": "object" at the top level')
    for ref in _refs(schema):
        if not (isinstance(ref, str) and ref.startswith("#")):
            problems.append(f"$ref {str(ref)[:80]!r} leaves the schema (only '#...' references; nothing is fetched)")
    try:
        import jsonschema  # noqa: PLC0415 - lazy: only plugins with a configuration need it

        _validator_class().check_schema(schema)
    except jsonschema.SchemaError as exc:
        problems.append(f"not a valid JSON Schema (Draft 2020-12): {exc.message[:200]}")
    return problems


def secret_paths(schema: Mapping[str, Any]) -> frozenset[Path]:
    """Return the paths of the secret properties of *schema* (``properties`` at any depth)."""
    found: set[Path] = set()

    def walk(node: object, path: Path) -> None:
        if not isinstance(node, Mapping):
            return
        if path and (node.get("format") == "password" or node.get("writeOnly") is True):
            found.add(path)
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                walk(sub, (*path, str(name)))

    walk(schema, ())
    return frozenset(found)


def _has_path(config: Mapping[str, Any], path: Path) -> bool:
    node: object = config
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def check_declaration(schema: object, defaults: object) -> None:
    """Check a configuration declaration at sign time (and again when a statement is parsed).

    Raises:
        ConfigDeclarationError: the schema is not a usable configuration schema, the defaults are not an object,
            a default is given for a secret, or the defaults break a rule of the schema other than ``required``.
    """
    problems = schema_problems(schema)
    if not isinstance(defaults, Mapping):
        problems.append(f"the configuration defaults must be a JSON object, not {type(defaults).__name__}")
    if problems or not isinstance(schema, Mapping) or not isinstance(defaults, Mapping):
        raise ConfigDeclarationError("; ".join(problems))
    secrets = [pointer(p) for p in sorted(secret_paths(schema)) if _has_path(defaults, p)]
    if secrets:
        raise ConfigDeclarationError(f"a secret has a signed default (secrets are the host's to give): {secrets}")
    broken = [p for p in validate(schema, defaults) if not p.endswith("(required)")]
    if broken:
        raise ConfigDeclarationError("the defaults do not satisfy the schema: " + "; ".join(broken))


def merge(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Overlay *layers* left to right: objects merge key by key, anything else replaces."""
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            previous = result.get(key)
            if isinstance(previous, Mapping) and isinstance(value, Mapping):
                result[key] = merge(previous, value)
            else:
                result[key] = _thaw(value)
    return result


def _thaw(value: object) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


def validate(schema: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Validate *config* against *schema*; return one line per failure, naming the key and the rule, never a value.

    The lines are sorted (stable output); at most 20 are returned.
    """
    validator = _validator_class()(schema, format_checker=_validator_class().FORMAT_CHECKER)
    lines: set[str] = set()
    for error in validator.iter_errors(_thaw(config)):
        where = pointer(error.absolute_path)
        rule = str(error.validator)
        if rule == "required":
            present = error.instance if isinstance(error.instance, Mapping) else {}
            missing = [k for k in error.validator_value if k not in present]
            lines.update(f"{pointer([*error.absolute_path, k])}: missing (required)" for k in missing)
        elif rule == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = set((error.schema.get("properties") or {}).keys())
            extra = sorted(k for k in error.instance if k not in allowed)
            lines.update(f"{pointer([*error.absolute_path, k])}: not allowed (additionalProperties)" for k in extra)
        else:
            expected = repr(error.validator_value)
            if len(expected) > 60:
                expected = expected[:57] + "..."
            lines.add(f"{where}: fails {rule} {expected}")
    return sorted(lines)[:_MAX_PROBLEMS]


def redact(config: Mapping[str, Any], secrets: frozenset[Path]) -> dict[str, Any]:
    """Return a copy of *config* with the value of every secret replaced by :data:`REDACTED`."""

    def walk(node: object, path: Path) -> Any:
        if path in secrets:
            return REDACTED
        if isinstance(node, Mapping):
            return {str(k): walk(v, (*path, str(k))) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v, path) for v in node]
        return node

    result: dict[str, Any] = walk(config, ())
    return result


def secret_values(config: Mapping[str, Any], secrets: frozenset[Path]) -> tuple[str, ...]:
    """Return the text of every non-empty secret value in *config* (for :func:`scrub`), longest first."""
    values = []
    for path in secrets:
        node: object = config
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None and str(node):
            values.append(str(node))
    return tuple(sorted(set(values), key=len, reverse=True))


def scrub(text: str, values: Iterable[str]) -> str:
    """Replace every occurrence of each secret in *values* in *text* (an error message) by :data:`REDACTED`."""
    for value in values:
        text = text.replace(value, REDACTED)
    return text


def freeze(value: object) -> Any:
    """Return a read-only view: objects become :class:`types.MappingProxyType`, arrays tuples (what plugins get)."""
    if isinstance(value, Mapping):
        return types.MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def resolve(
    schema: Mapping[str, Any], defaults: Mapping[str, Any], layers: Iterable[Mapping[str, Any] | None]
) -> tuple[dict[str, Any], frozenset[Path], list[str]]:
    """Overlay the host's *layers* on the signed *defaults* and validate the result against *schema*.

    Returns:
        The configuration, the paths of its secrets, and every validation failure (empty: valid).
    """
    config = merge(defaults, *layers)
    return config, secret_paths(schema), validate(schema, config)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read a host configuration file: a TOML table per plugin, keyed by distribution name.

    .. code-block:: toml

        [securehost-example-github]
        webhook_secret = "..."

    Raises:
        ConfigurationError: the file cannot be read, is not TOML, or holds something other than tables at the top.
    """
    if sys.version_info >= (3, 11):  # imported here: a host without a configuration file does not parse TOML
        import tomllib  # noqa: PLC0415
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # noqa: PLC0415
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read the plugin configuration file {os.fspath(path)}: {exc}") from exc
    result: dict[str, dict[str, Any]] = {}
    for name, table in document.items():
        if not isinstance(table, dict):
            raise ConfigurationError(f"{os.fspath(path)}: {name!r} must be a table of that plugin's configuration")
        result[canonical(name)] = table
    return result


def canonical(name: str) -> str:
    """Return the canonical form of a distribution name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()
