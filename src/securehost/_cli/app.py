"""The ``securehost`` command line: the parser and the entry point.

Exit codes: 0 accepted / done, 1 rejected (a verdict said no), 2 usage or configuration error (one line on stderr,
no traceback; a bare ``securehost`` or ``securehost trust`` prints its help on stderr), 3 an unexpected internal
error (one line; set ``SECUREHOST_DEBUG=1`` for the traceback). Under ``--json`` an error is also a JSON document on
stdout (see :mod:`securehost._cli.common`).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from securehost._cli import deps, install, keys, listing, trust
from securehost._cli.common import (
    EXIT_INTERNAL,
    EXIT_USAGE,
    PERMISSION_GRAMMAR,
    Parser,
    UsageError,
    report_error,
    wants_json,
)
from securehost._version import __version__
from securehost.exceptions import SecurehostError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

__all__ = ["build_parser", "main"]

EPILOG = f"""\
examples:
  securehost keygen keys/release                      # keys/release (private, 0600) and keys/release.pub
  securehost trust add keys/release.pub --store trust.toml --names 'acme-*' \\
      --max-permission 'fs.read:/srv/data/**'
  securehost sign dist/acme_csv-1.0-py3-none-any.whl --key keys/release --permission 'fs.read:/srv/data/**'
  securehost verify dist/*.whl --store trust.toml
  securehost install dist/acme_csv-1.0-py3-none-any.whl --target /srv/app/plugins --store trust.toml
  securehost upgrade dist/acme_csv-1.1-py3-none-any.whl --target /srv/app/plugins --store trust.toml
  securehost list --group myapp.plugins --store trust.toml --path /srv/app/plugins

{PERMISSION_GRAMMAR}

exit codes: 0 done or accepted, 1 rejected or refused, 2 usage or configuration error, 3 internal error.
Every command takes --help; --json prints JSON on stdout, errors included ({{"error": {{...}}}})."""


def build_parser() -> argparse.ArgumentParser:
    """Return the ``securehost`` argument parser with every command."""
    parser = Parser(
        prog="securehost",
        description="Sign, verify, trust and install plugin wheels for securehost hosts.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"securehost {__version__}")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND", parser_class=Parser)
    keys.add_parsers(sub)
    trust.add_parsers(sub)
    install.add_parsers(sub)
    listing.add_parsers(sub)
    deps.add_parsers(sub)
    parser.set_defaults(func=None, parser=parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = wants_json(arguments)
    try:
        args = build_parser().parse_args(arguments)
        func: Callable[[argparse.Namespace], int] | None = args.func
        if func is None:  # a bare `securehost` or `securehost trust`: what can follow, and how
            args.parser.print_help(sys.stderr)
            if as_json:
                report_error(
                    f"{args.parser.prog}: give a command", code="usage", exit_code=EXIT_USAGE, error_type="UsageError",
                    as_json=True,
                )  # fmt: skip
            return EXIT_USAGE
        return func(args)
    except (UsageError, SecurehostError, OSError) as exc:
        return report_error(
            str(exc), code="usage", exit_code=EXIT_USAGE, error_type=type(exc).__name__, as_json=as_json
        )
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("SECUREHOST_DEBUG"):
            raise
        message = f"{type(exc).__name__}: {exc} (set SECUREHOST_DEBUG=1 for details)"
        return report_error(
            message, code="internal", exit_code=EXIT_INTERNAL, error_type=type(exc).__name__, as_json=as_json
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
