"""The runtime guard: the in-process PEP 578 audit-hook tripwire.

Modules: the hook itself (``audithook``) and its checks (``checks``, ``paths``, ``net``).

May import: the leaves only (``securehost._context`` says which plugin is running). Imported by ``_dispatch``.
"""
