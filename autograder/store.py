"""The one store of results of an output folder (``cnn-course grade --out DIR``).

``DIR/students/<folder>/results.json`` is written by :meth:`ResultStore.put` and read back by
:func:`parse_result`, the one validating parser (bounded size, every field checked) that
``grade``, ``report`` and ``export`` share. A :class:`ResultStore` holds in memory what is
stored for one assignment merged with what was graded now, and everything the batch shows is
computed from it: grades.csv, the report, the stale and the missing students.

``DIR/assignment.json`` (:func:`read_policy`, :func:`write_policy`) holds the assignment's due
date and late policy once given (``--due``, ``--late-penalty``), so a later run of a few
students (``--student``, ``--regrade-stale``, ``report``) applies the same lateness rules.
Each results.json keeps the student's submission time with its source and the notebook's
sha256: a later run with no evidence for that student reuses it while the notebook is the
same file (:func:`autograder.lateness.reuse_stored_times`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from autograder.results import (MISSING, PUBLIC, SUBMISSION_STATUSES, TEST_STATUSES, Outcome, SubmissionResult,
                                SubmissionStatus, TestResult, Visibility, late_penalty_fn, safe_dirname)
from autograder.roster import MAX_ROSTER_BYTES
from autograder.text import safe_text

MAX_RESULTS_BYTES = 50 * 2**20      # a results.json larger than this is skipped
MAX_TESTS = 10_000
MAX_POLICY_BYTES = 64 * 1024
POLICY_FILE = "assignment.json"
STUDENTS_DIR = "students"
_RESULT_FIELDS = {f.name for f in dataclasses.fields(SubmissionResult)}
_TEST_FIELDS = {f.name for f in dataclasses.fields(TestResult)}


class StoreError(ValueError):
    """The folder cannot be read as graded results."""


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _text(value, limit: int) -> str:
    return safe_text(value if isinstance(value, str) else ("" if value is None else str(value)), limit)


def parse_result(data, fallback_id: str = "") -> SubmissionResult:
    """A :class:`SubmissionResult` from a parsed results.json, every field validated (numbers
    finite, strings bounded, the manual answers' fields typed); unknown keys are kept in
    ``result.extra``. Raises ValueError when a required field is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"the top level is a {type(data).__name__}, expected an object")
    known = {k: v for k, v in data.items() if k in _RESULT_FIELDS}
    extra = {k: v for k, v in data.items() if k not in _RESULT_FIELDS}
    sid = known.get("student_id")
    if not isinstance(sid, str) or not sid:
        if not fallback_id:
            raise ValueError("student_id is missing")
        known["student_id"] = fallback_id
    for key in ("assignment", "status"):
        if not isinstance(known.get(key), str):
            raise ValueError(f"{key} must be a string, got {known.get(key)!r}")
    if known["status"] not in SUBMISSION_STATUSES:
        raise ValueError(f"status must be one of {', '.join(SUBMISSION_STATUSES)}, got {known['status'][:40]!r}")
    known["status"] = SubmissionStatus(known["status"])
    for key in ("score", "max_score"):
        known[key] = _number(known.get(key), key)
    for key in ("auto_score", "manual_max", "late_by_s", "late_penalty"):
        if key in known:
            known[key] = _number(known[key], key)
    if known.get("manual_score") is not None:
        known["manual_score"] = _number(known["manual_score"], "manual_score")
    for key in ("needs_manual_grading", "late"):
        if key in known:
            known[key] = bool(known[key]) if isinstance(known[key], (bool, int)) else False
    tests = known.get("tests", [])
    if not isinstance(tests, list) or len(tests) > MAX_TESTS:
        raise ValueError(f"tests must be a list of at most {MAX_TESTS}, got {type(tests).__name__}")
    parsed = []
    for i, t in enumerate(tests):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not isinstance(t.get("status"), str):
            raise ValueError(f"tests[{i}] must be an object with a string name and status")
        if t["status"] not in TEST_STATUSES:
            raise ValueError(f"tests[{i}].status must be one of {', '.join(TEST_STATUSES)}, got {t['status'][:40]!r}")
        if t.get("visibility", PUBLIC) not in tuple(Visibility):
            raise ValueError(f"tests[{i}].visibility must be public or hidden")
        f = {k: v for k, v in t.items() if k in _TEST_FIELDS}
        f["status"] = Outcome(t["status"])
        if "visibility" in f:
            f["visibility"] = Visibility(f["visibility"])
        f["points"] = _number(f.get("points"), f"tests[{i}].points")
        f["max_points"] = _number(f.get("max_points"), f"tests[{i}].max_points")
        for key in ("duration_s", "cpu_s"):
            if key in f:
                f[key] = _number(f[key], f"tests[{i}].{key}")
        f["message"] = _text(f.get("message", ""), 20_000)
        for key, limit in (("prompt", 100), ("comment", 4_000)):
            if key in f:
                f[key] = _text(f[key], limit)
        for key in ("awaiting", "blank"):
            if key in f:
                f[key] = f[key] is True
        for key in ("position", "of"):
            if key in f:
                v = f[key]
                f[key] = v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10_000 else 0
        parsed.append(TestResult(**f))
    known["tests"] = parsed
    for key in ("message", "sha256", "grader_version", "notebook", "isolation", "assignment_version",
                "submitted_at", "submitted_at_source", "late_policy"):
        if key in known:
            known[key] = _text(known[key], 20_000 if key == "message" else 200)
    for key in ("durations", "versions"):
        if key in known and not isinstance(known[key], dict):
            known[key] = {}
    blank = known.get("blank_answers", [])
    known["blank_answers"] = [b[:200] for b in blank if isinstance(b, str)][:1000] if isinstance(blank, list) else []
    comments = known.get("comments", {})
    known["comments"] = ({str(k)[:200]: _text(v, 4_000) for k, v in list(comments.items())[:1000]}
                         if isinstance(comments, dict) else {})
    if "seed" in known and (not isinstance(known["seed"], int) or isinstance(known["seed"], bool)):
        known["seed"] = 0
    result = SubmissionResult(**known)
    result.extra = extra
    return result


