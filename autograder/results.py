"""Plain result records shared by the engine, the CLI, reports and the gradebook."""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum

from autograder.text import fmt_num, safe_text


class Outcome(StrEnum):
    """Status of one test (a str: plain JSON in results.json and on the wire)."""
    PASSED = "passed"          # the test cell ran without exception
    FAILED = "failed"          # an assertion in the test failed
    ERROR = "error"            # the student's code (or the test) raised another exception
    TIMEOUT = "timeout"        # CPU (or wall-clock backstop) limit of the test was exceeded
    MEMORY = "memory"          # the memory limit was exceeded
    CRASH = "crash"            # the sandbox process died (os._exit, segfault, killed)
    FORBIDDEN = "forbidden"    # the tested function uses an API the assignment forbids
    MANUAL = "manual"          # a written answer graded by hand (in formgrader); points once entered


class SubmissionStatus(StrEnum):
    """Status of a whole submission."""
    GRADED = "graded"          # every test ran (some may have failed)
    INVALID = "invalid"        # the submission could not be read (not a notebook, bad JSON, empty...)
    ERROR = "error"            # not graded through no fault of the student (no isolation, the sandbox could
    #                            not start, the setup cell fails, an internal grader error): --resume retries it
    CRASH = "crash"            # grading it killed its Dask worker process twice (distributed.crash_result):
    #                            not retried automatically; grade it alone to see why
    MISSING = "missing"        # on the roster, nothing submitted: shown apart, not in the class statistics


class Visibility(StrEnum):
    PUBLIC = "public"          # the test's code is in the student's release
    HIDDEN = "hidden"          # the whole test is between BEGIN/END HIDDEN TESTS: only its name and message shown


PASSED, FAILED, ERROR, TIMEOUT, MEMORY, CRASH, FORBIDDEN, MANUAL = Outcome
GRADED, INVALID, MISSING = SubmissionStatus.GRADED, SubmissionStatus.INVALID, SubmissionStatus.MISSING
PUBLIC, HIDDEN = Visibility
TEST_STATUSES = tuple(Outcome)
SUBMISSION_STATUSES = tuple(SubmissionStatus)


@dataclass
class TestResult:
    name: str                  # the nbgrader grade_id of the test cell
    points: float
    max_points: float
    status: str                # one of TEST_STATUSES
    message: str = ""          # what the student reads; never the hidden test's code
    visibility: str = PUBLIC   # PUBLIC or HIDDEN
    duration_s: float = 0.0    # wall-clock seconds
    cpu_s: float = 0.0         # CPU seconds used in the sandbox during the test
    # Answers graded by hand (status MANUAL) only, as fields (never read back from the message):
    awaiting: bool = False     # no score entered yet
    blank: bool = False        # unchanged from the release: 0 points, as nbgrader's autograde scores it
    position: int = 0          # 1, 2, ... among the notebook's hand-graded answers (0: unknown)
    of: int = 0                # how many hand-graded answers the notebook has
    prompt: str = ""           # first line of the question above the answer (never the answer's text)
    comment: str = ""          # the grader's comment (formgrader), shown next to the score


@dataclass
class SubmissionResult:
    student_id: str
    assignment: str
    status: str                          # one of SUBMISSION_STATUSES
    score: float
    max_score: float
    tests: list[TestResult] = field(default_factory=list)
    message: str = ""                    # submission-level note (why invalid, cells that failed to run...)
    sha256: str = ""                     # of the submitted file's bytes
    seed: int = 0
    grader_version: str = ""
    isolation: str = ""                  # e.g. "namespaces(pid,net,mount)+uid+rlimits+cgroup"
    durations: dict = field(default_factory=dict)   # {"total_s":..., "sandbox_start_s":..., ...}
    versions: dict = field(default_factory=dict)    # package versions used for grading
    notebook: str = ""                   # file name of the graded notebook
    assignment_version: str = ""         # Assignment.version the tests had (regrade / --resume)
    # The one final score: score = max(0, auto_score + manual_score - late_penalty).
    auto_score: float = 0.0              # points of the autograded tests
    manual_score: float | None = None    # points entered by hand (None: nothing entered yet)
    manual_max: float = 0.0              # points of the answers graded by hand
    needs_manual_grading: bool = False   # some answer still awaits a grader
    submitted_at: str = ""               # ISO 8601 UTC (nbgrader's timestamp.txt, else the file's time)
    submitted_at_source: str = ""        # "timestamp.txt" | "file time" | ""
    late: bool = False
    late_by_s: float = 0.0               # seconds past the due date
    late_penalty: float = 0.0            # points taken off for lateness
    late_policy: str = ""                # "", "none", "zero" or "per-hour:P" (see late_penalty_fn)
    blank_answers: list = field(default_factory=list)   # hand-graded answers left as released (grade_ids)
    comments: dict = field(default_factory=dict)        # grade_id -> the grader's comment (formgrader)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SubmissionResult":
        """Rebuild from ``to_dict()`` output; unknown keys (newer or older files) are ignored."""
        known = {f.name for f in fields(cls)}
        tknown = {f.name for f in fields(TestResult)}
        data = {k: v for k, v in dict(data).items() if k in known}
        data["tests"] = [TestResult(**{k: v for k, v in t.items() if k in tknown}) for t in data.get("tests", [])]
        return cls(**data)


