"""The confinement a plugin worker applies to itself before it imports a single byte of the plugin.

The host builds a :class:`ConfinementSpec` from the plugin's granted permissions and limits and sends it to the worker
as plain data (:meth:`ConfinementSpec.to_dict`); the worker, a fresh ``python -I`` started with ``close_fds``, a
scrubbed environment, a private working directory and (when the host is root) ``user=``/``group=`` of an unprivileged
account, calls :func:`apply` early in its main. :func:`probe` tells the host what the kernel can provide, without
applying anything.

Order, as in bubblewrap and nsjail: (1) the worker's ids are reported (the host, not the worker, drops root); (2)
``unshare`` of the user, IPC and UTS namespaces, the PID namespace, and the network namespace unless network is
granted, with the caller's own ids mapped and ``setgroups`` denied, then every capability dropped; (3) a fork, after
which the child is PID 1 of the new PID namespace and goes on as the worker while the parent only waits and exits the
same way (:func:`securehost._isolation.namespaces.become_pid_one`); (4) resource limits; (5) ``no_new_privs``; (6)
Landlock (:mod:`securehost._isolation.landlock`); (7) seccomp last (:mod:`securehost._isolation.seccomp`), since it
refuses calls the earlier steps make.

Everything possible is applied; a protection named in :attr:`ConfinementSpec.require` that cannot be applied raises
:class:`~securehost.exceptions.ConfinementUnavailableError` (the process is then partly confined: the worker must
exit). Landlock and seccomp bind the calling thread and the threads it starts later, so :func:`apply` refuses to run
in a process that already has a second thread.
"""

from __future__ import annotations

import functools
import os
import resource
import site
import stat
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from securehost._isolation import landlock, namespaces, seccomp
from securehost._isolation.spec import PROTECTIONS, RLIMITS, ConfinementSpec
from securehost._models import shared_repr
from securehost.exceptions import ConfinementUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "PROTECTIONS",
    "RLIMITS",
    "ConfinementSpec",
    "apply",
    "probe",
    "runtime_read_paths",
    "unreachable_paths",
]


_EXTRA: Final = seccomp.INSTALL_HINT
_ADVICE: Final[Mapping[str, str]] = {
    "userns": "allow unprivileged user namespaces for the worker's user (sysctl user.max_user_namespaces > 0; "
    "kernel.unprivileged_userns_clone=1 on Debian kernels; kernel.apparmor_restrict_unprivileged_userns=0 on "
    "Ubuntu) and do not start the host under a seccomp profile that refuses unshare (Docker's default does)",
    "landlock": "run a kernel with Landlock enabled (CONFIG_SECURITY_LANDLOCK=y and 'landlock' in the lsm= boot "
    f"parameter; Linux 5.13+, 6.7+ for TCP port rules) and install the binding: {_EXTRA}",
    "seccomp": f"install libseccomp (apt-get install libseccomp2, dnf install libseccomp) and the binding: {_EXTRA}",
    "no_new_privs": "run on Linux 3.5 or later",
    "rlimits": "request limits no higher than the worker's hard limits (ulimit -H), or raise those in the host",
}
_SYSTEM_READ_PATHS: Final = (
    "/lib",
    "/lib32",
    "/lib64",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/local/lib",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/usr/share/zoneinfo",
    "/dev/null",
    "/dev/urandom",
)
_NETWORK_READ_PATHS: Final = (
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ssl",
    "/etc/pki",
    "/usr/share/ca-certificates",
)


def _libpython() -> str:
    libdir, library = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")
    if not isinstance(libdir, str) or not isinstance(library, str) or not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return ""
    return os.path.join(libdir, library)


