"""The ``cnn-course`` command line: ``release``, ``check``, ``grade``, ``demo``, ``export``,
``gradescope`` and ``similarity``.

Run ``cnn-course COMMAND --help`` for the options of each command. Exit codes:
0 success (``check``: every public test passed), 1 ``check`` found failing tests or a
command failed, 2 usage error (unknown assignment, missing file, bad option).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from autograder.course import ConfigError, Course
from autograder.roster import ROSTER_COLUMNS, roster_ids

# nbformat validates notebooks with jsonschema, which imports rfc3987_syntax when it is
# installed (jupyter-events pulls it in through jsonschema[format-nongpl]) to check "iri"
# strings; that module builds a Lark parser at import, 1.5 s of CPU in every command. No
# notebook, nbgrader or cnn-course schema uses the "iri" formats, so commands skip it.
sys.modules.setdefault("rfc3987_syntax", None)

USAGE_ERROR = 2
# The course is located once, in main() (--course, or the folder run in): this is the only
# place that calls Course.locate(); every command gets it and passes its folders down.


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


def _say(*args, **kwargs):
    print(*args, **kwargs, flush=True)


def _fmt(x) -> str:
    from autograder.text import fmt_num

    return fmt_num(x)


# ---------------------------------------------------------------- release


def cmd_release(args, course: Course) -> int:
    from autograder import release as rel

    src = Path(args.source_dir) if args.source_dir else course.source
    dest = Path(args.release_dir) if args.release_dir else course.release
    names = args.assignments or rel.find_assignments(src)
    if not names:
        raise UsageError(f"no assignment found in {src} (expected <ps>/<ps>.ipynb).")
    known = rel.find_assignments(src)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown assignment(s) {', '.join(unknown)}; the sources in {src} are: {', '.join(known) or 'none'}.")
    db_url = args.gradebook or course.ensure_db_folder()
    for name in names:
        t0 = time.perf_counter()
        try:
            out = rel.release_one(name, source_dir=src, release_dir=dest, db_url=db_url, config_file=course.config_file)
        except rel.ReleaseError as exc:
            _say(f"release {name}: FAILED\n{exc}", file=sys.stderr)
            return 1
        files = sorted(p.name for p in out.iterdir())
        _say(f"released {name} -> {_rel(out)}  ({', '.join(files)}; checked: no solution or hidden-test "
             f"line survived; {time.perf_counter() - t0:.1f} s)")
    _say(f"gradebook: {db_url}")
    return 0


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


# ---------------------------------------------------------------- check


def _find_release_for(nb_path: Path) -> tuple[str, Path | None]:
    """(assignment name, folder holding ``<name>/<name>.ipynb`` in a pristine release or None)."""
    import json

    candidates = []
    try:
        meta = json.loads(nb_path.read_text(encoding="utf-8")).get("metadata", {})
        for key in ("cnn_course", "nbgrader"):
            name = (meta.get(key) or {}).get("assignment")
            if isinstance(name, str) and name:
                candidates.append(name)
    except Exception:
        pass
    stem = nb_path.stem
    candidates += [stem, stem.split("-")[0].split(" ")[0].split(".")[0], nb_path.parent.name]
    seen, names = set(), []
    for c in candidates:
        if c and c not in seen:
            seen.add(c)
            names.append(c)
    for folder in [nb_path.parent, *nb_path.parent.parents]:
        for name in names:
            for base in (folder / "exercises", folder):
                pristine = base / name / f"{name}.ipynb"
                if pristine.is_file() and pristine.resolve() != nb_path.resolve():
                    return name, base
    # The notebook is itself the released copy (or a lone copy): use its own public tests.
    for name in names:
        for folder in [nb_path.parent, *nb_path.parent.parents]:
            if (folder / "exercises" / name).is_dir():
                return name, None
    return (names[1] if len(names) > 1 else stem), None


def _load_for_check(nb_path: Path, name_override: str | None):
    from autograder.assignment import load_assignment

    name, base = _find_release_for(nb_path)
    name = name_override or name
    if base is not None and (base / name / f"{name}.ipynb").is_file():
        return load_assignment(name, source_dir=base, released=True), f"{_rel(base / name / (name + '.ipynb'))}", None
    # Fall back to the notebook itself: copy it (and grading.toml beside it) as a one-off release.
    tmp = Path(tempfile.mkdtemp(prefix="cnn-course-check-"))
    (tmp / name).mkdir()
    shutil.copyfile(nb_path, tmp / name / f"{name}.ipynb")
    if (nb_path.parent / "grading.toml").is_file():
        shutil.copyfile(nb_path.parent / "grading.toml", tmp / name / "grading.toml")
    return load_assignment(name, source_dir=tmp, released=True, own_copy=True), f"{nb_path.name} itself", tmp


def _wrap(text: str, indent: str) -> str:
    return "\n".join(indent + line for line in text.strip().splitlines())


def cmd_check(args, course: Course) -> int:
    # The student's self-check needs no course: the assignment comes from the notebook's own
    # folder (its pristine release, else the notebook itself), in any folder, installed or not.
    from autograder.engine import grade_notebook, isolation_available
    from autograder.results import HIDDEN, INVALID, PASSED

    nb_path = Path(args.notebook)
    if not nb_path.is_file():
        raise UsageError(f"NOTEBOOK={args.notebook!r} " + ("is a folder: give the notebook file (.ipynb) in it" if
                         nb_path.is_dir() else "does not exist (expected the path of your .ipynb file)") + ".")
    try:
        assignment, origin, tmp = _load_for_check(nb_path, args.assignment)
    except ConfigError:
        raise                   # a bad grading.toml: the message names the file, the key and the fix
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise UsageError(f"could not find the assignment of {nb_path.name}: {exc}. Pass --assignment NAME.") from None
    toml_home = (None if (assignment.path.parent / "grading.toml").is_file()      # before tmp goes
                 else nb_path.parent if tmp is not None else assignment.path.parent)
    try:
        insecure = args.insecure
        if not insecure and isolation_available() is None:
            insecure = True  # your own machine, your own code: no sandbox is needed for a self-check
        result = grade_notebook(assignment, nb_path, "self-check", insecure=insecure, public_only=True,
                                limits=_limits(args), seed=0)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    _say(f"Self-check of {nb_path.name} ({assignment.name}); public tests from {origin}")
    if toml_home is not None:
        _say(f"  warning: grading.toml was not found next to the notebook, so forbidden-API checks are off: "
             f"put the exercise's grading.toml in {_rel(toml_home.resolve())}/ beside {nb_path.name}.")
    if result.status == INVALID:
        _say(f"  The notebook could not be read: {result.message}")
        return 1
    if result.message:
        _say(_wrap(result.message, "  note: "))
    public = [t for t in result.tests if t.visibility != HIDDEN]
    width = max([len(t.name) for t in public] + [4])
    for t in public:
        _say(f"  {t.status:9s} {_fmt(t.points):>4s}/{_fmt(t.max_points):<4s} {t.name:{width}s}")
        if t.message and t.status != PASSED:
            _say(_wrap(t.message, " " * 12))
    got, out_of = sum(t.points for t in public), sum(t.max_points for t in public)
    n_pass = sum(t.status == PASSED for t in public)
    _say(f"Public tests: {_fmt(got)} / {_fmt(out_of)} points ({n_pass} of {len(public)} tests passed).")
    hidden, hidden_points = assignment.hidden_count, float(assignment.hidden_points or 0.0)
    manual = float(getattr(assignment, "manual_max", 0.0) or 0.0)
    line = (f"{hidden} hidden tests worth {_fmt(hidden_points)} points run when you submit"
            if hidden_points else f"{hidden} hidden tests are not run here; they are run when you submit")
    if manual:
        n_manual = len(getattr(assignment, "manual", []))
        line += f"; {_fmt(manual)} points ({n_manual} written answer{'s' if n_manual != 1 else ''}) are graded by hand"
    _say(line + ".")
    return 0 if n_pass == len(public) else 1


# ---------------------------------------------------------------- grade


def _limits(args) -> dict | None:
    limits = {}
    for key in ("cpu_per_test", "cpu_per_submission", "memory_mb", "wall_factor"):
        value = getattr(args, key, None)
        if value is not None:
            limits[key] = value
    return limits or None


def _load_for_grade(name: str, source_dir: str | None, course: Course):
    from autograder.assignment import load_assignment

    src = Path(source_dir) if source_dir else course.source
    if not (src / name / f"{name}.ipynb").is_file():
        from autograder.release import find_assignments

        raise UsageError(f"unknown assignment {name!r}: no {src / name / (name + '.ipynb')}; "
                         f"known: {', '.join(find_assignments(src)) or 'none'}.")
    return load_assignment(name, source_dir=src)


def _require_isolation(insecure: bool) -> None:
    from autograder.engine import isolation_available

    if insecure:
        _say("WARNING: --insecure: student code runs WITHOUT the sandbox; only grade code you trust.", file=sys.stderr)
        return
    if isolation_available() is None:
        from autograder.isolation.probe import why_no_isolation

        why = why_no_isolation()
        raise UsageError("no sandbox is available on this machine" + (f": {why}" if why else
                         " (namespaces, uid switch, rlimits)") + "; refusing to run student code without "
                         "isolation. Pass --insecure to grade code you trust anyway.")


def _shown(text) -> str:
    """A string from a submission (a student id, a message) as the terminal may print it: control
    and format characters (ESC, BEL, bidi overrides...) written out as ``\\x1b``..."""
    from autograder.text import visible

    return visible(text)


def print_table(results) -> None:
    from autograder.results import SubmissionStatus

    ids = {r.student_id: _shown(r.student_id) for r in results}
    width = min(max([len(i) for i in ids.values()] + [7]), 60)
    _say(f"{'student':{width}s}  {'score':>9s}  status   tests")
    for r in results:
        counts = Counter(t.status for t in r.tests)
        summary = ", ".join(f"{n} {_shown(s)}" for s, n in sorted(counts.items()))
        if r.status == SubmissionStatus.INVALID:
            summary = _shown(r.message[:70])
        _say(f"{ids[r.student_id]:{width}s}  {_fmt(r.score):>4s}/{_fmt(r.max_score):<4s}  {_shown(r.status):8s} {summary}")


def _course_folders(course: Course | None, args) -> list[str]:
    """What the sandbox must hide besides the package's own tree: the course's folder and the
    instructor sources graded from (hidden tests, the gradebook, other students' work)."""
    if course is None:
        return []
    folders = {str(course.root), str(course.source)}
    if getattr(args, "source_dir", None):
        folders.add(str(Path(args.source_dir).resolve()))
    return sorted(folders)


def run_grade(assignment, submissions, out_dir, args, db_url, course: Course | None = None) -> tuple[list, dict]:
    from autograder.batch import grade_folder

    t0 = time.perf_counter()
    people = _roster(getattr(args, "roster", None))
    cluster, scheduler = getattr(args, "cluster", None), getattr(args, "scheduler", None)
    threads = args.workers or os.cpu_count() or 1
    runner, fanout = None, f"{threads} worker{'' if threads == 1 else 's'}"
    if cluster or scheduler:   # Dask (autograder/distributed.py); raises ClusterError
        from autograder.distributed import DaskRunner

        runner = DaskRunner(cluster=cluster, scheduler=scheduler, insecure=args.insecure).connect()
        fanout = f"Dask {cluster or scheduler}, {runner.n_threads()} worker thread(s)"
    try:
        results, paths = grade_folder(
            assignment, submissions, out_dir, workers=args.workers, insecure=args.insecure, limits=_limits(args),
            seed=args.seed, progress=not args.quiet, db_url=db_url, resume=getattr(args, "resume", False),
            runner=runner, students=getattr(args, "student", None) or None,
            regrade_stale=getattr(args, "regrade_stale", False), roster=roster_ids(people) if people else None,
            roster_rows=people,
            due=_due(getattr(args, "due", None)), late_policy=getattr(args, "late_penalty", None),
            autograded_root=_autograded_root(db_url, course), submitted_at=getattr(args, "submitted_at", None),
            zip_tz=getattr(args, "zip_tz", None), hide=_course_folders(course, args))
    finally:
        if runner is not None:
            runner.close()
    dt = time.perf_counter() - t0
    for note in paths.get("time_notes") or []:
        _say(f"note: {_shown(note)}", file=sys.stderr)
    n, kept = paths.get("graded", len(results)), paths.get("resumed", 0)
    rate = f"{60 * n / dt if dt else 0:.1f} per minute, {dt / n:.2f} s each, " if n else ""
    _say(f"graded {n} submission(s) of {assignment.name}" + (f", kept {kept} graded before (--resume)" if kept else "")
         + f" in {dt:.1f} s ({rate}{fanout})")
    return results, paths


def _roster(path) -> list[dict] | None:
    """The roster's rows (student ids and LMS ids: canvas_id, sis_login_id...), or None."""
    if not path:
        return None
    from autograder.roster import RosterError, read_roster

    try:
        return read_roster(path)
    except RosterError as exc:
        raise UsageError(f"--roster: {exc}") from None


def _due(text):
    from autograder.lateness import parse_due

    return parse_due(text)


def _autograded_root(db_url, course: Course | None):
    """nbgrader's autograded folder of the course, when grading into the course's gradebook."""
    if not db_url or course is None:
        return None
    return course.autograded if db_url == course.db_url else None


def _print_paths(paths, out_dir, course: Course | None = None) -> None:
    _say(f"  grades:    {_rel(paths['grades'])}")
    _say(f"  report:    {_rel(paths['report'])}  (histogram: {_rel(paths['histogram'])})")
    _say(f"  feedback:  {_rel(Path(out_dir))}/students/<student_id>/feedback.html and results.json")
    if paths.get("resumed"):
        _say(f"  resumed:   {paths['resumed']} student(s) kept from the earlier run (same notebook, same tests)")
    stale = paths.get("stale") or []
    if stale:
        _say(f"  NOTE: {len(stale)} students were graded with an older version of the tests; "
             "`--regrade-stale` regrades them")
    waiting = sum(1 for r in paths.get("results", []) if getattr(r, "needs_manual_grading", False))
    if waiting:
        _say(f"  {waiting} student(s) have answers awaiting grading by hand: grade them in formgrader (run "
             "`jupyter lab` or `jupyter notebook` in the course folder and open its Formgrader tab or menu), then "
             "`cnn-course report ASSIGNMENT` (or grade again) to include the scores")
    off = paths.get("off_roster") or []
    if off:
        _say(f"  NOTE: {len(off)} student(s) handed in but are not on the roster: "
             + ", ".join(_shown(s) for s in off[:10]) + (" ..." if len(off) > 10 else ""))
    if paths.get("gradebook"):
        db = paths["gradebook"]
        how = "`nbgrader export`" if course is not None and db == course.db_url else f"`nbgrader export --db {db}`"
        _say(f"  gradebook: {db}  ({how} lists the scores)")
        for note in paths.get("gradebook_notes") or []:
            _say(f"  note: {note}")


def cmd_grade(args, course: Course) -> int:
    from autograder.intake import BatchError

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}.")
    if (args.cluster or args.scheduler) and args.workers is not None:
        raise UsageError("--workers sets the thread pool's size; with --cluster local:N give N there, "
                         "with --scheduler the cluster's workers are used.")
    if args.cluster:
        from autograder.distributed import parse_cluster

        try:
            parse_cluster(args.cluster)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    assignment = _load_for_grade(args.assignment, args.source_dir, course)
    if args.scheduler:   # the workers grade: each is checked for isolation when the run connects
        if args.insecure:
            _require_isolation(True)
    else:
        _require_isolation(args.insecure)
    out_dir = Path(args.out) if args.out else course.grades_for(assignment.name)
    db_url = None if args.no_gradebook else (args.gradebook or course.ensure_db_folder())
    from autograder.distributed import ClusterError

    try:
        results, paths = run_grade(assignment, args.submissions, out_dir, args, db_url, course)
    except BatchError as exc:
        raise UsageError(str(exc)) from None
    except ClusterError as exc:
        _say(f"cnn-course grade: error: {exc}", file=sys.stderr)
        return 1
    print_table(results)
    _print_paths(paths, out_dir, course)
    return 0


