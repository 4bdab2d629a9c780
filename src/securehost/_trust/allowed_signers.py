r"""Importing OpenSSH ``allowed_signers`` files (``man ssh-keygen``, ALLOWED SIGNERS).

A line is ``principals [options] keytype base64-key [comment]``. Principals may be double-quoted;
options are comma-separated, their names case-insensitive, their values double-quoted with ``\"``
for a quote, as OpenSSH 9 parses them. Supported options: ``namespaces="pattern-list"``,
``valid-after="time"``, ``valid-before="time"``. ``cert-authority`` and any other option are
rejected, never ignored. Times are ``YYYYMMDD[HHMM[SS]]`` followed by ``Z`` or ``UTC``; OpenSSH
reads a time without either as local time, which depends on the machine, so such a time is rejected
unless the caller names the time zone (``local_timezone``). OpenSSH's ``valid-before`` is the last
valid second; the trusted key's ``valid_before`` (exclusive) is one second later.

Import rule (fail closed): a line is imported only if its ``namespaces`` pattern list admits the
securehost namespace (``"securehost"``) under OpenSSH's matching rules (``*``, ``?``, ``!``). A
line without ``namespaces`` is valid for every namespace in OpenSSH (a signature made for ``git`` or
``-n file`` would then vouch for plugins); it is imported only with ``unsafe_any_namespace=True``,
which logs a warning.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Final, final

import attrs

from securehost._log import LazyLogger
from securehost._models import shared_repr, value_model
from securehost._permissions import PermissionSet
from securehost._signing.keys import PublicKey
from securehost._trust.load import read_limited
from securehost._trust.model import TrustedKey, canonical_name_pattern, check_label, show
from securehost.exceptions import KeyFormatError, TrustStoreError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "SECUREHOST_NAMESPACE",
    "AllowedSigner",
    "import_allowed_signers",
    "parse_allowed_signers",
]

logger = LazyLogger(__name__)

SECUREHOST_NAMESPACE: Final = "securehost"
MAX_ALLOWED_SIGNERS_BYTES: Final = 1024 * 1024
_KEY_TYPE_PREFIXES: Final = ("ssh-", "ecdsa-", "sk-")
_OPTION_NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z-]*")
_MAX_SUBPATTERN: Final = 1023  # OpenSSH's match_pattern_list gives up (no match) on longer subpatterns
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_SECOND: Final = timedelta(seconds=1)


def _match_pattern(text: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def match_pattern_list(text: str, patterns: Iterable[str]) -> bool:
    """OpenSSH's ``match_pattern_list``: a positive subpattern matches and no ``!negated`` one."""
    positive = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        sub = pattern[1:] if negated else pattern
        if len(sub) >= _MAX_SUBPATTERN:
            return False
        if _match_pattern(text, sub):
            if negated:
                return False
            positive = True
    return positive


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class AllowedSigner:
    """One parsed ``allowed_signers`` line.

    Attributes:
        principals: the comma-separated principal patterns (``user@example.com``).
        key: the public key.
        namespaces: the ``namespaces`` pattern list, or ``None`` without that option (meaning
            every namespace).
        valid_after: first valid instant (inclusive, UTC), or ``None``.
        valid_before: end of validity (exclusive, UTC: OpenSSH's inclusive last second plus
            one second), or ``None``.
        comment: the text after the key.
        line: the 1-based line number.
    """

    principals: tuple[str, ...]
    key: PublicKey
    namespaces: tuple[str, ...] | None
    valid_after: datetime | None
    valid_before: datetime | None
    comment: str
    line: int

    def allows_namespace(self, namespace: str) -> bool:
        """Return whether OpenSSH would accept a signature in *namespace* by this line's key."""
        return self.namespaces is None or match_pattern_list(namespace, self.namespaces)


@shared_repr
@attrs.define(repr=False)
class _Options:
    namespaces: tuple[str, ...] | None = None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    seen: set[str] = attrs.field(factory=set)


def _parse_time(value: str, local_timezone: tzinfo | None) -> datetime:
    zone: tzinfo | None = None
    if len(value) > 1 and value[-1] in "Zz":
        zone, value = timezone.utc, value[:-1]
    elif len(value) > 3 and value[-3:].upper() == "UTC":
        zone, value = timezone.utc, value[:-3]
    if len(value) not in (8, 12, 14) or not value.isascii() or not value.isdigit():
        raise KeyFormatError(f"invalid time {show(value)}: expected YYYYMMDD[HHMM[SS]] followed by Z")
    if zone is None:
        if local_timezone is None:
            raise KeyFormatError(
                f"time {show(value)} is in the local time zone of whoever reads it; append Z (UTC) to it"
            )
        zone = local_timezone
    hour, minute, second = (int(value[i : i + 2]) if i < len(value) else 0 for i in (8, 10, 12))
    try:
        moment = datetime(
            int(value[:4]), int(value[4:6]), int(value[6:8]), hour, minute, second, tzinfo=zone
        ).astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise KeyFormatError(f"invalid time {show(value)}: {exc}") from exc
    if moment <= _EPOCH:
        raise KeyFormatError(f"invalid time {show(value)}: not after 1970-01-01T00:00:00Z")
    return moment