def runtime_read_paths(*, network: bool = False) -> tuple[str, ...]:
    """The read-only paths this interpreter needs after confinement, for the host to put in ``read_paths``.

    Its installation paths (``sysconfig``: the standard library, its extension modules, the site directories; not
    the whole prefix, which in a virtual environment may hold anything) and ``site``'s package directories, the
    directory of its real executable,
    the ``securehost`` package, the dynamic loader's libraries and cache (extension modules load ``libssl``,
    ``libffi``...), the time zone data, ``/dev/null`` and ``/dev/urandom``. The plugin's own files and ``fs.read``
    grants are the host's to add.

    Args:
        network: Add what name resolution and TLS read (``/etc/hosts``, ``/etc/resolv.conf``, ``/etc/nsswitch.conf``,
            ``/etc/services``, the CA certificates...), for a worker with ``allow_network``.
    """
    install = sysconfig.get_paths()
    candidates = [
        *(install[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in install),
        os.path.dirname(os.path.realpath(sys.executable)),
        os.path.dirname(sys.executable),  # a virtual environment's bin, and its pyvenv.cfg: what a spawned python reads
        os.path.join(sys.prefix, "pyvenv.cfg"),
        _libpython(),  # a shared-library build of Python loads it at every start
        str(Path(__file__).resolve().parents[1]),
        *site.getsitepackages(),
        *_SYSTEM_READ_PATHS,
        *(_NETWORK_READ_PATHS if network else ()),
    ]
    return tuple(dict.fromkeys(path for path in candidates if path and os.path.isabs(path)))


def unreachable_paths(paths: Iterable[str], *, uid: int, gid: int) -> tuple[str, ...]:
    """The existing *paths* that *uid*/*gid* (no supplementary groups) could not read, judged by permission bits.

    A root host runs this before starting workers as an unprivileged user: a Python installed under ``/root`` (mode
    0700) cannot even be executed by ``nobody``. Access control lists are not read.
    """
    unreachable = []
    for path in paths:
        real = os.path.realpath(path)
        if not os.path.exists(real):
            continue
        chain = [*reversed(Path(real).parents), Path(real)]
        needs = [stat.S_IXOTH] * (len(chain) - 1) + [stat.S_IROTH | (stat.S_IXOTH if os.path.isdir(real) else 0)]
        if not all(_allowed(os.stat(step), uid, gid, bits) for step, bits in zip(chain, needs, strict=True)):
            unreachable.append(path)
    return tuple(unreachable)


def _allowed(st: os.stat_result, uid: int, gid: int, other_bits: int) -> bool:
    """Whether the owner, group or other bits of *st* that apply to *uid*/*gid* include *other_bits* (shifted)."""
    if uid == 0:
        return True
    shift = 6 if st.st_uid == uid else 3 if st.st_gid == gid else 0
    return (st.st_mode >> shift) & other_bits == other_bits


def probe(*, user: int | None = None, group: int | None = None) -> dict[str, object]:
    """What this kernel and process can provide, without applying anything (safe to call in the host).

    The namespace check runs in a throwaway ``python -I -S`` (an ``unshare`` cannot be undone).

    Args:
        user: Judge namespaces for this uid (a root host that starts workers as ``nobody`` passes 65534); this needs
            root. It also shows whether that user can run this interpreter at all.
        group: The gid to go with *user*.

    Returns:
        ``{"userns", "netns", "pidns": bool, "landlock": int ABI or 0, "seccomp", "no_new_privs", "rlimits": bool,
        "unavailable": {protection: why}}``.
    """
    reasons: dict[str, str] = {}
    if not sys.platform.startswith("linux"):
        reasons = dict.fromkeys(PROTECTIONS - {"rlimits"}, f"not Linux ({sys.platform})")
        return {
            **dict.fromkeys(PROTECTIONS - {"rlimits"}, False),
            "landlock": 0,
            "rlimits": True,
            "unavailable": reasons,
        }
    found: dict[str, object] = namespaces.probe_namespaces(user=user, group=group)
    ns_reason = str(found.pop("reason"))
    reasons.update({name: ns_reason for name in ("userns", "netns", "pidns") if not found[name]})
    found["landlock"], reasons["landlock"] = landlock.probe()
    found["seccomp"], reasons["seccomp"] = seccomp.probe()
    try:
        namespaces.no_new_privs()
        found["no_new_privs"] = True
    except OSError as exc:
        found["no_new_privs"] = False
        reasons["no_new_privs"] = str(exc)
    found["rlimits"] = True
    found["unavailable"] = {name: why for name, why in reasons.items() if why}
    return found


@shared_repr
@attrs.define(repr=False)
class _Run:
    """One :func:`apply`: what is in force so far, and why anything is not."""

    spec: ConfinementSpec
    skip: frozenset[str]
    report: dict[str, Any]
    reasons: dict[str, str] = attrs.field(factory=dict)

    def unavailable(self, name: str, reason: str) -> None:
        """Record that *name* is not in force.

        Raises:
            ConfinementUnavailableError: *name* is required.
        """
        self.reasons[name] = reason
        if name in self.spec.require:
            raise ConfinementUnavailableError(
                f"cannot apply the required protection {name!r}: {reason}. To fix: "
                f"{_ADVICE.get(name, _ADVICE['userns'])}; or drop {name!r} from ConfinementSpec.require"
            )


def apply(spec: ConfinementSpec, *, available: Mapping[str, object] | None = None) -> dict[str, object]:
    """Confine this process as *spec* says; call it in the worker, single-threaded, before importing the plugin.

    Args:
        spec: What the worker may do, and which protections are required.
        available: A :func:`probe` result (perhaps run by the host as the worker's user). Protections it reports
            unavailable are not attempted; a required one raises before anything is changed.

    Returns:
        What is in force: the keys of :func:`probe` with ``"rlimits"`` as ``{name: soft limit}``, plus ``"uid"``,
        ``"gid"`` (the ids the worker runs as, in the host's terms), ``"pid"``, ``"landlock_skipped"`` (paths that got
        no rule, with why), ``"landlock_net"`` / ``"landlock_scoped"`` (TCP port rules, IPC scoping in force),
        ``"seccomp_unknown"`` (names the filter could not refuse) and ``"unavailable"`` ({protection: why not}).

    Raises:
        ConfinementUnavailableError: A required protection cannot be applied, or the process already has a second
            thread. The process may be partly confined: exit.
    """
    skip = _skipped(available)
    report: dict[str, Any] = {"uid": os.getuid(), "gid": os.getgid(), "userns": False, "netns": False}
    report.update(pidns=False, landlock=0, seccomp=False, no_new_privs=False, rlimits={}, landlock_skipped=[])
    run = _Run(spec=spec, skip=frozenset(skip), report=report)
    for name, reason in sorted(skip.items(), key=lambda item: (item[0] not in spec.require, item[0])):
        run.unavailable(name, reason)  # required ones first: raise before anything is changed
    threads = namespaces.thread_count()
    if threads > 1:
        raise ConfinementUnavailableError(
            f"apply() found {threads} threads: Landlock and seccomp would bind only the calling one. "
            "Call apply() first thing in the worker's main, before anything starts a thread"
        )
    landlock_binding = _import(run, "landlock", landlock.import_binding, "landlockpy")
    seccomp_binding = _import(run, "seccomp", seccomp.import_binding, "pyseccomp")
    _enter_namespaces(run)
    _set_rlimits(run)
    _step(run, "no_new_privs", namespaces.set_no_new_privs)
    report["no_new_privs"] = "no_new_privs" not in run.reasons
    if landlock_binding is not None:
        _apply_landlock(run, landlock_binding)
    if seccomp_binding is not None:
        _step(run, "seccomp", lambda: _install_seccomp(run, seccomp_binding))
    report["pid"] = os.getpid()
    report["unavailable"] = run.reasons
    return report


def _skipped(available: Mapping[str, object] | None) -> dict[str, str]:
    """The protections not to attempt, with why: all but rlimits off Linux, else those *available* reports missing."""
    if not sys.platform.startswith("linux"):
        return dict.fromkeys(sorted(PROTECTIONS - {"rlimits"}), f"not Linux ({sys.platform})")
    if available is None:
        return {}
    why = available.get("unavailable")
    reasons: Mapping[str, object] = why if isinstance(why, dict) else {}
    return {
        name: f"the probe passed to apply() reports it unavailable ({reasons.get(name, 'no reason given')})"
        for name in sorted(PROTECTIONS)
        if not available.get(name, False)
    }


def _import(run: _Run, name: str, importer: Callable[[], Any], package: str) -> Any:
    """Import a binding now, before anything is confined; ``None`` (recorded) when skipped or missing."""
    if name in run.skip:
        return None
    try:
        return importer()
    except ImportError:
        run.unavailable(name, f"{package} is not installed: {_EXTRA}")
    except (OSError, RuntimeError) as exc:
        run.unavailable(name, f"{package} could not load its system library: {exc}")
    return None


def _step(run: _Run, name: str, action: Callable[[], object]) -> bool:
    """Run *action* unless *name* is skipped; on :class:`OSError`, record *name* unavailable (raising if required)."""
    if name in run.skip:
        return False
    try:
        action()
    except OSError as exc:
        run.unavailable(name, str(exc))
        return False
    return True


def _enter_namespaces(run: _Run) -> None:
    """Step (2) and (3): new namespaces, own-id maps, no capabilities, then PID 1 of the new PID namespace."""
    if "userns" in run.skip:
        for name in ("netns", "pidns"):
            if name not in run.skip and not (name == "netns" and run.spec.allow_network):
                run.unavailable(name, "needs a user namespace, which is unavailable")
        return
    flags = namespaces.CLONE_NEWUSER | namespaces.CLONE_NEWIPC | namespaces.CLONE_NEWUTS
    wanted = {"pidns": namespaces.CLONE_NEWPID, "netns": 0 if run.spec.allow_network else namespaces.CLONE_NEWNET}
    for name, flag in wanted.items():
        flags |= 0 if name in run.skip else flag
    uid, gid = os.geteuid(), os.getegid()

    def enter() -> None:
        namespaces.unshare(flags)
        namespaces.write_id_maps(uid, gid)
        namespaces.drop_capabilities()

    if not _step(run, "userns", enter):
        for name, flag in wanted.items():
            if flag and name not in run.skip:
                run.unavailable(name, f"needs a user namespace: {run.reasons['userns']}")
        return
    run.report["userns"] = True
    run.report["netns"] = bool(flags & namespaces.CLONE_NEWNET)
    if flags & namespaces.CLONE_NEWPID and _step(run, "pidns", namespaces.become_pid_one):
        run.report["pidns"] = os.getpid() == 1


def _set_rlimits(run: _Run) -> None:
    """Step (4): soft = hard = the spec's value, never above the current hard limit.

    For CPU time that means ``SIGKILL`` at the limit: the ``SIGXCPU`` of a soft limit would be ignored anyway, since the
    worker is PID 1 of its PID namespace, whose signals with a default action are ignored.
    """
    applied: dict[str, int] = {}
    if "rlimits" in run.skip:
        return
    for name, value in sorted(run.spec.rlimits.items()):
        resource_id = RLIMITS[name]
        _, hard = resource.getrlimit(resource_id)
        limit = value if hard == resource.RLIM_INFINITY else min(value, hard)
        if _step(run, "rlimits", functools.partial(resource.setrlimit, resource_id, (limit, limit))):
            applied[name] = resource.getrlimit(resource_id)[0]
    run.report["rlimits"] = applied


def _apply_landlock(run: _Run, binding: Any) -> None:
    """Step (6); with network granted on a list of ports, a kernel that cannot filter ports counts as unavailable."""
    spec = run.spec
    ports_limited = spec.allow_network and (spec.net_connect_ports is not None or spec.net_bind_ports is not None)
    abi = landlock.abi_version(binding)
    if 0 < abi < landlock.NET_ABI and ports_limited:
        why = f"Landlock ABI {abi} cannot filter TCP ports (ABI 4, Linux 6.7, can): every port is open"
        if "landlock" in spec.require:
            run.unavailable("landlock", why)
        run.reasons["landlock_net"] = why
    try:
        result = landlock.restrict(
            binding,
            read_paths=spec.read_paths,
            write_paths=spec.write_paths,
            connect_ports=spec.net_connect_ports,
            bind_ports=spec.net_bind_ports,
            allow_network=spec.allow_network,
        )
    except OSError as exc:
        run.unavailable("landlock", str(exc))
        return
    run.report.update(
        landlock=result.abi,
        landlock_skipped=list(result.skipped),
        landlock_net=result.net_filtered,
        landlock_scoped=result.scoped,
    )


def _install_seccomp(run: _Run, binding: Any) -> None:
    """Step (7).

    Raises:
        OSError: The filter was refused.
    """
    unknown = seccomp.install_filter(binding, allow_network=run.spec.allow_network, allow_spawn=run.spec.allow_spawn)
    run.report.update(seccomp=True, seccomp_unknown=list(unknown))