def cmd_report(args, course: Course) -> int:
    from autograder.batch import refresh_folder
    from autograder.intake import BatchError

    assignment = _load_for_grade(args.assignment, args.source_dir, course)
    out_dir = Path(args.out) if args.out else course.grades_for(assignment.name)
    db_url = None if args.no_gradebook else (args.gradebook or course.ensure_db_folder())
    try:
        paths = refresh_folder(assignment, out_dir, db_url)
    except BatchError as exc:
        raise UsageError(str(exc)) from None
    _say(f"{assignment.name}: {len(paths['results'])} students; {paths['changed']} score(s) changed by grades "
         "entered by hand")
    _print_paths(paths, out_dir, course)
    return 0


# ---------------------------------------------------------------- demo


def cmd_demo(args, course: Course) -> int:
    from autograder import release as rel
    from autograder.samples import build_samples

    _require_isolation(args.insecure)
    names = rel.find_assignments(course.source)
    if not names:
        raise UsageError(f"no assignment in {course.source}: nothing to demonstrate.")
    _say(f"== 1. release {', '.join(names)} into {_rel(course.release)}/")
    demo = course.build / "demo"
    for old in (demo / "gradebook.db", demo / "grades", demo / "submissions"):  # a fresh demo every time
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    demo.mkdir(parents=True, exist_ok=True)   # a fresh clone has no build/ yet (sqlite cannot create folders)
    db_url = "sqlite:///" + str(demo / "gradebook.db")
    code = cmd_release(argparse.Namespace(assignments=names, source_dir=None, release_dir=None, gradebook=db_url), course)
    if code:
        return code
    status = 0
    for name in (args.assignments or names):
        released = course.release / name / f"{name}.ipynb"
        source = course.source / name / f"{name}.ipynb"
        subs_dir = demo / "submissions" / name
        _say(f"\n== 2. sample submissions of {name} -> {_rel(subs_dir)}")
        build_samples(source, released, subs_dir)
        for kind in sorted(p.name for p in subs_dir.iterdir()):
            _say(f"   {kind}/{released.name}")
        _say(f"\n== 3. cnn-course grade {name} {_rel(subs_dir)}")
        assignment = _load_for_grade(name, None, course)
        out_dir = demo / "grades" / name
        results, paths = run_grade(assignment, subs_dir, out_dir, args, db_url, course)
        print_table(results)
        _print_paths(paths, out_dir, course)
    _say(f"\nOpen {_rel(demo / 'grades')}/<assignment>/report.html in a browser for the class report.")
    return status


