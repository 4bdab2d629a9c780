"""``[tool.securehost]`` in a plugin's ``pyproject.toml``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from securehost._orchestrator.declare import read_declaration
from securehost.exceptions import ConfigDeclarationError

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA = {"type": "object", "properties": {"precision": {"type": "integer"}}}


def write(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n' + table)
    return path


def test_reads_permissions_capabilities_and_a_schema_file(tmp_path: Path) -> None:
    (tmp_path / "config.schema.json").write_text(json.dumps(SCHEMA))
    path = write(
        tmp_path,
        '[tool.securehost]\npermissions = ["agent.control"]\ncapabilities = ["data.filter", "data.transform"]\n'
        'config-schema = "config.schema.json"\n[tool.securehost.config-defaults]\nprecision = 3\n',
    )
    declared = read_declaration(path)
    assert declared.permissions == ("agent.control",)
    assert declared.capabilities == ("data.filter", "data.transform")
    assert declared.config == {"schema": SCHEMA, "defaults": {"precision": 3}}


def test_an_inline_schema_table_works_and_no_table_declares_nothing(tmp_path: Path) -> None:
    inline = write(tmp_path, '[tool.securehost.config-schema]\ntype = "object"\n')
    assert read_declaration(inline).config == {"schema": {"type": "object"}, "defaults": {}}
    (tmp_path / "empty").mkdir()
    empty = read_declaration(write(tmp_path / "empty", ""))
    assert (empty.permissions, empty.capabilities, empty.config) == ((), (), None)


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ('[tool.securehost]\ncapabilites = ["data.x"]\n', "unknown key"),
        ('[tool.securehost]\ncapabilities = ["Data.X"]\n', "invalid capability"),
        ('[tool.securehost]\ncapabilities = "data.x"\n', "array of strings"),
        ('[tool.securehost]\nconfig-schema = "missing.json"\n', "cannot read"),
        ("[tool.securehost.config-defaults]\nx = 1\n", "without config-schema"),
        ('[tool.securehost.config-schema]\ntype = "array"\n', '"type": "object"'),
        ("[tool.securehost\n", "cannot read"),
    ],
)
def test_rejects_mistakes(tmp_path: Path, table: str, match: str) -> None:
    with pytest.raises(ConfigDeclarationError, match=match):
        read_declaration(write(tmp_path, table))
