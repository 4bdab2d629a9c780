"""What every ``securehost`` command shares: exit codes, the parser class, time and key-file arguments, JSON output."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Final, NoReturn

from securehost._signing.keys import PrivateKey, PublicKey
from securehost.exceptions import KeyFormatError

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "Parser",
    "UsageError",
    "add_password_options",
    "load_private_key",
    "load_public_key",
    "parse_time",
    "print_json",
    "read_password",
]

EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERNAL: Final = 3


class UsageError(Exception):
    """A problem with how the command was called (exit 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"securehost: error: {message}\n")


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


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def add_password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-env", metavar="VAR", help="read the key passphrase from this environment variable")
    group.add_argument("--password-file", metavar="FILE", help="read the key passphrase from this file")
