"""Every dispatch test runs twice: with plans compiled on their first call, and with the default tiering.

By default a plan runs the generic loop for its first :data:`~securehost._dispatch.plan.COMPILE_AFTER` calls, so a
test that calls a hook once would never reach the compiled function; ``compiled`` makes it the first call's path.
"""

from __future__ import annotations

import pytest

from securehost._dispatch import plan


@pytest.fixture(autouse=True, params=["tiered", "compiled"])
def plan_tier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "compiled":
        monkeypatch.setattr(plan, "COMPILE_AFTER", 0)
    return str(request.param)
