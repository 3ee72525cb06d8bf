"""The default limits of a sandbox: what ``grading.toml [limits]`` may override.

One table, read by the assignment (its effective limits) and by the sandbox (what it applies),
so that knowing an assignment's limits needs nothing of the isolation code.
"""
from __future__ import annotations

DEFAULT_LIMITS = {
    "cpu_per_test": 10.0,          # CPU seconds a test may use in the sandbox
    "cpu_per_submission": 120.0,   # CPU seconds for the whole submission
    "startup_cpu": 30.0,           # CPU seconds to import and define the student's code
    "wall_factor": 3.0,            # wall-clock backstop = wall_factor * CPU limit + 5 s
    "memory_mb": 4096,             # the sandbox's memory
    "output_kb": 256,              # what the student's code may print
    "processes": 64,               # processes and threads in the sandbox
    "wall_per_submission": 600.0,  # wall-clock seconds for the whole submission
}
