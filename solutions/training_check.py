"""How far a student's training step is from the reference's, measured on weights only.

The graders of ps3 (``lenet.assert_trained_like``) and ps6 (``modern_capstone.check_training``)
run the reference loop from the student's own starting state and compare the results tensor
by tensor, relative to how far the reference moved. numpy only: no reference value leaves it.
"""
from __future__ import annotations

import numpy as np


def worst_relative_off(got: dict, want: dict, start: dict) -> tuple[float, str | None]:
    """``(rel, key)``: the largest ||got[k] - want[k]|| / ||want[k] - start[k]|| over the keys of
    ``want`` (L2 norms; the change is floored at 1e-6 * sqrt(size), so a tensor that should not
    move is measured in absolute terms), and the key where it is reached (None for no keys)."""
    worst, where = 0.0, None
    for k in want:
        change = float(np.linalg.norm(want[k].astype(np.float64) - start[k]))
        off = float(np.linalg.norm(got[k].astype(np.float64) - want[k]))
        rel = off / max(change, 1e-6 * np.sqrt(want[k].size))
        if rel > worst:
            worst, where = rel, k
    return worst, where
