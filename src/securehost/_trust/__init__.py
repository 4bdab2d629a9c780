"""Trust: which keys may sign which plugins, for what, and how many.

Modules: the parts of the model (``model``), the store (``store``), its strict loader (``load``), the signer policy
(``policy``), the editor (``edit``), ``allowed_signers`` import, and ``verify`` (a signed statement checked against
the store, shared by wheels and installed plugins).

May import: ``_signing`` and the leaves. Imported by ``_wheel``, ``_installed``, ``_host`` and the CLI.
"""
