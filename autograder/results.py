"""Plain result records shared by the engine, the CLI, reports and the gradebook."""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field, fields

# Status of one test.
PASSED = "passed"          # the test cell ran without exception
FAILED = "failed"          # an assertion in the test failed
ERROR = "error"            # the student's code (or the test) raised another exception
TIMEOUT = "timeout"        # CPU (or wall-clock backstop) limit of the test was exceeded
MEMORY = "memory"          # the memory limit was exceeded
CRASH = "crash"            # the sandbox process died (os._exit, segfault, killed)
FORBIDDEN = "forbidden"    # the tested function uses an API the assignment forbids
TEST_STATUSES = (PASSED, FAILED, ERROR, TIMEOUT, MEMORY, CRASH, FORBIDDEN)

# Status of a whole submission.
GRADED = "graded"          # every test ran (some may have failed)
INVALID = "invalid"        # the submission could not be read (not a notebook, bad JSON, empty...)
# ERROR ("error") as a submission status: not graded through no fault of the student
# (no isolation available and insecure not allowed, the sandbox could not start).
SUBMISSION_STATUSES = (GRADED, INVALID, ERROR)

PUBLIC = "public"
HIDDEN = "hidden"


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


def fmt_num(x) -> str:
    """Scores as people write them: ``3``, ``2.5``, ``0.3333`` (the one score formatter)."""
    x = round(float(x), 4)
    return str(int(x)) if x == int(x) else f"{x:g}"


_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: a string starting with ``= + - @``, a tab or a
    CR gets a leading ``'``. Numbers are formatted plainly (``3``, ``2.5``); ``None`` is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return fmt_num(value)
    text = safe_text(value, 10_000)
    return "'" + text if text.startswith(_DANGEROUS_START) else text


def safe_dirname(student_id: str) -> str:
    """A folder name for ``student_id`` that stays inside its parent: the id itself when it is a
    plain name, else ``student-<sha256 prefix>``."""
    sid = str(student_id)
    try:
        sid.encode("utf-8")
        encodable = True
    except UnicodeEncodeError:  # a lone surrogate: not a file name
        encodable = False
    if (encodable and 0 < len(sid) <= 128 and sid not in (".", "..") and not sid.startswith(".")
            and not re.search(r"[/\\\x00-\x1f\x7f]", sid)):
        return sid
    return "student-" + hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()[:12]


# Caps on the text a submission can put into results, feedback and reports (characters).
MAX_TEST_MESSAGE = 4_000
MAX_SUBMISSION_MESSAGE = 12_000


def safe_text(value, limit: int = MAX_TEST_MESSAGE) -> str:
    """``value`` as text fit to store and show: invalid Unicode (lone surrogates) replaced,
    NUL removed, at most ``limit`` characters (a note says how much was cut)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - a hostile __str__
        text = "<unprintable>"
    if len(text) > 4 * limit + 1024:
        text = text[:4 * limit + 1024]
        cut = True
    else:
        cut = False
    text = text.encode("utf-8", "replace").decode("utf-8", "replace").replace("\x00", "")
    if len(text) > limit or cut:
        text = text[:limit] + f" [... cut: messages are limited to {limit} characters]"
    return text
