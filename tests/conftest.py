"""Shared test configuration."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from pathlib import Path

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None)
# `nox -s mutation`: the same examples for every mutant, so a score does not depend on luck
settings.register_profile("mutation", max_examples=30, deadline=None, derandomize=True, database=None)
settings.load_profile("mutation" if os.environ.get("SECUREHOST_MUTATION") else "ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def example_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example plugins in ``example_plugins/``, built once per session by ``python -m build --no-isolation``.

    Keys are ``csv``, ``skill``, ``github`` and ``rogue``. The files are shared: copy one before changing it
    (``tests.wheelfactory.copy_wheel``).
    """
    pytest.importorskip("hatchling")
    from tests.wheelfactory import build_examples  # here: keeps collection light

    return build_examples(tmp_path_factory.mktemp("example-wheels"))