def apply_scores(result: SubmissionResult, manual_cells=(), entered: dict | None = None,
                 late_penalty_fn=None, fixed_penalty: float | None = None,
                 comments: dict | None = None) -> SubmissionResult:
    """Make ``result``'s score the final one, in place: score = auto_score + manual_score -
    late_penalty (at least 0). ``manual_cells``: the answers graded by hand (``ManualCell``s);
    ``entered``: grade_id -> points entered by hand (for a manual cell, its score; for an
    autograded test, an instructor's override of the autograder's points); ``comments``:
    grade_id -> the grader's comment (None: keep the result's own); the late penalty
    is ``late_penalty_fn(raw_score, late_by_s)`` or, failing that, ``fixed_penalty``. An answer
    left as released (``result.blank_answers``) scores 0 without waiting for a grader, as
    nbgrader's autograde does, unless a score was entered. Every place that shows a score
    (results.json, feedback, grades.csv, report, gradebook, exports) uses what this computes."""
    entered = entered or {}
    if comments is not None:
        result.comments = {str(k): safe_text(v, 4_000) for k, v in comments.items() if str(v or "").strip()}
    blank = set(result.blank_answers or [])
    result.tests = [t for t in result.tests if t.status != MANUAL]
    auto, by_hand, any_entered = 0.0, 0.0, False
    for t in result.tests:
        t.comment = result.comments.get(t.name, "")
        if t.name in entered:
            v = max(0.0, min(float(entered[t.name]), float(t.max_points)))
            if not (t.message or "").startswith("score changed by hand"):
                t.message = safe_text(f"score changed by hand to {fmt_num(v)} / {fmt_num(t.max_points)}. "
                                      + (t.message or ""))
            t.points = v
            by_hand += v
            any_entered = True
        else:
            auto += float(t.points)
    old_manual_max = float(result.manual_max or 0)
    auto_max = (float(sum(t.max_points for t in result.tests)) if result.tests
                else float(result.max_score or 0) - old_manual_max)
    waiting, mmax = 0, 0.0
    for m in manual_cells:
        mmax += float(m.points)
        if result.status != GRADED:
            continue
        pts = entered.get(m.grade_id)
        awaiting = is_blank = False
        if pts is None and m.grade_id in blank:
            is_blank, pts_f = True, 0.0
            msg = "left as released (no answer written): 0 points"
        elif pts is None:
            waiting += 1
            awaiting, pts_f = True, 0.0
            msg = "awaits grading by hand"
        else:
            pts_f = max(0.0, min(float(pts), float(m.points)))
            by_hand += pts_f
            any_entered = True
            msg = f"graded by hand: {fmt_num(pts_f)} / {fmt_num(m.points)}"
        result.tests.append(TestResult(
            m.grade_id, pts_f, float(m.points), MANUAL, msg + manual_locator(m), PUBLIC, awaiting=awaiting,
            blank=is_blank, position=int(getattr(m, "position", 0) or 0), of=int(getattr(m, "of", 0) or 0),
            prompt=str(getattr(m, "prompt", "") or "")[:100], comment=result.comments.get(m.grade_id, "")))
    if not manual_cells and result.status != GRADED:
        mmax = old_manual_max                 # a missing or invalid result keeps the assignment's whole max
    result.auto_score = auto
    result.manual_max = mmax
    result.manual_score = by_hand if any_entered else None
    result.needs_manual_grading = waiting > 0
    result.max_score = auto_max + mmax
    raw = auto + by_hand
    penalty = 0.0
    if result.status == GRADED:
        if result.late and late_penalty_fn is not None:
            penalty = float(late_penalty_fn(raw, result.late_by_s))
        elif fixed_penalty:
            penalty = float(fixed_penalty)
    result.late_penalty = max(0.0, min(penalty, raw))
    result.score = max(0.0, raw - result.late_penalty) if result.status == GRADED else 0.0
    return result


