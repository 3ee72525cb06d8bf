"""Cgroups for the root backend: which hierarchy this machine offers (:func:`writable_controllers`,
:func:`cgroup_v2_usable`) and, per sandbox, one :class:`CgroupBackend`: :class:`CgroupV1`
(one group per controller: memory, pids, cpuacct) or :class:`CgroupV2` (one group for all).
Without cgroups a sandbox has rlimits only (bootstrap.py sets them either way)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpuacct")


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


def writable_controllers() -> list[str]:
    """``["v2"]`` on a usable v2 hierarchy, else the v1 controllers this process can make
    groups in (none: [])."""
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


class CgroupBackend:
    """One sandbox's cgroups: ``groups`` maps a role (memory, pids, cpuacct) to its group.
    Made once (:meth:`make`), reused by every incarnation of the sandbox, removed by :meth:`close`."""

    v2 = False

    def __init__(self):
        self.groups: dict[str, Path] = {}

    def make(self, mem: int, pids: int, sid: str) -> list[str]:
        """Make the groups with these limits; the ``cgroup.procs`` files the sandbox joins."""
        raise NotImplementedError

    def procs_files(self) -> list[str]:
        return sorted({str(d / "cgroup.procs") for d in self.groups.values()})

    def mechanism(self) -> str:
        """What :func:`probe.isolation_available` names for these groups."""
        raise NotImplementedError

    def cpu_seconds(self) -> float | None:
        """CPU used in the groups since the last reset; None when it cannot be read."""
        raise NotImplementedError

    def oom_count(self) -> int:
        """Processes the kernel killed in the memory group for exceeding its limit."""
        raise NotImplementedError

    def reset_counters(self) -> None:
        raise NotImplementedError

    def stray_processes(self) -> bool:
        cg = self.groups.get("pids")
        if cg is None:
            return False
        try:
            return len((cg / "cgroup.procs").read_text().split()) > 1
        except OSError:
            return False

    def pids_count(self) -> int | None:
        cg = self.groups.get("pids")
        if cg is None:
            return None
        try:
            return int((cg / "pids.current").read_text())
        except (OSError, ValueError):
            return None

    def kill_all(self) -> None:
        """SIGKILL every process in the first group there is (pids, memory, cpuacct)."""
        import signal

        for ctrl in ("pids", "memory", "cpuacct"):
            cg = self.groups.get(ctrl)
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

    def wait_empty(self) -> None:
        """Wait (up to about a second) until the pids group is empty, so the next incarnation
        starts clean."""
        cg = self.groups.get("pids")
        if cg is not None:
            for _ in range(200):
                try:
                    if not (cg / "cgroup.procs").read_text().strip():
                        break
                except OSError:
                    break
                time.sleep(0.005)

    def close(self) -> None:
        """Remove the groups (the sandbox's processes are dead)."""
        for cg in set(self.groups.values()):
            for _ in range(100):
                try:
                    cg.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
        self.groups = {}

    def _read_oom(self, name: str) -> int:
        cg = self.groups.get("memory")
        if cg is None:
            return 0
        try:
            for line in (cg / name).read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0


class CgroupV1(CgroupBackend):
    """cgroup v1: a group per controller, ``CGROUP_ROOT/<controller>/cnn-course/<sandbox>``."""

    def __init__(self, ctrls: list[str]):
        super().__init__()
        self.ctrls = list(ctrls)
        self._cpu_fd = -1

    def make(self, mem: int, pids: int, sid: str) -> list[str]:
        procs = []
        for ctrl in self.ctrls:
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
                self.groups[ctrl] = d
                procs.append(str(d / "cgroup.procs"))
            except OSError:
                try:
                    d.rmdir()
                except OSError:
                    pass
        return procs

    def mechanism(self) -> str:
        return "+cgroup_v1(" + ",".join(self.groups) + ")"

    def cpu_seconds(self) -> float | None:
        cg = self.groups.get("cpuacct")
        if cg is None:
            return None
        try:
            if self._cpu_fd < 0:       # read a thousand times per submission: keep it open
                self._cpu_fd = os.open(cg / "cpuacct.usage", os.O_RDONLY)
            return int(os.pread(self._cpu_fd, 64, 0)) / 1e9
        except (OSError, ValueError):
            return None

    def oom_count(self) -> int:
        return self._read_oom("memory.oom_control")

    def reset_counters(self) -> None:
        cg = self.groups.get("cpuacct")
        if cg is not None:
            try:
                (cg / "cpuacct.usage").write_text("0")
            except OSError:
                pass
        mcg = self.groups.get("memory")
        if mcg is not None:
            for f in ("memory.failcnt", "memory.max_usage_in_bytes"):
                try:
                    (mcg / f).write_text("0")
                except OSError:
                    pass

    def close(self) -> None:
        if self._cpu_fd >= 0:
            os.close(self._cpu_fd)
            self._cpu_fd = -1
        super().close()


class CgroupV2(CgroupBackend):
    """cgroup v2: one group, ``CGROUP_ROOT/cnn-course/<sandbox>``, for every role. Its counters
    cannot be reset: CPU is counted from where ``cpu.stat`` stood at the last reset."""

    v2 = True

    def __init__(self):
        super().__init__()
        self._cpu_off = 0.0

    def make(self, mem: int, pids: int, sid: str) -> list[str]:
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
        self.groups = {"memory": d, "pids": d, "cpuacct": d}
        self._cpu_off = 0.0
        return [str(d / "cgroup.procs")]

    def mechanism(self) -> str:
        return "+cgroup_v2(memory,pids,cpu)"

    def cpu_seconds(self) -> float | None:
        cg = self.groups.get("cpuacct")
        if cg is None:
            return None
        try:
            for line in (cg / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6 - self._cpu_off
        except (OSError, ValueError):
            pass
        return None

    def oom_count(self) -> int:
        return self._read_oom("memory.events")

    def reset_counters(self) -> None:
        self._cpu_off += self.cpu_seconds() or 0.0


def new_backend(ctrls: list[str]) -> CgroupBackend:
    """The backend for what :func:`writable_controllers` found."""
    return CgroupV2() if ctrls == ["v2"] else CgroupV1(ctrls)
