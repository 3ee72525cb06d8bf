"""How one batch is graded: :class:`GradingOptions`, the one set of options every fan-out
(the thread pool, Dask) and every later step (lateness, gradebook, autograded notebooks) reads."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path


@dataclass
class GradingOptions:
    workers: int | None = None            # thread pool size (None: the number of cores)
    insecure: bool = False                # grade without the sandbox
    limits: dict | None = None            # override grading.toml's limits
    seed: int = 0
    progress: bool = True                 # a progress bar
    db_url: str | None = None             # nbgrader gradebook (None: not touched)
    grade_fn: object = None               # what grades one notebook (tests pass a fake)
    resume: bool = False                  # skip students graded from the same bytes and tests
    runner: object = None                 # the fan-out (None: a thread pool of `workers`)
    students: list | None = None          # grade only these ids
    regrade_stale: bool = False           # grade only students graded with older tests
    roster: list | None = None            # ids that should have submitted
    roster_rows: list | None = None       # the roster's rows (roster.read_roster): LMS ids -> student ids
    due: datetime | None = None           # None: the stored one (policy file, then the gradebook)
    late_policy: str | None = None        # None: the stored one, else "none"
    autograded_root: Path | str | None = None
    submitted_at: Path | str | None = None
    zip_tz: str | None = None
    hide: list = field(default_factory=list)   # paths the sandbox must not see

    @classmethod
    def build(cls, options: "GradingOptions | None" = None, **kw) -> "GradingOptions":
        """``options`` (or the defaults) with the keyword arguments set; an unknown keyword is a
        TypeError, as for a function."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kw) - names)
        if unknown:
            raise TypeError(f"unknown grading option(s): {', '.join(unknown)}")
        return replace(options or cls(), **kw)
