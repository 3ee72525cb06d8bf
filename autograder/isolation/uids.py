"""The uid pool: one unprivileged uid per concurrent sandbox of this process (root backend),
so RLIMIT_NPROC counts per sandbox.

Several grading processes may run on one machine at once (two batches, Dask workers): each
claims a range of :data:`RANGE_SIZE` uids of its own, by an exclusive ``flock`` on the
range's lock file under :func:`claims_dir`, held while the process lives. The kernel lets the
lock go when the process ends, however it ends, so the claim of a dead process is free for
the next one (the pid written in the file is only a note for people). A range is claimed
when the first sandbox asks for a uid, not at import; a forked child claims its own.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
from pathlib import Path

FIRST_UID = 200_000
RANGE_SIZE = 256
RANGES = 8000                     # uids FIRST_UID .. FIRST_UID + RANGES * RANGE_SIZE - 1
CLAIMS_ENV = "CNN_COURSE_UID_CLAIMS"   # another folder for the lock files (tests)


class UidRangesExhausted(RuntimeError):
    """Every range is held by a running process."""


def claims_dir() -> Path:
    """The folder of the ranges' lock files, shared by every grading process of the machine:
    ``$CNN_COURSE_UID_CLAIMS``, else ``/run/cnn-course/uid-ranges`` where it can be made (root),
    else one in /tmp, per user."""
    env = os.environ.get(CLAIMS_ENV)
    if env:
        return Path(env)
    if os.access("/run", os.W_OK):
        return Path("/run/cnn-course/uid-ranges")
    return Path("/tmp") / f"cnn-course-uid-ranges-{os.geteuid()}"   # not $TMPDIR: one folder per machine


def _own_dir(path: Path) -> Path:
    """``path``, made if need be (0700), refused unless it is a real folder of this user: a
    folder someone else made could hand out or hold back the claims."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise PermissionError(f"{path} is not a folder of uid {os.geteuid()}: cannot claim a uid range there")
    return path


def claim_range(directory: Path | None = None, start: int | None = None) -> tuple[int, int]:
    """Claim a free range: ``(its index, the open lock file's fd)``; the claim lasts while the fd
    is open (at most the life of this process). Ranges are tried from ``start`` (this pid's
    range by default, so processes seldom try the same ones) round the whole table."""
    d = _own_dir(directory or claims_dir())
    first = os.getpid() % RANGES if start is None else start % RANGES
    for i in range(RANGES):
        k = (first + i) % RANGES
        fd = os.open(d / f"range-{k}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                continue                  # held by a live process
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return k, fd
    raise UidRangesExhausted(f"all {RANGES} uid ranges under {d} are held by running processes")


class UidPool:
    """Distinct unprivileged uids for concurrent sandboxes of this process, from a range that no
    other live process holds (see the module docstring)."""

    def __init__(self, directory: Path | None = None, start: int | None = None):
        self.size = RANGE_SIZE
        self.directory = directory      # None: claims_dir()
        self.start = start              # the first range tried (None: this pid's)
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self._reset()

    def _reset(self) -> None:
        self.base: int | None = None
        self.index: int | None = None
        self.fd: int | None = None
        self.pid = os.getpid()
        self.free = list(range(self.size))

    def _claim(self) -> None:
        """Under ``self.cond``: make sure this process holds a range."""
        if self.pid != os.getpid():       # a forked child: the parent's range is the parent's
            if self.fd is not None:
                os.close(self.fd)         # the parent's lock stays (its own fd holds it)
            self._reset()
        if self.base is None:
            self.index, self.fd = claim_range(self.directory, self.start)
            self.base = FIRST_UID + self.index * RANGE_SIZE

    def acquire(self) -> int:
        with self.cond:
            self._claim()
            while not self.free:
                self.cond.wait()
            return self.base + self.free.pop(0)

    def release(self, uid: int) -> None:
        with self.cond:
            if self.base is None or self.pid != os.getpid() or not 0 <= uid - self.base < self.size:
                return                    # not one of this process's uids
            self.free.append(uid - self.base)
            self.cond.notify()

    def close(self) -> None:
        """Give the range back (the process's end does the same)."""
        with self.cond:
            if self.fd is not None and self.pid == os.getpid():
                os.close(self.fd)
            self._reset()


UIDS = UidPool()
