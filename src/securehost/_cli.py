"""The ``securehost`` command line.

Exit codes: 0 accepted / done, 1 rejected (a verdict said no), 2 usage or configuration error (one line on stderr,
no traceback), 3 an unexpected internal error (one line; set ``SECUREHOST_DEBUG=1`` for the traceback).
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

from securehost._permissions import PermissionSet
from securehost._signing.keys import GENERATE_TYPES, PrivateKey, PublicKey
from securehost._version import __version__
from securehost.exceptions import KeyFormatError, SecurehostError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from securehost._trust.model import TrustedKey

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERNAL: Final = 3


class _UsageError(Exception):
    """A problem with how the command was called (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"securehost: error: {message}\n")


def _parse_time(text: str) -> dt.datetime:
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


def _read_password(args: argparse.Namespace) -> bytes | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise _UsageError(f"environment variable {args.password_env} is not set")
        if not value:  # an empty passphrase would silently write (or expect) an unencrypted key
            raise _UsageError(f"environment variable {args.password_env} is empty")
        return value.encode()
    if args.password_file:
        password = Path(args.password_file).read_bytes().rstrip(b"\r\n")
        if not password:
            raise _UsageError(f"password file {args.password_file} is empty")
        return password
    return None


def _load_private_key(args: argparse.Namespace, path: str) -> PrivateKey:
    data = Path(path).read_bytes()
    password = _read_password(args)
    try:
        try:
            return PrivateKey.load(data, password)
        except KeyFormatError:
            if password is None and sys.stdin.isatty():
                return PrivateKey.load(data, getpass.getpass(f"passphrase for {path}: ").encode())
            raise
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc}") from exc


def _load_public_key(path: str) -> PublicKey:
    try:
        return PublicKey.load(Path(path).read_bytes())
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc}") from exc


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


# --- keygen ----------------------------------------------------------------------------------------------------


def _cmd_keygen(args: argparse.Namespace) -> int:
    target = Path(args.key)
    public = target.with_name(target.name + ".pub")
    for path in (target, public):
        if path.exists() and not args.force:
            raise _UsageError(f"{path} exists (use --force to overwrite)")
    key = PrivateKey.generate(args.type)
    password = _read_password(args)
    pem = key.to_pem(password)
    if args.force:  # a fresh file: never write a secret through an old file's mode or a symlink
        target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(target, 0o600)
    comment = args.comment or target.name
    public.write_text(key.public_key.to_openssh(comment) + "\n", encoding="ascii")
    if args.json:
        _print_json({"private_key": str(target), "public_key": str(public), "key_id": key.key_id, "type": args.type})
    else:
        print(f"wrote {target} (private, {args.type}) and {public}\nkey id: {key.key_id}")
    return EXIT_OK


# --- sign / verify / inspect -----------------------------------------------------------------------------------


def _cmd_sign(args: argparse.Namespace) -> int:
    from securehost._wheel.wheelfile import sign_wheel  # noqa: PLC0415 - keeps `securehost --help` fast

    keys = [_load_private_key(args, k) for k in args.key]
    permissions, capabilities, config = list(args.permission), list(args.capability), None
    if args.pyproject:
        from securehost._orchestrator.declare import read_declaration  # noqa: PLC0415

        declared = read_declaration(args.pyproject)
        permissions += [p for p in declared.permissions if p not in permissions]
        capabilities += [c for c in declared.capabilities if c not in capabilities]
        config = declared.config
    output = sign_wheel(
        Path(args.wheel),
        keys,
        permissions=permissions,
        output=args.output,  # a string: a trailing separator means "into this directory"
        expires_at=args.expires,
        replace_statement=args.replace_statement,
        capabilities=capabilities,
        config=config,
    )
    if args.json:
        _print_json({"wheel": str(output), "signers": [k.key_id for k in keys]})
    else:
        print(f"signed {output} with {', '.join(k.key_id[:16] for k in keys)}")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from securehost._trust.store import TrustStore  # noqa: PLC0415
    from securehost._wheel.wheelfile import verify_wheel  # noqa: PLC0415

    store = TrustStore.load(args.store)
    verdicts = [verify_wheel(Path(w), store, now=args.now) for w in args.wheel]
    if args.json:
        _print_json([v.to_json() for v in verdicts])
    else:
        for verdict in verdicts:
            print(verdict.summary())
    return EXIT_OK if all(verdicts) else EXIT_REJECTED


