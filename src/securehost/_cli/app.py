"""The ``securehost`` command line: the parser and the entry point.

Exit codes: 0 accepted / done, 1 rejected (a verdict said no), 2 usage or configuration error (one line on stderr,
no traceback), 3 an unexpected internal error (one line; set ``SECUREHOST_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from securehost._cli import deps, keys, listing, trust
from securehost._cli.common import EXIT_INTERNAL, EXIT_USAGE, Parser, UsageError
from securehost._version import __version__
from securehost.exceptions import SecurehostError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``securehost`` argument parser with every command."""
    parser = Parser(prog="securehost", description="Sign, verify and trust plugin wheels for securehost hosts.")
    parser.add_argument("--version", action="version", version=f"securehost {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    keys.add_parsers(sub)
    trust.add_parsers(sub)
    listing.add_parsers(sub)
    deps.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as exc:
        print(f"securehost: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (SecurehostError, OSError) as exc:
        print(f"securehost: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("SECUREHOST_DEBUG"):
            raise
        print(
            f"securehost: internal error: {type(exc).__name__}: {exc} (set SECUREHOST_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
