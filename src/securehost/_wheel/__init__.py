"""Wheels: read a ``.whl`` safely, check it, sign it and verify it.

Modules: the hardened zip reader (``zip*``), wheel metadata (``info``), the
files run at start-up (``startup``), ``record``, ``entrypoints``, the wheel checks
(``check``) and signing/verifying a ``.whl`` file (``wheelfile``).

May import: ``_trust``, ``_signing`` and the leaves. Imported by ``_installed``, ``_host``, ``testing`` and the CLI.
"""
