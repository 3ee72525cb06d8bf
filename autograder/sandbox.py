"""The sandbox: one worker process (worker.py) per submission, isolated from the grader.

On Linux as root (the grading machine), a sandbox is started with
``unshare --fork --pid --mount-proc --net --mount --ipc --uts --kill-child`` running a small
bootstrap (``autograder/bootstrap.py``, stdlib only) that, inside the new mount namespace:

- makes ``/`` rprivate, joins the sandbox's cgroups (memory, pids, cpuacct) when writable;
- covers every top-level directory except the system ones (``/usr``, ``/etc``, ``/lib``...)
  with an empty tmpfs: the repo (``solutions/``, ``exercises/``, gradebook, ``.git``), the
  output and submission folders, ``/tmp``, ``/root``, ``/home`` disappear;
- binds back read-only only the Python installation (venv and base prefix), the offline
  data files the assignment declares, plus ``autograder/`` (what students import, no secrets) at
  ``/tmp/lib/autograder``; the worker's cwd is a fresh tmpfs ``/tmp/work``;
- drops to an unprivileged uid from a pool (one per concurrent sandbox, so RLIMIT_NPROC is
  per sandbox), sets PR_SET_NO_NEW_PRIVS and rlimits (AS, CPU, FSIZE, NPROC, NOFILE, CORE),
  redirects fds 1/2 to files in its tmpfs and execs the worker.

The worker is pid 1 of its PID namespace: when it exits or is killed, every process the
student started dies with it (``setsid`` double forks included). The network namespace has
only a down loopback. Grader and worker talk over a dedicated pipe pair (protocol.py).
Without root, where unprivileged user namespaces work, the same happens inside
``unshare --user --map-root-user`` (grader's uid mapped to 0): the same namespaces, mounts
and rlimits; instead of the uid switch the worker enters a nested user namespace with no
capabilities (``bootstrap.drop_to_userns``), so it cannot unmount what hides the course
folder; no cgroups. Everything but ``/tmp/work`` is read-only in the sandbox either way.
Without either (or without ``unshare``), :func:`isolation_available` returns None,
:func:`why_no_isolation` says why in one line, and the engine refuses to grade unless told
``insecure=True`` (a plain subprocess with rlimits). Cgroups: v1 controllers, or a pure v2
hierarchy (:func:`cgroup_v2_usable`).
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import sys
import threading
import time
from pathlib import Path

from . import protocol as P
from .limits import DEFAULT_LIMITS

_LOG = logging.getLogger("autograder.sandbox")
_LOG.addHandler(logging.NullHandler())     # silent unless the program configures logging

PKG_DIR = Path(__file__).resolve().parent
REPO = PKG_DIR.parent


def _within(path: str, folder: str) -> bool:
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder + "/") or folder == "/"


def course_checkout() -> str | None:
    """The course repository the grader runs from (hidden in every sandbox: solutions/,
    exercises/, .git...), or None when ``autograder`` is an installed package (a student's
    ``pip install``: its parent is a ``site-packages`` of the Python installation, which the
    sandbox must see, not hide)."""
    import site
    import sysconfig

    repo = str(REPO)
    prefixes = {sys.prefix, sys.base_prefix, *sysconfig.get_paths().values()}
    try:
        prefixes.update(site.getsitepackages())
    except AttributeError:
        pass
    if any(p and _within(repo, os.path.realpath(p)) for p in prefixes):
        return None
    return repo
SYSTEM_DIRS = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "sys", "dev"}
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpuacct")
MAX_ANSWER_BYTES = 256 << 20   # the most array data one answer from the sandbox may carry
# New PID (with its own /proc), network, mount, IPC (SysV shared memory, semaphores, message
# queues, POSIX mqueues) and UTS namespaces; the sandbox dies with the unshare process.
UNSHARE_FLAGS = ("--fork", "--pid", "--mount-proc", "--net", "--mount", "--ipc", "--uts", "--kill-child")


# The sandbox's first program (stdlib only, run with ``python -I -S``): mounts, uid, rlimits,
# then exec of the worker. The interpreter reads it before the mounts hide the repository.
BOOTSTRAP = PKG_DIR / "bootstrap.py"


# Data files a sandbox may read are those its assignment declares in grading.toml
# ([sandbox] data = ["mnist_small.npz"]); nothing else of the data cache is visible. Full
# MNIST is never among them: its test labels are what the grader scores predictions against.


def sandbox_data_dir(data: str, names=()) -> str | None:
    """A folder beside the data cache holding only the files ``names`` (hard links).

    It is bind-mounted read-only at the data cache's path inside the sandbox. Returns None
    when nothing is to be shared (none declared, no cache, or the folder cannot be written).
    The folder is built whole under a private name, then renamed into place, so a sandbox
    never sees a half-built one, even while other graders (other processes) build it too;
    a stale one (files rebuilt, stray entries) is swapped for a fresh one.
    """
    import hashlib

    src = os.path.realpath(data)
    files = sorted({f for f in names if f and "/" not in f and not f.startswith(".")
                    and os.path.isfile(os.path.join(src, f))})
    if not files:
        return None
    dst = os.path.join(src, "sandbox-" + hashlib.sha256("\n".join(files).encode()).hexdigest()[:12])
    if _holds_exactly(dst, src, files):
        return dst
    stage = os.path.join(src, f".{os.path.basename(dst)}.{os.getpid()}.{threading.get_ident()}")
    try:
        shutil.rmtree(stage, ignore_errors=True)
        os.makedirs(stage, mode=0o755)
        for name in files:
            target = os.path.join(stage, name)
            try:
                os.link(os.path.join(src, name), target)
            except OSError:
                shutil.copyfile(os.path.join(src, name), target)
            os.chmod(target, 0o644)
        os.chmod(stage, 0o755)
        try:
            os.rename(stage, dst)            # atomic; refused when another grader made it first
        except OSError:
            if not _holds_exactly(dst, src, files):
                old = stage + ".old"
                os.rename(dst, old)
                os.rename(stage, dst)
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        return dst if _holds_exactly(dst, src, files) else None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return dst


def _holds_exactly(folder: str, src: str, files: list) -> bool:
    """Does ``folder`` hold exactly ``files``, each the same file as in ``src``?"""
    try:
        return (sorted(os.listdir(folder)) == files
                and all(os.path.samefile(os.path.join(folder, f), os.path.join(src, f)) for f in files))
    except OSError:
        return False


class SandboxError(Exception):
    """The sandbox could not be started."""


class SandboxFault(Exception):
    """The sandbox stopped answering: ``kind`` is 'timeout', 'memory' or 'crash'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


