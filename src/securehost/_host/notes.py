"""Load notes: what a load did not do, said out loud instead of passing silently.

A load that finds nothing, a search path entry that does not exist, a plugin that implements none of the host's
hooks (often because its ``HookimplMarker`` names another project), an implementation of a hook the host does not
specify (a misspelt name), and a development-mode plugin: none of these is a verification failure, and each used to
pass in silence. Each becomes a :class:`~securehost.LoadNote` in :attr:`LoadReport.warnings
<securehost.LoadReport.warnings>` and one ``WARNING`` record on the ``securehost.host`` logger, with the note as
structured ``extra`` (``record.securehost_note``).

A hook called on :attr:`Host.hook <securehost.Host.hook>` before the first :meth:`~securehost.Host.load` returns
``[]`` (as pluggy does for a hook nobody implements) and warns once per hook name with a
:class:`~securehost.exceptions.SecurehostWarning` pointing at the caller: it is a mistake in the calling code, not
in the environment.
"""

from __future__ import annotations

import os
import types
import warnings
from typing import TYPE_CHECKING, Any, Final, Literal, final

import pluggy

from securehost._context import import_as_host
from securehost._log import LazyLogger
from securehost.exceptions import SecurehostWarning

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from securehost._dispatch.manager import SecurePluginManager
    from securehost._host.note import LoadNote
    from securehost._installed.discovery import Discovery

__all__ = ["BeforeLoadRelay", "discovery_notes", "load_notes", "log_notes", "plugin_notes"]

_logger = LazyLogger("securehost.host")
_MAX_SUGGESTIONS: Final = 10
#: hooks the host itself specifies for every plugin (lifecycle): implementing only these is not "a hook of the host"
_OWN_PREFIX: Final = "securehost_"


NoteCodeValue = Literal[
    "no-plugins", "path-missing", "no-hooks", "foreign-marker", "unknown-hook", "unsigned-dev", "install-interrupted",
    "state-unwritable",
]  # fmt: skip


def _note(code: NoteCodeValue, message: str, *, plugin: str | None = None, subject: str | None = None) -> LoadNote:
    """A :class:`~securehost.LoadNote` (its module is imported by the first note: a quiet load defines no note type)."""
    note = import_as_host("securehost._host.note")
    made: LoadNote = note.LoadNote(code=note.NoteCode(code), message=message, plugin=plugin, subject=subject)
    return made


def _closest(word: str, candidates: Iterable[str]) -> list[str]:
    """*candidates* sorted by similarity to *word*, closest first (ties by name)."""
    import difflib  # noqa: PLC0415 - only a mistake pays for it

    scored = [(-difflib.SequenceMatcher(None, word, c).ratio(), c) for c in candidates]
    return [c for _, c in sorted(scored)]


def discovery_notes(discovery: Discovery, explicit_path: Sequence[str] | None) -> list[LoadNote]:
    """Notes about the scan: path entries that do not exist, a group nobody declares, interrupted installs."""
    notes = [
        _note(
            "path-missing",
            message=f"search path entry {entry!r} does not exist: nothing was loaded from it (check the path)",
            subject=entry,
        )
        for entry in explicit_path or ()
        if not os.path.exists(entry)
    ]
    notes.extend(
        _note(
            "install-interrupted",
            message=f"{os.path.dirname(scratch)}: a securehost install, upgrade or uninstall there was killed before "
            f"it finished ({os.path.basename(scratch)}); its plugins may be half replaced, and are rejected if so. The "
            "next `securehost install`, `upgrade` or `uninstall` in that directory rolls the change back (or "
            "removes what a finished one left), then does its own work",
            subject=scratch,
        )
        for scratch in discovery.interrupted
    )
    if not discovery.distributions:
        groups = _closest(discovery.group, discovery.groups)[:_MAX_SUGGESTIONS]
        where = "the search path" if explicit_path is None else f"the search path {list(explicit_path)}"
        known = f"groups that do exist, closest first: {', '.join(groups)}" if groups else "no group exists there"
        notes.append(
            _note(
                "no-plugins",
                message=f"no distribution on {where} declares entry points in group {discovery.group!r}; {known}",
                subject=discovery.group,
            )
        )
    return notes


def _functions(plugin: object) -> Iterable[tuple[str, types.FunctionType]]:
    """The plugin's functions, found without running any of its code (no ``getattr``, no ``dir``)."""
    namespaces: list[Mapping[str, Any]] = []
    if isinstance(plugin, types.ModuleType):
        namespaces.append(vars(plugin))
    else:
        namespaces.extend(vars(klass) for klass in type(plugin).__mro__ if klass is not object)
        instance = getattr(type(plugin), "__dictoffset__", 0) and object.__getattribute__(plugin, "__dict__")
        if isinstance(instance, dict):
            namespaces.append(instance)
    for namespace in namespaces:
        for name, value in list(namespace.items()):
            function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if isinstance(function, types.FunctionType):
                yield name, function


def _foreign_projects(plugin: object, project: str) -> dict[str, list[str]]:
    """Project name -> functions marked with that project's ``HookimplMarker`` (other than *project*)."""
    found: dict[str, list[str]] = {}
    for name, function in _functions(plugin):
        for attribute, value in vars(function).items():
            if attribute.endswith("_impl") and isinstance(value, dict) and attribute != f"{project}_impl":
                found.setdefault(attribute[: -len("_impl")], []).append(name)
    return found


