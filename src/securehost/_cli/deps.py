"""``securehost deps``: approve a plugin's extra dependencies with integrity, list approvals, show a host's closure.

``deps approve`` hashes the installed files of each named distribution now and records them, for one plugin, in the
host's approvals file (the host re-checks those files at every load); ``deps list`` shows the approvals (``--check``
re-hashes them); ``deps closure`` shows what a host allows by default: its distribution and the installed
distributions it requires, with the module names they provide.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from securehost._cli.common import EXIT_OK, EXIT_REJECTED, Parser, UsageError, add_json_option, print_json

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers", "approvals_path"]

_APPROVALS_FILE = "dependency-approvals.json"


def approvals_path(args: argparse.Namespace) -> Path:
    """The approvals file named by ``--approvals``, or the default one of ``--project`` (in its state directory).

    Raises:
        UsageError: neither is given.
    """
    if args.approvals:
        return Path(args.approvals)
    if args.project:
        from securehost._host.support import default_state_root  # noqa: PLC0415
        from securehost._names import canonicalize_name  # noqa: PLC0415

        state = Path(args.state_dir) if args.state_dir else default_state_root() / canonicalize_name(args.project)
        return state / _APPROVALS_FILE
    raise UsageError("give --approvals FILE, or --project NAME for the host's default approvals file")


def _add_location(p: argparse.ArgumentParser) -> None:
    p.add_argument("--approvals", metavar="FILE", help="the host's approvals file (Host(dependency_approvals=FILE))")
    p.add_argument(
        "--project",
        metavar="NAME",
        help="the host's project name: use its default approvals file, STATE_DIR/dependency-approvals.json",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="the host's state directory, with --project (default: $XDG_STATE_HOME/securehost/PROJECT)",
    )


def _cmd_approve(args: argparse.Namespace) -> int:
    from securehost._installed.approvals import approve_dependencies  # noqa: PLC0415

    target = approvals_path(args)
    approvals, left_out = approve_dependencies(target, args.plugin, args.distributions, path=args.path or None)
    approved = [approvals.distributions[n] for n in sorted(approvals.plugins[_canonical(args.plugin)])]
    if args.json:
        print_json(
            {
                "approvals": str(target),
                "plugin": _canonical(args.plugin),
                "approved": [
                    {"name": a.name, "version": a.version, "site": a.site, "files": len(a.files), "modules": a.modules}
                    for a in approved
                ],
                "left_out": left_out,
            }
        )
        return EXIT_OK
    for a in approved:
        print(f"approved for {_canonical(args.plugin)}: {a.name} {a.version} ({len(a.files)} files in {a.site})")
    for item in left_out:
        print(f"  not pinned (outside the site directory, not importable): {item}")
    print(f"written to {target}")
    return EXIT_OK


def _canonical(name: str) -> str:
    from securehost._names import canonicalize_name  # noqa: PLC0415

    return canonicalize_name(name)


def _cmd_list(args: argparse.Namespace) -> int:
    from securehost._installed.approvals import DependencyApprovals, check_approved  # noqa: PLC0415

    target = approvals_path(args)
    approvals = DependencyApprovals.load(target)
    problems: dict[str, list[str]] = {}
    if args.check:
        for name, approved in approvals.distributions.items():
            problems[name] = [r.message for r in check_approved(approved, None)]
    if args.json:
        document: dict[str, Any] = {"approvals": str(target), **approvals.to_json()}
        for name, dist in document["distributions"].items():
            dist["files"] = len(dist["files"])
            if args.check:
                dist["problems"] = problems[name]
        print_json(document)
    else:
        print(f"{target}:")
        if not approvals.plugins:
            print("  no approvals")
        for plugin, names in sorted(approvals.plugins.items()):
            print(f"  {plugin}:")
            for name in sorted(names):
                a = approvals.distributions[name]
                state = ("MODIFIED" if problems.get(name) else "ok") if args.check else f"{len(a.files)} files"
                print(f"    {a.name} {a.version} ({a.site}): {state}")
                for message in problems.get(name, ()):
                    print(f"      {message}")
    return EXIT_REJECTED if any(problems.values()) else EXIT_OK


def _cmd_closure(args: argparse.Namespace) -> int:
    from securehost._installed.closure import HostClosure  # noqa: PLC0415

    closure = HostClosure(args.distribution, path=args.path or None).compute()
    by_dist: dict[str, list[str]] = {name: [] for name in closure.distributions}
    for module, owner in sorted(closure.modules.items()):
        by_dist[owner].append(module)
    if args.json:
        print_json(
            {
                "roots": list(closure.roots),
                "distributions": {
                    name: {"version": version, "modules": by_dist[name]}
                    for name, version in sorted(closure.distributions.items())
                },
                "missing": list(closure.missing),
                "truncated": closure.truncated,
            }
        )
    else:
        for name, version in sorted(closure.distributions.items()):
            print(f"{name} {version}: {', '.join(by_dist[name]) or '(no modules found)'}")
        for name in closure.missing:
            print(f"{name}: not installed")
        if closure.truncated:
            print("(truncated: the closure has more distributions than securehost follows)")
    return EXIT_REJECTED if set(closure.missing) & {_canonical(r.partition("[")[0]) for r in closure.roots} else EXIT_OK


def add_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``deps`` commands to *sub*."""
    deps = sub.add_parser("deps", help="approve and list the dependencies plugins may use beyond the host's own")
    commands = deps.add_subparsers(dest="deps_command", title="commands", metavar="COMMAND", parser_class=Parser)
    deps.set_defaults(func=None, parser=deps)  # a bare `securehost deps` prints its help (exit 2)

    approve = commands.add_parser(
        "approve",
        help="approve distributions for one plugin, pinning their installed files' SHA-256",
        description="Hash the installed files of each DIST now and record them in the host's approvals file, for "
        "PLUGIN. At every load the host re-hashes them; a changed file rejects the plugins that use it. A rejected "
        "plugin's report prints this command with every distribution it is missing.",
    )
    approve.add_argument("--plugin", required=True, metavar="PLUGIN", help="the plugin's distribution name")
    approve.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="DIR",
        help="where the distributions are installed (repeatable; default: sys.path)",
    )
    _add_location(approve)
    add_json_option(approve)
    approve.add_argument("distributions", nargs="+", metavar="DIST", help="distribution names to approve")
    approve.set_defaults(func=_cmd_approve)

    listing = commands.add_parser("list", help="show the approvals file; --check re-hashes the approved files")
    _add_location(listing)
    listing.add_argument(
        "--check", action="store_true", help="re-hash every approved file and report changes (exit 1 if any)"
    )
    add_json_option(listing)
    listing.set_defaults(func=_cmd_list)

    closure = commands.add_parser(
        "closure",
        help="show what a host allows plugins by default: its distribution and the installed ones it requires",
    )
    closure.add_argument(
        "distribution", nargs="+", metavar="DIST", help="the host's distribution name(s), extras allowed: app[web]"
    )
    closure.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="DIR",
        help="where to look for installed distributions (repeatable; default: sys.path)",
    )
    add_json_option(closure)
    closure.set_defaults(func=_cmd_closure)
