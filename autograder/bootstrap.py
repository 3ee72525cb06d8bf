"""The sandbox's first program: sets up the namespaces' view of the machine, then execs the worker.

Run by sandbox.py inside ``unshare`` (new PID, network, mount, IPC and UTS namespaces) as
``python -I -S /path/to/autograder/bootstrap.py CONFIG_JSON``: isolated mode and no
``site``, so this file may import the standard library only (never ``autograder`` nor a
third-party package; the interpreter reads the file at start, before the mounts below hide
the repository). In order it:

1. joins the sandbox's cgroups (writes 0 to each ``cgroup.procs`` listed);
2. makes ``/`` rprivate, so no mount below leaks to the host;
3. opens an ``O_PATH`` handle on each directory to bind back (before hiding them);
4. covers each folder of ``hide`` with an empty 1 MB tmpfs, shortest first (a folder
   under one already covered is gone, so skipped), and ``/tmp`` with a tmpfs of ``tmp_mb`` MB;
5. binds each handle back at its target (the source path when the target is None),
   read-only, nosuid, nodev; mounts the worker's own tmpfs on ``/tmp/work``; makes the
   covers, ``/tmp`` and the system folders (``/usr``, ``/etc``...) read-only;
6. makes ``/tmp/work`` (the worker's cwd) and ``/tmp/work/.output`` (its stdout/stderr)
   owned by ``uid``; sets the rlimits; drops to ``uid``/``gid`` with no supplementary
   groups; PR_SET_NO_NEW_PRIVS; stdin from ``/dev/null``;
7. execs ``python -m autograder.worker IN_FD OUT_FD WORKER_CFG`` with the environment ``env``.

With ``"mode": "template"`` (isolation/templates.py) it stops after step 5, stays root and execs
``python -m autograder.zygote CTRL_FD PRELOAD_JSON`` instead: the template that forks
sandboxes, which then run :func:`enter` (step 6) themselves.

On failure it writes ``BOOTFAIL <reason>`` to ``out_fd`` (the grader's answer pipe, which
sandbox.py reports) and exits with status 70. The pure parts (:func:`validate`,
:func:`mount_plan`, :func:`set_rlimits`) are unit-tested without root in
tests/engine/test_bootstrap.py.
"""
import ctypes
import json
import os
import resource
import signal
import sys

EXIT_BOOTFAIL = 70
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MS_NOEXEC, MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 8, 1024, 2048, 1 << 21
# statvfs f_flag bit -> the mount flag to keep when remounting a bind read-only: in a user
# namespace the flags of a mount inherited from the host are locked and must be kept.
KEPT_FLAGS = ((8, MS_NOEXEC), (1024, MS_NOATIME), (2048, MS_NODIRATIME), (4096, MS_RELATIME))
CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
RLIMITS = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_CORE")
HIDE_OPTIONS = "mode=755,size=1m"
WORKDIR = "/tmp/work"
# Made read-only in every sandbox (bound onto themselves): as root the worker's uid owns
# nothing there anyway; in a user namespace the worker is the grader's own uid, which may own
# files there, so this keeps the rule "nothing is writable but /tmp/work" the same.
SYSTEM_RO = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/etc")

# key -> the type its value must have (bool is refused where an int is expected)
FIELDS = {
    "cgroups": list, "binds": dict, "hide": list, "uid": int, "rlimits": dict, "python": str,
    "in_fd": int, "out_fd": int, "worker_cfg": str, "env": dict, "tmp_mb": int, "userns": bool,
}
# A template (``"mode": "template"``, see zygote.py): the same view of the machine, then
# ``python -m autograder.zygote CTRL_FD PRELOAD_JSON`` instead of a worker; it stays root.
TEMPLATE_FIELDS = {
    "mode": str, "binds": dict, "hide": list, "python": str, "env": dict, "ctrl_fd": int, "preload": list,
}
# One sandbox forked from a template: what differs from one submission to the next.
FORK_FIELDS = {
    "cgroups": list, "hide": list, "uid": int, "rlimits": dict, "worker_cfg": str, "tmp_mb": int,
    "userns": bool,
}


class BootstrapConfigError(ValueError):
    """The configuration the grader passed is not what this program expects."""