def late_penalty_fn(policy: str):
    """The penalty rule of a late policy, mirroring nbgrader's late-submission plugins:
    ``none`` (nothing off), ``zero`` (the whole score) or ``per-hour:P`` (nbgrader's SubMarks:
    P points per started hour late, at most the score). Raises ValueError for anything else."""
    policy = (policy or "none").strip().lower()
    if policy in ("", "none"):
        return lambda raw, late_by_s: 0.0
    if policy == "zero":
        return lambda raw, late_by_s: raw
    if policy.startswith("per-hour:"):
        try:
            per_hour = float(policy.split(":", 1)[1])
        except ValueError:
            per_hour = -1.0
        if per_hour >= 0 and per_hour == per_hour:
            import math
            return lambda raw, late_by_s: min(raw, math.ceil(late_by_s / 3600.0) * per_hour)
    raise ValueError(f"unknown late policy {policy!r}: expected none, zero or per-hour:P (P points per hour)")


_LOCATOR = re.compile(r" \(written answer (\d{1,4}) of (\d{1,4})(?:, under `([^`\n]{0,100})`)?\)$")


def manual_locator(cell) -> str:
    """How a student finds a hand-graded cell in the notebook: its position and the first line of
    the question above it (``ManualCell.prompt``), never the text of the instructor's answer."""
    pos, of = int(getattr(cell, "position", 0) or 0), int(getattr(cell, "of", 0) or 0)
    prompt = str(getattr(cell, "prompt", "") or "").replace("`", "'").replace("\n", " ")[:100]
    if pos <= 0 or of < pos:
        return f" (under `{prompt}`)" if prompt else ""
    return f" (written answer {pos} of {of}" + (f", under `{prompt}`" if prompt else "") + ")"


def manual_cells_of(result: SubmissionResult) -> list:
    """The hand-graded cells a result knows of (its ``manual`` tests), for :func:`refresh`, from
    their fields (``position``, ``of``, ``prompt``). A result written before those fields
    existed has its locator in the message: read once here, bounded; an older result's
    "(the answer starting ...)", which quoted the instructor's answer, is dropped."""
    import types
    out = []
    for t in result.tests:
        if t.status != MANUAL:
            continue
        pos, of, prompt = int(t.position or 0), int(t.of or 0), str(t.prompt or "")
        if not (pos or prompt):               # results.json of an older version
            msg = (t.message or "")[-400:]
            m = _LOCATOR.search(msg)
            under = re.search(r" \(under `([^`\n]{0,100})`\)$", msg) if not m else None
            if m:
                pos, of, prompt = int(m.group(1)), int(m.group(2)), m.group(3) or ""
            elif under:
                prompt = under.group(1)
        out.append(types.SimpleNamespace(grade_id=t.name, points=t.max_points, position=pos, of=of, prompt=prompt))
    return out


def refresh(result: SubmissionResult, entered: dict | None, manual_cells=None,
            gradebook_penalty: float | None = None, comments: dict | None = None) -> SubmissionResult:
    """Re-apply the scores entered by hand (``{grade_id: points}`` from the gradebook) and the
    late policy to a stored result: the one final score, recomputed the same way by ``grade``,
    ``report`` and ``export``. A penalty the gradebook holds (nbgrader's own late plugin)
    applies only when the result was graded without a late policy (``none``): with one,
    lateness is judged here, and the gradebook's penalty is the one an earlier run wrote (a
    student no longer judged late must not keep it, unexplained)."""
    cells = manual_cells if manual_cells is not None else manual_cells_of(result)
    fn = late_penalty_fn(result.late_policy) if (result.late and result.late_policy) else None
    ours = (result.late_policy or "none") != "none"
    return apply_scores(result, cells, entered, fn, None if (fn or ours) else gradebook_penalty, comments)


ESCAPED_PREFIX = "~"      # only escaped folder names start with it: a plain id may not


def safe_dirname(student_id: str) -> str:
    """The folder name of ``student_id``'s outputs, injective by construction: a plain id (printable,
    at most 128 UTF-8 bytes, no ``/``, ``\\``, leading ``.`` or leading ``~``) is its own
    folder; every other id, including one that looks like an escaped name, gets
    ``~<readable part>~<sha256 of the whole id, 32 hex>``, which no plain id can equal (the
    reserved ``~``) and no other escaped id can equal (the hash). Callers still check the
    mapped names of a batch for duplicates (:func:`autograder.intake.check_folder_names`)."""
    sid = student_id if isinstance(student_id, str) else str(student_id)
    if _is_plain_name(sid):
        return sid
    readable = re.sub(r"[^A-Za-z0-9_.@+=,-]+", "_", sid)[:40]
    digest = hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{ESCAPED_PREFIX}{readable}{ESCAPED_PREFIX}{digest}"


def _is_plain_name(sid: str) -> bool:
    if not sid or sid.startswith((".", ESCAPED_PREFIX)) or not sid.isprintable() or re.search(r"[/\\]", sid):
        return False
    try:
        return len(sid.encode("utf-8")) <= 128
    except UnicodeEncodeError:  # a lone surrogate: not a file name
        return False
