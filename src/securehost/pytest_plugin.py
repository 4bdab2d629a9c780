"""pytest fixtures for host applications and plugin authors (registered through the ``pytest11`` entry point).

The fixtures wrap :mod:`securehost.testing`; every path lives under the test's ``tmp_path`` (``tmp_path /
"securehost"``), so they are safe under pytest-xdist. Nothing is added to :data:`sys.path` or the real
site-packages, and the modules that hosts imported are forgotten when the test ends.

=============================  ==========  =============================================================
fixture                        scope       what it gives
=============================  ==========  =============================================================
``securehost_key``             session     a throwaway Ed25519 :class:`~securehost.PrivateKey`
``securehost_trust_store``     function    a :class:`~securehost.TrustStore` that trusts that key
``securehost_wheel_factory``   function    a :class:`~securehost.testing.WheelFactory`
``securehost_site``            function    a :class:`~securehost.testing.PluginSite` (``installer``)
``securehost_host_factory``    function    a :class:`~securehost.testing.HostFactory` bound to the site
=============================  ==========  =============================================================

:mod:`securehost.testing` (and through it ``tomlkit`` and ``installer``) is imported when a fixture is first used;
loading the plugin itself imports only the ``securehost`` package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from securehost import PrivateKey, TrustStore
    from securehost.testing import HostFactory, PluginSite, WheelFactory

__all__ = [
    "securehost_host_factory",
    "securehost_key",
    "securehost_site",
    "securehost_trust_store",
    "securehost_wheel_factory",
]


@pytest.fixture(scope="session")
def securehost_key() -> PrivateKey:
    """A throwaway Ed25519 signing key, made once per test session (once per pytest-xdist worker)."""
    from securehost import PrivateKey  # noqa: PLC0415 - load securehost only when a fixture is used

    return PrivateKey.generate("ed25519")


@pytest.fixture
def securehost_trust_store(securehost_key: PrivateKey) -> TrustStore:
    """A trust store that trusts ``securehost_key`` for every distribution and every built-in permission.

    Override it (same name, in your ``conftest.py``) to vouch for host-defined permissions such as
    ``agent.control``: ``return securehost.testing.trust_store_for(securehost_key, vouch=[...])``.
    """
    from securehost.testing import trust_store_for  # noqa: PLC0415

    return trust_store_for(securehost_key)


@pytest.fixture(scope="session")
def _securehost_build_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels built by ``python -m build``, by project content, for the session (per xdist worker)."""
    return tmp_path_factory.mktemp("securehost-builds")


@pytest.fixture
def securehost_wheel_factory(tmp_path: Path, securehost_key: PrivateKey, _securehost_build_cache: Path) -> WheelFactory:
    """Build wheels from a dict of files (``from_files``) or a project directory (``from_project``).

    They are signed by ``securehost_key`` unless ``signed=False``, or tampered (``tamper="modify-file"``).
    ``from_project`` fails the test, saying what to install, when ``build`` or the project's build backend is not
    installed: a missing tool is a broken test environment, not a reason to pass quietly.
    """
    from securehost.testing import WheelFactory  # noqa: PLC0415

    return WheelFactory(
        tmp_path / "securehost" / "wheels",
        securehost_key,
        build_cache=_securehost_build_cache,
        on_build_unavailable=_fail_without_traceback,
    )


def _fail_without_traceback(message: str) -> None:
    pytest.fail(message, pytrace=False)


@pytest.fixture
def securehost_site(tmp_path: Path) -> PluginSite:
    """An isolated site directory under ``tmp_path``, never on ``sys.path``.

    ``securehost_site.install(wheel)`` installs with ``installer``; ``securehost_site.tamper(plugin,
    "modify-installed")`` tampers with the installed plugin afterwards.
    """
    from securehost.testing import PluginSite  # noqa: PLC0415

    return PluginSite(tmp_path / "securehost" / "site")


@pytest.fixture
def securehost_host_factory(
    securehost_site: PluginSite, securehost_trust_store: TrustStore, tmp_path: Path
) -> Iterator[HostFactory]:
    """Make hosts that load plugins from ``securehost_site`` and trust ``securehost_trust_store``.

    ``securehost_host_factory(project="myapp", hookspecs=MySpec, grants={...})`` returns a new host. Every host is
    closed when the test ends, and the modules it imported are removed from ``sys.modules``. Hosts install the
    runtime guard (``guard=True``) unless told otherwise: it stays installed in the test process.
    """
    from securehost.testing import HostFactory  # noqa: PLC0415

    factory = HostFactory(securehost_site, securehost_trust_store, tmp_path / "securehost" / "hosts")
    yield factory
    factory.close()
