"""Process isolation: plugins in a worker process confined by the operating system.

Modules: ``frames`` (the typed frames), ``values`` (the plain-data checks), ``codec`` (msgpack encoding and decoding), ``channel`` (length-prefixed frames over a socket, with
limits and deadlines), ``confine`` (user/net/pid namespaces, no_new_privs, Landlock, seccomp, rlimits, applied in the
worker before any plugin byte runs), ``worker`` (the worker's main), ``supervisor`` (the host side: spawn, call, kill,
restart with backoff), ``proxy`` (the plugin object the host registers in place of an isolated plugin).

May import: the leaves (``securehost._permissions``, ``securehost._verdict``, ``securehost._audit``,
``securehost._context``, ``securehost._fileio``, ``securehost.exceptions``), ``securehost._installed`` (the verified
importer, inside the worker) and ``securehost._dispatch``. Imported by ``securehost._host`` only.
"""
