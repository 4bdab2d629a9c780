"""Import attribution: an allowed library that plugin code imports runs its top level as the host.

A plugin that ``import numpy`` makes numpy's ``__init__`` run inside the plugin's identity: whatever numpy does at
import time (set ``OMP_NUM_THREADS``, list :data:`sys.path`, read its own data files, load native code) would be
judged against the plugin's permissions, and the plugin would be rejected or denied for the library's behaviour.
The library is host-installed code that the dependency policy allows: code the host trusts. So when plugin code
imports a module that the :class:`~securehost._installed.importer.VerifiedImporter` does not serve and the policy
allows, the importer finds it with the finders after itself on :data:`sys.meta_path` (exactly what the import
system would do next) and wraps its loader: the module is created and its top level executed with no plugin
identity (:func:`securehost._context.run_as_host`). Before its code runs, the module's ``__loader__`` and
``__spec__.loader`` are set back to the real loader, so the module looks exactly as if imported normally.

What the guard can tell, and what it cannot (``docs/threat-model.md``):

* only the *first* import of a module runs its top level; a module the host imported earlier runs nothing;
* only imports whose importing frame is plugin code (a module the importer serves) are attributed; a lazy import
  made inside a library function that the plugin calls is the plugin's;
* every *later* call into the library made by plugin code (a function that reads a file, opens a socket) is the
  plugin's, as is anything the library's top level starts that runs later in plugin calls;
* modules the policy does not allow (``"report"`` mode lets them through) keep the plugin's identity;
* modules of another host's verified plugins (a second :class:`VerifiedImporter`) are not library code and are not
  wrapped.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, cast, final

from securehost._context import CURRENT, run_as_host

if TYPE_CHECKING:
    import importlib.abc
    import importlib.machinery
    import types
    from collections.abc import Sequence

__all__ = ["library_spec"]


@final
class _AsHostLoader:
    """Runs *loader*'s module creation and execution as the host, then steps aside."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        module: types.ModuleType | None = None if create is None else run_as_host(create, spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        run_as_host(self._loader.exec_module, module)


def library_spec(
    finder: object, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None
) -> importlib.machinery.ModuleSpec | None:
    """Find *fullname* with the finders after *finder*; return its spec with a loader that runs it as the host.

    Called by the verified importer for a module that plugin code imports and the dependency policy allows. With no
    plugin identity current, or no finder that knows the module, returns ``None`` (the import goes on as usual).
    A spec whose loader is another verified importer (another host's plugin) is returned unchanged.
    """
    if CURRENT.get() is None:
        return None
    finders = list(sys.meta_path)
    after = finders[finders.index(finder) + 1 :] if finder in finders else finders
    for other in after:
        find = getattr(other, "find_spec", None)
        if find is None:
            continue
        spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
        if spec is None:
            continue
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module") or isinstance(loader, type(finder)):
            return spec
        spec.loader = cast("importlib.abc.Loader", _AsHostLoader(loader))  # a loader by protocol (see the importer)
        return spec
    return None
