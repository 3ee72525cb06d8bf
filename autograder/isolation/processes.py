"""A sandbox's processes without cgroups: killing them, and one bounded walk of a process
tree in ``/proc`` (:func:`walk`) for the CPU they used (:func:`tree_cpu`) and how many run
(:func:`tree_counts`, what a pids cgroup would say)."""
from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from typing import NamedTuple

# The most processes one walk visits: a fork bomb has thousands, a sandbox a handful (its
# ``processes`` limit, 64 by default, counts threads too).
MAX_WALK = 1024


def kill_and_wait(proc, *, group: bool) -> None:
    """SIGKILL ``proc`` (a Popen or a templates.Forked), and its process group when ``group``;
    wait for it up to 10 s."""
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


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (which may hold spaces and
    parentheses): [0] state, [1] ppid, [11:15] utime stime cutime cstime, [17] num_threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    if len(fields) < 18:
        raise ValueError(f"/proc/{pid}/stat: {len(fields)} fields")
    return fields


def _children(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (``/proc/PID/task/TID/children``)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass        # the thread ended meanwhile
    return out


def walk(pid: int, limit: int | None = MAX_WALK, lost: list | None = None) -> Iterator[tuple[int, list[str]]]:
    """``(pid, stat fields)`` for ``pid`` and each of its descendants (parents before their
    children), read from ``/proc``; at most ``limit`` pairs (None: no limit), so a caller
    that gets ``limit`` of them knows there may be more.

    The caller vouches for ``pid`` itself (a child it has not reaped). A descendant is
    trusted only while it is one: a child that vanished before it was read, or whose
    ``ppid`` is no longer the parent it was listed under (it ended and its pid went to an
    unrelated process, or it was reparented), is skipped with its subtree and appended to
    ``lost`` when given: a process reparented mid-walk may be missed by this walk (the next
    one sees it), and ``lost`` tells the caller that processes came and went meanwhile."""
    stack = [(pid, None)]
    seen = set()
    n = 0
    while stack and (limit is None or n < limit):
        p, parent = stack.pop()
        if p in seen:
            continue
        try:
            fields = _stat(p)
            if parent is not None and int(fields[1]) != parent:
                raise ValueError("not the child of its parent any more")
            kids = _children(p)
        except (OSError, ValueError):
            if lost is not None and parent is not None:
                lost.append(p)
            continue
        seen.add(p)
        n += 1
        yield p, fields
        stack.extend((c, p) for c in kids if c not in seen)


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants (utime+stime incl. waited-for children)."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum(sum(int(x) for x in fields[11:15]) for _, fields in walk(pid, None)) / tick


class Counts(NamedTuple):
    """What :func:`tree_counts` found below a process."""
    processes: int     # live descendants (zombies excluded, like a cgroup's ``cgroup.procs``)
    tasks: int         # their threads, a zombie counting one (like ``pids.current``)
    complete: bool     # False: the walk stopped at its limit, or processes came and went meanwhile


def tree_counts(pid: int, limit: int = MAX_WALK) -> Counts:
    """The descendants of ``pid`` (not ``pid`` itself); more than ``limit`` of them are not
    walked (the count stops at ``limit + 1``, incomplete)."""
    processes = tasks = descendants = 0
    lost: list[int] = []
    for p, fields in walk(pid, limit + 2, lost):
        if p == pid:
            continue
        descendants += 1
        threads = int(fields[17]) if fields[17].isdigit() else 1
        tasks += max(1, threads)
        # a zombie leader whose other threads still run is a live process
        processes += fields[0] != "Z" or threads > 1
    return Counts(processes, tasks, descendants <= limit and not lost)