# ----------------------------------------------------------------------------- templates

# Set CNN_COURSE_TEMPLATE=0 to start every sandbox afresh (the benchmark compares both).
USE_TEMPLATES = os.environ.get("CNN_COURSE_TEMPLATE", "1") != "0"
TEMPLATE_START_S = 300.0     # importing TensorFlow on a loaded machine can take a minute
TEMPLATE_FORK_S = 30.0


class TemplateError(Exception):
    """The template cannot fork this sandbox; the sandbox is started afresh instead.
    ``suspect``: the template whose fork failed to start, to retire if a fresh start works."""

    def __init__(self, message: str, suspect: "Template | None" = None):
        super().__init__(message)
        self.suspect = suspect


class _Forked:
    """What :class:`Sandbox` uses of ``subprocess.Popen``, for a sandbox forked from a
    :class:`Template`: the keeper process's pid and pidfd, and the pipe on which the keeper
    writes the worker's wait status when it ends (nothing written: the keeper was killed)."""

    def __init__(self, pid: int, pidfd: int, status_fd: int):
        self.pid = pid
        self.pidfd = pidfd
        self.status_fd = status_fd
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self.status_fd >= 0:
            r, _, _ = select.select([self.status_fd], [], [], 0)
            if r:
                self._read_status()
        return self.returncode

    def _read_status(self) -> None:
        data = b""
        try:
            data = os.read(self.status_fd, 4)
        except OSError:
            pass
        if len(data) == 4:
            self.returncode = os.waitstatus_to_exitcode(struct.unpack("=i", data)[0])
        else:
            self.returncode = -signal.SIGKILL

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self.status_fd >= 0:
            r, _, _ = select.select([self.status_fd], [], [], timeout)
            if not r:
                raise subprocess.TimeoutExpired("sandbox", timeout)
            self._read_status()
        return self.returncode if self.returncode is not None else -signal.SIGKILL

    def kill(self) -> None:
        if self.pidfd >= 0:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        for fd in (self.pidfd, self.status_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pidfd = self.status_fd = -1


class Template:
    """A template process (zygote.py) that forks the sandboxes of one assignment.

    Started with ``unshare --mount`` running bootstrap.py in ``"mode": "template"``: it has
    the sandbox's view of the machine and the assignment's ``[sandbox] preload`` modules
    imported. Shared by the grading threads of this process (one fork at a time). Retired
    (never used again; sandboxes then start afresh) when it fails to start, is not
    single-threaded after its imports, or fails to fork.
    """

    def __init__(self, view: dict, preload: list[str]):
        self.lock = threading.Lock()
        self.retired = ""
        self.died = False            # retired because the process died: a new one may replace it
        self.hello: dict = {}
        self.proc = None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.log = tempfile.TemporaryFile()
        cfg = {"mode": "template", "binds": view["binds"], "hide": view["hide"], "python": view["python"],
               "env": view["env"], "ctrl_fd": theirs.fileno(), "preload": list(preload)}
        try:
            self.proc = subprocess.Popen(
                [*probe()["prefix"], "--mount", sys.executable, "-I", "-S", str(BOOTSTRAP), json.dumps(cfg)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self.log, close_fds=True, start_new_session=True)
        except OSError as exc:
            self.retire(f"it could not be started ({exc})")
            return
        finally:
            theirs.close()
        msg = self._receive(TEMPLATE_START_S)[0]
        if msg is None:
            return
        try:
            hello = json.loads(msg)
        except ValueError:
            return self.retire("its hello was not JSON")
        self.hello = hello if isinstance(hello, dict) else {}
        if self.hello.get("threads") != 1:
            self.retire(f"it runs {self.hello.get('threads')} threads after its imports; forking it is unsafe")
        elif self.hello.get("failed"):
            self.retire(f"preloading failed: {self.hello['failed']}")   # or pidfd_open is missing

    def _receive(self, timeout: float):
        """One message (and descriptors) from the template; None (and retired) on failure."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            self.retire(f"it did not answer within {timeout:g} s")
            return None, []
        try:
            msg, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 1)
        except OSError as exc:
            self.died = bool(self.hello)
            self.retire(f"its socket failed ({exc})")
            return None, []
        if not msg:
            self.log.seek(0)
            why = self.log.read(2000).decode(errors="replace").strip()
            self.died = bool(self.hello)      # it had worked: killed, not misconfigured
            self.retire("it exited" + (f": {why}" if why else ""))
            for fd in fds:
                os.close(fd)
            return None, []
        return msg, fds

    def fork(self, fork_cfg: dict, fds: list[int]) -> tuple[int, int]:
        """A new sandbox: ``(keeper pid, keeper pidfd)``; raises :class:`TemplateError`."""
        with self.lock:
            if self.retired:
                raise TemplateError(self.retired)
            try:
                socket.send_fds(self.sock, [json.dumps(fork_cfg).encode()], fds)
            except OSError as exc:
                self.died = True
                self.retire(f"its socket failed ({exc})")
                raise TemplateError(self.retired) from None
            msg, rfds = self._receive(TEMPLATE_FORK_S)
            if msg is None:
                raise TemplateError(self.retired)
            bad_request = False
            try:
                ans = json.loads(msg)
                if len(rfds) == 1 and isinstance(ans.get("pid"), int):
                    return ans["pid"], rfds[0]
                why = str(ans.get("error", "an invalid answer"))[:500]
                bad_request = ans.get("bad_request") is True
            except (ValueError, AttributeError):
                why = "an answer that is not JSON"
            for fd in rfds:
                os.close(fd)
            if bad_request:           # this sandbox's configuration: a fresh start will say what is wrong
                raise TemplateError(f"the template refused the request: {why}")
            self.retire(f"it could not fork: {why}")
            raise TemplateError(self.retired)

    def retire(self, why: str) -> None:
        if not self.retired:
            self.retired = f"the sandbox template was retired: {why}"
            # Not a Python warning: a student's `cnn-course check` must not print internals.
            # Instructors' tools read template_notices() (or configure logging).
            note = f"{self.retired}; sandboxes start afresh (slower, same results)"
            _NOTICES.append(note)
            _LOG.warning("%s", note)
        self.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _kill_and_wait(self.proc, group=True)    # its own session: the template only
        try:
            self.sock.close()
        except OSError:
            pass
        self.log.close()


_TEMPLATES: dict[str, Template] = {}
_NOTICES: list[str] = []


def template_notices() -> list[str]:
    """Why templates were retired in this process (one line each, oldest first)."""
    return list(_NOTICES)


_TEMPLATE_STARTS: dict[str, int] = {}
_TEMPLATES_LOCK = threading.Lock()
TEMPLATE_MAX_STARTS = 3      # a template that keeps dying is not started again


def template_for(view: dict, preload: list[str]) -> Template | None:
    """This process's template for sandboxes with this view and preload list (started on
    first use, started again if it died); None when it was retired for good."""
    key = json.dumps([view, sorted(preload)], sort_keys=True)
    with _TEMPLATES_LOCK:
        tpl = _TEMPLATES.get(key)
        if tpl is None or tpl.retired and tpl.died and _TEMPLATE_STARTS.get(key, 0) < TEMPLATE_MAX_STARTS:
            _TEMPLATE_STARTS[key] = _TEMPLATE_STARTS.get(key, 0) + 1
            tpl = _TEMPLATES[key] = Template(view, list(preload))
    return None if tpl.retired else tpl


def templates_available() -> str:
    """Why sandboxes cannot be forked from a template here ("" when they can): starts (and
    keeps) the template of a sandbox with no preload."""
    if not probe()["namespaces"]:
        return "no namespaces: " + probe()["why"]
    tpl = template_for(Sandbox({})._view(), [])
    if tpl is None:
        key = json.dumps([Sandbox({})._view(), []], sort_keys=True)
        return _TEMPLATES[key].retired
    return ""


def close_templates() -> None:
    """Stop this process's templates (they also stop by themselves when it exits)."""
    with _TEMPLATES_LOCK:
        for tpl in _TEMPLATES.values():
            tpl.close()
        _TEMPLATES.clear()


# ----------------------------------------------------------------------------- uid pool

class UidPool:
    """Distinct unprivileged uids for concurrent sandboxes of this process."""

    def __init__(self, base: int, size: int = 256):
        self.base = base
        self.free = list(range(size))
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)

    def acquire(self) -> int:
        with self.cond:
            while not self.free:
                self.cond.wait()
            return self.base + self.free.pop(0)

    def release(self, uid: int) -> None:
        with self.cond:
            self.free.append(uid - self.base)
            self.cond.notify()


