"""Dependency policy: which modules and distributions a plugin may import or require.

Three modes (the default is ``"signed"``, the fail-closed one). In every mode the host's own distribution and its
installed requirement closure (:mod:`securehost._installed.closure`) are allowed too, unless
``host_dependencies=False``, and so are the distributions an operator approved for the plugin
(:mod:`securehost._installed.approvals`); the :class:`~securehost.Host` supplies both (*allowed* below):

* ``"signed"``: the standard library, the modules of verified plugins registered with the importer, and the
  host's allow-list (:attr:`DependencyPolicy.allowed_modules`; ``Requires-Dist`` against
  :attr:`DependencyPolicy.allowed_distributions` or verified plugin distributions);
* ``"allowlist"``: the standard library, the plugin's own modules and the host's allow-list only (other plugins are
  off limits);
* ``"report"``: everything is allowed; each import or requirement outside ``"signed"`` is an audit event.

Checks happen at two levels. ``Requires-Dist`` of the verified ``METADATA`` (markers evaluated for this interpreter,
no extras) when a distribution is added. Imports, before a module runs: every ``import`` statement in the verified
code (``IMPORT_NAME`` instructions of the module and of every function in it, whether or not it would be reached,
so an ``import`` inside ``try/except ImportError`` counts too), and at run time every import that the finder sees
coming from plugin code (``importlib.import_module``, ``__import__``) of a module not yet in :data:`sys.modules`.
A plugin can still reach an already-imported module through another module's attributes; that is the permission
guard's business, not the importer's.
"""

from __future__ import annotations

import dis
import sys
import types
from typing import TYPE_CHECKING, Final, Literal, Protocol, final

import attrs

from securehost._models import value_model
from securehost._names import canonicalize_name
from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

__all__ = ["Allowance", "DependencyMode", "DependencyPolicy", "resolve_import", "static_imports"]

DependencyMode = Literal["signed", "allowlist", "report"]
_MODES: Final = frozenset({"signed", "allowlist", "report"})
_STDLIB: Final = frozenset(sys.stdlib_module_names)
StaticImport = tuple[str, int, tuple[str, ...]]
_IMPORT_NAME: Final = dis.opmap["IMPORT_NAME"]


class Allowance(Protocol):
    """What a host allows one plugin beyond its :class:`DependencyPolicy` lists (its closure, approvals)."""

    def distributions_for(self, plugin: str) -> Collection[str]:
        """Canonical distribution names *plugin* may require."""

    def module_allowed_for(self, plugin: str, fullname: str) -> bool:
        """Whether *plugin* may import *fullname*."""


#: The instructions that push an ``import``'s level and fromlist: Python 3.14 pushes a small level with
#: ``LOAD_SMALL_INT`` (its argument is the value), earlier versions with ``LOAD_CONST`` (an index into the constants).
_LOAD_CONST: Final = dis.opmap["LOAD_CONST"]
_LOAD_SMALL_INT: Final = dis.opmap.get("LOAD_SMALL_INT", -1)
_EXTENDED_ARG: Final = dis.EXTENDED_ARG


def static_imports(code: types.CodeType) -> tuple[StaticImport, ...]:
    """Return every ``(name, level, fromlist)`` imported by ``import`` statements in *code* and its nested code.

    Reads the instructions itself rather than through :func:`dis.get_instructions`, which builds an object per
    instruction: about ten times the cost, as much as compiling the module again. Each instruction is two bytes,
    an opcode and an argument, widened by the ``EXTENDED_ARG`` prefixes before it; the inline caches of Python 3.11
    and later read as ``CACHE`` (opcode 0), which takes no argument. ``import`` compiles to the level and the
    fromlist pushed as constants, then ``IMPORT_NAME`` with the name (``tests/installed/test_dependencies.py`` holds
    this to :mod:`dis` over the standard library).
    """
    found: list[StaticImport] = []
    stack = [code]
    while stack:
        current = stack.pop()
        stack.extend(const for const in current.co_consts if isinstance(const, types.CodeType))
        raw = current.co_code
        if _IMPORT_NAME not in raw[::2]:  # opcodes sit at even offsets: skip code without imports
            continue
        consts, names = current.co_consts, current.co_names
        loads: list[object] = []
        extended = 0
        for at in range(0, len(raw), 2):
            op = raw[at]
            arg = raw[at + 1] | extended
            if op == _EXTENDED_ARG:
                extended = arg << 8
                continue
            extended = 0
            if op == _LOAD_CONST:
                loads.append(consts[arg])
            elif op == _LOAD_SMALL_INT:
                loads.append(arg)
            elif op == _IMPORT_NAME:
                level = loads[-2] if len(loads) >= 2 and isinstance(loads[-2], int) else 0
                fromlist = loads[-1] if loads and isinstance(loads[-1], tuple) else ()
                found.append((str(names[arg]), level, tuple(str(item) for item in fromlist)))
                loads.clear()
    return tuple(dict.fromkeys(found))


