"""The sandbox template: a process that has imported what an assignment needs, and forks
each submission's sandbox from that state in milliseconds (sandbox.py, ``Template``).

Importing PyTorch or TensorFlow costs 2-8 s of CPU; before the template, every submission's
sandbox paid it again. The template is started once per grading process and assignment by
``bootstrap.py`` in ``"mode": "template"``: it gets the sandbox's view of the machine (its
own mount namespace, every folder hidden except the Python installation, the declared data
files and ``autograder/``), stays root, and runs this module with the assignment's
``[sandbox] preload`` modules, which it imports and never uses: no tensor is created, so
no thread pool exists to be lost in a fork. It refuses to serve (and the grader falls back
to starting each sandbox afresh) if the imports left a second thread running.

For each submission the grader sends, over a ``SOCK_SEQPACKET`` socket, a JSON request (the
sandbox's cgroups, uid, rlimits, worker configuration, ``/tmp/work`` size, extra folders to
hide) with three descriptors: the request pipe's read end, the answer pipe's write end and
a status pipe's write end. The template forks:

* the *keeper* (in the template's namespaces) calls ``setsid``, ``unshare(NEWNS | NEWPID |
  NEWNET | NEWIPC | NEWUTS)`` and forks the worker; it waits for it and writes its wait
  status (4 bytes) to the status pipe, which is how the grader learns how the sandbox ended;
* the *worker*, pid 1 of the new PID namespace: joins the sandbox's cgroups, mounts its own
  ``/proc`` and an empty ``/tmp/work`` tmpfs, covers the extra folders, then does exactly
  what a freshly started sandbox does (``bootstrap.enter``: rlimits, uid, no_new_privs...)
  and runs ``worker.main`` in the same interpreter. Nothing of a previous submission exists
  in it: each sandbox is a fork of the template, which never runs student code.

The template answers ``{"pid": KEEPER}`` with a pidfd of the keeper (so the grader can kill
it without pid reuse races). It exits when the grader's end of the socket closes.
"""
from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import select
import signal
import socket
import struct
import sys

from autograder import bootstrap as B

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = (
    0x00020000, 0x04000000, 0x08000000, 0x20000000, 0x40000000)
MAX_REQUEST = 1 << 16
STATUS = struct.Struct("=i")
HOME_FILES, HOME_BYTES = 200, 8 << 20   # bounds on what the imports left in /tmp/work
HOME: list = []     # (relative path, bytes or None for a folder) the imports wrote in /tmp/work


def threads() -> int:
    """Threads of this process (native ones included)."""
    return len(os.listdir("/proc/self/task"))


def preload(names) -> dict:
    """Import ``names``; return ``{name: error}`` for those that failed."""
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported to the grader, which falls back
            failed[name] = f"{type(exc).__name__}: {exc}"[:300]
    return failed


def snapshot_home(root: str = B.WORKDIR) -> list:
    """What the preloaded imports wrote in the worker's home (``/tmp/work``: Keras's
    ``keras.json``, Matplotlib's font cache...), which each sandbox gets a copy of, as if its
    own import had written it. Bounded; symlinks and special files are left out."""
    out, total = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            out.append((rel, None))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            if len(out) >= HOME_FILES or total + size > HOME_BYTES:
                return out
            with open(path, "rb") as f:
                out.append((os.path.normpath(os.path.join(rel, name)), f.read(size)))
            total += size
    return out


def restore_home(files: list, uid: int, root: str = B.WORKDIR) -> None:
    """Write ``files`` (from :func:`snapshot_home`) under ``root``, owned by ``uid``."""
    for rel, data in files:
        path = os.path.join(root, rel)
        if data is None:
            os.makedirs(path, mode=0o755, exist_ok=True)
        else:
            with open(path, "wb") as f:
                f.write(data)
        os.chown(path, uid, uid)


