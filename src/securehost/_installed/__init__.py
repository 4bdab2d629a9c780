"""Installed plugins: find them without importing, re-check their files, import exactly the verified bytes.

Modules: discovery without imports (``scan``, ``discovery``, ``headers``), the site checks (``archivepaths``,
``sitecheck``, ``pyccheck``), the installed-distribution check (``distcheck``) and its ``filerecord``, ``shadowing``,
the verified ``importer``, its ``bytecode`` cache, and the ``dependencies`` policy.

May import: ``_wheel``, ``_trust``, ``_signing`` and the leaves (including ``securehost._context``).
Imported by ``_isolation`` (the worker imports through the verified importer) and ``_host``.
"""
