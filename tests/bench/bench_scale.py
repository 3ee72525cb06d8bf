"""Grading at scale: the thread pool vs a local Dask cluster, and a projection to a course.

1. Generates N ps1_convolution submissions (default 1,000) under ``build/bench-scale/``,
   cycling through varied kinds: the correct notebook, the blank release, partly wrong ones
   (each graded function replaced in turn, autograder/samples.py) and the known-wrong mutants
   of tests/mutants/ps1/ (every ``__`` variant). Each notebook carries its student id in its
   metadata, so no two are byte-identical.
2. Grades them with the thread pool (``--workers W``) and with ``--cluster local:W`` (same
   W), in this process through :func:`autograder.batch.grade_folder`, as ``cnn-course grade``
   does; prints each one's throughput, the cluster's start-up, the ratio (goal: the cluster
   within 10 % of the thread pool on one machine) and whether every results.json (timings
   aside) is identical between the two.
3. Measures the per-submission cost of the other assignments (``--others K`` submissions
   each: correct, partly wrong, blank...; 0 skips them and uses ps1's cost for all five),
   after one warm-up submission (a worker's one-time imports and sandbox template), and
   the client's cost per result (writing results.json and feedback.html), then projects the
   wall time of 10,000 students x 5 assignments on 1, 10 and 100 workers (one worker = one
   single-threaded Dask worker process = one core).

Usage: ``python tests/bench/bench_scale.py [--n 1000] [--workers 2] [--others 2] [--repeat 1] [--keep]``.
Not collected by pytest (``make bench`` runs it). The figures are wall-clock times on this
machine: on a machine shared with other jobs they are pessimistic.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "mutants"))

for _k, _v in {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg",
               "CNN_COURSE_DATA": str(ROOT / ".data"), "KERAS_HOME": str(ROOT / "build" / "home" / "keras"),
               "OMP_NUM_THREADS": "1"}.items():
    os.environ.setdefault(_k, _v)

import nbformat  # noqa: E402

from autograder import batch, store  # noqa: E402
from autograder.assignment import load_assignment  # noqa: E402
from autograder.engine import isolation_available  # noqa: E402
from autograder.release import find_assignments, write_notebook  # noqa: E402
from autograder.samples import correct_notebook, partly_wrong_notebook  # noqa: E402

PS1 = "ps1_convolution"
STUDENTS, ASSIGNMENTS, WORKER_COUNTS = 10_000, 5, (1, 10, 100)


def variants(name: str) -> list[tuple[str, nbformat.NotebookNode]]:
    """``[(kind, notebook)]``: correct, blank, one partly wrong per graded function, and (for
    ps1) every mutant of tests/mutants/ps1/mutants.py."""
    source_path = ROOT / "solutions" / name / f"{name}.ipynb"
    source = nbformat.read(str(source_path), as_version=4)
    out = [("correct", correct_notebook(source))]
    released = ROOT / "exercises" / name / f"{name}.ipynb"
    if released.is_file():
        out.append(("blank", nbformat.read(str(released), as_version=4)))
    functions: list[str] = []
    if name == PS1:
        from ps1.harness import H

        functions = [f for f in H.FUNCTIONS if not f.startswith("answer_")]
        for mutant, (target, src) in sorted(H.load_mutants().items()):
            out.append((f"mutant-{mutant}", H.replace_solution(source, {target: src})))
    for f in functions or [None]:
        try:
            nb, replaced = partly_wrong_notebook(source, f)
        except (KeyError, ValueError):
            continue
        out.append((f"partly-{replaced}", nb))
    return out


def make_submissions(name: str, n: int, folder: Path) -> dict[str, int]:
    """``folder/<sid>/<name>.ipynb`` for n students; returns how many of each kind."""
    kinds = variants(name)
    random.Random(0).shuffle(kinds)      # a mix of kinds for any n, the same every run
    counts: dict[str, int] = {}
    for i in range(n):
        kind, nb = kinds[i % len(kinds)]
        nb = nbformat.from_dict(nb)
        nb.metadata["bench_student"] = f"s{i:05d}"
        d = folder / f"s{i:05d}"
        d.mkdir(parents=True)
        write_notebook(nb, d / f"{name}.ipynb")
        counts[kind.split("-")[0]] = counts.get(kind.split("-")[0], 0) + 1
    return counts


def normalized(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("durations", None)
    for t in data.get("tests", []):
        t.pop("duration_s", None)
        t.pop("cpu_s", None)
    return json.dumps(data, sort_keys=True)


def other_costs(names: list[str], k: int, work: Path, insecure: bool) -> dict[str, dict]:
    """Per assignment: mean seconds per submission (one at a time) and where they go."""
    from autograder.engine import grade_notebook

    costs = {}
    for name in names:
        assignment = load_assignment(name, source_dir=ROOT / "solutions")
        rows = []
        for i, (kind, nb) in enumerate(variants(name)[:k]):
            path = work / "others" / name / kind / f"{name}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_notebook(nb, path)
            if i == 0:
                # Once per worker process, not per submission: the grader's own imports
                # (torch, TensorFlow) and the assignment's sandbox template. Not counted.
                t0 = time.perf_counter()
                grade_notebook(assignment, path, kind, insecure=insecure)
                print(f"  {name} warm-up (grader imports, sandbox template) {time.perf_counter() - t0:6.1f} s",
                      flush=True)
            t0 = time.perf_counter()
            res = grade_notebook(assignment, path, kind, insecure=insecure)
            rows.append({"wall_s": time.perf_counter() - t0, **res.durations})
            print(f"  {name} {kind:10s} {rows[-1]['wall_s']:6.1f} s  (sandbox start "
                  f"{res.durations.get('sandbox_start_s', 0):.1f}, load {res.durations.get('load_s', 0):.1f}, tests "
                  f"{res.durations.get('tests_s', 0):.1f}, starts {res.durations.get('sandbox_starts', 0)})", flush=True)
        costs[name] = {key: statistics.mean(r.get(key, 0) for r in rows)
                       for key in ("wall_s", "sandbox_start_s", "load_s", "tests_s")}
        costs[name]["max_wall_s"] = max(r["wall_s"] for r in rows)
    return costs


def fmt_h(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="ps1 submissions to generate and grade (default 1000)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                    help="threads of the pool and worker processes of the local cluster (default: the cores)")
    ap.add_argument("--others", type=int, default=2,
                    help="submissions of each other assignment to time for the projection (0: use ps1's cost)")
    ap.add_argument("--work", default=str(ROOT / "build" / "bench-scale"), help="scratch folder (emptied first)")
    ap.add_argument("--repeat", type=int, default=1, help="grade R times each way, alternating; best times count")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args(argv)
    if min(args.n, args.workers, args.repeat) < 1:
        ap.error("--n, --workers and --repeat must be at least 1")
    insecure = isolation_available() is None
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ.setdefault("TMPDIR", str(work / "tmp"))
    Path(os.environ["TMPDIR"]).mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = None
    try:
        subs = work / "subs"
        counts = make_submissions(PS1, args.n, subs)
        print(f"{args.n} {PS1} submissions ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}); "
              f"{args.workers} workers; isolation: {'none (insecure)' if insecure else 'sandbox'}", flush=True)
        assignment = load_assignment(PS1, source_dir=ROOT / "solutions")

        from autograder.distributed import DaskRunner

        def threads():
            shutil.rmtree(work / "out-threads", ignore_errors=True)
            t0 = time.perf_counter()
            res, _ = batch.grade_folder(assignment, subs, work / "out-threads", workers=args.workers,
                                        insecure=insecure, progress=True)
            return res, time.perf_counter() - t0

        def dask():
            shutil.rmtree(work / "out-dask", ignore_errors=True)
            t0 = time.perf_counter()
            with DaskRunner(cluster=f"local:{args.workers}", insecure=insecure) as runner:
                t_start = time.perf_counter() - t0
                res, _ = batch.grade_folder(assignment, subs, work / "out-dask", insecure=insecure, progress=True,
                                            runner=runner)
                t_grade = time.perf_counter() - t0 - t_start
            return res, time.perf_counter() - t0, t_start, t_grade

        runs_t, runs_d = [], []
        for rep in range(args.repeat):      # alternate the order: drifting load on a shared machine
            if rep % 2 == 0:
                runs_t.append(threads())
                runs_d.append(dask())
            else:
                runs_d.append(dask())
                runs_t.append(threads())
            print(f"run {rep + 1}: threads {runs_t[-1][1]:.1f} s, Dask {runs_d[-1][1]:.1f} s "
                  f"(start-up {runs_d[-1][2]:.1f} s)", flush=True)
        res_threads, t_threads = min(runs_t, key=lambda r: r[1])
        res_dask, t_dask, t_start, t_grade = min(runs_d, key=lambda r: r[1])

        same, differ = 0, []
        for r in res_threads:
            a, b = (json.loads(normalized(work / out / "students" / r.student_id / "results.json"))
                    for out in ("out-threads", "out-dask"))
            if a == b:
                same += 1
            else:   # e.g. a wall-clock backstop reached on an overloaded machine
                keys = sorted(k for k in a if a[k] != b.get(k))
                tests = [f"{x['name']}: {x['status']}/{y['status']}" for x, y in zip(a["tests"], b["tests"]) if x != y]
                differ.append(f"{r.student_id} ({', '.join(keys)}{'; ' + ', '.join(tests[:3]) if tests else ''})")
        n = args.n
        thr_threads, thr_dask, thr_dask_run = 60 * n / t_threads, 60 * n / t_dask, 60 * n / t_grade
        ratio = thr_dask / thr_threads
        best = f"best of {args.repeat} " if args.repeat > 1 else ""
        print(f"\n{best}thread pool ({args.workers} threads):   {t_threads:8.1f} s  {thr_threads:7.1f} submissions/min")
        print(f"Dask local:{args.workers} (start-up incl.): {t_dask:8.1f} s  {thr_dask:7.1f} submissions/min "
              f"(start-up {t_start:.1f} s; grading alone {t_grade:.1f} s, {thr_dask_run:.1f}/min)")
        print(f"ratio Dask / threads: {ratio:.3f} with start-up, {thr_dask_run / thr_threads:.3f} without "
              f"(goal >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")
        print(f"results.json identical (timings aside): {same} of {len(res_threads)}"
              + (f"; differ: {'; '.join(differ[:5])}" if differ else ""))

        # Costs for the projection.
        ps1_cost = t_threads * args.workers / n      # worker-seconds per submission, in the steady state
        t0 = time.perf_counter()
        scratch = work / "client-cost"
        for r in res_dask:
            store.write_student(assignment, r, scratch)
        client_s = (time.perf_counter() - t0) / max(1, len(res_dask))
        costs, worst = {PS1: ps1_cost}, {PS1: ps1_cost}
        others = [a for a in find_assignments(ROOT / "solutions") if a != PS1]
        if args.others > 0 and others:
            print(f"\nper-submission cost of the other assignments ({args.others} each, one at a time):", flush=True)
            measured = other_costs(others, args.others, work, insecure)
            costs.update({k: v["wall_s"] for k, v in measured.items()})
            worst.update({k: v["max_wall_s"] for k, v in measured.items()})
        while len(costs) < ASSIGNMENTS:
            worst[f"(as {PS1} #{len(costs)})"] = ps1_cost
            costs[f"(as {PS1} #{len(costs)})"] = ps1_cost
        costs = dict(list(costs.items())[:ASSIGNMENTS])
        total = sum(costs.values())
        total_worst = sum(list(worst.values())[:ASSIGNMENTS])
        print("\nmeasured cost per submission (one worker): "
              + ", ".join(f"{k} {v:.2f} s" for k, v in costs.items())
              + f"; client writes a result in {1000 * client_s:.1f} ms")
        print(f"projection: {STUDENTS:,} students x {ASSIGNMENTS} assignments = {STUDENTS * ASSIGNMENTS:,} "
              f"submissions, {STUDENTS * total / 3600:.0f} worker-hours")
        for w in WORKER_COUNTS:
            compute = STUDENTS * total / w
            client = STUDENTS * ASSIGNMENTS * client_s
            wall = max(compute, client) + ASSIGNMENTS * t_start
            bound = "client-bound" if client > compute else "worker-bound"
            wall_worst = max(STUDENTS * total_worst / w, client) + ASSIGNMENTS * t_start
            print(f"  {w:4d} workers: {fmt_h(wall):>9s}  ({bound}; per assignment {fmt_h(wall / ASSIGNMENTS)}; "
                  f"{fmt_h(wall_worst)} if every submission costs the slowest kind timed)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