# ---------------------------------------------------------------- export, gradescope, similarity


def cmd_export(args, course: Course) -> int:
    from autograder import export as ex

    if bool(args.assignment) == bool(args.all):
        raise UsageError("give one ASSIGNMENT or --all (not both, not neither).")
    if args.roster and not Path(args.roster).is_file():
        raise UsageError(f"--roster {args.roster!r} does not exist (expected a CSV: {','.join(ROSTER_COLUMNS)}).")
    if args.all:
        root = Path(args.grades) if args.grades else course.grades
        from autograder.release import find_assignments

        known = find_assignments(course.source) if (not args.grades and course.source.is_dir()) else None
        early: list[str] = []
        names = ex.find_graded_assignments(root, known, problems=early)
        for p in early:
            _say(f"warning: {_shown(p)}", file=sys.stderr)
        if not names:
            raise UsageError(f"--all: no graded assignment in {root} (expected <assignment>/students/<id>/results.json).")
        folders = {n: root / n for n in names}
    else:
        folders = {args.assignment: Path(args.grades) if args.grades else course.grades / args.assignment}
    ids = {}
    for item in args.canvas_assignment_id or []:
        name, _, cid = item.rpartition("=")
        ids[name or (args.assignment or "")] = cid
    db_url = args.gradebook or course.ensure_db_folder()
    problems: list[str] = []
    try:
        info = ex.export(args.format, folders, args.out, db_url=db_url, roster=args.roster, assignment_ids=ids,
                         problems=problems)
    except ex.ExportError as exc:
        raise UsageError(str(exc)) from None
    for p in problems:
        _say(f"warning: {_shown(p)}", file=sys.stderr)
    where = _rel(Path(args.out)) if len(info["paths"]) > 1 else _rel(info["paths"][0])
    _say(f"exported {info['students']} student(s) of {', '.join(info['assignments'])} as {args.format} -> {where}"
         + (f" ({len(info['paths'])} files)" if len(info["paths"]) > 1 else ""))
    return 0


