"""Per-submission grading time with and without sandbox templates (issue 12, item 4).

For each assignment, grades the sample *correct* submission (the instructor source with
its solutions, hidden tests removed) several times in this process, as one worker of a
batch does, two ways:

* **fresh**: every sandbox is a new process that imports numpy, torch or TensorFlow itself
  (``CNN_COURSE_TEMPLATE=0``, the engine before templates), after one warm-up submission
  (the grader's own imports are not counted);
* **template**: every sandbox is forked from the assignment's template, which imported the
  ``[sandbox] preload`` modules once (autograder/zygote.py). Its one-time start is printed
  separately; the medians are over the submissions after it.

Prints, per assignment, the median seconds per submission (total, sandbox start, load of the
student's code, tests), the ratio fresh / template, and the issue's goal: at most 1.5 s for
ps3 and 3 s for ps4 on 2 cores. ps1's throughput against ``nbgrader autograde`` is measured
by bench_grading.py.

    .venv/bin/python tests/bench/bench_startup.py [--n 5] [--fresh-n 2] [--assignments ps1_convolution ps3_lenet]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder import sandbox as S  # noqa: E402
from autograder.isolation.templates import close_templates  # noqa: E402
from autograder.assignment import load_assignment  # noqa: E402
from autograder.engine import grade_notebook, isolation_available  # noqa: E402
from autograder.samples import correct_notebook  # noqa: E402

GOALS = {"ps3_lenet": 1.5, "ps4_transfer": 3.0}
KEYS = ("total_s", "sandbox_start_s", "load_s", "tests_s")


def grade_times(a, path: Path, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        r = grade_notebook(a, path, "bench")
        if r.score != r.max_score:
            bad = [t.name for t in r.tests if t.status != "passed"]
            raise SystemExit(f"{a.name}: the correct sample scored {r.score}/{r.max_score} (failed: {bad})")
        rows.append(r.durations)
    return rows


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5, help="submissions graded with templates (after the first)")
    ap.add_argument("--fresh-n", type=int, default=2, help="submissions graded with fresh sandboxes")
    ap.add_argument("--assignments", nargs="*", default=["ps1_convolution", "ps2_shapes", "ps3_lenet", "ps4_transfer",
                                                          "ps5_backprop"])
    args = ap.parse_args(argv)
    if isolation_available() is None:
        print("no sandbox isolation here (needs root and unshare): templates are not used; nothing to compare")
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=ROOT / "build" if (ROOT / "build").is_dir() else None))
    print(f"Grading the correct sample of each assignment in one process ({os.cpu_count()} cores); "
          f"medians in seconds per submission.")
    summary = []
    for name in args.assignments:
        a = load_assignment(name, source_dir=ROOT / "solutions")
        src = ROOT / "solutions" / name / f"{name}.ipynb"
        path = work / name / "s" / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(correct_notebook(nbformat.read(str(src), as_version=4)), str(path))

        S.USE_TEMPLATES = False
        grade_times(a, path, 1)        # warm-up: the grader's own imports (torch, TensorFlow) are not counted
        fresh = grade_times(a, path, args.fresh_n)
        S.USE_TEMPLATES = True
        t0 = time.monotonic()
        grade_times(a, path, 1)            # starts the template
        first_s = time.monotonic() - t0
        steady = grade_times(a, path, args.n)
        preload = ", ".join(a.sandbox_preload) or "numpy only"
        print(f"\n{name} (template preloads: {preload})")
        print(f"  {'':9s} {'total':>7s} {'start':>7s} {'load':>7s} {'tests':>7s}")
        for label, rows in (("fresh", fresh), ("template", steady)):
            print(f"  {label:9s} " + " ".join(f"{med(rows, k):7.2f}" for k in KEYS) + f"   (n={len(rows)})")
        ratio = med(fresh, "total_s") / med(steady, "total_s")
        print(f"  first submission with a template (starts it): {first_s:.2f} s; "
              f"fresh / template: {ratio:.1f}x")
        goal = GOALS.get(name)
        if goal:
            got = med(steady, "total_s")
            print(f"  goal: median at most {goal:g} s per correct submission: {got:.2f} s, "
                  f"{'met' if got <= goal else 'NOT met'}")
        summary.append((name, med(fresh, "total_s"), med(steady, "total_s"), ratio))
    close_templates()
    print("\nsummary (median s per correct submission): " +
          "; ".join(f"{n} {f:.2f} -> {t:.2f} ({r:.1f}x)" for n, f, t, r in summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
