"""Regression tests for findings of the adversarial review (fail-open decisions, foreign exceptions)."""

from __future__ import annotations

import importlib
import sys

import pytest

from securehost import ReasonCode
from securehost._installed.dependencies import DependencyPolicy
from securehost._installed.distcheck import verify_installed
from securehost._installed.importer import VerifiedImporter
from securehost.exceptions import PluginRejectedError
from tests._plugins import fake_install


@pytest.mark.parametrize(
    "line",
    ['requests; python_version ~= "abc"', 'requests; os_name ~= "1.0"', 'requests; extra ~= "1"'],
)
def test_rejects_requirement_whose_marker_cannot_be_compared(line: str) -> None:
    # packaging raises UndefinedComparison (a ValueError) for these markers; the policy must fail closed with a
    # reason instead of letting the exception escape (Host.load would crash for every plugin).
    reasons = DependencyPolicy().check_requirements([line], verified=())
    assert [r.code for r in reasons] == [ReasonCode.DEPENDENCY_NOT_ALLOWED]
    assert [r.subject for r in reasons] == ["requests"]


def test_rejects_plugin_with_uncomparable_marker_through_the_importer(tmp_path) -> None:
    md, subjects = fake_install(
        tmp_path / "site", "review-marker", "1.0", {"review_marker/__init__.py": ""},
        requires=('requests; python_version ~= "abc"',),
    )  # fmt: skip
    installed = verify_installed(md, subjects)
    assert installed.accepted, installed.reasons
    importer = VerifiedImporter(tmp_path / "state" / "bytecode", tmp_path / "state" / "bytecode.key")
    with pytest.raises(PluginRejectedError) as info:
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert info.value.verdict.codes == {ReasonCode.DEPENDENCY_NOT_ALLOWED}
    assert importer.distributions == ()


def test_rejects_plugin_module_that_shadows_the_standard_library(tmp_path) -> None:
    # The verified finder is first on sys.meta_path and serves its modules to everyone: a signed top-level
    # ``colorsys.py`` would replace the standard-library module for the host and for every other plugin.
    md, subjects = fake_install(
        tmp_path / "site", "review-shadow", "1.0",
        {"review_shadow/__init__.py": "", "colorsys.py": "HIJACKED = True\n"},
    )  # fmt: skip
    installed = verify_installed(md, subjects)
    importer = VerifiedImporter(tmp_path / "state" / "bytecode", tmp_path / "state" / "bytecode.key")
    with pytest.raises(PluginRejectedError) as info:
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert info.value.verdict.codes == {ReasonCode.DISTRIBUTION_SHADOWED}
    assert [r.subject for r in info.value.verdict.reasons] == ["colorsys"]
    assert importer.distributions == ()


def _shadowing_plugin(tmp_path, top: str):
    md, subjects = fake_install(
        tmp_path / "site", "review-hijack", "1.0", {f"{top}/__init__.py": "HIJACKED = True\n", "review_hijack.py": ""}
    )
    installed = verify_installed(md, subjects)
    assert installed.accepted
    return installed, VerifiedImporter(tmp_path / "state" / "bytecode", tmp_path / "state" / "bytecode.key")


def test_rejects_plugin_package_named_like_a_package_the_host_can_import(tmp_path, monkeypatch) -> None:
    """A signed top-level package must not take over a name that the normal import system finds elsewhere."""
    elsewhere = tmp_path / "host-libs"
    (elsewhere / "hostlib_review").mkdir(parents=True)
    (elsewhere / "hostlib_review" / "__init__.py").write_text("GENUINE = True\n")
    monkeypatch.syspath_prepend(str(elsewhere))
    installed, importer = _shadowing_plugin(tmp_path, "hostlib_review")
    with pytest.raises(PluginRejectedError) as info:
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert info.value.verdict.codes == {ReasonCode.DISTRIBUTION_SHADOWED}
    assert [r.subject for r in info.value.verdict.reasons] == ["hostlib_review"]
    assert str(elsewhere) in info.value.verdict.reasons[0].message
    assert importer.distributions == ()