def read_result(path: Path, fallback_id: str = "") -> SubmissionResult:
    """One results.json, bounded (:data:`MAX_RESULTS_BYTES`); ValueError/OSError when unusable."""
    if path.is_symlink():
        raise ValueError("a symbolic link")
    size = path.stat().st_size
    if size > MAX_RESULTS_BYTES:
        raise ValueError(f"{size} bytes (limit {MAX_RESULTS_BYTES})")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return parse_result(data, fallback_id=fallback_id)


def stored_student_id(path: Path) -> str | None:
    """The ``student_id`` a results.json names, even when the rest of it is not a valid result
    (an older or damaged file still says whose folder it is); None when unreadable."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_RESULTS_BYTES:
            return None
        sid = json.loads(path.read_bytes().decode("utf-8")).get("student_id")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return sid if isinstance(sid, str) else None


def result_files(out_dir: Path) -> list[Path]:
    students = out_dir / STUDENTS_DIR
    if students.is_dir():
        new = sorted(p for p in students.glob("*/results.json") if p.is_file())
        if new:
            return new
    return sorted(p for p in out_dir.glob("*/results.json") if p.is_file())


def load_results(out_dir: Path | str, *, problems: list | None = None) -> list[SubmissionResult]:
    """Every student's result stored in ``out_dir`` (``students/*/results.json``, else the older
    ``*/results.json``), sorted by student id; unreadable files are reported to ``problems``
    (a list; None: stderr) and skipped; of two files with one student id, the one in the
    student's own folder wins. Raises :class:`StoreError` when ``out_dir`` is not a folder."""
    import sys

    def report(msg):
        if problems is None:
            print(f"warning: {msg}", file=sys.stderr, flush=True)
        else:
            problems.append(msg)

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise StoreError(f"no graded results in {out_dir}: it is not a folder (run `cnn-course grade` first, "
                         "or pass --grades DIR)")
    results: dict[str, SubmissionResult] = {}
    where: dict[str, str] = {}
    for path in result_files(out_dir):
        shown = path.relative_to(out_dir).as_posix()
        try:
            result = read_result(path, fallback_id=path.parent.name)
        except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
            report(f"{shown}: skipped, not a readable results.json ({type(exc).__name__}: {exc})")
            continue
        if result.student_id in results:
            first = where[result.student_id]
            own = safe_dirname(result.student_id)
            if Path(first).parent.name != own and path.parent.name == own:
                report(f"{first}: skipped, student id {result.student_id!r} is read from {shown}, its own folder")
            else:
                report(f"{shown}: skipped, student id {result.student_id!r} already read from another file")
                continue
        where[result.student_id] = shown
        results[result.student_id] = result
    return [results[k] for k in sorted(results)]


