"""Processes a student's code leaves running, found between tests without a cgroup (issue 19).

As root the sandbox's pids cgroup counts them; a normal user's sandbox (an unprivileged user
namespace) has no cgroup, so :meth:`Sandbox.stray_processes` and :meth:`Sandbox.pids_count`
walk the worker's descendants in ``/proc`` (``isolation.processes.walk``, the walk
``tree_cpu`` uses too). The walk is bounded: pid reuse, processes vanishing mid-walk and a
fork bomb cannot make it wander or run long. Checked here on a fake ``/proc`` (the walk's
two readers replaced), on real process trees, and in real sandboxes with the cgroups turned
off (as root) or absent (as a normal user): the counts are those the cgroup gives.
"""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from autograder import protocol as P
from autograder.engine import isolation_available
from autograder.isolation import probe as PR
from autograder.isolation import processes as PS
from autograder.sandbox import Sandbox

needs_isolation = pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces")


# ----------------------------------------------------------------------------- a fake /proc

def _fields(state="S", ppid=1, threads=1, ticks=0):
    """/proc/PID/stat fields after the command name."""
    f = ["0"] * 40
    f[0], f[1], f[11], f[17] = state, str(ppid), str(ticks), str(threads)
    return f


class FakeProc:
    """``{pid: (fields, children)}`` served to the walk in place of /proc; counts its reads."""

    def __init__(self, monkeypatch, table):
        self.table = table
        self.reads = 0
        monkeypatch.setattr(PS, "_stat", self.stat)
        monkeypatch.setattr(PS, "_children", self.children)

    def stat(self, pid):
        self.reads += 1
        if pid not in self.table:
            raise FileNotFoundError(f"/proc/{pid}/stat")
        return self.table[pid][0]

    def children(self, pid):
        if pid not in self.table:
            raise FileNotFoundError(f"/proc/{pid}/task")
        return list(self.table[pid][1])


def test_the_walk_counts_descendants_threads_and_zombies_but_not_the_root(monkeypatch):
    # 10 (root: unshare or keeper) -> 11 (worker, 4 threads) -> 12 (a child) -> 13 (its child), 14 (zombie)
    FakeProc(monkeypatch, {10: (_fields(ppid=1), [11]), 11: (_fields(ppid=10, threads=4), [12, 14]),
                           12: (_fields(ppid=11), [13]), 13: (_fields(ppid=12, threads=2), []),
                           14: (_fields("Z", ppid=11), [])})
    assert [p for p, _ in PS.walk(10)] == [10, 11, 14, 12, 13]
    # live processes as cgroup.procs lists them (no zombie), tasks as pids.current counts them
    assert PS.tree_counts(10) == PS.Counts(processes=3, tasks=4 + 1 + 2 + 1, complete=True)
    assert PS.tree_counts(11) == PS.Counts(processes=2, tasks=4, complete=True)
    assert PS.tree_counts(13) == PS.Counts(0, 0, True)


def test_a_zombie_leader_whose_threads_still_run_is_a_live_process(monkeypatch):
    FakeProc(monkeypatch, {10: (_fields(), [11]), 11: (_fields("Z", ppid=10, threads=3), [])})
    assert PS.tree_counts(10) == PS.Counts(1, 3, True)


def test_a_reused_pid_is_not_followed_and_the_walk_says_processes_came_and_went(monkeypatch):
    # 12 was listed as the worker's child, then ended; its pid now belongs to a process of
    # another parent (999), whose children (500, 501) are not the sandbox's
    fake = FakeProc(monkeypatch, {10: (_fields(), [11]), 11: (_fields(ppid=10), [12]),
                                  12: (_fields(ppid=999), [500, 501]),
                                  500: (_fields(ppid=12), []), 501: (_fields(ppid=12), [])})
    lost = []
    assert [p for p, _ in PS.walk(10, lost=lost)] == [10, 11] and lost == [12]
    assert PS.tree_counts(10) == PS.Counts(1, 1, complete=False)
    assert fake.reads == 3 + 3          # 500 and 501 never read


def test_a_process_vanishing_mid_walk_is_skipped_and_reported(monkeypatch):
    FakeProc(monkeypatch, {10: (_fields(), [11]), 11: (_fields(ppid=10), [12, 13]),
                           13: (_fields(ppid=11), [])})       # 12 exited (and was reaped)
    assert PS.tree_counts(10) == PS.Counts(2, 2, complete=False)
    lost = []
    assert [p for p, _ in PS.walk(10, lost=lost)] == [10, 11, 13] and lost == [12]


