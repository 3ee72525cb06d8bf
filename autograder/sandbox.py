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
folder; no cgroups (the processes a test leaves running are then found by walking the
worker's descendants in ``/proc``, as the pids cgroup counts them as root). Everything but
``/tmp/work`` is read-only in the sandbox either way.
Without either (or without ``unshare``), ``isolation.probe.isolation_available`` returns
None, ``isolation.probe.why_no_isolation`` says why in one line, and the engine refuses to
grade unless told ``insecure=True`` (a plain subprocess with rlimits). Cgroups: v1
controllers, or a pure v2 hierarchy (``isolation.cgroups``).

This module keeps :class:`Sandbox` (start, limits, kill) and its request loop; the
mechanisms are in ``autograder/isolation/``: probe.py (what this machine offers),
backends.py (command lines, view, environment; the insecure backend), cgroups.py (v1 and v2
behind ``CgroupBackend``), uids.py (the uid pool), data.py (data staging), templates.py
(sandboxes forked from a zygote.py template), processes.py.
"""
from __future__ import annotations

import itertools
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

from . import protocol as P
from .isolation import backends, templates
from .isolation.cgroups import CgroupBackend, new_backend
from .isolation.probe import isolation_available, probe
from .isolation.processes import MAX_WALK, Counts, kill_and_wait, tree_counts, tree_cpu
from .isolation.templates import Forked, Template, TemplateError, template_for
from .isolation.uids import UIDS
from .limits import DEFAULT_LIMITS

MAX_ANSWER_BYTES = 256 << 20   # the most array data one answer from the sandbox may carry
_COUNTER = itertools.count(1)


class SandboxError(Exception):
    """The sandbox could not be started."""


class SandboxFault(Exception):
    """The sandbox stopped answering: ``kind`` is a :class:`protocol.Fault` (a plain string on
    the way to a result; remote.FAULT_OUTCOME makes it a test status)."""

    def __init__(self, kind: P.Fault, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


class AnswerTooLarge(SandboxFault):
    """The answer was larger than the grader reads at once (``Reader.max_bytes``: remote.py caps
    the load answer at ``load_mb``). A crash for the test it stops (the sandbox is killed), told
    apart by its type: remote.Session.start then loads again keeping every value in the sandbox."""

    def __init__(self, message: str):
        super().__init__(P.Fault.CRASH, message)


# Set CNN_COURSE_TEMPLATE=0 to start every sandbox afresh (the benchmark compares both).
USE_TEMPLATES = os.environ.get("CNN_COURSE_TEMPLATE", "1") != "0"


def templates_available() -> str:
    """Why sandboxes cannot be forked from a template here ("" when they can): starts (and
    keeps) the template of a sandbox with no preload."""
    if not probe()["namespaces"]:
        return "no namespaces: " + probe()["why"]
    tpl = template_for(Sandbox({})._view(), [])
    if tpl is None:
        key = json.dumps([Sandbox({})._view(), []], sort_keys=True)
        return templates._TEMPLATES[key].retired
    return ""


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
        self.isolated = False        # whether the running sandbox is in namespaces (not insecure)
        self.seed = seed
        self.extra_hide = [str(Path(h).resolve()) for h in hide]
        self.proc: subprocess.Popen | None = None
        self.uid: int | None = None
        self.cg: CgroupBackend | None = None   # this sandbox's cgroups (isolation/cgroups.py), if any
        self.mechanisms = ""
        self.reader: P.Reader | None = None
        self.to_fd = self.from_fd = -1
        self.cpu_base = 0.0          # CPU of earlier (killed) incarnations
        self.start_s = 0.0
        self.starts = 0
        self.oom_base = 0

    @property
    def cgroups(self) -> dict[str, Path]:
        """Role (memory, pids, cpuacct) -> its group (v2: one for all); {} without cgroups."""
        return self.cg.groups if self.cg is not None else {}

    @property
    def cg_v2(self) -> bool:
        return self.cg is not None and self.cg.v2

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
        self.isolated = bool(isolated)
        try:
            if isolated:
                if self.uid is None:
                    self.uid = UIDS.acquire()
                cg_procs = self._make_cgroups(mem, int(lim["processes"]), p["cgroups"])
                view = self._view()
                fork_hide = sorted(set(self.extra_hide) - set(self._hides_holding_binds(view)))
                fork_cfg = {"cgroups": cg_procs, "hide": fork_hide, "uid": self.uid,
                            "rlimits": rlimits, "worker_cfg": worker_cfg,
                            "tmp_mb": max(16, min(256, int(lim["memory_mb"]) // 4)),
                            "userns": p["backend"] == "userns"}
                mech = isolation_available() or ""
                if cg_procs:
                    mech = mech.split("+cgroup")[0] + self.cg.mechanism()
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
        """What every sandbox of this assignment sees (backends.view), and the folders of
        ``hide`` that hold something bound back (the course's checkout holds the venv): those
        must be covered before the binds are made, so they belong to the template's plan, not
        to a fork's covers (which would bury the interpreter's packages)."""
        view = backends.view(self.data_files)
        deep = self._hides_holding_binds(view)
        return {**view, "hide": sorted({*view["hide"], *deep})} if deep else view

    def _hides_holding_binds(self, view: dict) -> list[str]:
        sources = [os.path.realpath(b) for b in view["binds"]]
        return [h for h in self.extra_hide
                if any(src == h or src.startswith(h.rstrip("/") + "/") for src in sources)]

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

    def _start_forked(self, tpl: Template, fork_cfg: dict, t0: float) -> None:
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
        self.proc = Forked(pid, pidfd, status_r)
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
            self.proc = subprocess.Popen(backends.fresh_command(p["prefix"], cfg), pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         close_fds=True, start_new_session=True)
            self.forked = False
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._connect(req_w, resp_r, t0)

    def _start_insecure(self, worker_cfg: str, rlimits: dict, t0: float) -> None:
        req_r, req_w, resp_r, resp_w = self._pipes()
        try:
            self.proc = backends.start_insecure(req_r, resp_w, worker_cfg, rlimits)
            self.forked = False
            self.mechanisms = backends.INSECURE_MECHANISMS
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

    def _make_cgroups(self, mem: int, pids: int, ctrls: list[str]) -> list[str]:
        if self.cgroups:  # a restart: reuse this sandbox's cgroups (emptied and reset by kill())
            self.oom_base = self._oom_count()
            return self.cg.procs_files()
        cg = new_backend(ctrls)
        procs = cg.make(mem, pids, f"{os.getpid()}-{next(_COUNTER)}")
        if cg.groups:
            self.cg = cg
            self.oom_base = self._oom_count()
        return procs

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU used by every process of this sandbox (all incarnations), in seconds."""
        return self.cpu_base + self._cpu_now()

    def _cpu_now(self) -> float:
        if self.cg is not None:
            cpu = self.cg.cpu_seconds()
            if cpu is not None:
                return cpu
        if self.proc is None:
            return 0.0
        return tree_cpu(self.proc.pid)

    def _oom_count(self) -> int:
        return self.cg.oom_count() if self.cg is not None else 0

    def oom_killed(self) -> bool:
        """Did the kernel kill a process of this sandbox for exceeding the memory cgroup limit?"""
        return self._oom_count() > self.oom_base

    def stray_processes(self) -> bool:
        """Does the sandbox run processes besides the worker (left behind by the student's code)?
        Its pids cgroup says; without one (a normal user's sandbox), the worker's descendants
        in ``/proc`` (:meth:`_tree`): more than the sandbox may have, or processes that came
        and went during the walk, count as stray too."""
        if "pids" in self.cgroups:
            return self.cg.stray_processes()
        tree = self._tree()
        return tree is not None and (tree.processes > 1 or not tree.complete)

    def pids_count(self) -> int | None:
        """The tasks (threads, zombies) of the worker and its descendants: the pids cgroup's
        counter, else counted in ``/proc`` (:meth:`_tree`); None in an insecure sandbox."""
        if "pids" in self.cgroups:
            return self.cg.pids_count()
        tree = self._tree()
        return tree.tasks if tree is not None else None

    def _tree(self) -> Counts | None:
        """The descendants of the sandbox's first process (``unshare``, or a template's keeper):
        the worker (pid 1 of the sandbox's PID namespace, so every orphan the student leaves is
        reparented to it, never lost from its tree) and what it started; None when the sandbox
        is not running or not in namespaces (an insecure worker's orphans leave its tree).
        More than ``processes`` (the sandbox's limit of tasks) are not walked: incomplete."""
        if not self.isolated or self.proc is None or not self.alive():
            return None
        limit = min(MAX_WALK, max(16, int(self.limits["processes"])))
        tree = tree_counts(self.proc.pid, limit)
        # still alive (Popen: not reaped; keeper: its status pipe open): the walk's root was
        # this sandbox's process all along, not a process that reused its pid
        return tree if self.alive() else None

    def kill(self) -> None:
        """Kill the worker and everything it started; keep the cgroups for accounting."""
        if self.proc is None:
            return
        self.cpu_base += self._cpu_now()
        if self.cg is not None:
            self.cg.kill_all()
        # a forked sandbox's keeper is killed through its pidfd, not by (reusable) group id
        kill_and_wait(self.proc, group=not self.forked)
        if self.forked:
            self.proc.close()
        for fd in (self.to_fd, self.from_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.to_fd = self.from_fd = -1
        self.proc = None
        if self.cg is not None:
            self.cg.wait_empty()       # so the next incarnation starts clean
        self._reset_cgroup_counters()

    def _reset_cgroup_counters(self):
        if self.cg is not None:
            self.cg.reset_counters()

    def close(self) -> None:
        self.kill()
        if self.cg is not None:
            self.cg.close()
            self.cg = None
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
            raise SandboxFault(P.Fault.CRASH, "the sandbox is not running")
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
            raise SandboxFault(P.Fault.TIMEOUT, f"stopped: it {exc}") from None
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
                raise SandboxFault(P.Fault.MEMORY, "the code was killed for using more than "
                                                   f"{self.limits['memory_mb']:g} MB of memory") from None
            if isinstance(exc, P.TooLarge):
                raise AnswerTooLarge(f"the sandbox sent an answer larger than the grader reads at once ({exc})") from None
            if isinstance(exc, P.ProtocolError):
                raise SandboxFault(P.Fault.CRASH, f"the sandbox sent an invalid answer ({exc})") from None
            if code is not None and code < 0:
                try:
                    why = signal.Signals(-code).name
                except ValueError:
                    why = f"signal {-code}"
                if -code == signal.SIGXCPU:
                    raise SandboxFault(P.Fault.TIMEOUT, "the code used up the submission's CPU time") from None
                raise SandboxFault(P.Fault.CRASH, f"the Python process running the code died ({why})") from None
            raise SandboxFault(P.Fault.CRASH, "the Python process running the code exited unexpectedly"
                               + (f" (exit status {code})" if code not in (None, 0) else "")
                               + " (os._exit, sys.exit in a subprocess, or a crash in compiled code)") from None