# ---------------------------------------------------------------- the assignment's lateness rules


def read_small_json(path: Path, max_bytes: int):
    """The JSON value of a small file the grader wrote itself (``assignment.json``,
    ``roster.json``); None when it is missing, a link, not a plain file, over ``max_bytes``
    or not JSON: a damaged file reads as absent, never as a crash."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > max_bytes:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def read_policy(out_dir: Path | str) -> dict:
    """``{"due": aware UTC datetime or None, "late_policy": str or None}`` stored in ``out_dir``
    (``{}`` values None when there is none or it is unreadable)."""
    empty = {"due": None, "late_policy": None}
    data = read_small_json(Path(out_dir) / POLICY_FILE, MAX_POLICY_BYTES)
    if not isinstance(data, dict):
        return empty
    out = dict(empty)
    due = data.get("due")
    if isinstance(due, str) and len(due) <= 64:
        try:
            when = datetime.fromisoformat(due)
            out["due"] = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        except ValueError:
            pass
    policy = data.get("late_policy")
    if isinstance(policy, str) and len(policy) <= 64:
        try:
            late_penalty_fn(policy)
            out["late_policy"] = policy
        except ValueError:
            pass
    return out


def write_policy(out_dir: Path | str, assignment: str, due: datetime | None, late_policy: str | None) -> Path:
    path = Path(out_dir) / POLICY_FILE
    data = {"assignment": assignment,
            "due": due.astimezone(timezone.utc).isoformat() if due is not None else None,
            "late_policy": late_policy or "none"}
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


# ---------------------------------------------------------------- files and lateness


_UMASK: list[int] = []


def _umask() -> int:
    """This process's umask (read once, without changing it where /proc tells it)."""
    if not _UMASK:
        try:
            line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("Umask:"))
            _UMASK.append(int(line.split()[1], 8))
        except (OSError, StopIteration, ValueError, IndexError):
            old = os.umask(0o022)
            os.umask(old)
            _UMASK.append(old)
    return _UMASK[0]


ROSTER_FILE = "roster.json"          # in --out: the student ids of the last `grade --roster`


def store_roster(out_dir, student_ids) -> Path:
    """Keep the roster that ``grade --roster`` was given in ``out_dir/roster.json``, so that the
    runs without one (``cnn-course report``, ``grade --student ID``) still name the students who
    handed in but are not on it. The gradebook cannot tell: ``grade`` adds everyone it grades to
    its students."""
    path = Path(out_dir) / ROSTER_FILE
    ids = sorted({str(s) for s in student_ids})
    atomic_write(path, json.dumps({"student_ids": ids}, ensure_ascii=False, indent=0) + "\n")
    return path


def stored_roster(out_dir) -> set[str] | None:
    """The student ids :func:`store_roster` kept in ``out_dir``; None when there is none, or it
    is not a plain file within the roster's size cap holding ``{"student_ids": [str, ...]}``."""
    data = read_small_json(Path(out_dir) / ROSTER_FILE, MAX_ROSTER_BYTES)
    ids = data.get("student_ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not all(isinstance(s, str) for s in ids):
        return None
    return set(ids)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())      # as open() would: a TA group reads what the umask lets it
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def student_dir(out_dir: Path | str, student_id: str) -> Path:
    """Where one student's outputs live: ``out_dir/students/<safe folder name>/``."""
    return Path(out_dir) / STUDENTS_DIR / safe_dirname(student_id)