@pytest.mark.parametrize("form", ["package", "module", "extension", "namespace"])
def test_shadowing_is_found_within_a_load_batch_in_every_form(tmp_path, monkeypatch, form) -> None:
    """Inside a load (one batch), directories are listed once and names no listing holds are not searched for."""
    import importlib.machinery
    import importlib.util

    elsewhere = tmp_path / "host-libs"
    elsewhere.mkdir()
    top = f"hostlib_{form}"
    if form == "package":
        (elsewhere / top).mkdir()
        (elsewhere / top / "__init__.py").write_text("")
    elif form == "namespace":
        (elsewhere / top).mkdir()
    elif form == "module":
        (elsewhere / f"{top}.py").write_text("")
    else:
        (elsewhere / f"{top}{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"\x7fELF")
    monkeypatch.syspath_prepend(str(elsewhere))
    importlib.machinery.PathFinder.find_spec("nothing_here_review", [str(elsewhere)])  # the entry has its finder
    installed, importer = _shadowing_plugin(tmp_path, top)
    with importer.batch(), pytest.raises(PluginRejectedError) as info:
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert [r.subject for r in info.value.verdict.reasons] == [top]
    clean, other = _shadowing_plugin(tmp_path / "clean", "nowhere_else_review")
    with other.batch():
        other.add_distribution(clean.name, clean.modules, requires=clean.requires)


def test_an_entry_no_path_hook_takes_is_not_searched_for_a_plugins_names(tmp_path, monkeypatch) -> None:
    """A sys.path entry cached with no finder (a missing ``python3XX.zip``) holds nothing: no PathFinder search."""
    import importlib.machinery
    import sys

    missing_zip = str(tmp_path / "python399.zip")
    monkeypatch.syspath_prepend(missing_zip)
    monkeypatch.setitem(sys.path_importer_cache, missing_zip, None)
    for entry in sys.path:  # every other entry is listed, as in a host that imported before it loads plugins
        importlib.machinery.PathFinder.find_spec("nothing_here_review", [entry])
    searches: list[object] = []
    real = importlib.machinery.PathFinder.find_spec

    def counting(*args: object, **kwargs: object) -> object:
        searches.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counting)
    installed, importer = _shadowing_plugin(tmp_path, "nowhere_else_zip_review")
    with importer.batch():
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert not [args for args in searches if args[0] == "nowhere_else_zip_review"]
    # without the None entry the same name is searched for (the entry is "maybe")
    monkeypatch.delitem(sys.path_importer_cache, missing_zip)
    other, second = _shadowing_plugin(tmp_path / "again", "nowhere_else_zip_review2")
    with second.batch():
        second.add_distribution(other.name, other.modules, requires=other.requires)
    assert [args[0] for args in searches if args[0] == "nowhere_else_zip_review2"]


def test_rejects_plugin_package_named_like_an_already_imported_module(tmp_path, monkeypatch) -> None:
    import types

    monkeypatch.setitem(__import__("sys").modules, "already_here_review", types.ModuleType("already_here_review"))
    installed, importer = _shadowing_plugin(tmp_path, "already_here_review")
    with pytest.raises(PluginRejectedError) as info:
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert "already imported" in info.value.verdict.reasons[0].message


def test_plugin_whose_own_site_is_on_sys_path_is_not_shadowing_itself(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    installed, importer = _shadowing_plugin(tmp_path, "unique_review_pkg")
    importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert importer.distributions == ("review-hijack",)
    importer.remove_distribution("review-hijack")


def test_sys_path_entries_are_resolved_afresh_outside_one_batch(tmp_path, monkeypatch) -> None:
    """The realpath memo lives for one host load: a sys.path symlink re-pointed later is seen by the next check."""
    installed, importer = _shadowing_plugin(tmp_path, "relinked_review_pkg")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "relinked_review_pkg").mkdir(parents=True)
    (elsewhere / "relinked_review_pkg" / "__init__.py").write_text("GENUINE = True\n")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "site")  # first: the plugin's own site under another name
    monkeypatch.syspath_prepend(str(link))
    with importer.batch():
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
        importer.remove_distribution(installed.name)
        link.unlink()
        link.symlink_to(elsewhere)
        importlib.invalidate_caches()
        with importer.batch():  # nested: shares the outer memo (and its stale answer) until the load ends
            importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
        importer.remove_distribution(installed.name)
    sys.path_importer_cache.pop(str(link), None)
    with pytest.raises(PluginRejectedError) as info:
        importer.add_distribution(installed.name, installed.modules, requires=installed.requires)
    assert info.value.verdict.codes == {ReasonCode.DISTRIBUTION_SHADOWED}
    assert str(link) in info.value.verdict.reasons[0].message
