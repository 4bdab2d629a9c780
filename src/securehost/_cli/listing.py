"""``securehost list``: the installed plugins of an entry-point group and their verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from securehost._cli.common import EXIT_OK, EXIT_REJECTED, Parser, UsageError, add_json_option, print_json

if TYPE_CHECKING:
    import argparse

    from securehost._installed.dependencies import DependencyPolicy

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
        group=args.group,
        store=Path(args.store),
        path=args.path or None,
        grants=grants,
        isolation=isolation,
        project=args.project,
        host_distribution=args.host_distribution or None,
        dependency_policy=_policy(args),
        dependency_approvals=args.approvals,
        state_dir=args.state_dir,
    )
    if args.json:
        print_json(report.to_json())
    else:
        print(report.summary())
    return EXIT_OK if report.all_accepted else EXIT_REJECTED


def _policy(args: argparse.Namespace) -> DependencyPolicy | None:
    from securehost._installed.dependencies import DependencyPolicy  # noqa: PLC0415

    if not (args.allow_module or args.allow_distribution or args.dependency_mode or args.no_host_dependencies):
        return None  # the host's default: "signed", with pluggy
    return DependencyPolicy(
        mode=args.dependency_mode or "signed",
        allowed_modules=["pluggy", *args.allow_module],
        allowed_distributions=["pluggy", *args.allow_distribution],
        host_dependencies=not args.no_host_dependencies,
    )


def _add_dependency_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("dependency policy (as the host's; default: its closure, pluggy, approvals)")
    group.add_argument(
        "--project",
        metavar="NAME",
        help="the host's project: allow its distribution's requirement closure and read its default approvals file",
    )
    group.add_argument(
        "--host-distribution",
        action="append",
        default=[],
        metavar="DIST",
        help="the host's distribution, if not named like --project (repeatable; extras allowed: app[web])",
    )
    group.add_argument(
        "--approvals", metavar="FILE", help="the host's dependency approvals file (Host(dependency_approvals=FILE))"
    )
    group.add_argument(
        "--state-dir", metavar="DIR", help="the host's state directory (rollback history, default approvals file)"
    )
    group.add_argument(
        "--allow-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="DependencyPolicy(allowed_modules=...): a module plugins may import (repeatable)",
    )
    group.add_argument(
        "--allow-distribution",
        action="append",
        default=[],
        metavar="DIST",
        help="DependencyPolicy(allowed_distributions=...): a distribution Requires-Dist may name (repeatable)",
    )
    group.add_argument(
        "--dependency-mode",
        choices=["signed", "allowlist", "report"],
        help="DependencyPolicy(mode=...) (default: signed)",
    )
    group.add_argument(
        "--no-host-dependencies",
        action="store_true",
        help="DependencyPolicy(host_dependencies=False): do not allow the host's requirement closure",
    )


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
    _add_dependency_options(p)
    add_json_option(p)
    p.set_defaults(func=_cmd_list)
