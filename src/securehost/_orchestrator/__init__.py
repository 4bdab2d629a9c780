"""The orchestrator's side: capabilities, configuration, lifecycle and health.

Modules: ``capabilities`` (the dotted capability grammar and the patterns a trust-store key vouches for),
``config`` (a plugin's signed JSON Schema and defaults: checks at sign time, merging the host's values, validation
with :mod:`jsonschema`, redaction of secrets), ``lifecycle`` (the start/stop/health hooks, dependency order, calls
with deadlines), ``health`` (one typed status per plugin) and ``select`` (routing hook calls to the plugins that
offer a capability), and ``runner`` (the loaded plugins' lifecycle and health, driving a plugin manager through a
protocol).

May import: the leaves (``securehost._verdict``, ``securehost._audit``, ``securehost.exceptions``) and
:mod:`pluggy`; no other subsystem, so the signer (``securehost._signing``) can check capabilities and
configuration declarations at sign time and the ``Host`` (``securehost._host``) wires them to its plugin manager.
:mod:`jsonschema` is imported only when a plugin declares a configuration.
"""