def _dequote(text: str, pos: int) -> tuple[str, int]:
    if pos >= len(text) or text[pos] != '"':
        raise KeyFormatError("option value must start with a double quote")
    out: list[str] = []
    pos += 1
    while pos < len(text) and text[pos] != '"':
        if text.startswith('\\"', pos):
            pos += 1
        out.append(text[pos])
        pos += 1
    if pos >= len(text):  # pragma: no cover - _split_token rejects unbalanced quotes first
        raise KeyFormatError("option value has no closing double quote")
    return "".join(out), pos + 1


def _parse_options(text: str, local_timezone: tzinfo | None) -> _Options:
    options = _Options()
    pos = 0
    while pos < len(text):
        match = _OPTION_NAME_RE.match(text, pos)
        name = match.group().lower() if match else ""
        pos = match.end() if match else pos
        if name == "cert-authority":
            raise KeyFormatError("cert-authority (trusting certificates) is not supported; list the keys")
        if name not in ("namespaces", "valid-after", "valid-before") or not text.startswith("=", pos):
            raise KeyFormatError(f"unsupported option {show(text[pos - len(name) : pos + 20])}")
        if name in options.seen:
            raise KeyFormatError(f"option {name} is given twice")
        options.seen.add(name)
        value, pos = _dequote(text, pos + 1)
        if name == "namespaces":
            options.namespaces = tuple(value.split(","))
        elif name == "valid-after":
            options.valid_after = _parse_time(value, local_timezone)
        else:
            options.valid_before = _parse_time(value, local_timezone)
        if pos == len(text):
            break
        if text[pos] != ",":
            raise KeyFormatError(f"unexpected {show(text[pos : pos + 20])} after option {name}")
        pos += 1
        if pos == len(text):
            raise KeyFormatError("unexpected end of options after a comma")
    if options.valid_after and options.valid_before and options.valid_before <= options.valid_after:
        raise KeyFormatError("valid-before is not later than valid-after")
    return options


def _split_token(text: str) -> tuple[str, str]:
    """Split off the first whitespace-delimited token, honouring OpenSSH option quoting."""
    pos, quoted = 0, False
    while pos < len(text) and (quoted or text[pos] not in " \t"):
        if text.startswith('\\"', pos):
            pos += 1
        elif text[pos] == '"':
            quoted = not quoted
        pos += 1
    if quoted:
        raise KeyFormatError("unterminated double quote")
    return text[:pos], text[pos:].lstrip(" \t")


def _parse_principals(text: str) -> tuple[tuple[str, ...], str]:
    if text.startswith('"'):
        end = text.find('"', 1)
        if end < 0:
            raise KeyFormatError("principals have no closing double quote")
        principals, rest = text[1:end], text[end + 1 :]
        if rest and rest[0] not in " \t":
            raise KeyFormatError("expected a space after the quoted principals")
    else:
        end = min((i for i in (text.find(" "), text.find("\t")) if i >= 0), default=len(text))
        principals, rest = text[:end], text[end:]
        if '"' in principals:
            raise KeyFormatError("a double quote inside unquoted principals")
    split = tuple(principals.split(","))
    if not all(split):
        raise KeyFormatError(f"empty principal in {show(principals)}")
    return split, rest.lstrip(" \t")


def _parse_line(line: str, number: int, local_timezone: tzinfo | None) -> AllowedSigner:
    principals, rest = _parse_principals(line)
    if not rest:
        raise KeyFormatError("missing key")
    options = _Options()
    if not rest.startswith(_KEY_TYPE_PREFIXES):
        option_text, rest = _split_token(rest)
        options = _parse_options(option_text, local_timezone)
        if not rest:
            raise KeyFormatError("missing key after the options")
    key_type, _, rest = rest.replace("\t", " ").partition(" ")
    blob, _, comment = rest.lstrip(" ").partition(" ")
    if "-cert-" in key_type:
        raise KeyFormatError(f"certificate key type {show(key_type)} is not supported")
    try:
        key = PublicKey.from_openssh(f"{key_type} {blob}".encode())
    except KeyFormatError as exc:
        raise KeyFormatError(f"key: {exc}") from exc
    return AllowedSigner(
        principals=principals,
        key=key,
        namespaces=options.namespaces,
        valid_after=options.valid_after,
        valid_before=None if options.valid_before is None else options.valid_before + _ONE_SECOND,
        comment=comment.strip(" \t"),
        line=number,
    )