def _cmd_inspect(args: argparse.Namespace) -> int:
    from securehost._wheel.wheelfile import describe_wheel  # noqa: PLC0415

    info = describe_wheel(Path(args.wheel))
    if args.json:
        _print_json(info)
        return EXIT_OK
    predicate = info["predicate"]
    print(f"{args.wheel}: {predicate['name']} {predicate['version']} ({', '.join(predicate['tags'])})")
    print(
        f"  issued at:   {predicate['issuedAt']}"
        + (f", expires {predicate['expiresAt']}" if "expiresAt" in predicate else "")
    )
    print(f"  permissions: {', '.join(predicate['permissions']) or '(none)'}")
    if predicate.get("capabilities"):
        print(f"  capabilities: {', '.join(predicate['capabilities'])}")
    if "config" in predicate:
        keys = sorted((predicate["config"]["schema"].get("properties") or {}).keys())
        print(f"  config keys: {', '.join(keys) or '(none)'}")
    for group, entries in predicate["entryPoints"].items():
        for name, value in entries.items():
            print(f"  entry point: [{group}] {name} = {value}")
    print(f"  files:       {len(info['subjects'])} signed")
    for signer in info["signatures"]:
        print(f"  signature:   key {signer}")
    for problem in info["problems"]:
        print(f"  problem:     [{problem['code']}] {problem['message']}")
    return EXIT_OK


# --- trust -----------------------------------------------------------------------------------------------------


def _key_json(key: TrustedKey, revoked: bool) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "label": key.label,
        "type": key.key.key_type.value,
        "names": list(key.names),
        "max_permissions": sorted(str(p) for p in key.max_permissions.permissions),
        "capabilities": list(key.capabilities),
        "valid_after": key.valid_after.isoformat() if key.valid_after else None,
        "valid_before": key.valid_before.isoformat() if key.valid_before else None,
        "revoked": revoked,
    }


def _cmd_trust(args: argparse.Namespace) -> int:
    from securehost._trust import edit as _trust_edit  # noqa: PLC0415
    from securehost._trust.store import TrustStore  # noqa: PLC0415

    store_path = Path(args.store)
    if args.trust_command == "add":
        public = _load_public_key(args.public_key)
        label = args.label or Path(args.public_key).name.removesuffix(".pub")
        key = _trust_edit.add_key(
            store_path,
            public,
            label=label,
            names=args.names,
            max_permissions=PermissionSet.parse(args.max_permission),
            valid_after=args.valid_after,
            valid_before=args.valid_before,
            capabilities=args.capability,
        )
        print(f"trusted {key.key_id} ({key.label}) for {', '.join(key.names)} in {store_path}")
    elif args.trust_command == "remove":
        removed = _trust_edit.remove_key(store_path, args.key)
        print(f"removed {removed.key_id} ({removed.label}) from {store_path}")
    elif args.trust_command == "revoke":
        changed = _trust_edit.revoke(store_path, args.key_id)
        print(f"{'revoked' if changed else 'already revoked'}: {args.key_id}")
    elif args.trust_command == "threshold":
        threshold = _trust_edit.set_threshold(store_path, args.pattern, args.count)
        print(f"threshold for {threshold.pattern}: {threshold.count} key(s)")
    elif args.trust_command == "import-allowed-signers":
        keys = _trust_edit.add_allowed_signers(
            store_path,
            Path(args.file),
            names=args.names,
            max_permissions=PermissionSet.parse(args.max_permission),
            unsafe_any_namespace=args.unsafe_any_namespace,
        )
        for key in keys:
            print(f"trusted {key.key_id} ({key.label})")
    else:  # list
        store = TrustStore.load(store_path)
        rows = [_key_json(k, k.key_id in store.revoked) for k in store.keys.values()]
        if args.json:
            _print_json(
                {
                    "keys": rows,
                    "revoked": sorted(store.revoked),
                    "thresholds": [{"pattern": t.pattern, "count": t.count} for t in store.thresholds],
                }
            )
        else:
            for row in rows:
                state = " REVOKED" if row["revoked"] else ""
                perms = ", ".join(row["max_permissions"]) or "(none)"
                print(f"{row['key_id']}  {row['type']:<10} {row['label']}{state}")
                print(f"    names: {', '.join(row['names'])}; may vouch for: {perms}")
            for t in store.thresholds:
                print(f"threshold {t.pattern}: {t.count}")
    return EXIT_OK


# --- list (installed plugins) ----------------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    from securehost._host.listing import list_plugins  # noqa: PLC0415

    grants: dict[str, list[str]] = {}
    for item in args.grant:
        name, sep, permission = item.partition("=")
        if not sep:
            raise _UsageError(f"--grant takes NAME=PERMISSION, got {item!r}")
        grants.setdefault(name, []).append(permission)
    isolation: dict[str, str] = {}
    for item in args.isolation:
        name, sep, mode = item.partition("=")
        if not sep or mode not in ("in-process", "process"):
            raise _UsageError(f"--isolation takes GLOB=in-process or GLOB=process, got {item!r}")
        isolation[name] = mode
    report = list_plugins(
        group=args.group, store=Path(args.store), path=args.path or None, grants=grants, isolation=isolation
    )
    if args.json:
        _print_json(report.to_json())
    else:
        print(report.summary())
    return EXIT_OK if report.all_accepted else EXIT_REJECTED