UIDS = UidPool(base=200_000 + (os.getpid() % 8000) * 256)
_COUNTER = itertools.count(1)


# ----------------------------------------------------------------------------- capability probing

_PROBE_LOCK = threading.Lock()
_PROBE: dict = {}


def cgroup_v2_usable(root: Path | None = None) -> bool:
    """A pure cgroup v2 hierarchy (``cgroup.controllers`` at its root) where this process can
    make ``cnn-course/<sandbox>`` groups with the memory and pids controllers: enables them
    in the root's and ``cnn-course``'s ``cgroup.subtree_control`` when missing. CPU time is
    ``cpu.stat`` (always there in v2). Inside a container whose cgroup root holds processes
    the kernel refuses to delegate controllers (no internal processes): False, rlimits only."""
    root = CGROUP_ROOT if root is None else root
    try:
        if not {"memory", "pids"} <= set((root / "cgroup.controllers").read_text().split()):
            return False
        for d in (root, root / "cnn-course"):
            d.mkdir(exist_ok=True)
            enabled = set((d / "cgroup.subtree_control").read_text().split()) \
                if (d / "cgroup.subtree_control").exists() else set()
            missing = {"memory", "pids"} - enabled
            if missing:
                (d / "cgroup.subtree_control").write_text(" ".join("+" + c for c in sorted(missing)))
        probe = root / "cnn-course" / f"probe-{os.getpid()}-{threading.get_ident()}"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
        return True
    except OSError:
        return False


