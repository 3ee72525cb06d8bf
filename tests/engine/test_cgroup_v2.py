"""cgroup v2 for the sandbox (issue 19, item 2), against a fake cgroupfs (a folder with the
files the kernel would show): this machine, like CI, has cgroup v1, so the v2 code could not
run otherwise. What the kernel adds on a real v2 machine (the files of a new group, the
controllers' effects) is what the fake writes by hand."""
from pathlib import Path

import pytest

from autograder import sandbox as S
from autograder.isolation import cgroups as CG
from autograder.isolation import probe as PR


@pytest.fixture
def fake_v2(tmp_path, monkeypatch):
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (root / "cgroup.subtree_control").write_text("cpu\n")
    monkeypatch.setattr(CG, "CGROUP_ROOT", root)
    return root


def test_v2_is_usable_and_enables_memory_and_pids_below_the_root(fake_v2):
    assert CG.cgroup_v2_usable()
    assert (fake_v2 / "cgroup.subtree_control").read_text() == "+memory +pids"     # cpu was already there
    assert (fake_v2 / "cnn-course" / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert [p.name for p in (fake_v2 / "cnn-course").iterdir()] == ["cgroup.subtree_control"]   # probe removed
    assert CG.writable_controllers() == ["v2"]


def test_v2_without_the_memory_controller_is_not_used(fake_v2):
    (fake_v2 / "cgroup.controllers").write_text("cpu io pids\n")
    assert not CG.cgroup_v2_usable() and CG.writable_controllers() == []


def test_a_sandbox_in_a_v2_group_limits_counts_and_resets(fake_v2):
    assert CG.cgroup_v2_usable()          # as probe() does first
    sb = S.Sandbox({"memory_mb": 512, "processes": 16})
    procs = sb._make_cgroups(512 << 20, 16, ["v2"])
    d = fake_v2 / "cnn-course" / Path(procs[0]).parent.name
    assert procs == [str(d / "cgroup.procs")] and sb.cg_v2
    assert (d / "memory.max").read_text() == str(512 << 20) and (d / "pids.max").read_text() == "16"
    assert set(sb.cgroups) == {"memory", "pids", "cpuacct"} and set(sb.cgroups.values()) == {d}

    (d / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    assert sb._cpu_now() == 2.5
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert sb.oom_killed()
    (d / "cgroup.procs").write_text("4242\n4243\n")
    (d / "pids.current").write_text("2\n")
    assert sb.stray_processes() and sb.pids_count() == 2

    # a restart: v2 counters cannot be reset, so the sandbox counts from where they stand
    sb.cpu_base += sb._cpu_now()
    sb._reset_cgroup_counters()
    assert sb._cpu_now() == 0.0 and sb.cpu_seconds() == 2.5
    (d / "cpu.stat").write_text("usage_usec 3000000\n")
    assert sb.cpu_seconds() == 3.0
    assert sb._make_cgroups(512 << 20, 16, ["v2"]) == [str(d / "cgroup.procs")]   # the same group again
    assert not sb.oom_killed()                                                      # counted from the restart


def test_isolation_names_cgroup_v2(monkeypatch):
    monkeypatch.setattr(PR, "_PROBE", {"namespaces": True, "backend": "root", "cgroups": ["v2"], "why": "",
                                      "prefix": ["unshare"], "unshare": "unshare"})
    assert PR.isolation_available().endswith("+cgroup_v2(memory,pids,cpu)")
