"""Top-level module names a plugin would take over: the standard library, modules already imported, sys.path.

The verified importer is first on :data:`sys.meta_path` and serves its names to everyone, so a plugin module named
like a standard-library module, or like any module the normal import system finds elsewhere (the host's own
packages, other distributions), would be served in its place to the host and to every other plugin.
:class:`ShadowCheck` says where else each top-level name of a plugin would come from.

Resolving the :data:`sys.path` entries (to leave out the plugin's own site directory) and searching them are the
costly part of the check; within :meth:`ShadowCheck.batch` (one host load) each entry is resolved and listed once,
and a name that no listing holds is not searched for (outside a batch, on every call). A load's discovery has just
listed the same directories: :meth:`ShadowCheck.seed` hands its listings over, so they are not listed twice.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import os
import sys
from typing import TYPE_CHECKING, Final, final

from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from securehost._installed.modules import VerifiedModule

__all__ = ["ShadowCheck"]

_STDLIB_TOP: Final = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
_MAYBE: Final[frozenset[str]] = frozenset({"\0maybe"})  # an entry whose content cannot be judged from a listing


def _site_dir_of(module: VerifiedModule) -> str:
    """The directory (not yet resolved) a top-level module or package was installed into."""
    path = module.path
    top = os.path.dirname(path) if module.is_package and os.path.basename(path).startswith("__init__.") else path
    return os.path.dirname(top)


@final
class ShadowCheck:
    """Finds the top-level names of a plugin that something else already provides.

    Args:
        loader: the verified importer; modules it loaded itself are not "elsewhere".
    """

    __slots__ = ("_listings", "_loader", "_realpaths", "_seeded")

    def __init__(self, loader: object) -> None:
        self._loader = loader
        self._realpaths: dict[str, str] | None = None
        self._listings: dict[str, frozenset[str]] | None = None
        self._seeded: Mapping[str, frozenset[str]] = {}

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Resolve each :data:`sys.path` entry and site directory at most once until the block ends.

        Nested blocks share the outer block's memo.
        """
        if self._realpaths is not None:
            yield
            return
        self._realpaths, self._listings = {}, {}
        try:
            yield
        finally:
            self._realpaths = self._listings = None
            self._seeded = {}

    def seed(self, listed: Mapping[str, frozenset[str]]) -> None:
        """Take the top-level names of directory entries listed earlier in this batch (discovery's), keyed by entry.

        They stand in for this check's own listing of the same entry string; the rest of the check is unchanged (an
        entry whose finder is not the standard one is still searched). Outside a batch, this does nothing.
        """
        if self._listings is not None:
            self._seeded = listed

    def _realpath(self, entry: str) -> str:
        memo = self._realpaths
        if memo is None:
            return os.path.realpath(entry or os.curdir)
        real = memo.get(entry)
        if real is None:
            real = memo[entry] = os.path.realpath(entry or os.curdir)
        return real

    def _listed_absent(self, top: str, search: list[str]) -> bool:
        """Whether no entry of *search* can hold *top*, by one listing per directory per batch (else ``False``).

        Only for entries whose finder is the standard :class:`~importlib.machinery.FileFinder`: it finds ``top`` in a
        directory only through an entry named ``top`` or ``top.<suffix>``. Anything else (zip files, custom path
        hooks, an entry not yet seen, a directory that cannot be listed) says "maybe", and the caller asks
        :class:`~importlib.machinery.PathFinder`. An entry that no path hook takes (cached as ``None``, such as the
        ``python3XX.zip`` that most installations list but do not have) holds nothing, as for ``PathFinder``.
        """
        listings = self._listings
        if listings is None:
            return False
        wanted = top.lower()
        for entry in search:
            names = listings.get(entry)
            if names is None:
                names = listings[entry] = self._list(entry, self._seeded.get(entry))
            if names is _MAYBE or wanted in names:
                return False
        return True

    @staticmethod
    def _list(entry: str, seeded: frozenset[str] | None) -> frozenset[str]:
        # PathFinder keys the empty entry by the working directory, as here.
        key = entry
        if not entry:
            try:
                key = os.getcwd()
            except OSError:
                return frozenset()  # PathFinder skips an entry for a working directory that is gone
        try:
            finder = sys.path_importer_cache[key]
        except KeyError:
            return _MAYBE  # not seen yet: PathFinder would ask the path hooks
        if finder is None:
            return frozenset()  # no path hook takes it (a missing python3XX.zip): PathFinder skips it
        if not isinstance(finder, importlib.machinery.FileFinder):
            return _MAYBE
        if seeded is not None:
            return seeded
        try:
            return frozenset(name.partition(".")[0].lower() for name in os.listdir(entry or os.curdir))
        except OSError:
            return _MAYBE

    def found_elsewhere(self, top: str, own_site: str | None) -> str | None:
        """Say where else *top* would be imported from (the standard library, an imported module, sys.path)."""
        if top in _STDLIB_TOP:
            return "the standard library"
        existing = sys.modules.get(top)
        if existing is not None and getattr(getattr(existing, "__spec__", None), "loader", None) is not self._loader:
            return f"{top}, already imported from {getattr(existing, '__file__', None) or 'elsewhere'}"
        search = [p for p in sys.path if not own_site or self._realpath(p) != own_site]
        if self._listed_absent(top, search):
            return None
        try:
            spec = importlib.machinery.PathFinder.find_spec(top, search)
        except (ImportError, ValueError, OSError) as exc:
            return f"an unsearchable sys.path entry ({exc})"
        if spec is not None:
            return f"{top} found at {spec.origin or (list(spec.submodule_search_locations or []) or ['?'])[0]}"
        return None

    def reasons(self, modules: Mapping[str, VerifiedModule]) -> list[Reason]:
        """One ``distribution-shadowed`` reason per top-level name of *modules* found elsewhere."""
        reasons = []
        for top in sorted({m.partition(".")[0] for m in modules}):
            own = self._realpath(_site_dir_of(modules[top])) if top in modules else None
            where = self.found_elsewhere(top, own)
            if where is not None:
                msg = f"module {top} would shadow {where}"
                reasons.append(Reason(code=ReasonCode.DISTRIBUTION_SHADOWED, message=msg, subject=top))
        return reasons
