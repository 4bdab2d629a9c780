"""``demoapp``: the host application of the examples (an agent platform with data tools and integrations).

A host defines its hook specifications with :class:`securehost.HookspecMarker`, which accepts pluggy's options plus
``requires`` (permissions an implementation's plugin must hold) and error isolation. Plugins implement the hooks
with plain ``pluggy.HookimplMarker("demoapp")``: they need not depend on securehost.
"""

from __future__ import annotations

from securehost import HookspecMarker

hookspec = HookspecMarker("demoapp")
GROUP = "demoapp.plugins"


class DemoAppSpec:
    """demoapp's hooks."""

    @hookspec(isolate=True)
    def describe_plugin(self) -> dict[str, object]:  # type: ignore[empty-body]
        """Describe the plugin: name and capabilities (used to pick plugins by capability)."""

    @hookspec
    def process_records(self, records: list[dict[str, str]]) -> list[dict[str, str]]:  # type: ignore[empty-body]
        """Clean a batch of records."""

    @hookspec(firstresult=True)
    def load_table(self, path: str) -> list[dict[str, str]] | None:
        """Load a table from *path*; the first plugin that understands it answers."""

    @hookspec
    def agent_skills(self) -> list[str]:  # type: ignore[empty-body]
        """Names of the agent skills a plugin offers."""

    @hookspec(firstresult=True, requires=["agent.control"])
    def run_skill(self, name: str, arguments: dict[str, str]) -> str | None:
        """Run an agent skill; only plugins granted ``agent.control`` take part."""

    @hookspec(isolate=True, quarantine_after=3)
    def handle_event(self, event: dict[str, object]) -> str | None:
        """React to an integration event (isolated: one failing integration does not stop the others)."""

    @hookspec(firstresult=True)
    def post_status(self, host: str, port: int, message: str) -> bool | None:
        """Send a status message to an external service."""

    @hookspec(firstresult=True)
    def run_task(self, capability: str, task: dict[str, object]) -> dict[str, object] | None:
        """Carry out *task* for *capability*; the host routes it with ``host.hook_for(capability).run_task(...)``."""
