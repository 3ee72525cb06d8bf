"""Benchmark: the check between two tests for processes a test left running
(``Sandbox.pids_count`` and ``Sandbox.stray_processes``, as ``remote.clean_up`` calls them).

Without a pids cgroup (a normal user's sandbox; as root here the cgroups are turned off) both
walk the worker's descendants in ``/proc``; with one (root) they read two cgroup files, the
baseline in this run. Timed at rest (the worker alone) and with 30 processes left running.
No assertions on time.
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from autograder import protocol as P  # noqa: E402
from autograder.isolation import probe as PR  # noqa: E402
from autograder.isolation.probe import isolation_available  # noqa: E402
from autograder.sandbox import Sandbox  # noqa: E402
from timing import median_time  # noqa: E402

LEAVE = ("import os, time\n"
         "for _ in range(30):\n"
         "    if os.fork() == 0:\n"
         "        while True:\n"
         "            time.sleep(60)\n"
         "result = 1\n")


def check(sb):
    sb.pids_count()
    sb.stray_processes()


def timed(sb, label):
    t_rest = median_time(lambda: check(sb), repeat=201, warmup=20)
    head, _ = sb.request({"op": P.Op.RUN, "code": LEAVE, "inputs": {"$t": "dict", "v": {}}},
                         cpu_limit=10, wall_limit=60)
    assert head.get("ok"), head
    assert sb.stray_processes() and sb.pids_count() >= 31
    t_left = median_time(lambda: check(sb), repeat=201, warmup=20)
    print(f"  {label:34s}: {t_rest * 1e6:7.0f} us at rest, {t_left * 1e6:7.0f} us with 30 processes left")
    return t_rest, t_left


def main():
    if isolation_available() is None:
        print("no sandbox here: nothing to time")
        return
    limits = {"memory_mb": 1024, "processes": 64}
    print(f"one check between tests (pids_count + stray_processes), as uid {os.geteuid()}:")
    base = None
    if PR.probe()["cgroups"]:
        with Sandbox(limits) as sb:
            sb.start()
            if "pids" in sb.cgroups:
                base = timed(sb, "pids cgroup (baseline)")
    PR._PROBE["cgroups"] = []
    with Sandbox(limits) as sb:
        sb.start()
        walk = timed(sb, "/proc walk (no cgroup)")
    if base:
        print(f"  ratio walk / cgroup                : {walk[0] / base[0]:7.1f}x at rest, "
              f"{walk[1] / base[1]:7.1f}x with 30 processes left")


if __name__ == "__main__":
    main()