def test_a_vanished_root_is_an_empty_tree(monkeypatch):
    FakeProc(monkeypatch, {})
    lost = []
    assert list(PS.walk(10, lost=lost)) == [] and lost == []
    assert PS.tree_counts(10) == PS.Counts(0, 0, True) and PS.tree_cpu(10) == 0.0


def test_a_cycle_cannot_loop_the_walk(monkeypatch):
    # impossible in a real /proc, but the walk must not depend on it: 12 lists 11 again
    FakeProc(monkeypatch, {10: (_fields(), [11]), 11: (_fields(ppid=10), [12]), 12: (_fields(ppid=11), [11, 12])})
    assert [p for p, _ in PS.walk(10)] == [10, 11, 12]
    assert PS.tree_counts(10) == PS.Counts(2, 2, True)


def test_a_fork_bomb_is_walked_up_to_the_limit_and_called_incomplete(monkeypatch):
    n = 100_000
    table = {10: (_fields(), [11]), 11: (_fields(ppid=10), list(range(100, 100 + n)))}
    table.update({p: (_fields(ppid=11), []) for p in range(100, 100 + n)})
    fake = FakeProc(monkeypatch, table)
    counts = PS.tree_counts(10, limit=64)
    assert not counts.complete and counts.processes == 65 and counts.tasks == 65
    assert fake.reads == 66                       # the root, then 64 descendants and one more: no more read
    fake.reads = 0
    assert len(list(PS.walk(10))) == PS.MAX_WALK and fake.reads == PS.MAX_WALK
    # exactly at the limit is complete: 1 worker and its 63 children under a limit of 64
    table[11] = (_fields(ppid=10), list(range(100, 163)))
    assert PS.tree_counts(10, limit=64) == PS.Counts(64, 64, True)


def test_tree_cpu_sums_the_walk(monkeypatch):
    tick = os.sysconf("SC_CLK_TCK")
    FakeProc(monkeypatch, {10: (_fields(ticks=tick), [11]), 11: (_fields(ppid=10, ticks=2 * tick), [12]),
                           12: (_fields(ppid=77, ticks=100 * tick), [])})     # not ours any more
    assert PS.tree_cpu(10) == 3.0


# ----------------------------------------------------------------------------- real trees

TREE = textwrap.dedent("""
    import os, sys, threading, time
    ready = int(sys.argv[1])
    def sleep():
        while True:
            time.sleep(60)
    r, w = os.pipe()
    if os.fork() == 0:                  # a child with a child of its own
        if os.fork() == 0:
            sleep()
        os.write(w, b"c")
        sleep()
    os.read(r, 1)
    if os.fork() == 0:                  # a second child
        sleep()
    z = os.fork()
    if z == 0:
        os._exit(0)
    os.waitid(os.P_PID, z, os.WEXITED | os.WNOWAIT)      # exited, left a zombie
    for _ in range(2):                  # two more threads here
        threading.Thread(target=sleep, daemon=True).start()
    os.write(ready, b"x")
    sleep()
""")


@pytest.fixture
def real_tree():
    """A process with 2 threads besides its main one, 2 live children, a grandchild and a
    zombie child (its own process group, killed at the end)."""
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", TREE, str(w)], pass_fds=(w,), start_new_session=True)
    os.close(w)
    try:
        assert os.read(r, 1) == b"x"
        yield proc
    finally:
        os.close(r)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_real_tree_is_counted(real_tree):
    assert PS.tree_counts(real_tree.pid) == PS.Counts(processes=3, tasks=3 + 1, complete=True)
    walked = dict(PS.walk(real_tree.pid))
    assert next(iter(walked)) == real_tree.pid and len(walked) == 5
    assert sorted(f[0] for f in walked.values()).count("Z") == 1
    assert int(walked[real_tree.pid][17]) == 3            # the root's own threads are not counted
    assert PS.tree_counts(os.getpid()).processes >= 4     # seen from above: the root and its 3 live descendants
    assert PS.tree_counts(real_tree.pid, limit=4) == PS.Counts(3, 4, complete=True)
    assert PS.tree_counts(real_tree.pid, limit=3) == PS.Counts(3, 4, complete=False)   # one more than 3
    assert PS.tree_cpu(real_tree.pid) >= PS.tree_cpu(list(walked)[1]) >= 0.0