def cmd_gradescope(args, course: Course) -> int:
    from autograder.gradescope import GradescopeError, build_autograder_zip

    _load_for_grade(args.assignment, args.source_dir, course)  # a clear error for an unknown assignment
    out = Path(args.out) if args.out else course.build / "gradescope" / f"{args.assignment}-autograder.zip"
    try:
        info = build_autograder_zip(args.assignment, out, repo=course.root,
                                    source_dir=Path(args.source_dir) if args.source_dir else course.source)
    except GradescopeError as exc:
        raise UsageError(str(exc)) from None
    _say(f"wrote {_rel(info['path'])} ({len(info['files'])} files, {info['bytes'] / 1024:.0f} KiB): upload it on "
         "Gradescope's Configure Autograder page. It holds the solutions: keep it to instructors.")
    return 0


def cmd_similarity(args, course: Course) -> int:
    from autograder import similarity as sim
    from autograder.intake import BatchError

    template = Path(args.template) if args.template else course.release / args.assignment / f"{args.assignment}.ipynb"
    if not template.is_file():
        raise UsageError(f"no released template {template}: run `cnn-course release {args.assignment}` or pass --template.")
    if not Path(args.submissions).exists():
        raise UsageError(f"SUBMISSIONS={args.submissions!r} does not exist.")
    try:
        template_src, template_cells = sim.template_code(template)
        codes, notes = sim.collect_codes(args.assignment, args.submissions, template_cells=template_cells,
                                         notebook_name=template.name)
    except (BatchError, sim.InvalidSubmission) as exc:
        raise UsageError(str(exc)) from None
    if len(codes) < 2:
        raise UsageError(f"found {len(codes)} readable submission(s) in {args.submissions}; at least 2 are needed.")
    out = Path(args.out) if args.out else course.build / "similarity" / args.assignment
    info = sim.write_similarity(args.assignment, codes, out, template=template_src, top=args.top, notes=notes)
    for n in notes:
        _say(f"note: {_shown(n)}", file=sys.stderr)
    _say(f"compared {len(codes)} submissions ({len(info['pairs'])} pairs); most similar:")
    for p in info["pairs"][:min(args.top, 5)]:
        _say(f"  {100 * p.similarity:5.1f}%  {_shown(p.student_a)}  {_shown(p.student_b)}")
    _say(f"  pairs:  {_rel(info['csv'])}\n  report: {_rel(info['html'])}")
    return 0


