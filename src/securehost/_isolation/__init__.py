"""Process isolation: plugins in a worker process confined by the operating system.

Modules: ``choice`` (which plugins run where: the default imports nothing else), ``policy`` (what the host
asks for), ``frames`` (the typed frames), ``values`` (the plain-data checks),
``codec`` (msgpack encoding and decoding), ``channel`` (length-prefixed frames over a socket, with limits and
deadlines), ``confine`` with ``namespaces``, ``landlock`` and ``seccomp`` (applied in the worker before any plugin byte
runs), ``launch`` (the confinement and payload derived from a plugin's permissions), ``zygote`` (the fork server),
``worker`` (the worker's main), ``supervisor`` (the host side: spawn, call, kill, restart with backoff), ``proxy``
(the stand-in the host registers for an isolated plugin), ``host`` (starting an isolated plugin for the Host).

May import: the leaves (``securehost._permissions``, ``securehost._verdict``, ``securehost._audit``,
``securehost._context``, ``securehost._fileio``, ``securehost.exceptions``), ``securehost._installed`` (the verified
importer, inside the worker) and ``securehost._dispatch``. Imported by ``securehost._host`` only.
"""
