"""Plain result records shared by the engine, the CLI, reports and the gradebook."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SubmissionResult":
        data = dict(data)
        data["tests"] = [TestResult(**t) for t in data.get("tests", [])]
        return cls(**data)


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