# ---------------------------------------------------------------- parser


def _add_limits(p) -> None:
    g = p.add_argument_group("limits (override grading.toml)")
    g.add_argument("--cpu-per-test", type=float, metavar="S", help="CPU seconds a test may use")
    g.add_argument("--cpu-per-submission", type=float, metavar="S", help="CPU seconds for the whole submission")
    g.add_argument("--memory-mb", type=int, metavar="MB", help="memory limit of the sandbox")
    g.add_argument("--wall-factor", type=float, metavar="F", help="wall-clock backstop = F x CPU limit + 5 s")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cnn-course",
        description="Release, self-check and grade the cnn-course exercises.",
        epilog="Examples:\n  cnn-course release\n  cnn-course check exercises/ps1_convolution/ps1_convolution.ipynb\n"
               "  cnn-course grade ps1_convolution submissions.zip --out build/grades/ps1_convolution\n  cnn-course demo",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--course", metavar="DIR",
                   help="the course folder (holding nbgrader_config.py); default: the folder run in, or the "
                        "nearest parent with nbgrader_config.py")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("release", help="build exercises/<assignment>/ from solutions/ with nbgrader (and check it)")
    r.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every solutions/<ps>/<ps>.ipynb")
    r.add_argument("--source-dir", help=argparse.SUPPRESS)
    r.add_argument("--release-dir", help="where to write the release (default: exercises/)")
    r.add_argument("--gradebook", metavar="DB_URL", help="nbgrader gradebook (default: nbgrader_config.py's)")
    r.set_defaults(func=cmd_release)

    c = sub.add_parser("check", help="self-check a notebook: run its public tests and show the points")
    c.add_argument("notebook", metavar="NOTEBOOK")
    c.add_argument("--assignment", help="the assignment name, when it cannot be guessed from the file")
    c.add_argument("--insecure", action="store_true", help="run without the sandbox")
    _add_limits(c)
    c.set_defaults(func=cmd_check)

    g = sub.add_parser("grade", help="grade a folder or zip of submissions; write grades, feedback, report")
    g.add_argument("assignment", metavar="ASSIGNMENT")
    g.add_argument("submissions", metavar="SUBMISSIONS",
                   help="<student_id>/<notebook>.ipynb folders, nbgrader's submitted/ folder, or a zip of either")
    g.add_argument("--out", metavar="DIR", help="output folder (default: build/grades/<assignment>)")
    g.add_argument("--workers", type=int, metavar="N", help="parallel submissions (default: the number of cores)")
    g.add_argument("--insecure", action="store_true", help="grade without the sandbox (trusted code only)")
    g.add_argument("--seed", type=int, default=0,
                   help="seeds the random generators (random, numpy, torch, TensorFlow) of the student's code in the "
                        "sandbox before each test, recorded in results.json (default 0); the tests' own inputs are "
                        "fixed and do not change with it")
    g.add_argument("--resume", action="store_true",
                   help="do not grade again the students whose results in --out were made from the same notebook "
                        "(sha256) with the same tests (assignment version): continue an interrupted run")
    g.add_argument("--gradebook", metavar="DB_URL", help="nbgrader gradebook to record the scores in")
    g.add_argument("--no-gradebook", action="store_true", help="do not touch the nbgrader gradebook")
    g.add_argument("--source-dir", help="folder of the instructor sources (default: solutions/)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--student", action="append", metavar="ID",
                   help="grade only this student (repeatable); the results merge into --out")
    g.add_argument("--regrade-stale", action="store_true",
                   help="grade again only the students graded with an older version of the tests")
    g.add_argument("--roster", metavar="CSV", help="students who should submit (column student_id; canvas_id, "
                   "sis_login_id, sis_user_id and name map an LMS download's names); with the gradebook's students, "
                   "those without a submission get status `missing`, those not on it are reported")
    g.add_argument("--due", metavar="ISO8601", help="due date, e.g. 2026-03-01T00:00:00 (UTC unless a zone is "
                   "given); stored with the assignment (OUT/assignment.json and the gradebook) and reused by later "
                   "runs until another --due replaces it")
    g.add_argument("--submitted-at", metavar="CSV",
                   help="the submission times you vouch for (columns student_id,submitted_at; ISO 8601, UTC unless "
                        "a zone is given), e.g. from the LMS's export; they come before any other evidence. Without "
                        "them lateness comes from nbgrader's submitted/<id>/<assignment>/timestamp.txt or the zip's "
                        "entry dates, never from a file the student handed in; a submission with no evidence is not "
                        "checked for lateness (docs/instructor-guide.md)")
    g.add_argument("--zip-tz", metavar="ZONE", default=None,
                   help="the zone of the dates in a SUBMISSIONS zip (zips store local time): UTC (default), local, "
                        "+01:00 or Europe/Paris; entries with Info-ZIP's UTC timestamp need none")
    g.add_argument("--late-penalty", metavar="POLICY", default=None,
                   help="none, zero (late work scores 0) or per-hour:P (P points off per started hour, as nbgrader's "
                        "SubMarks plugin); stored with the assignment and reused by later runs (default: the stored "
                        "one, else none)")
    dk = g.add_mutually_exclusive_group()
    dk.add_argument("--cluster", metavar="local:N",
                    help="grade on a Dask cluster of N local worker processes (on 127.0.0.1) instead of threads")
    dk.add_argument("--scheduler", metavar="ADDRESS",
                    help="grade on the running Dask cluster whose scheduler is at ADDRESS (tcp://HOST:PORT); its "
                         "workers need this cnn-course version and a sandbox (docs/scaling.md)")
    _add_limits(g)
    g.set_defaults(func=cmd_grade)

    rp = sub.add_parser("report", help="read scores entered by hand (formgrader) back; rebuild grades.csv, "
                        "feedback and report.html from the stored results (no grading)")
    rp.add_argument("assignment", metavar="ASSIGNMENT")
    rp.add_argument("--out", metavar="DIR", help="the folder `grade` wrote (default: build/grades/<assignment>)")
    rp.add_argument("--gradebook", metavar="DB_URL", help="nbgrader gradebook (default: the course's)")
    rp.add_argument("--no-gradebook", action="store_true", help="do not read or write the gradebook")
    rp.add_argument("--source-dir", help="folder of the instructor sources (default: solutions/)")
    rp.set_defaults(func=cmd_report)

    d = sub.add_parser("demo", help="release, build sample submissions, grade them, print where the report is")
    d.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every released assignment")
    d.add_argument("--workers", type=int, metavar="N")
    d.add_argument("--insecure", action="store_true", help="grade without the sandbox")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--quiet", action="store_true")
    _add_limits(d)
    d.set_defaults(func=cmd_demo)

    e = sub.add_parser("export", help="export graded results: a students x tests CSV, Canvas import, Gradescope JSON")
    e.add_argument("assignment", nargs="?", metavar="ASSIGNMENT")
    e.add_argument("--all", action="store_true", help="every assignment graded under --grades (default build/grades/)")
    e.add_argument("--format", required=True, choices=("csv", "canvas", "gradescope"))
    e.add_argument("--out", required=True, metavar="FILE",
                   help="output file (gradescope: a folder gets <student>/results.json, a .json file one object)")
    e.add_argument("--grades", metavar="DIR",
                   help="where `grade` wrote (default build/grades/<assignment>, with --all build/grades)")
    e.add_argument("--gradebook", metavar="DB_URL", help="nbgrader gradebook for manual scores and late penalties "
                                                         "(default: nbgrader_config.py's; only read)")
    e.add_argument("--roster", metavar="CSV", help="canvas: student_id,name,sis_user_id,sis_login_id,section,canvas_id")
    e.add_argument("--canvas-assignment-id", action="append", metavar="[ASSIGNMENT=]ID",
                   help="canvas: the assignment's Canvas id, so its column updates that assignment")
    e.set_defaults(func=cmd_export)

    gs = sub.add_parser("gradescope", help="build a Gradescope autograder zip for one assignment")
    gs.add_argument("assignment", metavar="ASSIGNMENT")
    gs.add_argument("--out", metavar="ZIP", help="default build/gradescope/<assignment>-autograder.zip")
    gs.add_argument("--source-dir", help="folder of the instructor sources (default: solutions/)")
    gs.set_defaults(func=cmd_gradescope)

    s = sub.add_parser("similarity", help="pairwise similarity of the students' code (copydetect), template excluded")
    s.add_argument("assignment", metavar="ASSIGNMENT")
    s.add_argument("submissions", metavar="SUBMISSIONS", help="the same folder or zip `grade` takes")
    s.add_argument("--out", metavar="DIR", help="default build/similarity/<assignment>")
    s.add_argument("--template", metavar="NOTEBOOK", help="released notebook (default exercises/<a>/<a>.ipynb)")
    s.add_argument("--top", type=int, default=20, metavar="N", help="pairs shown side by side (default 20)")
    s.set_defaults(func=cmd_similarity)
    return p


def main(argv: list[str] | None = None) -> int:
    # TensorFlow's C++ log lines (the CPU-features notice...) are noise to an instructor: the
    # commands that load Keras (release, grade of ps4) keep only its errors unless asked.
    # (TF 2.21 still prints its oneDNN notice: it logs that before reading the level.)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return USAGE_ERROR
    try:
        course = Course.locate(getattr(args, "course", None))
        return int(args.func(args, course) or 0)
    except (UsageError, ConfigError) as exc:
        from autograder.text import visible

        _say(f"cnn-course {args.command}: error: {visible(str(exc), keep_newlines=True)}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        _say("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
