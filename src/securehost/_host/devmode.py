"""Plugin development mode: ``Host(unsafe_unsigned=[...])`` loads *named* unsigned or editable plugins.

While developing a plugin its author runs the host against a ``pip install -e`` of the working tree, or an unsigned
build. Without this option every such load is rejected (``envelope-missing``, ``editable-install``). With it:

* only the distributions named, exactly (canonical names; no globs: a pattern would admit a look-alike that an
  attacker installs next to the plugin under development), and only when what stands against them is *only* that
  they are unsigned (``envelope-missing``) and perhaps editable (``editable-install``). A broken signature, a
  second copy on the path, bad metadata: rejected as always;
* its modules are what the entry points name: each entry point's top-level package, found in the editable project
  (``direct_url.json``; ``src/`` layout or flat) or in the site directory. Their digests are taken at load time and
  checked again when each module is imported (a file changed in between is refused, as for signed plugins);
* it runs with exactly the permissions the host **grants** to its name (there is no signed request to intersect
  with), under the runtime guard and the dependency policy's import checks; ``Requires-Dist`` is not checked;
* every load warns: a ``WARNING`` log record while the option is set, an ``unsigned-dev`` note per plugin loaded
  so, ``PluginReport.unsigned`` and ``"unsigned": true`` in its audit event.

Never on by default; never use it in production.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlparse

from securehost._installed.distcheck import InstalledDistribution, _build_modules
from securehost._names import canonicalize_name
from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Iterable

    from securehost._installed.discovery import DiscoveredDistribution

__all__ = ["dev_installed", "dev_mode_applies", "parse_unsafe_unsigned"]

_DEV_CODES: Final = frozenset({ReasonCode.ENVELOPE_MISSING, ReasonCode.EDITABLE_INSTALL})
_MAX_FILES: Final = 10_000


def parse_unsafe_unsigned(value: object) -> frozenset[str]:
    """Validate ``Host(unsafe_unsigned=...)``: exact distribution names.

    Raises:
        TypeError: *value* is a single string or not an iterable of strings.
        ValueError: a name is empty or a pattern.
    """
    if value is None:
        return frozenset()
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(
            f"Host(unsafe_unsigned=...) takes a list of distribution names, not {value!r}: pass unsafe_unsigned=[...]"
        )
    names = set()
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise TypeError(f"Host(unsafe_unsigned=...): each entry must be a distribution name, not {item!r}")
        if any(c in item for c in "*?[]"):
            raise ValueError(
                f"Host(unsafe_unsigned=...) takes exact distribution names, not the pattern {item!r}: name each "
                "plugin under development"
            )
        names.add(canonicalize_name(item))
    return frozenset(names)


def dev_mode_applies(names: frozenset[str], dist: DiscoveredDistribution, reasons: Iterable[Reason]) -> bool:
    """Whether *dist* is named and what stands against it is only that it is unsigned (and perhaps editable)."""
    codes = {r.code for r in reasons}
    return dist.name in names and ReasonCode.ENVELOPE_MISSING in codes and codes <= _DEV_CODES


def _editable_root(dist: DiscoveredDistribution) -> Path | None:
    try:
        data = json.loads((dist.metadata_dir / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = urlparse(str(data.get("url", ""))) if isinstance(data, dict) else None
    if url is None or url.scheme != "file":
        return None
    return Path(unquote(url.path))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dev_installed(dist: DiscoveredDistribution) -> InstalledDistribution:
    """Build the module table of a development plugin from its entry points' top-level packages.

    Returns:
        The installed distribution; its ``reasons`` say what could not be found.
    """
    reasons: list[Reason] = []
    project = _editable_root(dist)
    roots = [project / "src", project] if project is not None else [dist.site_dir]
    files: dict[str, str] = {}
    top_level = sorted({ep.module.partition(".")[0] for ep in dist.entry_points})
    base = roots[-1]
    for name in top_level:
        found = next((r for r in roots if (r / name).is_dir() or (r / f"{name}.py").is_file()), None)
        if found is None:
            where = " or ".join(str(r) for r in roots)
            reasons.append(
                Reason(
                    code=ReasonCode.INSTALLED_FILE_MISSING,
                    message=f"development mode: the package {name} of its entry points is not in {where}",
                    subject=name,
                )
            )
            continue
        base = found
        single = found / f"{name}.py"
        paths = [single] if single.is_file() else sorted(p for p in (found / name).rglob("*") if p.is_file())
        for path in paths[:_MAX_FILES]:
            rel = path.relative_to(found).as_posix()
            if "__pycache__" not in rel.split("/"):
                files[rel] = _sha256(path)
    modules = _build_modules(str(base), files, dist.metadata_dir.name, reasons)
    return InstalledDistribution(
        name=dist.name,
        version=dist.version,
        site_dir=base,
        metadata_dir=dist.metadata_dir,
        modules=modules,
        top_level=tuple(top_level),
        requires=(),
        reasons=tuple(reasons),
        evidence={"unsigned": True, "development_root": os.fspath(base)},
    )
