"""``securehost install``, ``upgrade`` and ``uninstall``: verified wheels into a plugin directory, and out again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from securehost._cli.common import (
    Parser,
    add_json_option,
    parse_time,
    print_results,
)

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers"]

_TARGET_HELP = "the plugin directory (created if missing): the directory the host loads with Host(path=[DIR])"


def _cmd_install(args: argparse.Namespace) -> int:
    from securehost._install.api import install_plugin  # noqa: PLC0415 - keeps `securehost --help` fast
    from securehost._trust.store import TrustStore  # noqa: PLC0415

    store = TrustStore.load(args.store)
    upgrade = args.command == "upgrade"
    results = [
        install_plugin(
            Path(wheel),
            target=args.target,
            store=store,
            upgrade=upgrade,
            allow_downgrade=upgrade and args.allow_downgrade,
            now=args.now,
        )
        for wheel in args.wheel
    ]
    return print_results(results, as_json=args.json)


def _cmd_uninstall(args: argparse.Namespace) -> int:
    from securehost._install.api import uninstall_plugin  # noqa: PLC0415

    results = [uninstall_plugin(name, target=args.target) for name in args.name]
    return print_results(results, as_json=args.json)


_INSTALL_EPILOG = """\
Each wheel is copied, verified against STORE, and exactly the verified bytes are installed (with installer) into
DIR; nothing changes in DIR when a wheel is refused. Exit 1 if any wheel was refused.

examples:
  securehost install dist/acme_csv-1.0-py3-none-any.whl --target /srv/app/plugins --store trust.toml
  securehost install dist/*.whl --target /srv/app/plugins --store trust.toml --json"""

_UPGRADE_EPILOG = """\
Replaces every installed version of the distribution (also the second .dist-info that `pip install --target
--upgrade` leaves). The old version stays in place if anything fails. An older wheel is refused (exit 1) unless
--allow-downgrade is given; the same version is reinstalled, which repairs a modified installation.

examples:
  securehost upgrade dist/acme_csv-1.1-py3-none-any.whl --target /srv/app/plugins --store trust.toml
  securehost upgrade dist/acme_csv-1.0-py3-none-any.whl --target /srv/app/plugins --store trust.toml \\
      --allow-downgrade"""

_UNINSTALL_EPILOG = """\
Removes exactly the files that the distribution's RECORD lists inside DIR (and their bytecode caches); a RECORD
that names a path outside DIR refuses the uninstall (exit 1), as does a name that is not installed.

example:
  securehost uninstall acme-csv --target /srv/app/plugins"""


def add_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``install``, ``upgrade`` and ``uninstall`` commands to *sub*."""
    for command, help_text, epilog in (
        ("install", "verify wheels and install them into a plugin directory", _INSTALL_EPILOG),
        ("upgrade", "verify wheels and replace the installed versions in a plugin directory", _UPGRADE_EPILOG),
    ):
        p = sub.add_parser(command, help=help_text, description=help_text, epilog=epilog)
        p.add_argument("wheel", metavar="WHEEL", nargs="+", help="a signed wheel file")
        p.add_argument("--target", required=True, metavar="DIR", help=_TARGET_HELP)
        p.add_argument("--store", required=True, metavar="STORE", help="the trust store (TOML) that must accept it")
        p.add_argument("--now", type=parse_time, metavar="WHEN", help="judge expiry and key windows at this time")
        if command == "upgrade":
            p.add_argument(
                "--allow-downgrade", action="store_true", help="replace a newer installed version with this older one"
            )
        add_json_option(p)
        p.set_defaults(func=_cmd_install)

    p = sub.add_parser(
        "uninstall",
        help="remove a distribution's files from a plugin directory",
        description="remove a distribution's files from a plugin directory",
        epilog=_UNINSTALL_EPILOG,
    )
    p.add_argument("name", metavar="NAME", nargs="+", help="a distribution name (any spelling: Acme_CSV is acme-csv)")
    p.add_argument("--target", required=True, metavar="DIR", help="the plugin directory")
    add_json_option(p)
    p.set_defaults(func=_cmd_uninstall)