def resolve_import(name: str, level: int, package: str) -> str | None:
    """Resolve a (possibly relative) import like :func:`importlib.util.resolve_name`; ``None`` if it cannot be."""
    if level == 0:
        return name or None
    bits = package.rsplit(".", level - 1) if package else []
    if len(bits) < level:
        return None
    base = bits[0]
    return f"{base}.{name}" if name else base


def _prefixes(fullname: str) -> Iterable[str]:
    parts = fullname.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def _canonical_names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(canonicalize_name(name) for name in names)


def _module_names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class DependencyPolicy:
    """What plugin code may import and require.

    Attributes:
        mode: ``"signed"`` (default), ``"allowlist"`` or ``"report"``.
        allowed_modules: host-provided module names; a name also allows its submodules.
        allowed_distributions: canonical distribution names that ``Requires-Dist`` may name.
        host_dependencies: also allow the host's own distribution and its installed requirement closure (default
            ``True``; the :class:`~securehost.Host` computes the closure).
    """

    mode: DependencyMode = "signed"
    allowed_modules: frozenset[str] = attrs.field(default=frozenset(), converter=_module_names)
    allowed_distributions: frozenset[str] = attrs.field(default=frozenset(), converter=_canonical_names)
    host_dependencies: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))

    def __attrs_post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"dependency mode must be one of {sorted(_MODES)}, not {self.mode!r}")

    def module_allowed(
        self,
        fullname: str,
        *,
        own: Collection[str],
        verified: Collection[str],
        allowed: Callable[[str], bool] | None = None,
    ) -> bool:
        """Whether plugin code may import *fullname*, ignoring ``"report"`` (the caller reports).

        Args:
            fullname: the absolute module name.
            own: the module names of the importing plugin.
            verified: the module names of every registered verified plugin.
            allowed: what the host allows this plugin besides (its closure, the plugin's approvals), if anything.
        """
        if fullname.partition(".")[0] in _STDLIB or fullname in own:
            return True
        if any(prefix in self.allowed_modules for prefix in _prefixes(fullname)):
            return True
        if self.mode == "signed" and fullname in verified:
            return True
        return allowed is not None and allowed(fullname)

    def check_requirements(
        self, requires: Iterable[str], *, verified: Collection[str], allowed: Collection[str] = ()
    ) -> tuple[Reason, ...]:
        """Return a ``DEPENDENCY_NOT_ALLOWED`` reason for each requirement the policy does not allow.

        In ``"report"`` mode the caller turns these reasons into audit events instead of a rejection.

        Args:
            requires: ``Requires-Dist`` lines of the verified ``METADATA``.
            verified: canonical names of the registered verified distributions.
            allowed: canonical names the host allows this plugin besides (its closure, the plugin's approvals).

        Returns:
            The reasons; ``DISTRIBUTION_METADATA_INVALID`` for a line that does not parse.
        """
        reasons: list[Reason] = []
        requires = tuple(requires)
        if not requires:
            return ()
        # packaging's marker parser costs ~10 ms to import: only a distribution with requirements pays for it
        from packaging.markers import UndefinedComparison, UndefinedEnvironmentName  # noqa: PLC0415
        from packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415

        for line in requires:
            try:
                requirement = Requirement(line)
            except InvalidRequirement as exc:
                msg = f"Requires-Dist {line[:120]!r} does not parse: {exc}"
                reasons.append(Reason(code=ReasonCode.DISTRIBUTION_METADATA_INVALID, message=msg, subject=line[:200]))
                continue
            try:
                applies = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
            except (UndefinedEnvironmentName, UndefinedComparison):
                applies = True  # fail closed: an unevaluable marker (`python_version ~= "abc"`) counts
            name = canonicalize_name(requirement.name)
            if not applies or name in self.allowed_distributions or name in allowed:
                continue
            if self.mode == "signed" and name in verified:
                continue
            msg = f"requires {name}, which the {self.mode!r} dependency policy does not allow"
            reasons.append(Reason(code=ReasonCode.DEPENDENCY_NOT_ALLOWED, message=msg, subject=name))
        return tuple(reasons)