# --- parser ----------------------------------------------------------------------------------------------------


def _add_password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-env", metavar="VAR", help="read the key passphrase from this environment variable")
    group.add_argument("--password-file", metavar="FILE", help="read the key passphrase from this file")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="securehost", description="Sign, verify and trust plugin wheels for securehost hosts.")
    parser.add_argument("--version", action="version", version=f"securehost {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("keygen", help="generate a signing key (KEY and KEY.pub)")
    p.add_argument("key", metavar="KEY")
    p.add_argument("--type", choices=GENERATE_TYPES, default="ed25519")
    p.add_argument("--comment", help="comment for the public key line (default: the file name)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--json", action="store_true")
    _add_password_options(p)
    p.set_defaults(func=_cmd_keygen)

    p = sub.add_parser("sign", help="sign a wheel (adds a signature if it is already signed)")
    p.add_argument("wheel", metavar="WHEEL")
    p.add_argument("--key", action="append", required=True, metavar="KEY", help="private key (PEM or OpenSSH)")
    p.add_argument("--permission", action="append", default=[], metavar="PERM", help="permission the plugin requests")
    p.add_argument("--capability", action="append", default=[], metavar="CAP", help="capability the plugin offers")
    p.add_argument(
        "--pyproject",
        metavar="PYPROJECT",
        help="also read permissions, capabilities and the configuration schema from its [tool.securehost] table",
    )
    p.add_argument("-o", "--output", metavar="OUT", help="write the signed wheel here (default: in place)")
    p.add_argument("--expires", type=_parse_time, metavar="WHEN", help="statement expiry (ISO 8601 with zone)")
    p.add_argument(
        "--replace-statement",
        action="store_true",
        help="re-sign with a new statement, dropping existing signatures (needed to change permissions or expiry)",
    )
    p.add_argument("--json", action="store_true")
    _add_password_options(p)
    p.set_defaults(func=_cmd_sign)

    p = sub.add_parser("verify", help="verify wheels against a trust store (exit 1 if any is rejected)")
    p.add_argument("wheel", metavar="WHEEL", nargs="+")
    p.add_argument("--store", required=True, metavar="STORE")
    p.add_argument("--now", type=_parse_time, help="judge expiry and key windows at this time")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("inspect", help="show a wheel's signed statement, permissions and signers (no trust check)")
    p.add_argument("wheel", metavar="WHEEL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_inspect)

    trust = sub.add_parser("trust", help="manage a trust store")
    tsub = trust.add_subparsers(dest="trust_command", required=True, parser_class=_Parser)
    t = tsub.add_parser("add", help="trust a public key (creates or updates STORE)")
    t.add_argument("public_key", metavar="KEY.pub")
    t.add_argument("--names", action="append", required=True, metavar="PATTERN", help="distribution-name glob")
    t.add_argument("--max-permission", action="append", default=[], metavar="PERM")
    t.add_argument("--capability", action="append", default=[], metavar="PATTERN", help="capability pattern (data.*)")
    t.add_argument("--label")
    t.add_argument("--valid-after", type=_parse_time, metavar="WHEN")
    t.add_argument("--valid-before", type=_parse_time, metavar="WHEN")
    t = tsub.add_parser("remove", help="remove a key by key id or label")
    t.add_argument("key", metavar="KEY_ID|LABEL")
    t = tsub.add_parser("revoke", help="revoke a key id")
    t.add_argument("key_id", metavar="KEY_ID")
    t = tsub.add_parser("threshold", help="require COUNT unique keys for names matching PATTERN")
    t.add_argument("pattern", metavar="PATTERN")
    t.add_argument("count", type=int, metavar="COUNT")
    t = tsub.add_parser("import-allowed-signers", help="import keys from an OpenSSH allowed_signers file")
    t.add_argument("file", metavar="FILE")
    t.add_argument("--names", action="append", required=True, metavar="PATTERN")
    t.add_argument("--max-permission", action="append", default=[], metavar="PERM")
    t.add_argument("--unsafe-any-namespace", action="store_true", help="import lines without namespaces= (unsafe)")
    t = tsub.add_parser("list", help="list trusted keys, revocations and thresholds")
    t.add_argument("--json", action="store_true")
    for t in tsub.choices.values():
        t.add_argument("--store", required=True, metavar="STORE")
    trust.set_defaults(func=_cmd_trust)

    p = sub.add_parser("list", help="show installed plugins of an entry-point group and their verdicts")
    p.add_argument("--group", required=True)
    p.add_argument("--store", required=True, metavar="STORE")
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
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except _UsageError as exc:
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