def _cgroups_writable() -> list[str]:
    if (CGROUP_ROOT / "cgroup.controllers").exists():     # cgroup v2: one group per sandbox
        return ["v2"] if cgroup_v2_usable() else []
    out = []
    for ctrl in CGROUP_CONTROLLERS:
        base = CGROUP_ROOT / ctrl
        if not (base / "cgroup.procs").exists():
            continue
        try:
            (base / "cnn-course").mkdir(exist_ok=True)
            probe = base / "cnn-course" / f"probe-{os.getpid()}-{threading.get_ident()}"
            probe.mkdir(exist_ok=True)
            probe.rmdir()
            out.append(ctrl)
        except OSError:
            pass
    return out


USERNS_PREFIX = ("--user", "--map-root-user")
USERNS_HELP = ("enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on "
               "Debian/Ubuntu kernels, user.max_user_namespaces > 0, and on Ubuntu 24.04+ "
               "kernel.apparmor_restrict_unprivileged_userns=0), or grade as root")


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
      as a uid of its own (:data:`UIDS`), in cgroups where they are writable;
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
                      cgroups=_cgroups_writable() if backend == "root" else [])
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


# ----------------------------------------------------------------------------- sandbox

class Sandbox:
    """One worker process and its limits. Not thread-safe: one per grading thread."""

    def __init__(self, limits: dict, forbidden: dict | None = None, *, insecure: bool = False,
                 seed: int = 0, hide: list[str] | tuple = (), data_files=(), preload=(),
                 template: bool | None = None):
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.data_files = list(data_files)
        self.preload = [str(m) for m in preload]
        self.template = USE_TEMPLATES if template is None else bool(template)
        self.forked = False          # whether the running sandbox was forked from a template
        self.forbidden = forbidden or {}
        self.insecure = insecure
        self.seed = seed
        self.extra_hide = [str(Path(h).resolve()) for h in hide]
        self.proc: subprocess.Popen | None = None
        self.uid: int | None = None
        self.cgroups: dict[str, Path] = {}   # role (memory, pids, cpuacct) -> its group (v2: one for all)
        self.cg_v2 = False
        self._cpu_off = 0.0          # cgroup v2: cpu.stat cannot be reset; its value at the last kill
        self.mechanisms = ""
        self.reader: P.Reader | None = None
        self.to_fd = self.from_fd = -1
        self.cpu_base = 0.0          # CPU of earlier (killed) incarnations
        self.start_s = 0.0
        self.starts = 0
        self.oom_base = 0
        self._cpu_fd = -1

    # -- lifecycle
    def start(self) -> None:
        """Start the worker: forked from the assignment's template when one serves (zygote.py),
        else a fresh process; either way in new namespaces, as an unprivileged uid, limited."""
        t0 = time.monotonic()
        lim = self.limits
        out_bytes = int(lim["output_kb"] * 1024)
        worker_cfg = json.dumps({
            "seed": self.seed,
            "output_bytes": out_bytes,
            "forbidden": {"modules": list(self.forbidden.get("modules", [])),
                          "names": list(self.forbidden.get("names", []))},
            "preload": self.preload,
        })
        mem = int(lim["memory_mb"]) * 1024 * 1024
        cpu_backstop = int(lim["cpu_per_submission"] + lim["startup_cpu"] + 5)
        rlimits = {
            "RLIMIT_AS": mem,
            "RLIMIT_CPU": cpu_backstop,
            "RLIMIT_FSIZE": out_bytes + (1 << 20),
            "RLIMIT_NPROC": int(lim["processes"]),
            "RLIMIT_NOFILE": 256,
            "RLIMIT_CORE": 0,
        }
        p = probe()
        isolated = p["namespaces"] and not self.insecure
        try:
            if isolated:
                if self.uid is None:
                    self.uid = UIDS.acquire()
                cg_procs = self._make_cgroups(mem, int(lim["processes"]), p["cgroups"])
                view = self._view()
                fork_cfg = {"cgroups": cg_procs, "hide": sorted(self.extra_hide), "uid": self.uid,
                            "rlimits": rlimits, "worker_cfg": worker_cfg,
                            "tmp_mb": max(16, min(256, int(lim["memory_mb"]) // 4)),
                            "userns": p["backend"] == "userns"}
                mech = isolation_available() or ""
                if cg_procs and self.cg_v2:
                    mech = mech.split("+cgroup")[0] + "+cgroup_v2(memory,pids,cpu)"
                elif cg_procs:
                    mech = mech.split("+cgroup")[0] + "+cgroup_v1(" + ",".join(self.cgroups) + ")"
                self.mechanisms = mech
                tpl = template_for(view, self.preload) if self.template else None
                suspect = None
                if tpl is not None:
                    try:
                        self._start_forked(tpl, fork_cfg, t0)
                        return
                    except TemplateError as exc:
                        suspect = exc.suspect     # this start goes the long way
                self._start_fresh_isolated(p, view, fork_cfg, t0)
                if suspect is not None:       # a fresh sandbox starts where its fork could not
                    suspect.retire("a sandbox it forked could not start where a fresh one could")
            else:
                self._start_insecure(worker_cfg, rlimits, t0)
        finally:
            self.start_s += time.monotonic() - t0

    def _view(self) -> dict:
        """What every sandbox of this assignment sees: the folders hidden, those bound back
        read-only (Python, ``autograder/``, the declared data files), the interpreter, the
        environment. A template is keyed by it (with its preload list)."""
        env = self._env()
        binds = {sys.prefix: None, sys.base_prefix: None, str(PKG_DIR): "/tmp/lib/autograder"}
        shared = sandbox_data_dir(env["CNN_COURSE_DATA"], self.data_files)
        if shared:
            binds[shared] = env["CNN_COURSE_DATA"]
        hide = {"/" + d for d in os.listdir("/") if d not in SYSTEM_DIRS and os.path.isdir("/" + d)
                and not os.path.islink("/" + d)}
        hide |= {"/var/tmp", "/dev/shm"}
        repo = course_checkout()
        if repo is not None:
            hide.add(repo)
        hide -= {"/tmp"}
        return {"binds": binds, "hide": sorted(hide), "python": os.path.join(sys.prefix, "bin", "python"),
                "env": env}

    def _pipes(self):
        req_r, req_w = os.pipe()    # grader -> worker
        resp_r, resp_w = os.pipe()  # worker -> grader
        return req_r, req_w, resp_r, resp_w

    def _connect(self, req_w: int, resp_r: int, t0: float) -> None:
        """Take the grader's ends of the pipes and wait for the worker's hello."""
        self.to_fd, self.from_fd = req_w, resp_r
        os.set_blocking(self.to_fd, False)
        os.set_blocking(self.from_fd, False)
        self.reader = P.Reader(self.from_fd, max_bytes=min(int(self.limits["memory_mb"]) << 20, MAX_ANSWER_BYTES))
        self.starts += 1
        self._await_ready(t0 + 30 + 3 * float(self.limits["startup_cpu"]))

    def _start_forked(self, tpl: "Template", fork_cfg: dict, t0: float) -> None:
        req_r, req_w, resp_r, resp_w = self._pipes()
        status_r, status_w = os.pipe()
        try:
            pid, pidfd = tpl.fork(fork_cfg, [req_r, resp_w, status_w])
        except TemplateError:
            for fd in (req_r, req_w, resp_r, resp_w, status_r):
                os.close(fd)
            raise
        finally:
            os.close(status_w)
        os.close(req_r)
        os.close(resp_w)
        self.proc = _Forked(pid, pidfd, status_r)
        self.forked = True
        try:
            self._connect(req_w, resp_r, t0)
        except SandboxError as exc:
            self.kill()
            self.starts -= 1                  # the fresh start that follows is the one counted
            raise TemplateError(str(exc), suspect=tpl) from None

    def _start_fresh_isolated(self, p: dict, view: dict, fork_cfg: dict, t0: float) -> None:
        req_r, req_w, resp_r, resp_w = self._pipes()
        try:
            cfg = {
                "cgroups": fork_cfg["cgroups"], "binds": view["binds"],
                "hide": sorted({*view["hide"], *self.extra_hide}), "uid": fork_cfg["uid"],
                "rlimits": fork_cfg["rlimits"], "python": view["python"],
                "in_fd": req_r, "out_fd": resp_w, "worker_cfg": fork_cfg["worker_cfg"], "env": view["env"],
                "tmp_mb": fork_cfg["tmp_mb"], "userns": fork_cfg["userns"],
            }
            cmd = [*p["prefix"], *UNSHARE_FLAGS, sys.executable, "-I", "-S", str(BOOTSTRAP), json.dumps(cfg)]
            self.proc = subprocess.Popen(cmd, pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         close_fds=True, start_new_session=True)
            self.forked = False
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._connect(req_w, resp_r, t0)

    def _start_insecure(self, worker_cfg: str, rlimits: dict, t0: float) -> None:
        req_r, req_w, resp_r, resp_w = self._pipes()
        env = self._env()
        env["PYTHONPATH"] = str(REPO)

        def limit():
            import resource
            for name, val in rlimits.items():
                if name == "RLIMIT_NPROC":
                    continue  # would count the grader's own uid
                try:
                    resource.setrlimit(getattr(resource, name), (val, val))
                except (ValueError, OSError):
                    pass
        try:
            cmd = [os.path.join(sys.prefix, "bin", "python"), "-m", "autograder.worker",
                   str(req_r), str(resp_w), worker_cfg]
            self.proc = subprocess.Popen(cmd, pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         env=env, preexec_fn=limit, start_new_session=True)
            self.forked = False
            self.mechanisms = "none (insecure: plain subprocess with rlimits(as,cpu,fsize,nofile,core))"
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._connect(req_w, resp_r, t0)

    def _await_ready(self, deadline: float) -> None:
        """Wait for the worker's hello; raise SandboxError with the bootstrap's reason on failure."""
        reader = self.reader

        def wait():
            # Read here rather than in the Reader, so that a bootstrap failure ("BOOTFAIL
            # reason", plain text) is recognised before its bytes are parsed as a header.
            while True:
                if reader.buf.startswith(b"BOOTFAIL"):
                    raise P.PeerGone()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise P.Timeout("the sandbox did not start in time")
                r, _, _ = select.select([self.from_fd], [], [], min(left, 0.5))
                if r:
                    try:
                        chunk = os.read(self.from_fd, 65536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        raise P.PeerGone()
                    reader.buf += chunk
                    if reader.buf.startswith(b"BOOTFAIL") or len(reader.buf) < 8 and b"BOOTFAIL".startswith(reader.buf):
                        continue      # a failure report: read it whole (or up to the exit)
                    return
        try:
            head, _ = reader.read(wait)
            if head.get("ev") != "ready":
                raise P.ProtocolError("no hello")
        except (P.PeerGone, P.Timeout, P.ProtocolError) as exc:
            text = bytes(reader.buf)
            try:
                while True:
                    chunk = os.read(self.from_fd, 65536)
                    if not chunk:
                        break
                    text += chunk
            except OSError:
                pass
            self.kill()
            why = text.decode(errors="replace")[9:] if text.startswith(b"BOOTFAIL") else str(exc)
            raise SandboxError(f"the sandbox could not be started: {why or 'the worker exited'}") from None

    def _env(self) -> dict:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp/work",
            "TMPDIR": "/tmp/work",
            "PYTHONPATH": "/tmp/lib",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "TF_NUM_INTRAOP_THREADS": "1",
            "TF_NUM_INTEROP_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": "/tmp/work/.config/matplotlib",
            "XDG_CACHE_HOME": "/tmp/work/.cache",
            "TORCH_HOME": "/tmp/work/.cache/torch",
            "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
            "CNN_COURSE_FAST": "1",
            "CNN_COURSE_SANDBOX": "1",
            "LANG": "C.UTF-8",
        }
        from autograder.tools.data import data_dir   # the one definition, shared with the student's tools

        env["CNN_COURSE_DATA"] = os.path.realpath(data_dir())
        env["KERAS_HOME"] = "/tmp/work/.keras"   # the grader's Keras cache (datasets!) is never shared
        return env

    def _make_cgroups(self, mem: int, pids: int, ctrls: list[str]) -> list[str]:
        if self.cgroups:  # a restart: reuse this sandbox's cgroups (emptied and reset by kill())
            self.oom_base = self._oom_count()
            return sorted({str(d / "cgroup.procs") for d in self.cgroups.values()})
        sid = f"{os.getpid()}-{next(_COUNTER)}"
        if ctrls == ["v2"]:
            return self._make_cgroup_v2(mem, pids, sid)
        procs = []
        for ctrl in ctrls:
            d = CGROUP_ROOT / ctrl / "cnn-course" / sid
            try:
                d.mkdir(parents=True, exist_ok=True)
                if ctrl == "memory":
                    (d / "memory.limit_in_bytes").write_text(str(mem))
                    sw = d / "memory.memsw.limit_in_bytes"
                    if sw.exists():
                        try:
                            sw.write_text(str(mem))
                        except OSError:
                            pass
                elif ctrl == "pids":
                    (d / "pids.max").write_text(str(pids))
                self.cgroups[ctrl] = d
                procs.append(str(d / "cgroup.procs"))
                if ctrl == "memory":
                    self.oom_base = self._oom_count()
            except OSError:
                try:
                    d.rmdir()
                except OSError:
                    pass
        return procs

    def _make_cgroup_v2(self, mem: int, pids: int, sid: str) -> list[str]:
        d = CGROUP_ROOT / "cnn-course" / sid
        try:
            d.mkdir(exist_ok=True)
            (d / "memory.max").write_text(str(mem))
            if (d / "memory.swap.max").exists():
                try:
                    (d / "memory.swap.max").write_text("0")
                except OSError:
                    pass
            (d / "pids.max").write_text(str(pids))
        except OSError:
            try:
                d.rmdir()
            except OSError:
                pass
            return []
        self.cg_v2 = True
        self.cgroups = {"memory": d, "pids": d, "cpuacct": d}
        self._cpu_off = 0.0
        self.oom_base = self._oom_count()
        return [str(d / "cgroup.procs")]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU used by every process of this sandbox (all incarnations), in seconds."""
        return self.cpu_base + self._cpu_now()

    def _cpu_now(self) -> float:
        cg = self.cgroups.get("cpuacct")
        if cg is not None and self.cg_v2:
            try:
                for line in (cg / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6 - self._cpu_off
            except (OSError, ValueError):
                pass
        elif cg is not None:
            try:
                if self._cpu_fd < 0:       # read a thousand times per submission: keep it open
                    self._cpu_fd = os.open(cg / "cpuacct.usage", os.O_RDONLY)
                return int(os.pread(self._cpu_fd, 64, 0)) / 1e9
            except (OSError, ValueError):
                pass
        if self.proc is None:
            return 0.0
        return _tree_cpu(self.proc.pid)

    def _oom_count(self) -> int:
        cg = self.cgroups.get("memory")
        if cg is None:
            return 0
        try:
            for line in (cg / ("memory.events" if self.cg_v2 else "memory.oom_control")).read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def oom_killed(self) -> bool:
        """Did the kernel kill a process of this sandbox for exceeding the memory cgroup limit?"""
        return self._oom_count() > self.oom_base

    def stray_processes(self) -> bool:
        """Does the sandbox run processes besides the worker (left behind by the student's code)?"""
        cg = self.cgroups.get("pids")
        if cg is None:
            return False
        try:
            return len((cg / "cgroup.procs").read_text().split()) > 1
        except OSError:
            return False

    def pids_count(self) -> int | None:
        cg = self.cgroups.get("pids")
        if cg is None:
            return None
        try:
            return int((cg / "pids.current").read_text())
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """Kill the worker and everything it started; keep the cgroups for accounting."""
        if self.proc is None:
            return
        self.cpu_base += self._cpu_now()
        for ctrl in ("pids", "memory", "cpuacct"):
            cg = self.cgroups.get(ctrl)
            if cg is None:
                continue
            try:
                for pid in (cg / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            except OSError:
                pass
            break
        # a forked sandbox's keeper is killed through its pidfd, not by (reusable) group id
        _kill_and_wait(self.proc, group=not self.forked)
        if self.forked:
            self.proc.close()
        for fd in (self.to_fd, self.from_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.to_fd = self.from_fd = -1
        self.proc = None
        # wait until the cgroup is empty, so the next incarnation starts clean
        cg = self.cgroups.get("pids")
        if cg is not None:
            for _ in range(200):
                try:
                    if not (cg / "cgroup.procs").read_text().strip():
                        break
                except OSError:
                    break
                time.sleep(0.005)
        self._reset_cgroup_counters()

    def _reset_cgroup_counters(self):
        if self.cg_v2:               # counters cannot be reset in v2: remember where they stand
            self._cpu_off += self._cpu_now()
            return
        cg = self.cgroups.get("cpuacct")
        if cg is not None:
            try:
                (cg / "cpuacct.usage").write_text("0")
            except OSError:
                pass
        mcg = self.cgroups.get("memory")
        if mcg is not None:
            for f in ("memory.failcnt", "memory.max_usage_in_bytes"):
                try:
                    (mcg / f).write_text("0")
                except OSError:
                    pass

    def close(self) -> None:
        self.kill()
        if self._cpu_fd >= 0:
            os.close(self._cpu_fd)
            self._cpu_fd = -1
        for cg in set(self.cgroups.values()):
            for _ in range(100):
                try:
                    cg.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
        self.cgroups = {}
        self.cg_v2 = False
        if self.uid is not None:
            UIDS.release(self.uid)
            self.uid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests
    def request(self, header: dict, bufs=(), *, cpu_limit: float, wall_limit: float, on_event=None):
        """Send a request and wait for the answer within the CPU and wall-clock limits.

        Returns ``(header, bufs)``. Raises :class:`SandboxFault` on timeout, memory
        exhaustion or a crash (the sandbox is killed then; call :meth:`start` again).
        """
        if not self.alive() or self.reader is None:
            raise SandboxFault("crash", "the sandbox is not running")
        cpu0 = self._cpu_now()
        t0 = time.monotonic()
        wall_deadline = t0 + wall_limit

        def check():
            now = time.monotonic()
            if now > wall_deadline:
                raise P.Timeout(f"took longer than {wall_limit:.0f} s of wall-clock time")
            if self._cpu_now() - cpu0 > cpu_limit:
                raise P.Timeout(f"used more than {cpu_limit:g} s of CPU time")

        def wait():
            while True:
                check()
                r, _, _ = select.select([self.from_fd], [], [], 0.05)
                if r:
                    return

        try:
            P.send(self.to_fd, header, bufs, deadline=wall_deadline)
            while True:
                head, rbufs = self.reader.read(wait)
                if "ev" in head:
                    if on_event:
                        on_event(head)
                    continue
                return head, rbufs
        except P.Timeout as exc:
            self.kill()
            raise SandboxFault("timeout", f"stopped: it {exc}") from None
        except (P.PeerGone, P.ProtocolError, OSError) as exc:
            time.sleep(0.01)
            memory = self.oom_killed()
            code = self.proc.poll() if self.proc else None
            if code is None and self.proc is not None:
                try:
                    code = self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    code = None
            self.kill()
            if memory:
                raise SandboxFault("memory", "the code was killed for using more than "
                                   f"{self.limits['memory_mb']:g} MB of memory") from None
            if isinstance(exc, P.ProtocolError):
                raise SandboxFault("crash", f"the sandbox sent an invalid answer ({exc})") from None
            if code is not None and code < 0:
                try:
                    why = signal.Signals(-code).name
                except ValueError:
                    why = f"signal {-code}"
                if -code == signal.SIGXCPU:
                    raise SandboxFault("timeout", "the code used up the submission's CPU time") from None
                raise SandboxFault("crash", f"the Python process running the code died ({why})") from None
            raise SandboxFault("crash", "the Python process running the code exited unexpectedly"
                               + (f" (exit status {code})" if code not in (None, 0) else "")
                               + " (os._exit, sys.exit in a subprocess, or a crash in compiled code)") from None


def _kill_and_wait(proc, *, group: bool) -> None:
    """SIGKILL ``proc`` (a Popen or a _Forked), and its process group when ``group``; wait
    for it up to 10 s."""
    if group:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        proc.kill()
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants (utime+stime incl. waited-for children)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    stack = [pid]
    seen = set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / tick
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            pass
    return total
