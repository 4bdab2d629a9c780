"""The plugin author's declaration in ``pyproject.toml``: ``[tool.securehost]``, read at sign time.

.. code-block:: toml

    [tool.securehost]
    permissions = ["fs.read:/srv/data/**"]
    capabilities = ["data.transform", "data.filter"]
    config-schema = "config.schema.json"       # a JSON file next to pyproject.toml, or an inline table

    [tool.securehost.config-defaults]
    precision = 3

Every key is optional; an unknown key, a wrong type, a malformed capability or an unusable configuration schema is
an error, so a typo never signs a statement that says less than the author meant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import attrs

from securehost._models import value_model
from securehost._orchestrator.capabilities import check_capability
from securehost._orchestrator.config import check_declaration
from securehost.exceptions import CapabilityFormatError, ConfigDeclarationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Declaration", "read_declaration"]

_KEYS: Final = frozenset({"permissions", "capabilities", "config-schema", "config-defaults"})
_MAX_FILE: Final = 1024 * 1024


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Declaration:
    """What ``[tool.securehost]`` declares.

    Attributes:
        permissions: the permissions the plugin requests (unparsed; the signer checks them).
        capabilities: the capabilities it offers.
        config: ``{"schema": ..., "defaults": ...}``, or ``None`` when it declares no configuration.
    """

    permissions: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    config: dict[str, Any] | None = attrs.field(default=None, eq=False)


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigDeclarationError(f"{where}: {key} must be an array of strings")
    return tuple(value)


def _read_json(path: Path, where: str) -> object:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigDeclarationError(f"{where}: cannot read {path}: {exc}") from exc
    if len(data) > _MAX_FILE:
        raise ConfigDeclarationError(f"{where}: {path} is larger than {_MAX_FILE} bytes")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ConfigDeclarationError(f"{where}: {path} is not JSON: {exc}") from exc


def read_declaration(pyproject: str | Path) -> Declaration:
    """Read ``[tool.securehost]`` from *pyproject* (a missing table declares nothing).

    Raises:
        ConfigDeclarationError: the file cannot be read or parsed, the table has an unknown key or a value of the
            wrong type, a capability is malformed, or the configuration declaration is unusable.
    """
    path = Path(pyproject)
    where = f"{path} [tool.securehost]"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigDeclarationError(f"cannot read {path}: {exc}") from exc
    table = document.get("tool", {}).get("securehost", {})
    if not isinstance(table, dict):
        raise ConfigDeclarationError(f"{where}: must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigDeclarationError(f"{where}: unknown key(s) {unknown} (known: {sorted(_KEYS)})")
    capabilities = _strings(table, "capabilities", where)
    for capability in capabilities:
        try:
            check_capability(capability)
        except CapabilityFormatError as exc:
            raise ConfigDeclarationError(f"{where}: {exc}") from exc
    config = None
    if "config-schema" in table:
        source = table["config-schema"]
        schema = _read_json(path.parent / source, where) if isinstance(source, str) else source
        defaults = table.get("config-defaults", {})
        try:
            check_declaration(schema, defaults)
        except ConfigDeclarationError as exc:
            raise ConfigDeclarationError(f"{where}: {exc}") from exc
        config = {"schema": schema, "defaults": defaults}
    elif "config-defaults" in table:
        raise ConfigDeclarationError(f"{where}: config-defaults without config-schema")
    return Declaration(permissions=_strings(table, "permissions", where), capabilities=capabilities, config=config)