def parse_allowed_signers(
    text: str, *, source: str = "<allowed_signers>", local_timezone: tzinfo | None = None
) -> list[AllowedSigner]:
    """Parse every line of an ``allowed_signers`` file; comments and blank lines are skipped.

    Args:
        text: the untrusted file content.
        source: names the file in error messages.
        local_timezone: the zone of times written without ``Z``/``UTC``; ``None`` rejects them.

    Raises:
        KeyFormatError: the text is larger than 1 MiB, or a line is malformed or uses an
            unsupported option or key; the message is ``source:line: ...``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if len(text) > MAX_ALLOWED_SIGNERS_BYTES:
        raise KeyFormatError(f"{source}: larger than {MAX_ALLOWED_SIGNERS_BYTES} characters")
    entries: list[AllowedSigner] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip(" \t")
        if not line or line.startswith("#"):
            continue
        try:
            if not line.replace("\t", " ").isprintable():
                raise KeyFormatError("control character in line")
            entries.append(_parse_line(line, number, local_timezone))
        except KeyFormatError as exc:
            raise KeyFormatError(f"{source}:{number}: {exc}") from exc
    return entries


def select_allowed_signers(
    entries: Iterable[AllowedSigner], *, namespace: str, unsafe_any_namespace: bool
) -> tuple[list[AllowedSigner], list[str]]:
    """Return the entries the import rule admits, and why the others were skipped."""
    selected: list[AllowedSigner] = []
    skipped: list[str] = []
    for entry in entries:
        if entry.namespaces is None and not unsafe_any_namespace:
            skipped.append(f'line {entry.line}: no namespaces option (add namespaces="{namespace}")')
        elif not entry.allows_namespace(namespace):
            skipped.append(f"line {entry.line}: namespaces do not allow {namespace!r}")
        else:
            selected.append(entry)
    return selected, skipped


def import_allowed_signers(
    path_or_text: str | os.PathLike[str],
    *,
    names: Iterable[str],
    max_permissions: PermissionSet | None = None,
    namespace: str = SECUREHOST_NAMESPACE,
    unsafe_any_namespace: bool = False,
    local_timezone: tzinfo | None = None,
) -> list[TrustedKey]:
    """Turn the lines of an ``allowed_signers`` file that admit *namespace* into trusted keys.

    Args:
        path_or_text: a path (``os.PathLike``) to read, or the file content (``str``).
        names: distribution-name patterns every imported key may sign for.
        max_permissions: the permission ceiling of every imported key (default: none).
        namespace: the signature namespace a line must allow.
        unsafe_any_namespace: also import lines without a ``namespaces`` option (logs a warning).
        local_timezone: see :func:`parse_allowed_signers`.

    Returns:
        One trusted key per selected line, labelled with its principals (plus a key-id prefix
        when two selected lines have the same principals).

    Raises:
        KeyFormatError: the file cannot be read or does not parse, the principals do not make a
            label, or two selected lines carry the same key.
        TrustStoreError: a pattern in *names* is invalid, or *names* is empty.
    """
    if isinstance(path_or_text, os.PathLike):
        source = os.fspath(path_or_text)
        text = read_limited(
            path_or_text,
            limit=MAX_ALLOWED_SIGNERS_BYTES,
            error=KeyFormatError,
            what="allowed_signers file",
        )
    elif isinstance(path_or_text, str):
        source, text = "<allowed_signers>", path_or_text
    else:
        raise TypeError("path_or_text must be an os.PathLike path or the file content as str")
    patterns = [canonical_name_pattern(n) for n in names]
    if not patterns:
        raise TrustStoreError("names may not be empty")
    if unsafe_any_namespace:
        logger.warning(
            "unsafe_any_namespace=True: importing lines of %s that are valid for every signature "
            "namespace, so a signature made for git or `ssh-keygen -Y sign -n file` vouches for "
            "plugins",
            source,
        )
    entries = parse_allowed_signers(text, source=source, local_timezone=local_timezone)
    selected, skipped = select_allowed_signers(entries, namespace=namespace, unsafe_any_namespace=unsafe_any_namespace)
    for reason in skipped:
        logger.info("%s: skipped %s", source, reason)
    by_id: dict[str, AllowedSigner] = {}
    label_counts: dict[str, int] = {}
    for entry in selected:
        if entry.key.key_id in by_id:
            first = by_id[entry.key.key_id].line
            raise KeyFormatError(f"{source}:{entry.line}: the same key as line {first}")
        by_id[entry.key.key_id] = entry
        label = ",".join(entry.principals)
        label_counts[label] = label_counts.get(label, 0) + 1
    trusted: list[TrustedKey] = []
    for entry in selected:
        label = ",".join(entry.principals)
        if label_counts[label] > 1:
            label = f"{label} [{entry.key.key_id[:12]}]"
        try:
            check_label(label)
        except TrustStoreError as exc:
            raise KeyFormatError(f"{source}:{entry.line}: principals cannot be a label: {exc}") from exc
        trusted.append(
            TrustedKey(
                key=entry.key,
                label=label,
                names=patterns,
                max_permissions=max_permissions if max_permissions is not None else PermissionSet(),
                valid_after=entry.valid_after,
                valid_before=entry.valid_before,
                source=f"{source}:{entry.line}",
            )
        )
    return trusted
