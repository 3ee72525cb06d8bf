"""Killing a sandbox's process and measuring its CPU without cgroups."""
from __future__ import annotations

import os
import signal
import subprocess


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


def tree_cpu(pid: int) -> float:
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
