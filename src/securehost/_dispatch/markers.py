"""Hook specification markers: pluggy's options plus requirements, isolation and a breaker.

:class:`HookspecMarker` writes the same ``<project>_spec`` attribute as
:class:`pluggy.HookspecMarker`, with three more keys that :class:`securehost.SecurePluginManager`
reads (and that plain pluggy ignores):

* ``requires``: a :class:`~securehost.PermissionSet`; an implementation is registered only if the
  plugin's effective permissions cover every one of them.
* ``isolate``: ``True`` to run every implementation even if some fail and raise one
  :class:`~securehost.exceptions.HookError` at the end; ``False`` for pluggy's behaviour (the first
  error propagates); ``None`` to use the manager's default.
* ``quarantine_after``: quarantine a plugin's implementation of this hook after that many
  consecutive failures (``None``: the manager's default; ``0``: never).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeVar, final, overload

from securehost._permissions import NO_PERMISSIONS, Permission, PermissionSet
from securehost._records import Record, setfield

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["HookspecMarker", "SpecExtras", "spec_extras"]

_F = TypeVar("_F", bound="Callable[..., object]")
_NO_EXTRAS: Final = None


@final
class SpecExtras(Record):
    """The securehost-specific options of one hook specification."""

    __slots__ = ("isolate", "quarantine_after", "requires")
    requires: PermissionSet
    isolate: bool | None
    quarantine_after: int | None

    def __init__(
        self, *, requires: PermissionSet | None = None, isolate: bool | None = None, quarantine_after: int | None = None
    ) -> None:
        setfield(self, "requires", NO_PERMISSIONS if requires is None else requires)
        setfield(self, "isolate", isolate)
        setfield(self, "quarantine_after", quarantine_after)


_DEFAULT_EXTRAS: Final = SpecExtras()


def spec_extras(opts: Mapping[str, object] | None) -> SpecExtras:
    """Read the securehost options from a hookspec options dict (pluggy's own markers have none)."""
    if not opts:
        return _DEFAULT_EXTRAS
    extras = opts.get("securehost")
    return extras if isinstance(extras, SpecExtras) else _DEFAULT_EXTRAS


def _validate(
    requires: Iterable[str | Permission] | PermissionSet,
    isolate: bool | None,
    quarantine_after: int | None,
) -> SpecExtras:
    if isinstance(requires, str):
        raise TypeError("requires takes an iterable of permissions, not one string")
    if isinstance(requires, PermissionSet):
        required = requires
    else:
        required = PermissionSet(frozenset(p if isinstance(p, Permission) else Permission.parse(p) for p in requires))
    if isolate is not None and not isinstance(isolate, bool):
        raise TypeError(f"isolate must be a bool or None, not {type(isolate).__name__}")
    if quarantine_after is not None and (
        not isinstance(quarantine_after, int) or isinstance(quarantine_after, bool) or quarantine_after < 0
    ):
        raise ValueError(f"quarantine_after must be a non-negative int or None, got {quarantine_after!r}")
    return SpecExtras(requires=required, isolate=isolate, quarantine_after=quarantine_after)


@final
class HookspecMarker:
    """Decorator for hook specifications, compatible with :class:`pluggy.HookspecMarker`.

    Instantiate it with the project name of the plugin manager, then decorate the specification
    functions.
    """

    __slots__ = ("project_name",)

    def __init__(self, project_name: str) -> None:
        self.project_name: Final = project_name

    @overload
    def __call__(
        self,
        function: _F,
        firstresult: bool = ...,
        historic: bool = ...,
        warn_on_impl: Warning | None = ...,
        warn_on_impl_args: Mapping[str, Warning] | None = ...,
        *,
        requires: Iterable[str | Permission] | PermissionSet = ...,
        isolate: bool | None = ...,
        quarantine_after: int | None = ...,
    ) -> _F: ...

    @overload
    def __call__(
        self,
        function: None = ...,
        firstresult: bool = ...,
        historic: bool = ...,
        warn_on_impl: Warning | None = ...,
        warn_on_impl_args: Mapping[str, Warning] | None = ...,
        *,
        requires: Iterable[str | Permission] | PermissionSet = ...,
        isolate: bool | None = ...,
        quarantine_after: int | None = ...,
    ) -> Callable[[_F], _F]: ...

    def __call__(
        self,
        function: _F | None = None,
        firstresult: bool = False,
        historic: bool = False,
        warn_on_impl: Warning | None = None,
        warn_on_impl_args: Mapping[str, Warning] | None = None,
        *,
        requires: Iterable[str | Permission] | PermissionSet = (),
        isolate: bool | None = None,
        quarantine_after: int | None = None,
    ) -> _F | Callable[[_F], _F]:
        """Mark *function* as a hook specification (or return a decorator that does).

        The first five parameters are pluggy's (see :meth:`pluggy.HookspecMarker.__call__`).

        Args:
            function: the specification function, or ``None`` to get a decorator.
            firstresult: stop at the first non-``None`` result.
            historic: remember calls and replay them to plugins registered later.
            warn_on_impl: warn when this hook is implemented.
            warn_on_impl_args: warn when an implementation requests one of these arguments.
            requires: permissions a plugin needs for its implementation to be registered.
            isolate: error isolation for this hook (see the module documentation).
            quarantine_after: consecutive failures before an implementation is quarantined.

        Raises:
            TypeError: *requires* is a single string, or *isolate* is not a bool.
            ValueError: *historic* and *firstresult* are both set, or *quarantine_after* is
                negative.
            PermissionFormatError: a required permission is malformed.
        """
        extras = _validate(requires, isolate, quarantine_after)

        def setattr_hookspec_opts(func: _F) -> _F:
            if historic and firstresult:
                raise ValueError("cannot have a historic firstresult hook")
            opts = {
                "firstresult": firstresult,
                "historic": historic,
                "warn_on_impl": warn_on_impl,
                "warn_on_impl_args": warn_on_impl_args,
                "securehost": extras,
            }
            setattr(func, self.project_name + "_spec", opts)
            return func

        if function is not None:
            return setattr_hookspec_opts(function)
        return setattr_hookspec_opts
