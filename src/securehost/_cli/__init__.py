"""The ``securehost`` command line, one module per group of commands.

Modules: ``common`` (exit codes, parser, shared arguments), ``keys`` (keygen, sign, verify, inspect), ``trust``,
``listing`` (list), ``app`` (the parser and the entry point). A new command is a module with ``add_parsers(sub)``,
registered in ``app.build_parser``.
"""

from securehost._cli.app import main
from securehost._cli.common import EXIT_INTERNAL, EXIT_OK, EXIT_REJECTED, EXIT_USAGE

__all__ = ["EXIT_INTERNAL", "EXIT_OK", "EXIT_REJECTED", "EXIT_USAGE", "main"]
