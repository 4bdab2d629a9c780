"""Run pluggy's own test suite against securehost's manager.

The ``pluggy_compat`` nox session copies this file next to the ``testing/`` directory of the pluggy
sdist that matches
the installed pluggy, and sets ``SECUREHOST_PLUGGY_COMPAT=1``. Before any test module is imported,
this conftest
substitutes:

* :class:`securehost.SecurePluginManager` for ``pluggy.PluginManager`` (every ``PluginManager(...)``
  in the tests,
  and subclasses such as ``MyPluginManager`` in ``test_details.py``, become securehost managers,
  guard installed);
* :class:`securehost.HookspecMarker` for ``pluggy.HookspecMarker``;
* securehost's call loop for ``pluggy._callers._multicall`` (``test_multicall.py`` calls it
  directly).

Every test runs twice: with the default plan tiering (the generic loop for a hook's first calls) and with plans
compiled on their first call, so that pluggy's suite covers both paths.

Without the environment variable (for instance when securehost's own suite collects this directory)
it does nothing.
"""

from __future__ import annotations

import os

import pytest

SKIPPED: dict[str, str] = {
    # test id (with its plan tier: "test_x[tiered]", "test_x[compiled]") -> why it cannot pass with a substituted
    # manager (keep this list empty unless unavoidable)
}

if os.environ.get("SECUREHOST_PLUGGY_COMPAT") == "1":
    import pluggy
    import pluggy._callers
    import pluggy._hooks
    import pluggy._manager

    import securehost
    import securehost._dispatch.plan
    from securehost._dispatch.callers import multicall

    pluggy.PluginManager = securehost.SecurePluginManager  # type: ignore[misc]
    pluggy._manager.PluginManager = securehost.SecurePluginManager  # type: ignore[misc]
    pluggy.HookspecMarker = securehost.HookspecMarker  # type: ignore[misc]
    pluggy._hooks.HookspecMarker = securehost.HookspecMarker  # type: ignore[misc]
    pluggy._callers._multicall = multicall

    @pytest.fixture(autouse=True, params=["tiered", "compiled"])
    def _securehost_plan_tier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each test twice: plans compiled on their first call, and the default (generic loop first)."""
        if request.param == "compiled":
            monkeypatch.setattr(securehost._dispatch.plan, "COMPILE_AFTER", 0)

    def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
        for item in items:
            reason = SKIPPED.get(item.nodeid.split("::", 1)[-1])
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))

    def pytest_report_header() -> str:
        version = securehost.__version__
        return f"securehost {version}: pluggy.PluginManager is securehost.SecurePluginManager"
else:
    collect_ignore_glob = ["*"]
