"""The Host: discover -> verify -> import -> register.

Modules: the Host (``host``), the verdict on one installed plugin (``judge``), starting an isolated plugin's workers
(``isolated``), its stateless helpers (``support``), its argument checks (``arguments``), plugin names (``naming``),
load notes and the before-load warning (``notes``), development mode (``devmode``), the load report (``report``),
rollback state (``state``) and plugin listing (``listing``).

The top of the load path: may import every other subpackage and the leaves. Imported by the CLI, ``testing`` and
the public namespace only.
"""
