"""The package namespace: every public name resolves, and importing securehost loads nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import securehost


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in securehost.__all__:
        assert getattr(securehost, name) is not None
    assert sorted(securehost.__all__) == sorted(set(securehost.__all__))
    assert dir(securehost) == sorted(securehost.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        securehost.nope  # type: ignore[attr-defined]  # noqa: B018


def test_importing_securehost_or_its_pytest_plugin_loads_nothing_heavy() -> None:
    """pytest loads the plugin in every run of a project that has securehost installed: it must stay cheap."""
    code = (
        "import sys, json, pytest; before = set(sys.modules); import securehost, securehost.pytest_plugin; "
        "print(json.dumps(sorted(m for m in ('cryptography', 'packaging.markers', 'pluggy', 'tomlkit', 'attrs') "
        "if m in sys.modules and m not in before)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert loaded == []
