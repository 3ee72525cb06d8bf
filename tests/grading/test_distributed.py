"""Grading on Dask (autograder/distributed.py): the same results as the thread pool on a local
cluster and on separately started `dask scheduler` / `dask worker` processes (127.0.0.1 only),
a worker killed mid-task, a submission that kills its worker twice, a lost scheduler then
--resume, and the version check. The toy assignment keeps it short; the sandbox is used
whenever this machine has one, as in the other engine tests."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import distributed  # noqa: F401  (pinned in requirements.lock: its absence fails)

from autograder import batch, cli, intake, store  # noqa: E402
from autograder import distributed as dist  # noqa: E402
from autograder.assignment import load_assignment  # noqa: E402
from autograder.engine import isolation_available  # noqa: E402
from autograder.samples import TOY_NAME, build_samples, write_toy_source  # noqa: E402

BIN = Path(sys.executable).parent
INSECURE = isolation_available() is None
pytestmark = pytest.mark.xdist_group(name="distributed")


def _normalized(path: Path) -> str:
    """results.json without the timings (``durations``, per test ``duration_s`` and ``cpu_s``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("durations")
    for t in data["tests"]:
        t.pop("duration_s")
        t.pop("cpu_s")
    return json.dumps(data, indent=2, sort_keys=True)


def _all_results(out: Path) -> dict[str, str]:
    return {p.parent.name: _normalized(p) for p in sorted((out / "students").glob("*/results.json"))}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy assignment, eight submissions (every status but a timeout) and their thread-pool grades."""
    tmp = tmp_path_factory.mktemp("dask_toy")
    src = write_toy_source(tmp / "solutions")
    subs = tmp / "subs"
    # The source notebook stands in for the release: "cheating" then keeps the test cells and
    # replaces every solution (os._exit in the first one: a sandbox crash).
    build_samples(src, src, subs, kinds=("correct", "partly", "broken", "cheating"))
    for kind in ("correct", "partly"):
        (subs / f"{kind}2").mkdir()
        (subs / f"{kind}2" / src.name).write_bytes((subs / kind / src.name).read_bytes())
    (subs / "nothing").mkdir()
    assignment = load_assignment(TOY_NAME, source_dir=tmp / "solutions")
    out = tmp / "out-threads"
    results, _ = batch.grade_folder(assignment, subs, out, workers=2, insecure=INSECURE, progress=False)
    statuses = {r.student_id: r.status for r in results}
    assert statuses == {"broken": "invalid", "cheating": "graded", "correct": "graded", "correct2": "graded",
                        "nothing": "invalid", "partly": "graded", "partly2": "graded"}, statuses
    return {"tmp": tmp, "subs": subs, "assignment": assignment, "threads": out, "expected": _all_results(out)}


@pytest.fixture(scope="module")
def runner():
    with dist.DaskRunner(cluster="local:2", insecure=INSECURE) as r:
        yield r


def _killer(marker_dir: Path, victim: str, kills: int):
    """A grading function that SIGKILLs its own worker process on the first ``kills`` attempts
    at ``victim`` (each attempt appends the worker's pid to ``marker_dir/<victim>``)."""
    def grade(assignment, path, student_id, **kw):
        from autograder.engine import grade_notebook

        if student_id == victim:
            log = Path(marker_dir) / victim
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")
            if len(log.read_text().split()) <= kills:
                os.kill(os.getpid(), signal.SIGKILL)
        return grade_notebook(assignment, path, student_id, **kw)
    return grade


def test_local_cluster_gives_the_thread_pools_results(toy, runner, tmp_path):
    out = tmp_path / "out"
    results, paths = batch.grade_folder(toy["assignment"], toy["subs"], out, insecure=INSECURE, progress=False,
                                        runner=runner)
    assert [r.student_id for r in results] == sorted(toy["expected"])
    got = _all_results(out)
    for sid, text in toy["expected"].items():
        assert got[sid] == text, f"{sid}: results.json on local:2 differs from the thread pool's"
    assert (out / "grades.csv").read_bytes() == (toy["threads"] / "grades.csv").read_bytes()
    assert all(r.durations.get("batch_wall_s", 0) > 0 for r in results if r.status == "graded")


def test_missing_and_other_work_only_are_the_same_on_both_fanouts(toy, runner, tmp_path):
    """A class with a student on the roster who handed in nothing and one who handed in other
    work only (nbgrader's layout: another assignment's folder): `missing` on both fan-outs, the
    same results.json and grades.csv byte for byte (Dask made the second one `invalid`)."""
    subs = tmp_path / "subs"
    for sid in ("correct", "partly"):
        (subs / sid).mkdir(parents=True)
        (subs / sid / f"{TOY_NAME}.ipynb").write_bytes((toy["subs"] / sid / f"{TOY_NAME}.ipynb").read_bytes())
    (subs / "otherwork" / "some_other_ps").mkdir(parents=True)
    (subs / "otherwork" / "some_other_ps" / "some_other_ps.ipynb").write_text("{}")
    roster = ["absent", "correct", "otherwork", "partly"]
    outs = {}
    for kind, extra in (("threads", {"workers": 2}), ("dask", {"runner": runner})):
        outs[kind] = tmp_path / kind
        results, _ = batch.grade_folder(toy["assignment"], subs, outs[kind], insecure=INSECURE, progress=False,
                                        roster=roster, **extra)
        assert {r.student_id: r.status for r in results} == {
            "absent": "missing", "correct": "graded", "otherwork": "missing", "partly": "graded"}, kind
    assert _all_results(outs["dask"]) == _all_results(outs["threads"])
    assert (outs["dask"] / "grades.csv").read_bytes() == (outs["threads"] / "grades.csv").read_bytes()


def test_worker_killed_mid_task_costs_nothing(toy, runner, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "out"
    batch.grade_folder(toy["assignment"], toy["subs"], out, insecure=INSECURE, progress=False, runner=runner,
                       grade_fn=_killer(marks, "partly", kills=1))
    pids = (marks / "partly").read_text().split()
    assert len(pids) == 2 and pids[0] != pids[1], f"expected one killed attempt and one retry elsewhere, got {pids}"
    assert _all_results(out) == toy["expected"], "a killed worker changed some student's results"


def test_submission_killing_its_worker_twice_is_a_crash(toy, runner, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "out"
    results, _ = batch.grade_folder(toy["assignment"], toy["subs"], out, insecure=INSECURE, progress=False,
                                    runner=runner, grade_fn=_killer(marks, "correct", kills=99))
    attempts = (marks / "correct").read_text().split()
    assert len(attempts) == 2, f"expected exactly 2 attempts (1 retry), got {len(attempts)}"
    res = {r.student_id: r for r in results}["correct"]
    assert res.status == "crash" and res.score == 0, (res.status, res.score)
    assert {t.status for t in res.tests} == {"crash"} and "2 times" in res.message, res.message
    stored = json.loads((out / "students" / "correct" / "results.json").read_text())
    sha = hashlib.sha256((toy["subs"] / "correct" / f"{TOY_NAME}.ipynb").read_bytes()).hexdigest()
    assert stored["status"] == "crash" and stored["sha256"] == sha, (stored["status"], stored["sha256"], sha)
    got = _all_results(out)
    for sid, text in toy["expected"].items():
        if sid != "correct":
            assert got[sid] == text, f"{sid}: changed by another submission's crashes"


def test_worker_version_is_checked(toy, runner, monkeypatch):
    monkeypatch.setattr(dist, "__version__", "9.9.9")
    other = dist.DaskRunner(client=runner.client, insecure=INSECURE)
    with pytest.raises(dist.ClusterError, match=r"runs cnn-course 0\.1\.0, this client runs cnn-course 9\.9\.9"):
        other.connect()
    # a worker that joins after the check: the task itself refuses
    late = dist.DaskRunner(client=runner.client, insecure=INSECURE)
    sub = intake.Submission("correct", toy["subs"] / "correct" / f"{TOY_NAME}.ipynb")
    with pytest.raises(dist.ClusterError, match=r"worker runs cnn-course 0\.1\.0, the client runs cnn-course 9\.9\.9"):
        late.grade_all(toy["assignment"], [sub], insecure=INSECURE, progress=False)


def test_parse_cluster_says_what_is_expected():
    assert dist.parse_cluster("local:3") == 3
    for bad in ("local", "local:0", "remote:2", "local:x"):
        with pytest.raises(ValueError, match="expected local:N"):
            dist.parse_cluster(bad)


# ---------------------------------------------------------------- real dask processes


def _dask_env(tmp: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "1"
    env["DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION"] = "1.0"
    env["DASK_TEMPORARY_DIRECTORY"] = str(tmp / "dask-tmp")
    return env


@pytest.fixture
def real_cluster(tmp_path):
    """A `dask scheduler` and two `dask worker` processes (one thread each) on 127.0.0.1."""
    env = _dask_env(tmp_path)
    sfile = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = []

    def start(name, *args):
        log = open(logs / f"{name}.log", "w")
        procs.append(subprocess.Popen([str(BIN / "dask"), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                      cwd=tmp_path, start_new_session=True))
        return procs[-1]

    sched = start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                  "--scheduler-file", str(sfile))
    deadline = time.monotonic() + 60
    while not sfile.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sfile.is_file(), (logs / "scheduler.log").read_text()
    address = json.loads(sfile.read_text())["address"]
    assert address.startswith("tcp://127.0.0.1:"), address
    for i in range(2):
        start(f"worker{i}", "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
              "--memory-limit", "0", "--name", f"w{i}", "--death-timeout", "30")
    try:
        from distributed import Client

        with Client(address, timeout=30, set_as_default=False) as c:   # both workers joined, on 127.0.0.1 only
            c.wait_for_workers(2, timeout=90)
            workers = c.scheduler_info(n_workers=-1)["workers"]
        where = sorted([a for a in workers] + [w.get("nanny") or "" for w in workers.values()])
        assert len(workers) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in where), where
        yield {"address": address, "scheduler": sched, "logs": logs}
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _grade_args(toy, out, *extra):
    return ["grade", TOY_NAME, str(toy["subs"]), "--out", str(out), "--source-dir", str(toy["tmp"] / "solutions"),
            "--no-gradebook", "--quiet", *(["--insecure"] if INSECURE else []), *extra]


def test_real_scheduler_and_workers_same_results_then_lost_scheduler_and_resume(toy, real_cluster, tmp_path,
                                                                                   monkeypatch, capsys):
    out = tmp_path / "out"
    assert cli.main(_grade_args(toy, out, "--scheduler", real_cluster["address"])) == 0, capsys.readouterr().err
    assert _all_results(out) == toy["expected"], "results on dask scheduler/worker processes differ from threads"

    # The scheduler dies (kill -9) once three students are written: the run stops cleanly.
    out2 = tmp_path / "out2"
    written = []
    original = store.write_student

    def write_then_kill(assignment, result, out_dir):
        path = original(assignment, result, out_dir)
        written.append(result.student_id)
        if len(written) == 3:
            real_cluster["scheduler"].send_signal(signal.SIGKILL)
        return path

    monkeypatch.setattr(store, "write_student", write_then_kill)
    assert cli.main(_grade_args(toy, out2, "--scheduler", real_cluster["address"])) == 1
    err = capsys.readouterr().err
    assert "lost the Dask scheduler" in err and "--resume" in err, err
    monkeypatch.setattr(store, "write_student", original)
    before = {p.parent.name: p.read_bytes() for p in (out2 / "students").glob("*/results.json")}
    assert 3 <= len(before) < len(toy["expected"]), sorted(before)

    # --resume (here on the thread pool) grades only the rest: the stored files stay byte for byte.
    assert cli.main(_grade_args(toy, out2, "--resume", "--workers", "2")) == 0
    after = {p.parent.name: p.read_bytes() for p in (out2 / "students").glob("*/results.json")}
    assert {k: after[k] for k in before} == before, "--resume graded again a student already on disk"
    assert _all_results(out2) == toy["expected"]


def test_unreachable_scheduler_is_a_clear_error(toy, tmp_path, capsys, monkeypatch):
    import socket

    monkeypatch.setattr(dist, "CONNECT_TIMEOUT_S", 2.0)
    with socket.socket() as s:          # a free port on 127.0.0.1 that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli.main(_grade_args(toy, tmp_path / "o", "--scheduler", f"tcp://127.0.0.1:{port}")) == 1
    err = capsys.readouterr().err
    assert f"could not connect to the Dask scheduler at tcp://127.0.0.1:{port}" in err, err


def test_cli_rejects_workers_with_a_cluster(toy, tmp_path, capsys):
    assert cli.main(_grade_args(toy, tmp_path / "o", "--cluster", "local:2", "--workers", "2")) == 2
    assert "--workers sets the thread pool's size" in capsys.readouterr().err
    assert cli.main(_grade_args(toy, tmp_path / "o", "--cluster", "remote:2")) == 2
    assert "expected local:N" in capsys.readouterr().err
