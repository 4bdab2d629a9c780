"""Dispatch: hook calls with permission checks and per-plugin counters.

Modules: hook markers, the permissioned plugin manager, hook callers, compiled call plans, the callers, the async
relay (``relay``), and per-plugin statistics (``stats``).

May import: ``_guard`` and the leaves. Independent of the load path (``_host``, ``_installed``, ``_wheel``,
``_trust``, ``_signing``): a host can use :class:`~securehost.SecurePluginManager` alone, as a drop-in for pluggy's.
"""
