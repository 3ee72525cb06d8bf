"""Templates (zygote.py) that fork the sandboxes of one assignment, shared by this process's
grading threads: :func:`template_for` starts (or reuses) one, :class:`Forked` is what
:class:`sandbox.Sandbox` holds of a sandbox forked from it. A template that fails is retired
(:func:`template_notices` says why) and sandboxes start afresh."""
from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading

from .backends import template_command
from .probe import probe
from .processes import kill_and_wait

_LOG = logging.getLogger("autograder.sandbox")
_LOG.addHandler(logging.NullHandler())     # silent unless the program configures logging

TEMPLATE_START_S = 300.0     # importing TensorFlow on a loaded machine can take a minute
TEMPLATE_FORK_S = 30.0


class TemplateError(Exception):
    """The template cannot fork this sandbox; the sandbox is started afresh instead.
    ``suspect``: the template whose fork failed to start, to retire if a fresh start works."""

    def __init__(self, message: str, suspect: "Template | None" = None):
        super().__init__(message)
        self.suspect = suspect


class Forked:
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
                template_command(probe()["prefix"], cfg),
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
            kill_and_wait(self.proc, group=True)    # its own session: the template only
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


def close_templates() -> None:
    """Stop this process's templates (they also stop by themselves when it exits)."""
    with _TEMPLATES_LOCK:
        for tpl in _TEMPLATES.values():
            tpl.close()
        _TEMPLATES.clear()