# ----------------------------------------------------------------------------- sandboxes

LIMITS = {"memory_mb": 1024, "processes": 32}
ORPHAN = ("import os, time\n"
          "pid = os.fork()\n"
          "if pid == 0:\n"
          "    os.setsid()\n"
          "    if os.fork() == 0:\n"
          "        while True:\n"
          "            time.sleep(60)\n"
          "    os._exit(0)\n"
          "os.waitpid(pid, 0)\n"
          "result = 1\n")
THREAD = "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), daemon=True).start()\nresult = 1\n"
ZOMBIE = ("import os\nz = os.fork()\nif z == 0:\n    os._exit(0)\n"
          "os.waitid(os.P_PID, z, os.WEXITED | os.WNOWAIT)\nresult = 1\n")     # exited, never reaped
CHILD = "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\nresult = 1\n"


def _run(sb, code):
    head, _ = sb.request({"op": P.Op.RUN, "code": code, "inputs": {"$t": "dict", "v": {}}},
                         cpu_limit=10, wall_limit=60)
    assert head.get("ok") and head.get("value") == 1, head


@pytest.fixture
def no_cgroup(monkeypatch):
    """Sandboxes without cgroups, as a normal user's are (as root: the cgroups turned off)."""
    PR.probe()
    monkeypatch.setitem(PR._PROBE, "cgroups", [])


@needs_isolation
@pytest.mark.parametrize("template", [False, True], ids=["fresh", "forked"])
def test_without_a_cgroup_an_orphan_left_running_is_stray_until_the_restart(no_cgroup, template):
    with Sandbox(LIMITS, template=template) as sb:
        sb.start()
        assert sb.cg is None and "cgroup" not in sb.mechanisms
        base = sb.pids_count()
        assert base >= 1 and not sb.stray_processes()
        _run(sb, ORPHAN)          # setsid + double fork: the orphan is reparented to the worker (pid 1)
        assert sb.pids_count() == base + 1 and sb.stray_processes()
        worker = [p for p, f in PS.walk(sb.proc.pid) if f[1] == str(sb.proc.pid)]
        orphan = [p for p, f in PS.walk(sb.proc.pid) if p != sb.proc.pid and p not in worker]
        assert len(worker) == 1 and len(orphan) == 1 and PS._stat(orphan[0])[1] == str(worker[0])
        sb.kill()
        assert sb.pids_count() is None and not sb.stray_processes()     # not running
        sb.start()
        assert sb.pids_count() == base and not sb.stray_processes()


@needs_isolation
def test_without_a_cgroup_threads_and_zombies_are_tasks_not_stray_processes(no_cgroup):
    with Sandbox(LIMITS) as sb:
        sb.start()
        base = sb.pids_count()
        _run(sb, THREAD)
        assert sb.pids_count() == base + 1 and not sb.stray_processes()
        _run(sb, ZOMBIE)        # as pids.current: a zombie is a task until reaped, not in cgroup.procs
        assert sb.pids_count() == base + 2 and not sb.stray_processes()


@needs_isolation
def test_an_insecure_sandbox_counts_nothing():
    with Sandbox(LIMITS, insecure=True) as sb:
        sb.start()
        _run(sb, CHILD)
        assert sb.pids_count() is None and not sb.stray_processes()


@needs_isolation
def test_the_walk_counts_what_the_pids_cgroup_counts():
    """As root with a pids cgroup: both counts agree at each step (a normal user has no cgroup
    to compare with)."""
    with Sandbox(LIMITS) as sb:
        sb.start()
        if "pids" not in sb.cgroups:
            pytest.skip("no pids cgroup here (not root, or none writable)")
        seen = []
        for code in (None, THREAD, ZOMBIE, ORPHAN):
            if code:
                _run(sb, code)
            tree = PS.tree_counts(sb.proc.pid)
            assert tree.complete and tree.tasks == sb.cg.pids_count(), code
            assert (tree.processes > 1) == sb.cg.stray_processes(), code
            seen.append((tree.processes, tree.tasks))
        assert seen == [(1, seen[0][1]), (1, seen[0][1] + 1), (1, seen[0][1] + 2), (2, seen[0][1] + 3)]
