"""``securehost list``: the installed plugins of an entry-point group and their verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from securehost._cli.common import EXIT_OK, EXIT_REJECTED, Parser, UsageError, add_json_option, print_json

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers"]


def _cmd_list(args: argparse.Namespace) -> int:
    from securehost._host.listing import list_plugins  # noqa: PLC0415

    grants: dict[str, list[str]] = {}
    for item in args.grant:
        name, sep, permission = item.partition("=")
        if not sep:
            raise UsageError(f"--grant takes NAME=PERMISSION, got {item!r}")
        grants.setdefault(name, []).append(permission)
    isolation: dict[str, str] = {}
    for item in args.isolation:
        name, sep, mode = item.partition("=")
        if not sep or mode not in ("in-process", "process"):
            raise UsageError(f"--isolation takes GLOB=in-process or GLOB=process, got {item!r}")
        isolation[name] = mode
    report = list_plugins(
        group=args.group, store=Path(args.store), path=args.path or None, grants=grants, isolation=isolation
    )
    if args.json:
        print_json(report.to_json())
    else:
        print(report.summary())
    return EXIT_OK if report.all_accepted else EXIT_REJECTED


def add_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``list`` command to *sub*."""
    p = sub.add_parser("list", help="show installed plugins of an entry-point group and their verdicts")
    p.add_argument("--group", required=True, help="the entry-point group of the host's plugins (myapp.plugins)")
    p.add_argument("--store", required=True, metavar="STORE", help="the trust store file (TOML)")
    p.add_argument("--path", action="append", default=[], metavar="DIR", help="search path (default: sys.path)")
    p.add_argument("--grant", action="append", default=[], metavar="NAME=PERM", help="permission the host grants")
    p.add_argument(
        "--isolation",
        action="append",
        default=[],
        metavar="GLOB=MODE",
        help="where the host runs matching plugins: in-process (default) or process; shows the protections a worker "
        "would have on this system",
    )
    add_json_option(p)
    p.set_defaults(func=_cmd_list)