def serve(sock: socket.socket) -> None:
    """Fork a sandbox per request until the grader closes its end."""
    while True:
        _reap()
        r, _, _ = select.select([sock], [], [], 0.5)
        if not r:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 3)
        except OSError:
            return
        if not msg:
            return
        try:
            if len(fds) != 3:
                raise ValueError(f"expected 3 descriptors, got {len(fds)}")
            req = B.validate_fork(json.loads(msg))
        except (ValueError, B.BootstrapConfigError) as exc:    # the request's fault, not the template's
            _answer(sock, {"error": f"{type(exc).__name__}: {exc}"[:500], "bad_request": True})
            for fd in fds:
                _close(fd)
            continue
        try:
            pid = os.fork()
            if pid == 0:
                _keeper(sock, req, *fds)       # never returns
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                os.kill(pid, signal.SIGKILL)   # a sandbox the grader could not control
                raise
            try:
                socket.send_fds(sock, [json.dumps({"pid": pid}).encode()], [pidfd])
            finally:
                os.close(pidfd)
        except Exception as exc:  # noqa: BLE001 - the grader retires this template, starts afresh
            if not _answer(sock, {"error": f"{type(exc).__name__}: {exc}"[:500]}):
                return
        finally:
            for fd in fds:
                _close(fd)


def _answer(sock, msg: dict) -> bool:
    try:
        sock.send(json.dumps(msg).encode())
        return True
    except OSError:
        return False


def _keeper(sock, req: dict, in_fd: int, out_fd: int, status_fd: int) -> None:
    """Child of the template: new namespaces, then the worker as pid 1; reports its status."""
    try:
        sock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        libc = ctypes.CDLL(None, use_errno=True)
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
        if libc.unshare(flags) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "unshare: " + os.strerror(e))
        pid = os.fork()
        if pid == 0:
            _close(status_fd)
            _worker(req, in_fd, out_fd, libc)  # never returns
        _close(in_fd)
        _close(out_fd)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except ChildProcessError:
                status = 0
                break
            except InterruptedError:
                continue
        os.write(status_fd, STATUS.pack(status))
    except BaseException as exc:  # noqa: BLE001
        B._fail(out_fd, "%s: %s" % (type(exc).__name__, exc))
    os._exit(0)


def _worker(req: dict, in_fd: int, out_fd: int, libc) -> None:
    """pid 1 of the sandbox's PID namespace: its own /proc and /tmp/work, then the worker."""
    try:
        for procs in req["cgroups"]:
            with open(procs, "w") as f:
                f.write("0")
        B._mount(libc, "proc", "/proc", "proc", B.MS_NOSUID | B.MS_NODEV | B.MS_NOEXEC)
        B._mount(libc, "tmpfs", B.WORKDIR, "tmpfs", B.MS_NOSUID | B.MS_NODEV, "mode=700,size=%dm" % req["tmp_mb"])
        covers = B.hide_plan(req["hide"])
        B.apply_mounts(covers + B.seal_plan(covers), libc)
        restore_home(HOME, 0 if req["userns"] else req["uid"])     # 0: the grader's own uid in a user namespace
        B.enter(req["uid"], req["rlimits"], libc, userns=req["userns"])
        tempfile = sys.modules.get("tempfile")
        if tempfile is not None:
            tempfile.tempdir = None      # chosen by root in the template: choose again as the uid
    except BaseException as exc:  # noqa: BLE001 - reported to the grader on the answer pipe
        B._fail(out_fd, "%s: %s" % (type(exc).__name__, exc))
    code = 0
    try:
        from autograder import worker

        worker.MAIN_PID = os.getpid()
        sys.argv = [worker.__file__, str(in_fd), str(out_fd), req["worker_cfg"]]
        worker.main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001
        code = 1
    os._exit(code)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(argv[0]))
    names = json.loads(argv[1])
    from autograder import worker  # noqa: F401 - numpy and the worker, as every sandbox needs them

    preload(["tqdm"])            # worker.main imports it in every sandbox (65 ms)
    failed = preload(names)
    try:
        os.close(os.pidfd_open(os.getpid()))    # Linux >= 5.3: the grader controls forks by pidfd
    except (AttributeError, OSError) as exc:
        failed["pidfd_open"] = f"{type(exc).__name__}: {exc}"
    HOME[:] = snapshot_home()
    gc.collect()
    gc.freeze()                  # the forked sandboxes do not copy the template's objects on GC
    hello = {"ready": True, "pid": os.getpid(), "threads": threads(), "failed": failed,
             "preloaded": sorted(set(names) - set(failed))}
    sock.send(json.dumps(hello).encode())
    serve(sock)


if __name__ == "__main__":
    main()
