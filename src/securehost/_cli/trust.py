"""``securehost trust``: manage a trust store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from securehost._cli.common import (
    EXIT_OK,
    PERMISSION_GRAMMAR,
    Parser,
    add_json_option,
    load_public_key,
    parse_time,
    print_json,
)
from securehost._permissions import PermissionSet, check_kind

if TYPE_CHECKING:
    import argparse

    from securehost._trust.model import TrustedKey

__all__ = ["add_parsers"]


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
        public = load_public_key(args.public_key)
        label = args.label or Path(args.public_key).name.removesuffix(".pub")
        key = _trust_edit.add_key(
            store_path,
            public,
            label=label,
            names=args.names,
            max_permissions=PermissionSet(check_kind(p) for p in args.max_permission),
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
            max_permissions=PermissionSet(check_kind(p) for p in args.max_permission),
            unsafe_any_namespace=args.unsafe_any_namespace,
        )
        for key in keys:
            print(f"trusted {key.key_id} ({key.label})")
    else:  # list
        store = TrustStore.load(store_path)
        rows = [_key_json(k, k.key_id in store.revoked) for k in store.keys.values()]
        if args.json:
            print_json(
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


_TRUST_EPILOG = f"""\
The store is one TOML file (format: docs/trust-store.md in the securehost source distribution). Every command
rewrites it atomically and keeps comments; `trust list` shows what it holds.

examples:
  securehost trust add keys/release.pub --store trust.toml --names 'acme-*' --max-permission 'fs.read:/srv/**'
  securehost trust threshold 'acme-payments-*' 2 --store trust.toml
  securehost trust revoke 3f1c... --store trust.toml
  securehost trust list --store trust.toml --json

{PERMISSION_GRAMMAR}"""
_MAX_PERMISSION_HELP = "a permission this key may vouch for (repeat; grammar in securehost trust --help)"


def add_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``trust`` command and its subcommands to *sub*."""
    trust = sub.add_parser(
        "trust", help="manage a trust store", description="manage a trust store", epilog=_TRUST_EPILOG
    )
    tsub = trust.add_subparsers(dest="trust_command", title="commands", metavar="COMMAND", parser_class=Parser)
    t = tsub.add_parser("add", help="trust a public key (creates or updates STORE)")
    t.add_argument("public_key", metavar="KEY.pub", help="the public key (OpenSSH line or PEM)")
    t.add_argument("--names", action="append", required=True, metavar="PATTERN", help="distribution-name glob (repeat)")
    t.add_argument("--max-permission", action="append", default=[], metavar="PERM", help=_MAX_PERMISSION_HELP)
    t.add_argument("--capability", action="append", default=[], metavar="PATTERN", help="capability pattern (data.*)")
    t.add_argument("--label", help="a label for the key (default: the file name without .pub)")
    t.add_argument("--valid-after", type=parse_time, metavar="WHEN", help="the key counts from this time (ISO 8601)")
    t.add_argument(
        "--valid-before", type=parse_time, metavar="WHEN", help="the key stops counting at this time (ISO 8601)"
    )
    t = tsub.add_parser("remove", help="remove a key by key id or label")
    t.add_argument("key", metavar="KEY_ID|LABEL", help="the key id or label of the key to remove")
    t = tsub.add_parser("revoke", help="revoke a key id")
    t.add_argument("key_id", metavar="KEY_ID", help="the key id to revoke (it never counts again)")
    t = tsub.add_parser("threshold", help="require COUNT unique keys for names matching PATTERN")
    t.add_argument("pattern", metavar="PATTERN", help="distribution-name glob")
    t.add_argument("count", type=int, metavar="COUNT", help="how many different trusted keys must sign")
    t = tsub.add_parser("import-allowed-signers", help="import keys from an OpenSSH allowed_signers file")
    t.add_argument("file", metavar="FILE", help="the allowed_signers file")
    t.add_argument("--names", action="append", required=True, metavar="PATTERN", help="distribution-name glob (repeat)")
    t.add_argument("--max-permission", action="append", default=[], metavar="PERM", help=_MAX_PERMISSION_HELP)
    t.add_argument("--unsafe-any-namespace", action="store_true", help="import lines without namespaces= (unsafe)")
    t = tsub.add_parser("list", help="list trusted keys, revocations and thresholds")
    add_json_option(t)
    for t in tsub.choices.values():
        t.add_argument("--store", required=True, metavar="STORE", help="the trust store file (TOML)")
        t.set_defaults(func=_cmd_trust)
    trust.set_defaults(func=None, parser=trust)
