"""Installing verified wheels into a plugin directory: verify, stage, swap; uninstall exactly what RECORD lists.

Modules: ``target`` (the distributions already in a plugin directory and the paths they own), ``journal`` (moves
that roll back), ``api`` (:func:`install_plugin`, :func:`uninstall_plugin` and their results).

May import: ``_wheel``, ``_trust``, ``_signing`` and the leaves. Imported by the front ends only (the CLI); nothing
on the load path imports it.
"""