def validate(cfg) -> dict:
    """Check the configuration (the JSON object sandbox.py passes); return it unchanged.

    Raises :class:`BootstrapConfigError` naming the first problem: a missing or mistyped key, a
    relative path, uid 0 (the worker must never run as root), an unknown rlimit, a
    negative limit, or a ``/tmp`` size outside 1..4096 MB.
    """
    _check_keys(cfg, FIELDS)
    for key in ("in_fd", "out_fd"):
        if cfg[key] < 3:
            raise BootstrapConfigError(f"{key!r} must be a pipe fd (>= 3), got {cfg[key]}")
    _check_view(cfg)
    _check_sandbox(cfg)
    return cfg


def validate_template(cfg) -> dict:
    """Check a template's configuration (``"mode": "template"``); return it unchanged."""
    _check_keys(cfg, TEMPLATE_FIELDS)
    if cfg["mode"] != "template":
        raise BootstrapConfigError(f"'mode' must be 'template', got {cfg['mode']!r}")
    if cfg["ctrl_fd"] < 3:
        raise BootstrapConfigError(f"'ctrl_fd' must be a socket fd (>= 3), got {cfg['ctrl_fd']}")
    for name in cfg["preload"]:
        if not isinstance(name, str) or not name or not all(part.isidentifier() for part in name.split(".")):
            raise BootstrapConfigError(f"'preload' must list module names, got {name!r}")
    _check_view(cfg)
    return cfg


def validate_fork(cfg) -> dict:
    """Check the per-submission part of a sandbox forked from a template; return it unchanged."""
    _check_keys(cfg, FORK_FIELDS)
    for p in cfg["hide"]:
        if not isinstance(p, str) or not os.path.isabs(p):
            raise BootstrapConfigError(f"paths must be absolute, got {p!r}")
    _check_sandbox(cfg)
    return cfg