def write_student(assignment, result: SubmissionResult, out_dir: Path | str) -> Path:
    """Write one student's results.json and feedback.html (atomically); return the folder."""
    from autograder import report

    report.redact_hidden(result, assignment)
    d = student_dir(out_dir, result.student_id)
    text = json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n"   # ASCII: surrogates escaped
    atomic_write(d / "feedback.html", report.feedback_html(result, assignment))
    atomic_write(d / "results.json", text)
    return d


def judge_lateness(r: SubmissionResult, due: datetime | None, policy: str | None) -> None:
    """Set ``r.late``, ``late_by_s`` and ``late_policy`` from its (evidenced) ``submitted_at``,
    the assignment's ``due`` date and late ``policy``: the one place lateness is decided, for
    fresh results and stored ones alike."""
    r.late, r.late_by_s = False, 0.0
    r.late_policy = policy or "none"
    if due is None or r.status == MISSING or not r.submitted_at or (r.submitted_at_source or "none") == "none":
        return
    try:
        when = datetime.fromisoformat(r.submitted_at)
    except ValueError:
        return
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    if when > due:
        r.late = True
        r.late_by_s = round((when - due).total_seconds(), 3)


# ---------------------------------------------------------------- the store


class ResultStore:
    """Stored ∪ fresh results of one assignment in ``out_dir``, in memory.

    ``put`` writes a student's files and keeps the result; ``results()``, ``stale()``,
    ``missing()`` and ``refresh()`` work on what is held, so nothing is parsed twice."""

    def __init__(self, assignment, out_dir: Path | str, *, problems: list | None = None):
        self.assignment = assignment
        self.out_dir = Path(out_dir)
        self.problems = [] if problems is None else problems
        self.by_id: dict[str, SubmissionResult] = {}
        if (self.out_dir / STUDENTS_DIR).is_dir() or any(self.out_dir.glob("*/results.json")):
            for r in load_results(self.out_dir, problems=self.problems):
                if r.assignment == assignment.name:
                    self.by_id[r.student_id] = r

    def get(self, student_id: str) -> SubmissionResult | None:
        return self.by_id.get(student_id)

    def put(self, result: SubmissionResult) -> Path:
        """Write ``result``'s results.json and feedback.html and hold it."""
        self.by_id[result.student_id] = result
        return write_student(self.assignment, result, self.out_dir)

    def results(self) -> list[SubmissionResult]:
        return [self.by_id[k] for k in sorted(self.by_id)]

    def stale(self) -> list[str]:
        """Students whose results were made with another version of the tests."""
        version = getattr(self.assignment, "version", "")
        return [r.student_id for r in self.results() if r.status != MISSING and r.assignment_version != version]

    def missing(self, expected) -> list[str]:
        """Of ``expected``, who has no result, or only a ``missing`` one."""
        return sorted(s for s in set(expected) if s not in self.by_id or self.by_id[s].status == MISSING)

    def refresh(self, entered: dict, *, due=None, policy: str | None = None, write: bool = True) -> int:
        """Re-apply the gradebook's scores and comments (``{student: {"manual": {...}, "comments":
        {...}, "late_penalty": p}}``) and the late rule to every held result (``due``/``policy``:
        the assignment's, judged again for everyone; None: each result's own); rewrite the files
        of those that changed; return how many changed."""
        from autograder.results import refresh

        cells = getattr(self.assignment, "manual", None)
        changed = 0
        for r in self.results():
            if policy is not None:
                judge_lateness(r, due, policy)
            adj = entered.get(r.student_id, {})
            before = json.dumps(r.to_dict(), sort_keys=True, default=str)
            refresh(r, adj.get("manual", {}), cells, gradebook_penalty=adj.get("late_penalty"),
                    comments=adj.get("comments", {}))
            if json.dumps(r.to_dict(), sort_keys=True, default=str) != before:
                changed += 1
                if write:
                    self.put(r)
        return changed