def _callers_by_plugin(manager: SecurePluginManager) -> dict[int, list[pluggy.HookCaller]]:
    """``id(plugin)`` -> the hook callers it implements, in one pass over every implementation.

    ``PluginManager.get_hookcallers`` walks every implementation of every hook for one plugin; asked once per
    plugin, that is quadratic in the number of plugins.
    """
    index: dict[int, list[pluggy.HookCaller]] = {}
    for caller in list(vars(manager.hook).values()):
        if not isinstance(caller, pluggy.HookCaller):
            continue
        for plugin_id in {id(impl.plugin) for impl in caller.get_hookimpls()}:
            index.setdefault(plugin_id, []).append(caller)
    return index


def plugin_notes(manager: SecurePluginManager, loaded_now: Iterable[tuple[str, Sequence[str]]]) -> list[LoadNote]:
    """Notes about freshly registered plugins: no hook of the host, a foreign marker, unknown hooks.

    Args:
        manager: the plugin manager they were registered with.
        loaded_now: ``(distribution, plugin names)`` of each distribution loaded just now.
    """
    notes: list[LoadNote] = []
    loaded_now = [(distribution, tuple(names)) for distribution, names in loaded_now]
    if not loaded_now:
        return notes
    specified = [name for name, hook in vars(manager.hook).items() if getattr(hook, "spec", None) is not None]
    skipped = {s.plugin for s in manager.skipped_impls()}  # left out for a missing permission: audited already
    index = _callers_by_plugin(manager)
    for distribution, plugin_name in ((d, p) for d, names in loaded_now for p in names):
        plugin = manager.get_plugin(plugin_name)
        if plugin is None:
            continue
        callers = index.get(id(plugin), [])
        known = [c.name for c in callers if c.spec is not None and not c.name.startswith(_OWN_PREFIX)]
        for caller in callers:
            if caller.spec is not None:
                continue
            if all(i.optionalhook for i in caller.get_hookimpls() if i.plugin is plugin):
                continue
            import difflib  # noqa: PLC0415 - only a mistake pays for it

            near = difflib.get_close_matches(caller.name, specified, n=3)
            hint = f"did you mean {' or '.join(map(repr, near))}?" if near else "the host specifies no such hook"
            notes.append(
                _note(
                    "unknown-hook",
                    message=f"plugin {plugin_name!r} implements {caller.name!r}, which the host "
                    f"({manager.project_name}) does not specify: it is never called; {hint} (mark it "
                    "optionalhook=True if that is intended)",
                    plugin=distribution,
                    subject=caller.name,
                )
            )
        if known or plugin_name in skipped:
            continue
        foreign = _foreign_projects(plugin, manager.project_name)
        if foreign:
            for project, functions in sorted(foreign.items()):
                notes.append(
                    _note(
                        "foreign-marker",
                        message=f"plugin {plugin_name!r} implements no hook of {manager.project_name!r}: its "
                        f"functions {', '.join(sorted(functions))} are marked with HookimplMarker({project!r}); "
                        f"use HookimplMarker({manager.project_name!r})",
                        plugin=distribution,
                        subject=project,
                    )
                )
            continue
        notes.append(
            _note(
                "no-hooks",
                message=f"plugin {plugin_name!r} implements none of the hooks of {manager.project_name!r}: it is "
                "registered but never called (is the entry point the right object?)",
                plugin=distribution,
                subject=plugin_name,
            )
        )
    return notes


def load_notes(
    manager: SecurePluginManager,
    discovery: Discovery,
    explicit_path: Sequence[str] | None,
    loaded_now: Iterable[tuple[str, Sequence[str]]],
    *,
    unsigned: Iterable[str] = (),
    unwritten: Iterable[tuple[str, str, str, str]] = (),
) -> tuple[LoadNote, ...]:
    """Every note of one load or check, logged.

    They are the scan's, each plugin loaded just now, each unsigned one, and each state file that could not be
    written: *unwritten* holds ``(what, path, error, what the next start-up does instead)``.
    """
    notes = discovery_notes(discovery, explicit_path)
    notes.extend(
        _note(
            "unsigned-dev",
            message=f"{name} is UNSIGNED and was accepted only because unsafe_unsigned names it (plugin development "
            "mode): nothing about it was verified; never use this in production",
            plugin=name,
            subject=name,
        )
        for name in unsigned
    )
    notes.extend(plugin_notes(manager, loaded_now))
    notes.extend(
        _note(
            "state-unwritable",
            message=f"cannot write {what} {path} ({error}), so the next start-up {then}: nothing is less safe, only "
            "slower; free space there, or give the Host a state_dir it can write",
            subject=path,
        )
        for what, path, error, then in unwritten
    )
    log_notes(notes)
    return tuple(notes)


def log_notes(notes: Iterable[LoadNote]) -> None:
    """Log each note as a WARNING on ``securehost.host``, the note as structured ``extra``."""
    for note in notes:
        _logger.warning("securehost: %s", note, extra={"securehost_note": note.to_json()})


@final
class BeforeLoadRelay:
    """``host.hook`` until the first load: the manager's relay, warning once per hook name that nothing implements."""

    __slots__ = ("_loaded", "_relay", "_warned")

    def __init__(self, relay: pluggy.HookRelay, loaded: Callable[[], bool], warned: set[str]) -> None:
        self._relay = relay
        self._loaded = loaded
        self._warned = warned

    def __getattr__(self, name: str) -> Any:
        caller = getattr(self._relay, name)
        if self._loaded() or name in self._warned or name.startswith("_"):
            return caller
        implementations = getattr(caller, "get_hookimpls", None)
        if implementations is None or not implementations():  # the host's own plugins make the call do something
            self._warned.add(name)
            warnings.warn(
                SecurehostWarning(
                    f"hook {name!r} is used before Host.load(): no plugin implements it yet, so calls return [] "
                    "(as pluggy does); call host.load() first"
                ),
                stacklevel=2,
            )
        return caller