def _check_keys(cfg, fields: dict) -> None:
    if not isinstance(cfg, dict):
        raise BootstrapConfigError(f"the configuration must be a JSON object, got {type(cfg).__name__}")
    for key, typ in fields.items():
        if key not in cfg:
            raise BootstrapConfigError(f"the configuration lacks {key!r}")
        value = cfg[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise BootstrapConfigError(f"{key!r} must be a {typ.__name__}, got {type(value).__name__}")
    unknown = sorted(set(cfg) - set(fields))
    if unknown:
        raise BootstrapConfigError(f"unknown configuration keys: {', '.join(unknown)}")


def _check_view(cfg: dict) -> None:
    """The view of the machine: folders to hide and bind back, the interpreter, the environment."""
    paths = [*cfg["hide"], *cfg["binds"], *(t for t in cfg["binds"].values() if t is not None), cfg["python"]]
    for p in paths:
        if not isinstance(p, str) or not os.path.isabs(p):
            raise BootstrapConfigError(f"paths must be absolute, got {p!r}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in cfg["env"].items()):
        raise BootstrapConfigError("'env' must map str to str")


def _check_sandbox(cfg: dict) -> None:
    """What the student's code runs under: cgroups, uid, rlimits, the size of its /tmp."""
    for p in cfg["cgroups"]:
        if not isinstance(p, str) or not os.path.isabs(p):
            raise BootstrapConfigError(f"paths must be absolute, got {p!r}")
    if cfg["uid"] <= 0:
        raise BootstrapConfigError(f"'uid' must be an unprivileged uid (> 0), got {cfg['uid']}")
    if not 1 <= cfg["tmp_mb"] <= 4096:
        raise BootstrapConfigError(f"'tmp_mb' must be 1..4096 MB, got {cfg['tmp_mb']}")
    for name, val in cfg["rlimits"].items():
        if name not in RLIMITS:
            raise BootstrapConfigError(f"unknown rlimit {name!r} (known: {', '.join(RLIMITS)})")
        if not isinstance(val, int) or isinstance(val, bool) or val < 0:
            raise BootstrapConfigError(f"rlimit {name} must be an int >= 0, got {val!r}")


def mount_plan(cfg: dict, isdir=os.path.isdir, islink=os.path.islink) -> list:
    """The mount steps of ``cfg`` in the order they must run, as tuples:

    - ``("private", "/")``: make the tree rprivate;
    - ``("open", path)``: take an O_PATH handle on a directory to bind back later;
    - ``("tmpfs", path, options)``: cover ``path`` with an empty tmpfs;
    - ``("bind", path, target)``: bind the handle of ``path`` at ``target``;
    - ``("readonly", target)``: remount that bind read-only, nosuid, nodev;
    - ``("mkdir", WORKDIR)``, ``("tmpfs", WORKDIR, options)``: the worker's cwd, its only
      writable folder (``tmp_mb`` MB; a template's forks mount their own over it);
    - ``("seal", path)``: remount a tmpfs of the plan (a cover, ``/tmp``) read-only;
    - ``("selfbind", path)``: bind a system folder onto itself (then ``readonly``).

    Handles are opened before anything is hidden (a bind source may lie under a hidden
    folder, the venv under the repository); hidden folders go shortest first (then by
    name); one under a folder already covered is skipped (the tmpfs removed it), and so are
    symlinks and non-directories; ``/tmp`` is covered after them and binds come last, so a
    target under ``/tmp`` (``/tmp/lib/autograder``) lands in the new ``/tmp``.
    ``isdir``/``islink`` are the checks used on the real tree (tests pass fakes).
    """
    plan = [("private", "/")]
    opened = [p for p in cfg["binds"] if isdir(p)]
    plan += [("open", p) for p in opened]
    # /tmp is replaced whole: a folder under it needs no cover of its own (and one would be
    # buried by /tmp's tmpfs before it could be made read-only)
    covers = hide_plan([h for h in cfg["hide"] if not (h + "/").startswith("/tmp/")], isdir, islink)
    plan += covers
    plan.append(("tmpfs", "/tmp", "mode=755,size=%dm" % cfg.get("tmp_mb", 1)))
    for p in opened:
        target = cfg["binds"][p] or p
        plan += [("bind", p, target), ("readonly", target)]
    # a template's imports write there (caches, copied to each fork), its forks mount their own
    plan += [("mkdir", WORKDIR), ("tmpfs", WORKDIR, "mode=700,size=%dm" % cfg.get("tmp_mb", 64))]
    plan += seal_plan(covers) + [("seal", "/tmp")]
    for d in SYSTEM_RO:
        if isdir(d) and not islink(d):
            plan += [("selfbind", d), ("readonly", d)]
    return plan


def seal_plan(covers: list) -> list:
    """``("seal", path)`` for each ``("tmpfs", path, ...)`` step of ``covers`` (from
    :func:`hide_plan`): an empty cover is read-only, so nothing can be written there (in a
    user namespace the worker's uid owns it)."""
    return [("seal", step[1]) for step in covers if step[0] == "tmpfs"]


def hide_plan(hide, isdir=os.path.isdir, islink=os.path.islink) -> list:
    """``("tmpfs", path, options)`` steps covering each folder of ``hide``: shortest first
    (then by name); one under a folder already covered is skipped (the tmpfs removed it), and
    so are symlinks, non-directories and missing paths."""
    plan, hidden = [], []
    for h in sorted({os.path.normpath(h) for h in hide}, key=lambda h: (len(h), h)):
        if any(h == d or h.startswith(d.rstrip("/") + "/") for d in hidden):
            continue                  # under a folder already covered: it no longer exists
        if isdir(h) and not islink(h):
            hidden.append(h)
            plan.append(("tmpfs", h, HIDE_OPTIONS))
    return plan


def set_rlimits(rlimits: dict, setrlimit=resource.setrlimit) -> list:
    """Set each ``RLIMIT_*`` of ``rlimits`` as both soft and hard limit (so the student's
    code cannot raise it again); return the ``(resource number, value)`` pairs set."""
    done = []
    for name, val in rlimits.items():
        number = getattr(resource, name)
        setrlimit(number, (val, val))
        done.append((number, val))
    return done


# ----------------------------------------------------------------------------- privileged part

def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc, src, tgt, fstype, flags, data=None):
    def enc(s):
        return s.encode() if s is not None else None
    if libc.mount(enc(src), enc(tgt), enc(fstype), flags, enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s on %s: %s" % (src, tgt, os.strerror(e)))


def apply_mounts(plan: list, libc) -> None:
    """Run the steps of :func:`mount_plan` (needs CAP_SYS_ADMIN in the mount namespace)."""
    fds = {}
    for step in plan:
        kind = step[0]
        if kind == "private":
            _mount(libc, None, step[1], None, MS_REC | MS_PRIVATE)
        elif kind == "open":
            fds[step[1]] = os.open(step[1], os.O_PATH | os.O_DIRECTORY)
        elif kind == "tmpfs":
            _mount(libc, "tmpfs", step[1], "tmpfs", MS_NOSUID | MS_NODEV, step[2])
        elif kind == "bind":
            os.makedirs(step[2], exist_ok=True)
            _mount(libc, "/proc/self/fd/%d" % fds[step[1]], step[2], None, MS_BIND | MS_REC)
            os.close(fds.pop(step[1]))
        elif kind == "mkdir":
            os.makedirs(step[1], exist_ok=True)
        elif kind == "seal":
            _mount(libc, None, step[1], None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        elif kind == "selfbind":
            _mount(libc, step[1], step[1], None, MS_BIND | MS_REC)
        elif kind == "readonly":
            _mount(libc, None, step[1], None,
                   MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | kept_flags(os.statvfs(step[1]).f_flag))
        else:
            raise ValueError("unknown mount step %r" % (kind,))


def kept_flags(f_flag: int) -> int:
    """The mount flags (noexec, atime) of a mount whose ``statvfs().f_flag`` is ``f_flag``,
    which a read-only remount of a bind of it must repeat (locked in a user namespace)."""
    return sum(ms for st, ms in KEPT_FLAGS if f_flag & st)


def _fail(out_fd, msg: str):
    try:
        os.write(out_fd, b"BOOTFAIL " + msg.encode(errors="replace")[:4000])
    except (OSError, TypeError):
        os.write(2, b"BOOTFAIL " + msg.encode(errors="replace")[:4000] + b"\n")
    os._exit(EXIT_BOOTFAIL)


def enter(uid: int, rlimits: dict, libc, userns: bool = False) -> None:
    """The last steps before the student's code, as root in the sandbox's namespaces with
    ``WORKDIR`` existing: make it and ``WORKDIR/.output`` (the worker's stdout/stderr)
    owned by ``uid``; set the rlimits; drop to ``uid``/``gid`` with no supplementary groups;
    PR_SET_NO_NEW_PRIVS; die with the parent; cwd ``WORKDIR``; stdin from ``/dev/null``.

    ``userns``: "root" here is the grader's own (unprivileged) user, mapped by
    ``unshare --user --map-root-user``; no other uid exists. Then :func:`drop_to_userns`
    replaces the uid switch (a nested user namespace in which the grader's uid is ``uid``,
    with no capabilities), and the rlimits are set after it, so RLIMIT_NPROC counts the
    processes of this sandbox only (the kernel counts them per user namespace)."""
    gid = uid
    if not userns:
        os.chown(WORKDIR, uid, gid)
    out = os.open(WORKDIR + "/.output", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if not userns:
        os.fchown(out, uid, gid)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if userns:
        drop_to_userns(uid, libc)
        set_rlimits(rlimits)
    else:
        set_rlimits(rlimits)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
    os.chdir(WORKDIR)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def drop_to_userns(uid: int, libc) -> None:
    """Leave the capabilities of this user namespace: enter a new one in which this process's
    uid and gid (0 here) are ``uid``, and become ``uid``. The mounts made here (the tmpfs
    covers) are then locked: nothing in the sandbox can unmount them to see what they hide."""
    if libc.unshare(CLONE_NEWUSER) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "unshare(CLONE_NEWUSER) for the worker: %s (is user.max_user_namespaces "
                         "large enough for nested namespaces?)" % os.strerror(e))
    for name, text in (("setgroups", "deny"), ("uid_map", "%d 0 1" % uid), ("gid_map", "%d 0 1" % uid)):
        with open("/proc/self/" + name, "w") as f:
            f.write(text)
    os.setgid(uid)
    os.setuid(uid)          # a non-zero uid: the capabilities of the new namespace are dropped too


def main(argv) -> None:
    out_fd = 2
    try:
        raw = json.loads(argv[1])
        if isinstance(raw, dict) and raw.get("mode") == "template":
            cfg = validate_template(raw)
            apply_mounts(mount_plan(cfg), _libc())
        else:
            if isinstance(raw, dict) and isinstance(raw.get("out_fd"), int):
                out_fd = raw["out_fd"]
            cfg = validate(raw)
            libc = _libc()
            for procs in cfg["cgroups"]:
                with open(procs, "w") as f:
                    f.write("0")
            apply_mounts(mount_plan(cfg), libc)
            enter(cfg["uid"], cfg["rlimits"], libc, userns=cfg["userns"])
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the grader
        _fail(out_fd, "%s: %s" % (type(exc).__name__, exc))
    if cfg.get("mode") == "template":
        os.execve(cfg["python"], [cfg["python"], "-m", "autograder.zygote", str(cfg["ctrl_fd"]),
                                  json.dumps(cfg["preload"])], cfg["env"])
    os.execve(cfg["python"], [cfg["python"], "-m", "autograder.worker", str(cfg["in_fd"]), str(cfg["out_fd"]),
                              cfg["worker_cfg"]], cfg["env"])


if __name__ == "__main__":
    main(sys.argv)
