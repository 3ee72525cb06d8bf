"""What isolation this machine offers (cached): the sandbox's backend ("root", "userns" or
none) and its cgroups; :func:`why_no_isolation` says in one line what to enable when none."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

from .backends import UNSHARE_FLAGS, USERNS_PREFIX
from .cgroups import writable_controllers

USERNS_HELP = ("enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on "
               "Debian/Ubuntu kernels, user.max_user_namespaces > 0, and on Ubuntu 24.04+ "
               "kernel.apparmor_restrict_unprivileged_userns=0), or grade as root")

_PROBE_LOCK = threading.Lock()
_PROBE: dict = {}


def _try(cmd: list[str]) -> str:
    """"" when ``cmd`` succeeds, else its last line of error output."""
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if r.returncode == 0:
        return ""
    lines = r.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {r.returncode}"


def probe() -> dict:
    """What this machine offers (cached): the sandbox's backend and cgroup controllers.

    - ``backend`` "root": run as root, ``unshare`` makes the namespaces and the worker runs
      as a uid of its own (uids.UIDS), in cgroups where they are writable;
    - ``backend`` "userns": not root, but unprivileged user namespaces work: ``unshare
      --user --map-root-user`` makes the same namespaces (pid, net, mount, ipc, uts) and
      the worker runs in a nested user namespace without capabilities (bootstrap.py,
      ``drop_to_userns``); no cgroups (CPU is measured per process, memory by RLIMIT_AS);
    - ``backend`` "": no sandbox; ``why`` says why in one line, and what to enable.

    ``prefix`` is the ``unshare`` command line before the namespace flags.
    """
    with _PROBE_LOCK:
        if _PROBE:
            return _PROBE
        backend, why, prefix = "", "", []
        unshare = shutil.which("unshare")
        if not sys.platform.startswith("linux"):
            why = f"the sandbox needs Linux namespaces (this is {sys.platform})"
        elif not unshare:
            why = "the unshare command (util-linux) is not installed"
        elif os.geteuid() == 0:
            err = _try([unshare, *UNSHARE_FLAGS, "true"])
            backend, prefix = ("root", [unshare]) if not err else ("", [])
            why = f"unshare as root failed ({err})" if err else ""
        else:
            err = _try([unshare, *USERNS_PREFIX, *UNSHARE_FLAGS, unshare, "--user", "true"])
            if not err:
                backend, prefix = "userns", [unshare, *USERNS_PREFIX]
            else:
                why = (f"unprivileged user namespaces are not available to user {os.geteuid()} "
                       f"(unshare --user: {err}); {USERNS_HELP}")
        _PROBE.update(namespaces=bool(backend), backend=backend, unshare=unshare, prefix=prefix, why=why,
                      cgroups=writable_controllers() if backend == "root" else [])
        return _PROBE


def why_no_isolation() -> str:
    """One line: why no sandbox is available here and what to enable ("" when one is)."""
    return probe()["why"]


def isolation_available() -> str | None:
    """Description of the strongest isolation available here, None if none."""
    p = probe()
    if not p["namespaces"]:
        return None
    limits = "no_new_privs+rlimits(as,cpu,fsize,nproc,nofile,core)"
    if p["backend"] == "userns":
        return (f"user_namespace(unprivileged, uid {os.geteuid()})+namespaces(pid,net,mount,ipc,uts)"
                f"+nested_userns_uid(no capabilities)+{limits}")
    desc = f"namespaces(pid,net,mount,ipc,uts)+uid+{limits}"
    if p["cgroups"] == ["v2"]:
        desc += "+cgroup_v2(memory,pids,cpu)"
    elif p["cgroups"]:
        desc += "+cgroup_v1(" + ",".join(p["cgroups"]) + ")"
    return desc
