"""``securehost keygen``, ``sign``, ``verify`` and ``inspect``: keys and signed wheels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from securehost._cli.common import (
    EXIT_OK,
    PERMISSION_GRAMMAR,
    Parser,
    UsageError,
    add_json_option,
    add_password_options,
    load_private_key,
    parse_time,
    print_json,
    print_results,
    read_password,
)
from securehost._signing.keys import GENERATE_TYPES
from securehost._signing.private import PrivateKey

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers"]


def _cmd_keygen(args: argparse.Namespace) -> int:
    target = Path(args.key)
    public = target.with_name(target.name + ".pub")
    for path in (target, public):
        if path.exists() and not args.force:
            raise UsageError(f"{path} exists (use --force to overwrite)")
    key = PrivateKey.generate(args.type)
    password = read_password(args)
    pem = key.to_pem(password)
    created = None
    if not target.parent.exists():  # `securehost keygen keys/release` in a fresh checkout: make keys/, private
        target.parent.mkdir(mode=0o700, parents=True)
        created = target.parent
    if args.force:  # a fresh file: never write a secret through an old file's mode or a symlink
        target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(target, 0o600)
    comment = args.comment or target.name
    public.write_text(key.public_key.to_openssh(comment) + "\n", encoding="ascii")
    if args.json:
        print_json({"private_key": str(target), "public_key": str(public), "key_id": key.key_id, "type": args.type})
    else:
        if created is not None:
            print(f"created {created}/ (mode 0700)")
        print(f"wrote {target} (private, {args.type}) and {public}\nkey id: {key.key_id}")
    return EXIT_OK


def _cmd_sign(args: argparse.Namespace) -> int:
    from securehost._wheel.wheelfile import sign_wheel  # noqa: PLC0415 - keeps `securehost --help` fast

    keys = [load_private_key(args, k) for k in args.key]
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
        print_json({"wheel": str(output), "signers": [k.key_id for k in keys]})
    else:
        print(f"signed {output} with {', '.join(k.key_id[:16] for k in keys)}")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from securehost._trust.store import TrustStore  # noqa: PLC0415
    from securehost._wheel.wheelfile import verify_wheel  # noqa: PLC0415

    store = TrustStore.load(args.store)
    verdicts = [verify_wheel(Path(w), store, now=args.now) for w in args.wheel]
    return print_results(verdicts, as_json=args.json)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from securehost._wheel.wheelfile import describe_wheel  # noqa: PLC0415

    info = describe_wheel(Path(args.wheel))
    if args.json:
        print_json(info)
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


_SIGN_EPILOG = f"""\
The statement lists every file of the wheel with its digest, the requested permissions and capabilities; a host
loads the plugin only if a trusted key vouches for all of them. The signed wheel keeps the original file mode.

examples:
  securehost sign dist/acme_csv-1.0-py3-none-any.whl --key keys/release --permission 'fs.read:/srv/data/**'
  securehost sign dist/acme_csv-1.0-py3-none-any.whl --key keys/release --pyproject pyproject.toml -o signed/
  securehost sign dist/acme_csv-1.0-py3-none-any.whl --key keys/second   # a second signature, for a threshold

{PERMISSION_GRAMMAR}"""


def add_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add the ``keygen``, ``sign``, ``verify`` and ``inspect`` commands to *sub*."""
    p = sub.add_parser(
        "keygen",
        help="generate a signing key (KEY and KEY.pub)",
        description="generate a signing key: KEY (private, PEM, mode 0600) and KEY.pub (OpenSSH public key line)",
        epilog="examples:\n  securehost keygen keys/release\n"
        "  SECUREHOST_PASS=... securehost keygen keys/release --type ecdsa-p256 --password-env SECUREHOST_PASS",
    )
    p.add_argument("key", metavar="KEY", help="where to write the private key (the public key goes to KEY.pub)")
    p.add_argument("--type", choices=GENERATE_TYPES, default="ed25519", help="the key type (default: ed25519)")
    p.add_argument("--comment", help="comment for the public key line (default: the file name)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    add_json_option(p)
    add_password_options(p)
    p.set_defaults(func=_cmd_keygen)

    p = sub.add_parser(
        "sign",
        help="sign a wheel (adds a signature if it is already signed)",
        description="sign a wheel: put a DSSE envelope over an in-toto statement of every file into its .dist-info",
        epilog=_SIGN_EPILOG,
    )
    p.add_argument("wheel", metavar="WHEEL", help="the wheel file")
    p.add_argument(
        "--key", action="append", required=True, metavar="KEY", help="private key (PEM or OpenSSH); repeat for more"
    )
    p.add_argument(
        "--permission",
        action="append",
        default=[],
        metavar="PERM",
        help="a permission the plugin requests (repeat; grammar below)",
    )
    p.add_argument(
        "--capability", action="append", default=[], metavar="CAP", help="a capability the plugin offers (repeat)"
    )
    p.add_argument(
        "--pyproject",
        metavar="PYPROJECT",
        help="also read permissions, capabilities and the configuration schema from its [tool.securehost] table",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="write the signed wheel here, a directory (an existing one, or ending in /) or a path with the same "
        "file name (default: in place)",
    )
    p.add_argument("--expires", type=parse_time, metavar="WHEN", help="statement expiry (ISO 8601 with zone)")
    p.add_argument(
        "--replace-statement",
        action="store_true",
        help="re-sign with a new statement, dropping existing signatures (needed to change permissions or expiry)",
    )
    add_json_option(p)
    add_password_options(p)
    p.set_defaults(func=_cmd_sign)

    p = sub.add_parser(
        "verify",
        help="verify wheels against a trust store (exit 1 if any is rejected)",
        description="verify wheels against a trust store: print each verdict with every reason",
        epilog="example:\n  securehost verify dist/*.whl --store trust.toml --json",
    )
    p.add_argument("wheel", metavar="WHEEL", nargs="+", help="a wheel file")
    p.add_argument("--store", required=True, metavar="STORE", help="the trust store (TOML)")
    p.add_argument("--now", type=parse_time, metavar="WHEN", help="judge expiry and key windows at this time")
    add_json_option(p)
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser(
        "inspect",
        help="show a wheel's signed statement, permissions and signers (no trust check)",
        description="show a wheel's signed statement, permissions and signers (no trust check)",
    )
    p.add_argument("wheel", metavar="WHEEL", help="the wheel file")
    add_json_option(p)
    p.set_defaults(func=_cmd_inspect)
