"""Grading throughput: plain ``nbgrader autograde`` vs ``cnn-course grade`` (workers 1 and 2).

The same submissions (by default 12 of ps1_convolution: 4 correct, 4 partly wrong, 4 blank,
generated from the instructor source) are graded three ways; each figure is the wall time
of the whole command, start-up included, as an instructor would run it:

* ``nbgrader autograde <ps>`` in a scratch course folder (after ``generate_assignment``);
* ``cnn-course grade <ps> SUBMISSIONS --workers 1`` with isolation on;
* the same with ``--workers 2``.

Usage: ``python tests/bench/bench_grading.py [--n 12] [--assignment ps1_convolution] [--keep]``.
Prints submissions per minute, seconds per submission and the ratios to nbgrader.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from autograder import release as rel  # noqa: E402
from autograder.samples import TOY_NAME, correct_notebook, partly_wrong_notebook, write_toy_source  # noqa: E402

BIN = Path(sys.executable).parent


def _env(home: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "JUPYTER_CONFIG_DIR": str(home / "jupyter" / "config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter" / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter" / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "mpl"),
        "MPLBACKEND": "Agg",
        "KERAS_HOME": str(home / "keras"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
    })
    env.setdefault("CNN_COURSE_DATA", str(ROOT / ".data"))
    return env


def make_submissions(name: str, source_nb: Path, released_nb: Path, n: int, out: Path) -> list[str]:
    """``out/<sid>/<name>.ipynb`` for n students cycling correct / partly wrong / blank."""
    import nbformat

    source = nbformat.read(str(source_nb), as_version=4)
    kinds = {
        "correct": correct_notebook(source),
        "partly": partly_wrong_notebook(source)[0],
        "blank": nbformat.read(str(released_nb), as_version=4),
    }
    order = list(kinds)
    sids = []
    for i in range(n):
        kind = order[i % len(order)]
        sid = f"s{i:02d}_{kind}"
        (out / sid).mkdir(parents=True)
        rel.write_notebook(kinds[kind], out / sid / f"{name}.ipynb")
        sids.append(sid)
    return sids


def run(cmd, *, cwd, env, label) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{label} failed with exit code {proc.returncode}")
    return dt


def bench_nbgrader(name: str, source_dir: Path, subs: Path, sids: list[str], work: Path, env: dict) -> float:
    course = (work / "nbgrader_course").resolve()
    (course / "source").mkdir(parents=True)
    shutil.copytree(source_dir / name, course / "source" / name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course}/gradebook.db'\n"
        "c.Exchange.root = " + repr(str(course / "exchange")) + "\n"
        "c.ClearSolutions.code_stub = {'python': '# YOUR CODE HERE\\nraise NotImplementedError()'}\n")
    run([str(BIN / "nbgrader"), "generate_assignment", name, "--force"], cwd=course, env=env,
        label="nbgrader generate_assignment")
    for sid in sids:
        dest = course / "submitted" / sid / name
        dest.mkdir(parents=True)
        shutil.copyfile(subs / sid / f"{name}.ipynb", dest / f"{name}.ipynb")
    return run([str(BIN / "nbgrader"), "autograde", name, "--force"], cwd=course, env=env, label="nbgrader autograde")


def bench_cnn_course(name: str, source_dir: Path, subs: Path, workers: int, work: Path, env: dict) -> tuple[float, str]:
    out = work / f"out_w{workers}"
    cmd = [str(BIN / "cnn-course"), "grade", name, str(subs), "--out", str(out), "--workers", str(workers),
           "--no-gradebook", "--quiet", "--source-dir", str(source_dir)]
    dt = run(cmd, cwd=work, env=env, label=f"cnn-course grade --workers {workers}")
    return dt, (out / "grades.csv").read_text()


def engine_seconds(out: Path) -> list[float]:
    """Per-submission grading time the engine recorded (sandbox start, loading, tests)."""
    import json

    return sorted(json.loads(p.read_text())["durations"].get("total_s", 0.0) for p in out.glob("students/*/results.json"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=12, help="number of submissions (default 12)")
    ap.add_argument("--assignment", default=None, help="default: ps1_convolution, else the toy assignment")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cnn-course-bench-", dir=ROOT / "build" if (ROOT / "build").is_dir() else None)).resolve()
    env = _env(work / "home")
    try:
        name = args.assignment or ("ps1_convolution" if (ROOT / "solutions" / "ps1_convolution" / "ps1_convolution.ipynb").is_file() else None)
        if name:
            source_dir = ROOT / "solutions"
        else:
            name, source_dir = TOY_NAME, work / "toy_source"
            write_toy_source(source_dir)
        released = rel.release_one(name, source_dir=source_dir, release_dir=work / "release",
                                   db_url=f"sqlite:///{work}/release.db") / f"{name}.ipynb"
        subs = work / "submissions"
        sids = make_submissions(name, source_dir / name / f"{name}.ipynb", released, args.n, subs)
        n = len(sids)
        print(f"benchmark: {n} submissions of {name} (correct / partly wrong / blank), {os.cpu_count()} cores", flush=True)

        t_nbg = bench_nbgrader(name, source_dir, subs, sids, work, env)
        t_w1, csv1 = bench_cnn_course(name, source_dir, subs, 1, work, env)
        t_w2, csv2 = bench_cnn_course(name, source_dir, subs, 2, work, env)
        if csv1 != csv2:
            print("WARNING: --workers 1 and --workers 2 gave different grades.csv", flush=True)

        def row(label, t):
            return f"  {label:34s} {t:7.1f} s  {60 * n / t:7.1f} submissions/min  {t / n:6.2f} s/submission"

        print(row("nbgrader autograde", t_nbg))
        print(row("cnn-course grade --workers 1", t_w1))
        print(row("cnn-course grade --workers 2", t_w2))
        secs = engine_seconds(work / "out_w1")
        if secs:
            print(f"  per submission inside cnn-course (workers 1, results.json total_s): median {secs[len(secs) // 2]:.2f} s, "
                  f"max {secs[-1]:.2f} s; the rest of the wall time is start-up (imports) and writing outputs")
        print(f"  ratio (throughput vs nbgrader): workers 1 = {t_nbg / t_w1:.2f}x, workers 2 = {t_nbg / t_w2:.2f}x "
              f"(goal: >= 10x with isolation on)")
        print("  grades (workers 2):")
        print("    " + csv2.strip().replace("\n", "\n    "))
    finally:
        if args.keep:
            print(f"scratch folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
