"""What every ``securehost`` command shares: exit codes, the parser class, time and key-file arguments, JSON output.

Errors under ``--json``: a usage or configuration error (exit 2) or an internal error (exit 3) prints one JSON
document on stdout, ``{"error": {"code": "usage" | "internal", "type": ..., "message": ..., "exit_code": ...}}``,
so that a script that parses stdout always gets JSON; the human one-line message still goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from securehost._signing.keys import PublicKey
from securehost._signing.private import PrivateKey
from securehost.exceptions import KeyFormatError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "PERMISSION_GRAMMAR",
    "Parser",
    "UsageError",
    "add_json_option",
    "add_password_options",
    "load_private_key",
    "load_public_key",
    "parse_time",
    "print_json",
    "print_results",
    "read_password",
    "report_error",
    "wants_json",
]

EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERNAL: Final = 3


class UsageError(Exception):
    """A problem with how the command was called (exit 2)."""


PERMISSION_GRAMMAR: Final = """\
permissions: KIND or KIND:SCOPE (--permission, --max-permission, --grant)
  fs.read:PATH-GLOB        read files, list directories          fs.read:/srv/data/**
  fs.write:PATH-GLOB       create, write, remove, rename files   fs.write:/var/cache/acme/*
  net.connect:HOST[:PORT]  connect out, look names up            net.connect:*.example.com:443
  net.bind:HOST[:PORT]     bind a local address                  net.bind:127.0.0.1:8080
  proc.spawn[:PATH-GLOB]   run programs (unscoped: also fork)    proc.spawn:/usr/bin/git
  env.read:NAME-GLOB       read environment variables            env.read:ACME_*
  env.write:NAME-GLOB      set or unset environment variables    env.write:ACME_*
  sys.native               load and call native code (ctypes)    sys.native
  Paths are absolute and normalised: * stays inside one path segment, a whole ** segment spans any number.
  A host-defined kind is namespaced outside fs, net, proc, env and sys: db.write, db.write:orders."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors become :class:`UsageError` (exit 2, JSON under ``--json``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def wants_json(argv: Sequence[str]) -> bool:
    """Return whether ``--json`` is among the options of *argv* (before a ``--``), even if parsing failed."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def report_error(message: str, *, code: str, exit_code: int, error_type: str, as_json: bool) -> int:
    """Print *message* on stderr (one line) and, *as_json*, as a JSON error on stdout; return *exit_code*."""
    print(f"securehost: {'internal error' if code == 'internal' else 'error'}: {message}", file=sys.stderr)
    if as_json:
        print_json({"error": {"code": code, "type": error_type, "message": message, "exit_code": exit_code}})
    return exit_code


def parse_time(text: str) -> dt.datetime:
    # Checked before parsing, so the message is the same on every Python (3.10's fromisoformat is stricter).
    if re.search(r"T\d\d:\d\d:\d\d[.,]", text):
        raise argparse.ArgumentTypeError(f"times are whole seconds (no fraction): {text!r}")
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date/time: {text!r}") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. {text}Z): {text!r}")
    return value.astimezone(dt.timezone.utc)


def read_password(args: argparse.Namespace) -> bytes | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise UsageError(f"environment variable {args.password_env} is not set")
        if not value:  # an empty passphrase would silently write (or expect) an unencrypted key
            raise UsageError(f"environment variable {args.password_env} is empty")
        return value.encode()
    if args.password_file:
        password = Path(args.password_file).read_bytes().rstrip(b"\r\n")
        if not password:
            raise UsageError(f"password file {args.password_file} is empty")
        return password
    return None


def load_private_key(args: argparse.Namespace, path: str) -> PrivateKey:
    data = Path(path).read_bytes()
    password = read_password(args)
    try:
        try:
            return PrivateKey.load(data, password)
        except KeyFormatError:
            if password is None and sys.stdin.isatty():
                return PrivateKey.load(data, getpass.getpass(f"passphrase for {path}: ").encode())
            raise
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc}") from exc


def load_public_key(path: str) -> PublicKey:
    try:
        return PublicKey.load(Path(path).read_bytes())
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc}") from exc


def print_results(results: Sequence[Any], *, as_json: bool) -> int:
    """Print every result's ``summary()``, or all of them as one JSON list; return 0 if each is truthy, else 1."""
    if as_json:
        print_json([result.to_json() for result in results])
    else:
        for result in results:
            print(result.summary())
    return EXIT_OK if all(results) else EXIT_REJECTED


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help='print JSON on stdout (errors too: {"error": {...}}, same exit codes)'
    )


def add_password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-env", metavar="VAR", help="read the key passphrase from this environment variable")
    group.add_argument("--password-file", metavar="FILE", help="read the key passphrase from this file")
