"""Build the instructor source notebook solutions/ps1_convolution/ps1_convolution.ipynb.

The notebook is generated from the cell list below so that solutions, public and hidden
tests stay easy to review and edit as plain Python. Cell ids are fixed (the grade_id
for graded and solution cells, a short name for the others), so regenerating gives the
same notebook. Run from the repository root:

    .venv/bin/python solutions/ps1_convolution/build_notebook.py

The notebook is written without outputs. Edits made directly in Jupyter are fine too;
then keep this file in step (or stop using it).
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path


from autograder.authoring import NotebookSource

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "solutions" / "ps1_convolution" / "ps1_convolution.ipynb"

NB = NotebookSource()
md, code, setup, solution, test = NB.md, NB.code, NB.setup, NB.solution, NB.test

ANSWER_POINTS = 2


def answer(name: str, what: str, value: str):
    """A predict-before-run question: a solution cell that binds ``name`` to a plain value.

    The release shows ``name = None`` and the stub; the hidden test ``test_<name>`` checks it.
    """
    solution(name, f"""
# {what}
# Write the value itself (no code that calls your functions), then delete the `raise` line.
{name} = None
### BEGIN SOLUTION
{name} = {value}
### END SOLUTION
""")


# The grader's side of the *_grid probes (grading.toml [probes]): a hidden test sends its whole
# grid of arguments to the sandbox in one probe call (`_grid`), then reads each call's outcome
# with `_returned` and checks the values against the reference in the grid's order. Both
# helpers are pasted into each such test in place of the marker line GRID_MARK.
GRID_MARK = "#<grid helper>\n"
GRID_HELPER = '''
def _grid(probe, args, kwargs=None):
    """Run `probe` once for the whole grid: the student's function on every argument list of
    `args` (with the keyword dict kwargs[i], if given). One outcome per call: ["value", v] or
    the probe's ["raised", type, message, where] / ["other", type, repr]."""
    _res = run_probe(probe, args=args, kwargs=kwargs)
    _values = _res.get("values") if type(_res) is dict else None
    _failed = _res.get("failed") if type(_res) is dict else None
    if type(_values) is not list or len(_values) != len(args) or type(_failed) is not list:
        raise AssertionError(f"the probe {probe} did not send back one value per call ({len(args)}): "
                             "does your code change Python or numpy themselves?")
    _outs = [["value", _v] for _v in _values]
    for _f in _failed:
        if type(_f) is list and _f and type(_f[0]) is int and 0 <= _f[0] < len(args):
            _outs[_f[0]] = _f[1:]
    return _outs


def _returned(outcome, call):
    """The value `call` returned, from its outcome in `_grid`'s answer. An AssertionError that
    names the call if it raised or returned something that is not plain data (never the
    expected value: this is a hidden test)."""
    def _plain(v, depth=0):
        if v is None or type(v) in (bool, int, float, str):
            return True
        if type(v) is np.ndarray or isinstance(v, np.generic):
            return v.dtype.kind in "biuf"
        return type(v) in (list, tuple) and depth < 2 and all(_plain(x, depth + 1) for x in v)
    kind = outcome[0] if type(outcome) is list and outcome else None
    if kind == "raised" and len(outcome) == 4 and all(type(x) is str for x in outcome[1:]):
        msg = f"{call} raised {outcome[1]}" + (f": {outcome[2]}" if outcome[2] else "")
        if outcome[1] == "NotImplementedError" and not outcome[2]:
            msg += " (not written yet: replace `raise NotImplementedError()` under `# YOUR CODE HERE` with your code)"
        raise AssertionError(msg + "; it should return a value." + (f"\\nWhere (your code): {outcome[3]}" if outcome[3] else ""))
    if kind == "other" and len(outcome) == 3 and all(type(x) is str for x in outcome[1:]):
        raise AssertionError(f"{call} returned a value of type {outcome[1]} ({outcome[2]}): return plain "
                             "Python or numpy numbers (an int, a tuple of ints).")
    if kind != "value" or len(outcome) != 2 or not _plain(outcome[1]):
        raise AssertionError(f"{call}: the probe sent back an answer it cannot give: "
                             "does your code change Python or numpy themselves?")
    return outcome[1]
'''


def grid_test(cid: str, points: float, text: str):
    """A hidden grid test: ``text`` (with the marker line) gets the probe helpers above."""
    assert text.count(GRID_MARK) == 1, cid
    test(cid, points, text.replace(GRID_MARK, GRID_HELPER.lstrip("\n")))


def answer_test(name: str, body: str):
    """The hidden test of an answer cell: fails with a clear note while the answer is None."""
    test(f"test_{name}", ANSWER_POINTS, "### BEGIN HIDDEN TESTS\n"
         f"assert {name} is not None, \"{name} is still None: write your answer (not answered yet)\"\n"
         + textwrap.dedent(body).strip("\n") + "\n### END HIDDEN TESTS")


# ---------------------------------------------------------------------------------------
md("md-title", r"""
# Problem set 1: convolution from scratch

In this problem set you write, with numpy alone, the operations a convolutional layer is
made of: the output-size formula, zero padding, sliding a kernel over an image (with
stride and padding), the multi-channel convolution a deep-learning framework calls
`Conv2d`, pooling, and the parameter count of a layer. Each function is graded on its own,
so finish them in order and check each one before moving on.

**Notation.** An image (or one channel of it) is `X` with $H \times W$ pixels; a kernel is
`K` with $k_h \times k_w$ weights. Along one axis we write $n$ for the input size, $k$ for
the kernel size, $p$ for the zeros added on *each* side and $s$ for the stride. A batch of
images is `x` with shape `(N, C, H, W)` (N images with C channels each, channels first as
in PyTorch) and a bank of F kernels is `w` with shape `(F, C, KH, KW)`.

**How grading works.** Cells marked *public test* run here: use them to check your work.
The grader also runs *hidden tests* (the empty test cells) that compare your functions
with a reference on many more shapes, strides and paddings, check that you leave your
inputs unchanged and that bad arguments raise clear errors. A test passes when its cell
runs without an error.

**Predict before you run.** Some cells ask a question instead of a function: a shape, a
count, a padding. Work the answer out on paper *first*, write it as a plain value in the
answer cell (`answer_... = 19`, not code that calls your functions: the grader keeps only
plain values from these cells), then check it with your functions if you like. Hidden tests
grade these answers; about a quarter of the points are on them.

**Rules.** Use numpy only: no `scipy`, `torch`, `tensorflow`/`keras`, `np.convolve` or
`np.correlate` (using them costs the points of that function). `np.lib.stride_tricks`
(`sliding_window_view`, `as_strided`) is allowed. Do not change the names or signatures of
the functions.

**Run time.** The whole notebook, completed, runs in full mode (there is no other:
`CNN_COURSE_FAST` changes nothing here) in about 0.2 min: measured 13 s on 2 CPU cores of a
shared machine under load, with the instructor's solutions.
""")

setup("setup", """
import numpy as np

from autograder.tools import (assert_close, assert_equal, assert_not_modified, assert_raises,
                              assert_shape, run_probe, run_student)
from autograder.tools.figures import show_conv_windows, show_coverage, show_maps, show_matrices
""")

# ---------------------------------------------------------------------------------------
md("md-output-size", r"""
## 1. How big is the output?

Slide a $k$-wide window along an axis of $n$ pixels, moving $s$ pixels at a time. The
window starts at positions $0, s, 2s, \dots$ and must stay inside the input, so its last
start is at most $n - k$. With $p$ zeros added on both sides the input has $n + 2p$ pixels:

$$ n_{\text{out}} = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1 . $$

Examples: a 7-pixel row and a 3-wide kernel give $5$ positions with stride 1 and $3$ with
stride 2. With stride 3, $(7 - 3)/3$ is not a whole number: the windows start at 0 and 3,
and the last column of the input is never visited. We say the kernel *does not fit*;
frameworks silently drop the leftover pixels (that is the floor), and your function should
raise a `ValueError` when asked for an exact fit (`exact=True`).

> **Note.** Some lecture slides write the size as $(n + 2p - k)/s$: the $+1$ and the floor
> are missing. For a 125 x 49 image, a 5 x 5 kernel, $p = 2$ and $s = 2$ the output is
> $63 \times 25$, not $62 \times 24$.

Keras and TensorFlow also accept two words for the padding: `"valid"` means $p = 0$, and
`"same"` means "pad just enough that the output has $\lceil n / s \rceil$ positions" (the
same size as the input when $s = 1$). With `"same"` the kernel size does not change the
output size.
""")

solution("conv_output_size", '''
def conv_output_size(n, k, p=0, s=1, exact=False):
    """Number of positions a k-wide kernel takes along an axis of n pixels.

    Args:
        n: input size, an int >= 1.
        k: kernel size, an int >= 1.
        p: zeros added on each side, an int >= 0; or "valid" (p = 0); or "same"
            (TensorFlow's rule: the output has ceil(n / s) positions, whatever k is).
        s: stride, an int >= 1.
        exact: if True, raise ValueError when the kernel does not tile the padded input
            exactly, i.e. when (n + 2p - k) / s is not a whole number (ignored with "same").

    Returns:
        int: floor((n + 2p - k) / s) + 1, or ceil(n / s) with p="same".

    Raises:
        TypeError: n, k, s or p is not an int (nor "valid"/"same" for p).
        ValueError: n, k or s < 1; p < 0 or an unknown word; k > n + 2p; with exact=True,
            a kernel that does not fit. The message names the argument and its value.
    """
    ### BEGIN SOLUTION
    for name, value in (("n", n), ("k", k), ("s", s)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if isinstance(p, str):
        if p == "same":
            return int(-(-n // s))                 # ceil(n / s) with integers only
        if p != "valid":
            raise ValueError(f"p must be an int >= 0, 'valid' or 'same', got {p!r}")
        p = 0
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise TypeError(f"p must be an int, 'valid' or 'same', got {p!r}")
    if p < 0:
        raise ValueError(f"p must be >= 0, got {p}")
    span = n + 2 * p                               # the padded input
    if k > span:
        raise ValueError(f"the kernel size k={k} is larger than the padded input n + 2p = {span}")
    if exact and (span - k) % s != 0:
        raise ValueError(f"the kernel does not fit: (n + 2p - k) / s = {(span - k) / s:g} is not whole")
    return int((span - k) // s + 1)
    ### END SOLUTION
''')

test("test_conv_output_size_seed", 1, '''
# Public test: the lecture's examples.
assert_equal(conv_output_size(7, 3), 5, name="conv_output_size(7, 3)", mistakes={"the +1 is missing": 4})
assert_equal(conv_output_size(7, 3, s=2), 3, name="conv_output_size(7, 3, s=2)",
             mistakes={"the +1 is missing": 2, "the stride is ignored": 5})
assert_equal(conv_output_size(7, 3, s=3), 2, name="conv_output_size(7, 3, s=3)",
             hint="without exact=True the leftover column is dropped (floor).")
assert_raises(ValueError, conv_output_size, 7, 3, s=3, exact=True,
              because="(7 - 3) / 3 is not whole: a 3x3 kernel with stride 3 does not fit a 7x7 image")
assert_equal(conv_output_size(7, 3, p=1), 7, name="conv_output_size(7, 3, p=1)")
assert_equal(conv_output_size(8, 3, p=1), 8, name="conv_output_size(8, 3, p=1)")
assert_equal(conv_output_size(32, 5, p=2), 32, name="conv_output_size(32, 5, p=2)")
assert_equal(conv_output_size(28, 5, p="valid"), 24, name="conv_output_size(28, 5, p='valid')")
assert_equal(conv_output_size(125, 5, p=2, s=2), 63, name="conv_output_size(125, 5, p=2, s=2)",
             mistakes={"the +1 is missing": 62}, hint="floor((125 + 4 - 5) / 2) + 1")
assert_equal(conv_output_size(49, 5, p=2, s=2), 25, name="conv_output_size(49, 5, p=2, s=2)",
             mistakes={"the +1 is missing": 24})
assert_equal(conv_output_size(7, 3, p="same", s=2), 4, name="conv_output_size(7, 3, p='same', s=2)",
             hint="'same' gives ceil(n / s) positions.")
print("conv_output_size: public tests passed")
''')

grid_test("test_conv_output_size_hidden_grid", 2, '''
### BEGIN HIDDEN TESTS
import math
import solutions as ref
#<grid helper>
# the grid: every (n, k, p, s) the reference accepts, all sent to the sandbox in one probe call
_points = []
for _n in (1, 2, 5, 7, 8, 13, 28, 125):
    for _k in (1, 2, 3, 4, 5):
        for _p in (0, 1, 2, 3, "valid", "same"):
            for _s in (1, 2, 3):
                try:
                    _points.append((_n, _k, _p, _s, ref.conv_output_size(_n, _k, _p, _s)))
                except ValueError:
                    continue
_outs = _grid("conv_output_size_grid", [[_n, _k, _p, _s] for _n, _k, _p, _s, _ in _points])
for (_n, _k, _p, _s, _want), _out in zip(_points, _outs):
    _name = f"conv_output_size(n={_n}, k={_k}, p={_p!r}, s={_s})"
    _pp = 0 if _p in ("valid", "same") else _p
    _wrong = {}
    if _p != "same":
        _wrong["the +1 is missing"] = (_n + 2 * _pp - _k) // _s
        _wrong["it rounds up (ceil) instead of down (floor)"] = math.ceil((_n + 2 * _pp - _k) / _s) + 1
        _wrong["the padding is counted once instead of on both sides"] = (_n + _pp - _k) // _s + 1
    else:
        _wrong["'same' should give ceil(n / s), it looks like floor(n / s)"] = _n // _s
    assert_equal(_returned(_out, _name), _want, name=_name,
                 mistakes={m: v for m, v in _wrong.items() if v != _want})
# keywords and numpy integers work too
assert_equal(conv_output_size(n=np.int64(10), k=np.int64(3), p=np.int64(1), s=np.int64(2)), 5,
             name="conv_output_size with numpy ints")
assert_equal(conv_output_size(9, 3, p=0, s=3, exact=True), 3, name="conv_output_size(9, 3, s=3, exact=True)")
assert_equal(conv_output_size(7, 4, p="same", s=3, exact=True), 3,
             name="conv_output_size(7, 4, p='same', s=3, exact=True)", hint="exact is ignored with 'same'.")
### END HIDDEN TESTS
''')

test("test_conv_output_size_errors", 1, '''
### BEGIN HIDDEN TESTS
assert_equal(conv_output_size(6, 2, p=1, s=2), 4, name="conv_output_size(6, 2, p=1, s=2)")
for _args, _kw, _why in [
    ((5, 7), {}, "the kernel (7) is larger than the input (5)"),
    ((5, 8, 1), {}, "the kernel (8) is larger than the padded input (7)"),
    ((0, 1), {}, "n must be >= 1"),
    ((5, 0), {}, "k must be >= 1"),
    ((5, 3), {"s": 0}, "s must be >= 1 (a stride of 0 never moves)"),
    ((5, 3), {"p": -1}, "p must be >= 0"),
    ((5, 3), {"p": "full"}, "p must be an int, 'valid' or 'same'"),
    ((10, 3), {"s": 2, "exact": True}, "(10 - 3) / 2 is not whole"),
    ((12, 5), {"p": 1, "s": 2, "exact": True}, "(12 + 2 - 5) / 2 is not whole"),
]:
    assert_raises(ValueError, conv_output_size, *_args, **_kw, because=_why)
assert_raises((TypeError, ValueError), conv_output_size, 7.5, 3, because="n must be an int")
### END HIDDEN TESTS
''')

md("md-q-unseen", r"""
**Question (predict before you run).** A 10 x 10 image, a 3 x 3 kernel, stride 3, no
padding. Some pixels are never inside any window, so they cannot influence the output at
all. How many of the 100 pixels are never seen?
""")

answer("answer_unseen_pixels", "How many pixels of the 10 x 10 image are never inside a window? (an int)", "19")

answer_test("answer_unseen_pixels", """
import solutions as ref
_n_out = ref.conv_output_size(10, 3, 0, 3)
_seen = np.zeros((10, 10), dtype=bool)
for _i in range(_n_out):
    for _j in range(_n_out):
        _seen[3 * _i:3 * _i + 3, 3 * _j:3 * _j + 3] = True
assert_equal(answer_unseen_pixels, int((~_seen).sum()), name="answer_unseen_pixels",
             mistakes={"only the last column was counted (the last row is dropped too)": 10,
                       "that is the number of pixels that are seen": int(_seen.sum()),
                       "that counts the pixels of the output": _n_out * _n_out},
             hint="the windows start at rows 0, 3 and 6; which rows and columns does the last one reach?")
""")

# ---------------------------------------------------------------------------------------
md("md-zero-pad", r"""
## 2. Zero padding

Without padding every convolution shrinks the image by $k - 1$ pixels, and pixels near the
border are visited by fewer windows than those in the middle. Adding a border of $p$ zeros
on each side fixes both: with $s = 1$ and $p = (k - 1)/2$ (for odd $k$) the output keeps the
input's size. The picture shows a 5 x 5 input padded with one pixel of zeros, a 3 x 3
kernel moving with stride 2, and the output cell each window produces.
""")

code("demo-windows", """
show_conv_windows((5, 5), k=3, stride=2, padding=1, cells=[(0, 0), (0, 1), (1, 0), (2, 2)]);
""")

md("md-coverage", r"""
How many windows see each pixel? Without padding the corners are used once and the centre
$k^2$ times; padding evens this out (left: 6 x 6 input, $k = 3$, no padding; right: the
same with $p = 1$).
""")

code("demo-coverage", """
show_coverage((6, 6), k=3, stride=1, padding=0);
show_coverage((6, 6), k=3, stride=1, padding=1);
""")

md("md-zero-pad-task", r"""
**Task.** Write `zero_pad(x, p)`: add zeros around the last two axes (H and W) of an array
of any number of axes, e.g. a batch `(N, C, H, W)`. Only H and W are padded: padding the
batch or channel axes would add fake images or channels. Return a new array; do not modify
`x`.
""")

solution("zero_pad", '''
def zero_pad(x, p):
    """Pad the last two axes of x with zeros.

    Args:
        x: array of shape (..., H, W) (at least 2 axes).
        p: an int (p zeros on all four sides), a pair (ph, pw) (ph rows on top and
            bottom, pw columns left and right), or ((top, bottom), (left, right)).

    Returns:
        a new array of shape (..., H + top + bottom, W + left + right) with x's dtype;
        the leading axes are unchanged and x itself is left as it was.

    Raises:
        ValueError: x has fewer than 2 axes, or a padding amount is negative.
        TypeError: a padding amount is not an int.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 axes (..., H, W), got shape {x.shape}")
    if isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(q, (tuple, list)) for q in p):
        (top, bottom), (left, right) = p
    elif isinstance(p, (tuple, list)) and len(p) == 2:
        (top, left) = p
        bottom, right = top, left
    else:
        top = bottom = left = right = p
    for amount in (top, bottom, left, right):
        if isinstance(amount, bool) or not isinstance(amount, (int, np.integer)):
            raise TypeError(f"p must be an int, (ph, pw) or ((top, bottom), (left, right)), got {p!r}")
        if amount < 0:
            raise ValueError(f"p must not be negative, got {p!r}")
    H, W = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (top + H + bottom, left + W + right), dtype=x.dtype)
    out[..., top:top + H, left:left + W] = x
    return out
    ### END SOLUTION
''')

test("test_zero_pad_public", 1, '''
# Public test: shapes, zeros on the border, the original inside, other axes untouched.
x_pad_demo = np.arange(1, 2 * 3 * 4 * 5 + 1, dtype=float).reshape(2, 3, 4, 5)
padded = zero_pad(x_pad_demo, 1)
assert_shape(padded, (2, 3, 6, 7), name="zero_pad(x, 1)", axes=("N", "C", "H", "W"),
             hint="pad only the last two axes, by p on each side.")
assert_close(padded[..., 1:-1, 1:-1], x_pad_demo, rtol=0, atol=0, name="the inside of zero_pad(x, 1)")
assert_equal(float(np.abs(padded).sum() - np.abs(x_pad_demo).sum()), 0.0, name="sum of the border",
             hint="the border must be zeros.")
small = zero_pad(np.ones((2, 2)), ((1, 0), (2, 3)))
assert_close(small, np.array([[0, 0, 0, 0, 0, 0, 0],
                              [0, 0, 1, 1, 0, 0, 0],
                              [0, 0, 1, 1, 0, 0, 0]], dtype=float), rtol=0, atol=0,
             name="zero_pad(ones((2, 2)), ((1, 0), (2, 3)))")
assert_shape(zero_pad(np.ones((4, 6)), 0), (4, 6), name="zero_pad(x, 0)")
print("zero_pad: public tests passed")
''')

test("test_zero_pad_hidden_grid", 2, '''
### BEGIN HIDDEN TESTS
import solutions as ref
_rng = np.random.default_rng(7)
for _shape in [(5, 7), (1, 1), (3, 4, 2), (2, 3, 4, 5), (1, 2, 1, 3, 6)]:
    for _p in (0, 1, 3, ((1, 2), (0, 3)), ((0, 0), (2, 1)), (2, 1)):
        _x = _rng.standard_normal(_shape)
        _want = ref.zero_pad(_x, _p)
        _mist = {}
        if _x.ndim > 2 and isinstance(_p, int) and _p > 0:
            _mist["every axis was padded, not just H and W"] = np.pad(_x, _p)
        assert_close(zero_pad(_x, _p), _want, rtol=0, atol=0,
                     name=f"zero_pad(x{_x.shape}, {_p!r})", mistakes=_mist)
# the dtype is kept
for _dt in (np.float32, np.float64, np.int64, np.uint8):
    _x = np.arange(12).reshape(3, 4).astype(_dt)
    _got = zero_pad(_x, 2)
    assert np.asarray(_got).dtype == _dt, (
        f"zero_pad of a {np.dtype(_dt)} array returned dtype {np.asarray(_got).dtype}; keep x's dtype.")
    assert_close(_got, ref.zero_pad(_x, 2), rtol=0, atol=0, name=f"zero_pad of a {np.dtype(_dt)} array")
### END HIDDEN TESTS
''')

test("test_zero_pad_unchanged_errors", 1, '''
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(8)
_x = _rng.standard_normal((2, 3, 4))
_x0 = _x.copy()
_out = zero_pad(_x, ((1, 2), (3, 0)))
assert_not_modified(_x, _x0, name="x")
assert_shape(_out, (2, 6, 7), name="zero_pad(x, ((1, 2), (3, 0)))")
assert_raises(ValueError, zero_pad, np.ones(5), 1, because="x must have at least 2 axes (H, W)")
assert_raises(ValueError, zero_pad, np.ones((3, 3)), -1, because="p must not be negative")
assert_raises(ValueError, zero_pad, np.ones((3, 3)), ((1, -1), (0, 0)), because="p must not be negative")
### END HIDDEN TESTS
''')

md("md-q-windows", r"""
**Question.** A 7 x 7 image, a 3 x 3 kernel, stride 2, no padding. How many of the windows
contain the pixel in row 1, column 2 (rows and columns counted from 0)?
""")

answer("answer_windows_covering", "How many windows contain the pixel (row 1, column 2)? (an int)", "2")

answer_test("answer_windows_covering", """
import solutions as ref
_n_out = ref.conv_output_size(7, 3, 0, 2)
_count = sum(1 for _i in range(_n_out) for _j in range(_n_out)
             if 2 * _i <= 1 < 2 * _i + 3 and 2 * _j <= 2 < 2 * _j + 3)
assert_equal(answer_windows_covering, _count, name="answer_windows_covering",
             mistakes={"that is the count with stride 1 (k * k for an inner pixel)": 6,
                       "that is k * k, the count of a pixel far from the border with stride 1": 9,
                       "the windows overlap: column 2 is in two of them": 1},
             hint="with stride 2 the windows start at rows 0, 2, 4 and columns 0, 2, 4.")
""")

# ---------------------------------------------------------------------------------------
md("md-same", r"""
## 3. "Same" padding, two conventions

With `padding="same"` Keras/TensorFlow choose the padding for you so that the output has
$\lceil n / s \rceil$ positions. The total number of zeros needed along an axis is
$\max\big((n_{\text{out}} - 1)\, s + k - n,\ 0\big)$. When that number is odd, TensorFlow
puts the extra zero **after** the input (bottom or right): `before = total // 2`,
`after = total - before`.

PyTorch is different: an integer `padding=p` is always symmetric (p zeros on each side),
and `padding="same"` is accepted only with stride 1. For an odd kernel and stride 1 the two
frameworks agree ($p = (k-1)/2$ on both sides); for an even kernel or a stride above 1 a
symmetric padding cannot reproduce TensorFlow's output. In this problem set `"same"`
always means TensorFlow's rule.

**Task.** Write `same_padding(n, k, s)` returning the pair `(before, after)`.
""")

solution("same_padding", '''
def same_padding(n, k, s=1):
    """TensorFlow's 'same' padding along one axis.

    Args:
        n: input size (int >= 1); k: kernel size (int >= 1); s: stride (int >= 1).

    Returns:
        (before, after): ints with before + after = max((ceil(n / s) - 1) * s + k - n, 0)
        and after - before in {0, 1} (the odd extra zero goes after the input).
    """
    ### BEGIN SOLUTION
    n_out = -(-n // s)                           # ceil(n / s)
    total = max((n_out - 1) * s + k - n, 0)
    before = total // 2
    return before, total - before
    ### END SOLUTION
''')

test("test_same_padding_public", 1, '''
# Public test
assert_equal(same_padding(5, 3, 1), (1, 1), name="same_padding(5, 3, 1)")
assert_equal(same_padding(5, 4, 1), (1, 2), name="same_padding(5, 4, 1)",
             hint="an even kernel needs an odd total (3): the extra zero goes after (bottom/right).")
assert_equal(same_padding(7, 3, 2), (1, 1), name="same_padding(7, 3, 2)")
assert_equal(same_padding(6, 3, 2), (0, 1), name="same_padding(6, 3, 2)",
             hint="ceil(6 / 2) = 3 outputs need (3 - 1) * 2 + 3 = 7 pixels: one zero, after.")
assert_equal(same_padding(4, 1, 3), (0, 0), name="same_padding(4, 1, 3)")
print("same_padding: public tests passed")
''')

grid_test("test_same_padding_hidden", 1, '''
### BEGIN HIDDEN TESTS
#<grid helper>
_points = [(_n, _k, _s) for _n in (1, 2, 3, 5, 6, 7, 10, 13) for _k in (1, 2, 3, 4, 5, 7) for _s in (1, 2, 3, 4)]
_outs = _grid("same_padding_grid", [list(_pt) for _pt in _points])   # one sandbox call for the grid
for (_n, _k, _s), _out in zip(_points, _outs):
    _out_size = -(-_n // _s)
    _total = max((_out_size - 1) * _s + _k - _n, 0)
    _want = (_total // 2, _total - _total // 2)
    _mist = {"the extra zero went before (top/left) instead of after": (_want[1], _want[0]),
             "the stride is ignored (that is only right for s = 1)": ((_k - 1) // 2, _k - 1 - (_k - 1) // 2),
             "it pads symmetrically by (k - 1) // 2": ((_k - 1) // 2, (_k - 1) // 2)}
    _name = f"same_padding({_n}, {_k}, {_s})"
    _got = _returned(_out, _name)
    if type(_got) is list or (type(_got) is np.ndarray and _got.ndim == 1):
        _got = tuple(_got)
    assert_equal(_got, _want, name=_name, mistakes={m: v for m, v in _mist.items() if v != _want})
### END HIDDEN TESTS
''')

md("md-q-frameworks", r"""
**Questions: the two frameworks on the same image.** A 9 x 9 image and a 4 x 4 kernel with
stride 2.

* Keras: `Conv2D(1, 4, strides=2, padding="same")`. Give `(output rows, zero rows added on
  top, zero rows added at the bottom)`.
* PyTorch: `nn.Conv2d(1, 1, kernel_size=4, stride=2, padding=1)` (one zero on every side).
  How many output rows?
""")

answer("answer_keras_same", "(output rows, zeros on top, zeros at the bottom) for Keras' 'same' (a tuple of 3 ints)",
       "(5, 1, 2)")

answer_test("answer_keras_same", """
import solutions as ref
_rows = ref.conv_output_size(9, 4, "same", 2)
_total = max((_rows - 1) * 2 + 4 - 9, 0)             # TensorFlow: the odd extra zero after the input
_top, _bottom = _total // 2, _total - _total // 2
_want = (_rows, _top, _bottom)
_got = tuple(answer_keras_same)
assert_equal(_got, _want, name="answer_keras_same",
             mistakes={"the odd extra zero goes at the bottom, not on top": (_want[0], _bottom, _top),
                       "that is floor, not ceil(9 / 2)": (4, _top, _bottom),
                       "that pads symmetrically like PyTorch": (_want[0], 1, 1)})
""")

answer("answer_torch_rows", "Output rows of PyTorch's Conv2d(kernel_size=4, stride=2, padding=1) on 9 rows (an int)", "4")

answer_test("answer_torch_rows", """
import solutions as ref
assert_equal(answer_torch_rows, ref.conv_output_size(9, 4, 1, 2), name="answer_torch_rows",
             mistakes={"that is Keras' 'same' (ceil(9 / 2)); PyTorch applies the formula with p = 1": 5,
                       "the +1 is missing": 3},
             hint="PyTorch applies floor((n + 2p - k) / s) + 1 with its padding p (zeros on each side).")
""")

# ---------------------------------------------------------------------------------------
md("md-single", r"""
## 4. Sliding one kernel over one channel

Place the kernel on the top-left window of the (padded) image, multiply element by element,
add everything up: that is one output value. Move the window $s$ pixels right and repeat;
at the end of a row move $s$ pixels down. In symbols, for a kernel `K` of $k_h \times k_w$
weights and a padded image `Xp`:

$$ Y[i, j] = \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1} Xp[i s_h + u,\ j s_w + v]\; K[u, v]. $$

This is **cross-correlation**, and it is what PyTorch, TensorFlow and Keras compute under
the name "convolution". The **true convolution** of mathematics and signal processing first
rotates the kernel by 180 degrees (flips it upside down and left to right):
$K'[u, v] = K[k_h - 1 - u,\ k_w - 1 - v]$. In a CNN the kernels are learned, so the
difference does not matter for training (the network would simply learn flipped kernels),
but it matters when you reproduce a hand calculation: check which of the two it uses.
`conv2d_single` does both, with `flip=False` (cross-correlation, the default) or
`flip=True` (convolution).

The example below (3 x 3 input, 2 x 2 kernel, stride 1, no padding) gives
$0\cdot0 + 1\cdot1 + 3\cdot2 + 4\cdot3 = 19$ in the top-left cell.
""")

code("demo-arange", """
show_matrices([np.arange(9).reshape(3, 3), np.arange(4).reshape(2, 2), np.array([[19, 25], [37, 43]])],
              ["X", "K", "Y (cross-correlation)"], ops=["*", "="]);
""")

md("md-single-task", r"""
**Task.** Write `conv2d_single`. Two nested loops over the output positions are fine here
(the next function is where you vectorise). The result is a float array: the input's
floating dtype, or `float64` if the inputs are integers. Use your `zero_pad` and
`same_padding`.
""")

solution("conv2d_single", '''
def conv2d_single(image, kernel, stride=1, padding=0, flip=False):
    """Slide one 2-D kernel over one 2-D image (one channel).

    Args:
        image: array (H, W).
        kernel: array (KH, KW).
        stride: int or (sh, sw), each >= 1.
        padding: int or (ph, pw) zeros on each side, "valid" (no padding) or
            "same" (TensorFlow's rule, see same_padding).
        flip: False for cross-correlation (what CNN frameworks compute), True for true
            convolution (the kernel rotated by 180 degrees first).

    Returns:
        array (H', W') with H' = floor((H + 2ph - KH) / sh) + 1 (ceil(H / sh) for "same"),
        likewise W'; dtype: the inputs' floating dtype, float64 for integer inputs.

    Raises:
        ValueError: image or kernel is not 2-D, stride < 1, padding < 0 or an unknown word,
            or the kernel is larger than the padded image.
    """
    ### BEGIN SOLUTION
    X = np.asarray(image)
    K = np.asarray(kernel)
    if X.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W), got shape {X.shape}")
    if K.ndim != 2:
        raise ValueError(f"kernel must be 2-D (KH, KW), got shape {K.shape}")
    if flip:
        K = K[::-1, ::-1]                          # a view: the caller's kernel is untouched
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    if sh < 1 or sw < 1:
        raise ValueError(f"stride must be >= 1, got {stride!r}")
    (H, W), (KH, KW) = X.shape, K.shape
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        pads = ((0, 0), (0, 0)) if padding == "valid" else (same_padding(H, KH, sh), same_padding(W, KW, sw))
    else:
        ph, pw = (padding, padding) if np.ndim(padding) == 0 else padding
        if ph < 0 or pw < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        pads = ((ph, ph), (pw, pw))
    dtype = np.result_type(X, K)
    if not np.issubdtype(dtype, np.floating):
        dtype = np.float64
    Xp = zero_pad(X.astype(dtype), pads)
    if KH > Xp.shape[0] or KW > Xp.shape[1]:
        raise ValueError(f"the kernel {K.shape} is larger than the padded image {Xp.shape}")
    Ho = (Xp.shape[0] - KH) // sh + 1
    Wo = (Xp.shape[1] - KW) // sw + 1
    Y = np.zeros((Ho, Wo), dtype=dtype)
    for i in range(Ho):
        for j in range(Wo):
            window = Xp[i * sh:i * sh + KH, j * sw:j * sw + KW]
            Y[i, j] = np.sum(window * K)
    return Y
    ### END SOLUTION
''')

test("test_conv2d_single_seed", 2, '''
# Public test: the lectures' worked examples.
# (a) cross-correlation of arange(9) with arange(4)
Y = conv2d_single(np.arange(9).reshape(3, 3), np.arange(4).reshape(2, 2))
assert_close(Y, np.array([[19., 25.], [37., 43.]]), rtol=0, atol=1e-12, name="conv2d_single(arange 3x3, arange 2x2)",
             mistakes={"the kernel is flipped (flip=False means no rotation)": np.array([[5., 11.], [23., 29.]])})
# (b) a binary 5x5 image and an X-shaped kernel
X_bin = np.array([[1, 1, 1, 0, 0],
                  [0, 1, 1, 1, 0],
                  [0, 0, 1, 1, 1],
                  [0, 0, 1, 1, 0],
                  [0, 1, 1, 0, 0]])
K_x = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
assert_close(conv2d_single(X_bin, K_x), np.array([[4., 3., 4.], [2., 4., 3.], [2., 3., 4.]]),
             rtol=0, atol=1e-12, name="conv2d_single(binary image, X kernel)", axes=("H'", "W'"))
# (c) the practice problem: 1 pixel of zero padding, the kernel FLIPPED (true convolution);
# only the first row is checked here (the rest is a question below)
X_prac = np.array([[5, 1, 3, 7, 8],
                   [2, 4, 6, 1, 7],
                   [3, 4, 9, 7, 2],
                   [4, 9, 4, 5, 9],
                   [7, 9, 8, 7, 9]])
K_prac = np.array([[3, 0, 0], [0, 0, 0], [0, 0, -3]])
row0 = np.array([12, 18, 3, 21, 0], dtype=float)
Y_prac = conv2d_single(X_prac, K_prac, padding=1, flip=True)
assert_shape(Y_prac, (5, 5), name="conv2d_single(practice image, kernel, padding=1, flip=True)", axes=("H'", "W'"))
assert_close(Y_prac[0], row0, rtol=0, atol=1e-12,
             name="the first row of conv2d_single(practice image, kernel, padding=1, flip=True)",
             mistakes={"the kernel was not flipped (cross-correlation instead of convolution)": -row0})
assert_close(conv2d_single(X_prac, K_prac, padding=1)[0], -row0, rtol=0, atol=1e-12,
             name="the first row of conv2d_single(practice image, kernel, padding=1)  [no flip]")
# (d) stride and output shape: 7x7 input, 3x3 kernel
ones7 = np.ones((7, 7))
assert_shape(conv2d_single(ones7, np.ones((3, 3))), (5, 5), name="7x7 * 3x3, stride 1", axes=("H'", "W'"))
assert_shape(conv2d_single(ones7, np.ones((3, 3)), stride=2), (3, 3), name="7x7 * 3x3, stride 2", axes=("H'", "W'"))
assert_shape(conv2d_single(ones7, np.ones((3, 3)), padding=1), (7, 7), name="7x7 * 3x3, padding 1", axes=("H'", "W'"))
print("conv2d_single: public tests passed")
''')

test("test_conv2d_single_hidden_grid", 2, '''
### BEGIN HIDDEN TESTS
import solutions as ref
_rng = np.random.default_rng(11)
for (_H, _W, _KH, _KW, _s, _p) in [(5, 7, 3, 3, 1, 0), (6, 4, 2, 2, 1, 0), (7, 5, 1, 1, 1, 0),
                                   (8, 9, 4, 3, 1, 1), (6, 6, 2, 3, 1, 2), (9, 7, 5, 5, 1, 3),
                                   (3, 8, 3, 1, 1, 0), (1, 6, 1, 2, 1, 0), (4, 4, 4, 4, 1, 0)]:
    _X = _rng.standard_normal((_H, _W))
    _K = _rng.standard_normal((_KH, _KW))
    _want = ref.conv2d_single(_X, _K, stride=_s, padding=_p)
    _mist = {"the kernel is flipped: flip=False is cross-correlation, no rotation":
             ref.conv2d_single(_X, _K[::-1, ::-1], stride=_s, padding=_p)}
    if _KH != _KW and _KW <= _H + 2 * _p and _KH <= _W + 2 * _p:
        _mist["the kernel's height and width are swapped"] = ref.conv2d_single(_X, _K.T, stride=_s, padding=_p)
    assert_close(conv2d_single(_X, _K, stride=_s, padding=_p), _want, rtol=1e-9, atol=1e-9,
                 name=f"conv2d_single(image{_X.shape}, kernel{_K.shape}, stride={_s}, padding={_p})",
                 axes=("H'", "W'"), mistakes=_mist)
### END HIDDEN TESTS
''')

test("test_conv2d_single_flip_stride", 2, '''
### BEGIN HIDDEN TESTS
import solutions as ref
_Xp = np.array([[5, 1, 3, 7, 8], [2, 4, 6, 1, 7], [3, 4, 9, 7, 2], [4, 9, 4, 5, 9], [7, 9, 8, 7, 9]])
_Kp = np.array([[3, 0, 0], [0, 0, 0], [0, 0, -3]])
_want = ref.conv2d_single(_Xp, _Kp, padding=1, flip=True)
assert_close(conv2d_single(_Xp, _Kp, padding=1, flip=True), _want, rtol=0, atol=1e-12,
             name="conv2d_single(practice image, kernel, padding=1, flip=True)", axes=("H'", "W'"),
             mistakes={"the kernel was not flipped (cross-correlation instead of convolution)": -_want})
_rng = np.random.default_rng(12)
for (_H, _W, _KH, _KW, _s, _p, _flip) in [(7, 7, 3, 3, 2, 0, False), (9, 8, 3, 2, 3, 1, False),
                                          (8, 11, 2, 4, (2, 3), 0, False), (10, 6, 3, 3, (1, 2), (2, 1), False),
                                          (6, 7, 3, 2, 1, 1, True), (9, 9, 4, 4, 2, 2, True),
                                          (5, 8, 2, 3, 3, 3, True), (12, 10, 5, 3, (3, 2), 1, True),
                                          (7, 6, 3, 3, 2, "same", False), (6, 9, 4, 2, (2, 3), "same", True),
                                          (5, 5, 3, 3, 1, "valid", False)]:
    _X = _rng.integers(-5, 6, size=(_H, _W)).astype(float)
    _K = _rng.integers(-3, 4, size=(_KH, _KW)).astype(float)
    _want = ref.conv2d_single(_X, _K, stride=_s, padding=_p, flip=_flip)
    _mist = {}
    _mist["flip is ignored" if _flip else "the kernel is flipped although flip=False"] = \\
        ref.conv2d_single(_X, _K, stride=_s, padding=_p, flip=not _flip)
    _mist["the stride is ignored"] = ref.conv2d_single(_X, _K, stride=1, padding=_p, flip=_flip)
    if _flip:
        _mist["the kernel was flipped only up-down, not also left-right"] = \\
            ref.conv2d_single(_X, _K[::-1, :], stride=_s, padding=_p)
        _mist["the kernel was transposed instead of rotated by 180 degrees"] = \\
            (ref.conv2d_single(_X, _K.T, stride=_s, padding=_p) if _KH == _KW else np.zeros((0,)))
    if _p not in ("same", "valid"):
        try:
            _mist["the padding is ignored"] = ref.conv2d_single(_X, _K, stride=_s, padding=0, flip=_flip)
        except ValueError:
            pass
    assert_close(conv2d_single(_X, _K, stride=_s, padding=_p, flip=_flip), _want, rtol=1e-9, atol=1e-9,
                 name=f"conv2d_single(image{_X.shape}, kernel{_K.shape}, stride={_s!r}, padding={_p!r}, flip={_flip})",
                 axes=("H'", "W'"), mistakes=_mist)
### END HIDDEN TESTS
''')

test("test_conv2d_single_unchanged_errors", 1, '''
### BEGIN HIDDEN TESTS
import solutions as ref
_rng = np.random.default_rng(13)
for _dt, _want_dt, _tol in [(np.float64, np.float64, 1e-9), (np.float32, np.float32, 1e-4),
                            (np.int64, np.float64, 1e-9), (np.int32, np.float64, 1e-9)]:
    _X = (_rng.standard_normal((6, 5)) * 4).astype(_dt)
    _K = (_rng.standard_normal((3, 2)) * 3).astype(_dt)
    _X0, _K0 = _X.copy(), _K.copy()
    _got = conv2d_single(_X, _K, stride=1, padding=1, flip=True)
    assert_not_modified(_X, _X0, name="image")
    assert_not_modified(_K, _K0, name="kernel (flip must not rotate the caller's kernel in place)")
    assert np.asarray(_got).dtype == _want_dt, (
        f"conv2d_single on {np.dtype(_dt)} inputs returned dtype {np.asarray(_got).dtype}, expected "
        f"{np.dtype(_want_dt)} (the inputs' floating dtype, float64 for integers).")
    assert_close(_got, ref.conv2d_single(_X, _K, stride=1, padding=1, flip=True), rtol=_tol, atol=_tol,
                 name=f"conv2d_single on {np.dtype(_dt)} inputs")
assert_shape(conv2d_single(np.ones((4, 6)), np.ones((2, 3)), stride=2), (2, 2), name="conv2d_single(4x6, 2x3, stride=2)")
assert_raises(ValueError, conv2d_single, np.ones((3, 4, 4)), np.ones((3, 3)), because="image must be 2-D (H, W)")
assert_raises(ValueError, conv2d_single, np.ones((4, 4)), np.ones((1, 3, 3)), because="kernel must be 2-D (KH, KW)")
assert_raises(ValueError, conv2d_single, np.ones((4, 4)), np.ones((5, 3)), because="the kernel is taller than the image")
assert_raises(ValueError, conv2d_single, np.ones((4, 4)), np.ones((3, 7)), padding=1,
              because="the kernel is wider than the padded image")
assert_raises(ValueError, conv2d_single, np.ones((5, 5)), np.ones((3, 3)), stride=0, because="stride must be >= 1")
assert_raises(ValueError, conv2d_single, np.ones((5, 5)), np.ones((3, 3)), padding="full",
              because="padding must be an int, a pair, 'valid' or 'same'")
### END HIDDEN TESTS
''')

md("md-practice-flip", r"""
**Question: a variant of the flipped-kernel practice problem, by hand.** The public test above
checks the first row of the lecture's practice problem, `12 18 3 21 0` (the lecture works out
the whole answer). Now take the same image and padding 1 with the kernel mirrored left-right,
`[[0, 0, 3], [0, 0, 0], [-3, 0, 0]]`, again as a true convolution (kernel flipped). Rotate this
kernel by 180 degrees yourself, decide which two pixels of each 3 x 3 window each output value
uses (zeros outside the image), and work out the **second** row by hand before you run anything.
(Not graded: why is the cross-correlation of these kernels exactly the negative of their
convolution?)
""")

code("demo-practice-flip", """
X_practice = np.array([[5, 1, 3, 7, 8],
                       [2, 4, 6, 1, 7],
                       [3, 4, 9, 7, 2],
                       [4, 9, 4, 5, 9],
                       [7, 9, 8, 7, 9]])
K_practice = np.array([[3, 0, 0], [0, 0, 0], [0, 0, -3]])
K_mirrored = np.array([[0, 0, 3], [0, 0, 0], [-3, 0, 0]])
show_matrices([X_practice, K_practice, K_practice[::-1, ::-1], K_mirrored],
              ["X (padding 1 added when sliding)", "K (the lecture's)", "K rotated by 180 degrees",
               "K mirrored (the question's)"]);
""")

answer("answer_practice_row2", "The second row of the true convolution with the mirrored kernel (a tuple of 5 ints)",
       "(-3, 0, -9, 3, 21)")

answer_test("answer_practice_row2", """
import solutions as ref
_X = np.array([[5, 1, 3, 7, 8], [2, 4, 6, 1, 7], [3, 4, 9, 7, 2], [4, 9, 4, 5, 9], [7, 9, 8, 7, 9]])
_K = np.array([[0, 0, 3], [0, 0, 0], [-3, 0, 0]])
_Y = ref.conv2d_single(_X, _K, padding=1, flip=True)
_got = np.asarray(answer_practice_row2, dtype=float)
assert_close(_got, _Y[1], rtol=0, atol=1e-9, name="answer_practice_row2",
             mistakes={"the kernel was not flipped (that is the cross-correlation)": -_Y[1],
                       "that is the first row": _Y[0], "that is the third row": _Y[2],
                       "that is the lecture's kernel, not the mirrored one":
                           ref.conv2d_single(_X, _K[:, ::-1], padding=1, flip=True)[1]})
""")

# ---------------------------------------------------------------------------------------
md("md-multi", r"""
## 5. Many channels, many filters, a batch

A colour image has C = 3 channels, and after the first layer the "image" has as many
channels as that layer had filters. One filter therefore is a stack of C kernels, one per
input channel, shape `(C, KH, KW)`: each slice slides over its own channel, and the C
results plus one bias $b_f$ are added into **one** output channel (a feature map). F
filters give F feature maps; a bank of filters is `w` with shape `(F, C, KH, KW)`, as in
PyTorch (some slides write it "height x width"; it is output channels x input channels x
kernel height x kernel width). For a batch `x` of shape `(N, C, H, W)`:

$$ Y[n, f, i, j] = b_f + \sum_{c=0}^{C-1} \sum_{u, v} Xp[n, c, i s_h + u, j s_w + v]\; w[f, c, u, v]. $$

The lecture's example: three 5 x 5 colour channels, padding 1, one filter of three 3 x 3
kernels and bias 1. The top-left window gives 308 on red, -498 on green and 164 on blue,
so the output's first value is $308 - 498 + 164 + 1 = -25$.

**Task.** Write `conv2d`. Loops over N, F and the output positions work but are slow;
try to vectorise: `np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))`
gives every window as an array `(N, C, H'', W'', KH, KW)` without copying (take every
$s$-th window along H'' and W'' for the stride), and one `np.tensordot` or `np.einsum`
with `w` does all the multiply-adds. The output dtype follows the inputs as in
`conv2d_single`. Raise a `ValueError` naming the problem if the channels of `x` and `w`
differ or `b` does not have one entry per filter.
""")

solution("conv2d", '''
def conv2d(x, w, b=None, stride=1, padding=0):
    """Multi-channel, multi-filter 2-D cross-correlation (what CNN frameworks call conv2d).

    Args:
        x: input batch (N, C, H, W).
        w: filters (F, C, KH, KW): F filters, each with one KH x KW kernel per input channel.
        b: biases (F,), or None for no bias.
        stride: int or (sh, sw), each >= 1.
        padding: int or (ph, pw) zeros on each side of H and W, "valid", or "same"
            (TensorFlow: ceil(H / sh) x ceil(W / sw) outputs, odd extra zero bottom/right).

    Returns:
        (N, F, H', W') with H' = floor((H + 2ph - KH) / sh) + 1 (ceil(H / sh) for "same"),
        likewise W'; dtype: the inputs' floating dtype, float64 for integer inputs.
        x, w and b are left unchanged.

    Raises:
        ValueError: x or w is not 4-D, w's channels differ from x's, b is not (F,),
            stride < 1, padding < 0 or an unknown word, or the kernel is larger than the
            padded input.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"w must have shape (F, C, KH, KW), got shape {w.shape}")
    N, C, H, W = x.shape
    F, Cw, KH, KW = w.shape
    if Cw != C:
        raise ValueError(f"w has {Cw} input channels but x has {C} channels")
    if b is not None:
        b = np.asarray(b)
        if b.shape != (F,):
            raise ValueError(f"b must have shape ({F},), one bias per filter, got shape {b.shape}")
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    if sh < 1 or sw < 1:
        raise ValueError(f"stride must be >= 1, got {stride!r}")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        pads = ((0, 0), (0, 0)) if padding == "valid" else (same_padding(H, KH, sh), same_padding(W, KW, sw))
    else:
        ph, pw = (padding, padding) if np.ndim(padding) == 0 else padding
        if ph < 0 or pw < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        pads = ((ph, ph), (pw, pw))
    arrays = (x, w) if b is None else (x, w, b)
    dtype = np.result_type(*arrays)
    if not np.issubdtype(dtype, np.floating):
        dtype = np.float64
    xp = zero_pad(x.astype(dtype), pads)                       # (N, C, Hp, Wp): only H, W padded
    if KH > xp.shape[2] or KW > xp.shape[3]:
        raise ValueError(f"the kernel ({KH}x{KW}) is larger than the padded input {xp.shape[2:]}")
    windows = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw]                         # (N, C, H', W', KH, KW)
    Y = np.tensordot(windows, w.astype(dtype), axes=([1, 4, 5], [1, 2, 3]))   # (N, H', W', F)
    Y = Y.transpose(0, 3, 1, 2)                                 # (N, F, H', W')
    if b is not None:
        Y = Y + b.astype(dtype)[None, :, None, None]
    return np.ascontiguousarray(Y, dtype=dtype)
    ### END SOLUTION
''')

test("test_conv2d_seed", 3, '''
# Public test: the lectures' examples and shapes.
# (a) the 3-channel example with bias 1: 308 - 498 + 164 + 1 = -25
red = [[156, 155, 156, 158, 158], [153, 154, 157, 159, 159], [149, 151, 155, 158, 159],
       [146, 146, 149, 153, 158], [145, 143, 143, 148, 158]]
green = [[167, 166, 167, 169, 169], [164, 165, 168, 170, 170], [160, 162, 166, 169, 170],
         [156, 156, 159, 163, 168], [155, 153, 153, 158, 168]]
blue = [[163, 162, 163, 165, 165], [160, 161, 164, 166, 166], [156, 158, 162, 165, 166],
        [155, 155, 158, 162, 167], [154, 152, 152, 157, 167]]
x_rgb = np.array([[red, green, blue]])                                  # (1, 3, 5, 5)
w_rgb = np.array([[[[-1, -1, 1], [0, 1, -1], [0, 1, 1]],
                   [[1, 0, 0], [1, -1, -1], [1, 0, -1]],
                   [[0, 1, 1], [0, 1, 0], [1, -1, 1]]]])                 # (1, 3, 3, 3)
y_rgb = conv2d(x_rgb, w_rgb, np.array([1]), stride=1, padding=1)
assert_shape(y_rgb, (1, 1, 5, 5), name="conv2d(x_rgb, w_rgb, b, padding=1)", axes=("N", "F", "H'", "W'"))
for c, partial in enumerate([308, -498, 164]):
    got = conv2d(x_rgb[:, c:c + 1], w_rgb[:, c:c + 1], padding=1)[0, 0, 0, 0]
    assert_close(got, partial, rtol=0, atol=1e-9, name=f"channel {c}'s contribution to the top-left output")
assert_close(y_rgb[0, 0, 0, 0], -25, rtol=0, atol=1e-9, name="the top-left output (308 - 498 + 164 + 1)",
             mistakes={"the bias is missing": -26, "the channels were not summed (only the first one)": 309})
# (b) one channel, one filter: the same as conv2d_single
X_bin = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
K_x = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
assert_close(conv2d(X_bin[None, None], K_x[None, None]), np.array([[[[4., 3., 4.], [2., 4., 3.], [2., 3., 4.]]]]),
             rtol=0, atol=1e-12, name="conv2d(binary image, X kernel)", axes=("N", "F", "H'", "W'"))
# (c) shapes from the lectures: ten 5x5x3 filters
assert_shape(conv2d(np.ones((1, 3, 32, 32)), np.ones((10, 3, 5, 5)), np.zeros(10), padding=2), (1, 10, 32, 32),
             name="32x32x3, ten 5x5 filters, pad 2", axes=("N", "F", "H'", "W'"))
assert_shape(conv2d(np.ones((1, 3, 28, 28)), np.ones((10, 3, 5, 5)), padding="valid"), (1, 10, 24, 24),
             name="28x28x3, ten 5x5 filters, valid", axes=("N", "F", "H'", "W'"))
assert_shape(conv2d(np.ones((2, 1, 49, 125)), np.ones((4, 1, 5, 5)), stride=2, padding=2), (2, 4, 25, 63),
             name="125x49 image, 5x5, pad 2, stride 2", axes=("N", "F", "H'", "W'"))
assert_shape(conv2d(np.ones((1, 2, 7, 6)), np.ones((3, 2, 2, 3)), stride=2, padding="same"), (1, 3, 4, 3),
             name="'same' with stride 2", axes=("N", "F", "H'", "W'"), hint="'same' gives ceil(H / s) x ceil(W / s).")
print("conv2d: public tests passed")
''')

_CONV_HELPERS = '''
import solutions as ref

def _try(f, *a, **k):
    try:
        return f(*a, **k)
    except Exception:
        return np.zeros((0,))

def _conv_mistakes(x, w, b, s, p):
    """Outputs of common wrong conv2d implementations, by description."""
    m = {"the kernels are flipped (true convolution); conv2d computes cross-correlation":
         _try(ref.conv2d, x, w[:, :, ::-1, ::-1], b, stride=s, padding=p),
         "the stride is ignored": _try(ref.conv2d, x, w, b, stride=1, padding=p),
         "the padding is ignored": _try(ref.conv2d, x, w, b, stride=s, padding=0)}
    if b is not None:
        m["the bias is missing"] = _try(ref.conv2d, x, w, None, stride=s, padding=p)
        m["the bias is added per input channel instead of once per filter"] = \\
            _try(ref.conv2d, x, w, b * x.shape[1], stride=s, padding=p)
    if np.ndim(s) == 1:
        m["the strides along H and W are swapped"] = _try(ref.conv2d, x, w, b, stride=s[::-1], padding=p)
    if np.ndim(p) == 1:
        m["the paddings along H and W are swapped"] = _try(ref.conv2d, x, w, b, stride=s, padding=tuple(p[::-1]))
    return m
'''

test("test_conv2d_hidden_grid", 3, '''
### BEGIN HIDDEN TESTS''' + _CONV_HELPERS + '''
_rng = np.random.default_rng(21)
# (N, C, H, W, F, KH, KW, stride, padding): non-square inputs, odd/even/non-square/1x1 kernels
for (_N, _C, _H, _W, _F, _KH, _KW, _s, _p) in [
        (1, 1, 5, 7, 1, 3, 3, 1, 0), (2, 3, 6, 5, 4, 2, 2, 1, 0), (1, 2, 8, 6, 3, 1, 1, 1, 0),
        (2, 1, 7, 9, 2, 4, 3, 1, 1), (1, 3, 9, 8, 2, 3, 2, 1, 2), (3, 2, 6, 6, 1, 5, 5, 1, 0),
        (1, 4, 10, 7, 2, 3, 5, 1, 3), (2, 2, 4, 11, 3, 4, 4, 1, 0), (1, 5, 3, 3, 2, 3, 3, 1, 1)]:
    _x = _rng.standard_normal((_N, _C, _H, _W))
    _w = _rng.standard_normal((_F, _C, _KH, _KW))
    _b = _rng.standard_normal(_F)
    assert_close(conv2d(_x, _w, _b, stride=_s, padding=_p), ref.conv2d(_x, _w, _b, stride=_s, padding=_p),
                 rtol=1e-9, atol=1e-9, axes=("N", "F", "H'", "W'"),
                 name=f"conv2d(x{_x.shape}, w{_w.shape}, b, stride={_s}, padding={_p})",
                 mistakes=_conv_mistakes(_x, _w, _b, _s, _p))
### END HIDDEN TESTS
''')

test("test_conv2d_stride_padding", 3, '''
### BEGIN HIDDEN TESTS''' + _CONV_HELPERS + '''
_rng = np.random.default_rng(22)
for (_N, _C, _H, _W, _F, _KH, _KW, _s, _p) in [
        (1, 1, 7, 7, 1, 3, 3, 2, 0), (2, 3, 9, 8, 2, 3, 3, 3, 1), (1, 2, 10, 7, 3, 2, 2, 2, 0),
        (1, 2, 11, 9, 2, 4, 3, 3, 2), (2, 1, 8, 12, 2, 3, 3, (2, 3), 1), (1, 3, 9, 6, 4, 2, 3, (1, 2), 0),
        (1, 2, 7, 10, 2, 3, 5, (3, 1), (1, 2)), (2, 2, 6, 6, 3, 3, 3, 1, (0, 3)),
        (1, 1, 13, 9, 1, 5, 3, (2, 2), (2, 1)), (1, 4, 5, 8, 2, 1, 1, 3, 0), (1, 2, 6, 7, 2, 1, 1, (2, 3), 1)]:
    _x = _rng.standard_normal((_N, _C, _H, _W))
    _w = _rng.standard_normal((_F, _C, _KH, _KW))
    _b = _rng.standard_normal(_F)
    assert_close(conv2d(_x, _w, _b, stride=_s, padding=_p), ref.conv2d(_x, _w, _b, stride=_s, padding=_p),
                 rtol=1e-9, atol=1e-9, axes=("N", "F", "H'", "W'"),
                 name=f"conv2d(x{_x.shape}, w{_w.shape}, b, stride={_s!r}, padding={_p!r})",
                 mistakes=_conv_mistakes(_x, _w, _b, _s, _p))
### END HIDDEN TESTS
''')

test("test_conv2d_same", 3, '''
### BEGIN HIDDEN TESTS''' + _CONV_HELPERS + '''
_rng = np.random.default_rng(23)
for (_N, _C, _H, _W, _F, _KH, _KW, _s) in [
        (1, 1, 5, 5, 1, 3, 3, 1), (2, 2, 6, 7, 2, 2, 2, 1), (1, 3, 7, 6, 2, 4, 3, 1),
        (1, 2, 8, 9, 3, 3, 3, 2), (2, 1, 7, 7, 2, 2, 4, 2), (1, 2, 10, 8, 2, 5, 5, 3),
        (1, 1, 9, 6, 1, 3, 2, (2, 3)), (1, 3, 4, 4, 2, 1, 1, 2), (2, 2, 3, 5, 1, 5, 5, 1)]:
    _x = _rng.standard_normal((_N, _C, _H, _W))
    _w = _rng.standard_normal((_F, _C, _KH, _KW))
    _b = _rng.standard_normal(_F)
    _sh, _sw = (_s, _s) if np.ndim(_s) == 0 else _s
    _want = ref.conv2d(_x, _w, _b, stride=_s, padding="same")
    _mist = {}
    _mist["'same' is padded symmetrically by (k - 1) // 2 (PyTorch style); TensorFlow's 'same' gives "
          "ceil(n / s) outputs and puts the odd extra zero at the bottom/right"] = \\
        _try(ref.conv2d, _x, _w, _b, stride=_s, padding=((_KH - 1) // 2, (_KW - 1) // 2))
    _th = max((-(-_H // _sh) - 1) * _sh + _KH - _H, 0)
    _tw = max((-(-_W // _sw) - 1) * _sw + _KW - _W, 0)
    _flipped = ref.zero_pad(_x, ((_th - _th // 2, _th // 2), (_tw - _tw // 2, _tw // 2)))
    _mist["the odd extra zero of 'same' went to the top/left instead of the bottom/right"] = \\
        _try(ref.conv2d, _flipped, _w, _b, stride=_s, padding=0)
    _mist["'same' ignores the stride (the output must have ceil(n / s) positions)"] = \\
        _try(ref.conv2d, _x, _w, _b, stride=1, padding="same")
    for _m, _v in _conv_mistakes(_x, _w, _b, _s, "same").items():
        _mist.setdefault(_m, _v)
    assert_close(conv2d(_x, _w, _b, stride=_s, padding="same"), _want, rtol=1e-9, atol=1e-9,
                 axes=("N", "F", "H'", "W'"),
                 name=f"conv2d(x{_x.shape}, w{_w.shape}, b, stride={_s!r}, padding='same')", mistakes=_mist)
# "valid" means no padding
_x = _rng.standard_normal((1, 2, 6, 5))
_w = _rng.standard_normal((2, 2, 3, 2))
assert_close(conv2d(_x, _w, stride=2, padding="valid"), ref.conv2d(_x, _w, stride=2, padding=0),
             rtol=1e-9, atol=1e-9, name="conv2d(..., padding='valid')", axes=("N", "F", "H'", "W'"))
### END HIDDEN TESTS
''')

test("test_conv2d_bias", 1, '''
### BEGIN HIDDEN TESTS''' + _CONV_HELPERS + '''
_rng = np.random.default_rng(24)
_x = _rng.standard_normal((2, 3, 6, 5))
_w = _rng.standard_normal((4, 3, 3, 2))
_b = np.array([0.5, -2.0, 3.0, 10.0])
_want = ref.conv2d(_x, _w, _b, stride=1, padding=1)
assert_close(conv2d(_x, _w, _b, stride=1, padding=1), _want, rtol=1e-9, atol=1e-9,
             name="conv2d(x, w, b, padding=1)", axes=("N", "F", "H'", "W'"),
             mistakes=_conv_mistakes(_x, _w, _b, 1, 1))
assert_close(conv2d(_x, _w, None, stride=1, padding=1), ref.conv2d(_x, _w, stride=1, padding=1),
             rtol=1e-9, atol=1e-9, name="conv2d(x, w, None, padding=1)", axes=("N", "F", "H'", "W'"))
assert_close(conv2d(_x, _w, padding=1), ref.conv2d(_x, _w, padding=1), rtol=1e-9, atol=1e-9,
             name="conv2d(x, w, padding=1) (b left out)", axes=("N", "F", "H'", "W'"))
### END HIDDEN TESTS
''')

test("test_conv2d_unchanged_errors", 1, '''
### BEGIN HIDDEN TESTS
import solutions as ref
_rng = np.random.default_rng(25)
for _dt, _want_dt, _tol in [(np.float64, np.float64, 1e-9), (np.float32, np.float32, 1e-4),
                            (np.int64, np.float64, 1e-9), (np.int16, np.float64, 1e-9)]:
    _x = (_rng.standard_normal((2, 3, 7, 6)) * 4).astype(_dt)
    _w = (_rng.standard_normal((2, 3, 3, 2)) * 3).astype(_dt)
    _b = (_rng.standard_normal(2) * 3).astype(_dt)
    _x0, _w0, _b0 = _x.copy(), _w.copy(), _b.copy()
    for _p in (1, "same"):
        _got = conv2d(_x, _w, _b, stride=(2, 1), padding=_p)
        assert_not_modified(_x, _x0, name="x")
        assert_not_modified(_w, _w0, name="w")
        assert_not_modified(_b, _b0, name="b")
        assert np.asarray(_got).dtype == _want_dt, (
            f"conv2d on {np.dtype(_dt)} inputs returned dtype {np.asarray(_got).dtype}, expected "
            f"{np.dtype(_want_dt)} (the inputs' floating dtype, float64 for integers).")
        assert_close(_got, ref.conv2d(_x, _w, _b, stride=(2, 1), padding=_p), rtol=_tol, atol=_tol,
                     name=f"conv2d on {np.dtype(_dt)} inputs, padding={_p!r}", axes=("N", "F", "H'", "W'"))
assert_shape(conv2d(np.ones((1, 2, 5, 6)), np.ones((3, 2, 2, 3)), np.zeros(3), stride=(1, 2)), (1, 3, 4, 2),
             name="conv2d(x(1, 2, 5, 6), w(3, 2, 2, 3), b, stride=(1, 2))", axes=("N", "F", "H'", "W'"))
assert_raises(ValueError, conv2d, np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3)), match="channel",
              because="w has 2 input channels but x has 3")
assert_raises(ValueError, conv2d, np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), np.ones(3),
              because="b must have one entry per filter (2), it has 3")
assert_raises(ValueError, conv2d, np.ones((3, 5, 5)), np.ones((2, 3, 3, 3)), because="x must be 4-D (N, C, H, W)")
assert_raises(ValueError, conv2d, np.ones((1, 3, 5, 5)), np.ones((3, 3, 3)), because="w must be 4-D (F, C, KH, KW)")
assert_raises(ValueError, conv2d, np.ones((1, 1, 4, 4)), np.ones((1, 1, 5, 3)), because="the kernel is taller than the input")
assert_raises(ValueError, conv2d, np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), stride=0, because="stride must be >= 1")
assert_raises(ValueError, conv2d, np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=-1, because="padding must be >= 0")
assert_raises(ValueError, conv2d, np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding="full", match="padding",
              because="padding must be an int, a pair, 'valid' or 'same'")
### END HIDDEN TESTS
''')

md("md-edges", r"""
### Edges in a photo

A kernel whose weights sum to zero ignores flat regions and responds where the
brightness changes. The Sobel kernels below respond to vertical and horizontal edges; the
cell runs both as two filters of one `conv2d` call on a grayscale photo (scikit-image's
*camera*, shipped with the package), at half resolution to keep it quick. (The work is
inside a function so that the grader, which runs only your definitions, skips it.)
""")

code("demo-edges", """
from autograder.tools import sample_photo

sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
w_edges = np.stack([sobel, sobel.T])[:, None]                 # (2, 1, 3, 3): vertical, horizontal


def show_edges(photo, w):
    \"\"\"Plot a grayscale photo (H, W) and its conv2d with the two filters of w (2, 1, KH, KW).\"\"\"
    edges = conv2d(photo[None, None], w, padding="same")[0]   # (2, H, W)
    return show_maps([photo, edges[0], edges[1], np.hypot(edges[0], edges[1])],
                     ["photo", "vertical edges", "horizontal edges", "edge strength"])


show_edges(sample_photo("camera")[::2, ::2], w_edges);       # half resolution: 256 x 256
""")

# ---------------------------------------------------------------------------------------
md("md-pool", r"""
## 6. Pooling

A pooling layer slides a window over each channel separately and keeps one number per
window: the maximum (*max pooling*), the mean (*average pooling*) or the sum. It has no
weights. By default the window moves by its own size (stride = k), so windows do not
overlap and a 2 x 2 pool halves the height and the width. The output size follows the
same formula as before with $p = 0$.

Example from the lecture (4 x 4 input, 2 x 2 windows, stride 2): max pooling gives
`[[20, 30], [112, 37]]` and average pooling `[[13, 8], [79, 19.5]]`. (A slide shows 20 for
the last value; $(37 + 4 + 25 + 12)/4 = 19.5$.)

**Task.** Write `pool2d` for any array whose last two axes are H and W (a single image
`(H, W)` or a batch `(N, C, H, W)`). The result is a float array (float64 for integer
input).
""")

solution("pool2d", '''
def pool2d(x, k, stride=None, mode="max"):
    """Max, average or sum pooling over the last two axes.

    Args:
        x: array (..., H, W).
        k: window size, int or (kh, kw), each >= 1.
        stride: int or (sh, sw); None means stride = k (non-overlapping windows).
        mode: "max", "avg" or "sum".

    Returns:
        array (..., H', W') with H' = floor((H - kh) / sh) + 1, likewise W' (no padding:
        a window that would run past the edge is dropped); dtype: x's floating dtype,
        float64 for integer x. x is left unchanged.

    Raises:
        ValueError: x has fewer than 2 axes, mode is unknown, k or stride < 1, or the
            window is larger than the input.
    """
    ### BEGIN SOLUTION
    X = np.asarray(x)
    if X.ndim < 2:
        raise ValueError(f"x must have at least 2 axes (..., H, W), got shape {X.shape}")
    if mode not in ("max", "avg", "sum"):
        raise ValueError(f"mode must be 'max', 'avg' or 'sum', got {mode!r}")
    kh, kw = (k, k) if np.ndim(k) == 0 else k
    if stride is None:
        stride = (kh, kw)
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    if min(kh, kw) < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    if min(sh, sw) < 1:
        raise ValueError(f"stride must be >= 1, got {stride!r}")
    H, W = X.shape[-2:]
    if kh > H or kw > W:
        raise ValueError(f"the window k={k!r} is larger than the input ({H}x{W})")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(X, (kh, kw), axis=(-2, -1))
    windows = windows[..., ::sh, ::sw, :, :]                    # (..., H', W', kh, kw)
    if mode == "max":
        return windows.max(axis=(-2, -1))
    if mode == "avg":
        return windows.mean(axis=(-2, -1))
    return windows.sum(axis=(-2, -1))
    ### END SOLUTION
''')

test("test_pool2d_seed", 2, '''
# Public test: the lectures' pooling examples.
A = np.array([[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]])
assert_close(pool2d(A, 2), np.array([[20., 30.], [112., 37.]]), rtol=0, atol=1e-12, name="pool2d(A, 2)",
             mistakes={"it averages instead of taking the max (mode='max' is the default)":
                           np.array([[13., 8.], [79., 19.5]]),
                       "it sums instead of taking the max (mode='max' is the default)":
                           np.array([[52., 32.], [316., 78.]])})
assert_close(pool2d(A, 2, mode="avg"), np.array([[13., 8.], [79., 19.5]]), rtol=0, atol=1e-12,
             name="pool2d(A, 2, mode='avg')",
             mistakes={"it takes the max, not the mean": np.array([[20., 30.], [112., 37.]]),
                       "it returns the sum, not the mean": np.array([[52., 32.], [316., 78.]]),
                       "the average was rounded to an integer": np.array([[13., 8.], [79., 19.]])})
assert_close(pool2d(A, 2, mode="sum"), np.array([[52., 32.], [316., 78.]]), rtol=0, atol=1e-12,
             name="pool2d(A, 2, mode='sum')")
B = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]])
assert_close(pool2d(B, 3, stride=1), np.array([[3., 3., 3.], [3., 3., 3.], [3., 2., 3.]]), rtol=0, atol=1e-12,
             name="pool2d(B, 3, stride=1)", axes=("H'", "W'"))
C = np.array([[1, 4, 2, 1], [5, 8, 3, 4], [7, 6, 4, 5], [1, 3, 1, 2]])
assert_close(pool2d(C, 2, stride=2), np.array([[8., 4.], [7., 5.]]), rtol=0, atol=1e-12, name="pool2d(C, 2, stride=2)",
             mistakes={"it averages instead of taking the max (mode='max' is the default)":
                           np.array([[4.5, 2.5], [4.25, 3.]])})
assert_close(pool2d(C, 2, stride=1, mode="avg"),
             np.array([[4.5, 4.25, 2.5], [6.5, 5.25, 4.], [4.25, 3.5, 3.]]), rtol=0, atol=1e-12,
             name="pool2d(C, 2, stride=1, mode='avg')", axes=("H'", "W'"),
             mistakes={"the stride is ignored (stride=1 means overlapping windows)": np.array([[4.5, 2.5], [4.25, 3.]])})
# a batch: every channel pooled on its own
xb = np.arange(2 * 3 * 6 * 4, dtype=float).reshape(2, 3, 6, 4)
assert_shape(pool2d(xb, 2), (2, 3, 3, 2), name="pool2d(x(2, 3, 6, 4), 2)", axes=("N", "C", "H'", "W'"))
print("pool2d: public tests passed")
''')

test("test_pool2d_hidden_grid", 3, '''
### BEGIN HIDDEN TESTS
import solutions as ref
_rng = np.random.default_rng(31)
for (_shape, _k, _s) in [((6, 6), 2, None), ((7, 5), 2, None), ((5, 8), 3, 1), ((8, 9), (2, 3), None),
                         ((2, 3, 7, 6), 3, 2), ((1, 1, 9, 5), (3, 2), (2, 1)), ((4, 6), 1, None),
                         ((2, 10, 7), 2, 3), ((3, 2, 6, 6), (1, 3), (1, 3)), ((5, 5), 5, None),
                         ((1, 2, 8, 8), 4, (3, 2))]:
    _x = _rng.standard_normal(_shape)
    for _mode in ("max", "avg", "sum"):
        _want = ref.pool2d(_x, _k, _s, _mode)
        _kk = (_k, _k) if np.ndim(_k) == 0 else _k
        _mist = {f"mode '{_o}' was computed instead of '{_mode}'": ref.pool2d(_x, _k, _s, _o)
                 for _o in ("max", "avg", "sum") if _o != _mode}
        if _s is None:
            _mist["the stride does not default to the window size k"] = ref.pool2d(_x, _k, 1, _mode)
        else:
            _mist["the stride is ignored"] = ref.pool2d(_x, _k, None, _mode)
            _mist["the stride is ignored (stride 1)"] = ref.pool2d(_x, _k, 1, _mode)
        if _kk[0] != _kk[1] and _kk[1] <= _shape[-2] and _kk[0] <= _shape[-1]:
            _mist["kh and kw are swapped"] = ref.pool2d(_x, _kk[::-1], _s if _s is None or np.ndim(_s) == 0 else _s[::-1], _mode)
        assert_close(pool2d(_x, _k, _s, _mode), _want, rtol=1e-9, atol=1e-9,
                     name=f"pool2d(x{_x.shape}, k={_k!r}, stride={_s!r}, mode={_mode!r})", mistakes=_mist)
### END HIDDEN TESTS
''')

test("test_pool2d_unchanged_errors", 1, '''
### BEGIN HIDDEN TESTS
import solutions as ref
_rng = np.random.default_rng(32)
for _dt, _want_dt in [(np.float64, np.float64), (np.float32, np.float32), (np.int64, np.float64), (np.uint8, np.float64)]:
    _x = (_rng.integers(0, 200, size=(2, 5, 6)) - (0 if _dt == np.uint8 else 100)).astype(_dt)
    _x0 = _x.copy()
    for _mode in ("max", "avg", "sum"):
        _got = pool2d(_x, 2, 2, _mode)
        assert_not_modified(_x, _x0, name="x")
        assert np.asarray(_got).dtype == _want_dt, (
            f"pool2d(mode={_mode!r}) on a {np.dtype(_dt)} array returned dtype {np.asarray(_got).dtype}, "
            f"expected {np.dtype(_want_dt)} (x's floating dtype, float64 for integers).")
        assert_close(_got, ref.pool2d(_x, 2, 2, _mode), rtol=1e-6, atol=1e-6,
                     name=f"pool2d(mode={_mode!r}) on a {np.dtype(_dt)} array",
                     hint="for integer input convert to float64 before summing (uint8 sums overflow).")
assert_shape(pool2d(np.ones((5, 7)), (2, 3)), (2, 2), name="pool2d(ones((5, 7)), (2, 3))")
assert_raises(ValueError, pool2d, np.ones((4, 4)), 2, mode="median", match="mode",
              because="mode must be 'max', 'avg' or 'sum'")
assert_raises(ValueError, pool2d, np.ones((4, 4)), 5, because="the window (5) is larger than the input (4x4)")
assert_raises(ValueError, pool2d, np.ones((4, 4)), 0, because="k must be >= 1")
assert_raises(ValueError, pool2d, np.ones((4, 4)), 2, 0, because="stride must be >= 1")
assert_raises(ValueError, pool2d, np.ones(8), 2, because="x must have at least 2 axes (..., H, W)")
### END HIDDEN TESTS
''')

md("md-q-receptive", r"""
**Question: how far does one output see?** Stack three layers on a grayscale image: a 3 x 3
convolution (stride 1, no padding), another 3 x 3 convolution (stride 1, no padding), then
a 2 x 2 max pooling (stride 2). One value of the pooling output depends on a square patch of
the input image. What is the side of that patch (its *receptive field*)?
""")

answer("answer_receptive_field", "The side of the input patch one pooled value depends on (an int)", "6")

answer_test("answer_receptive_field", """
import solutions as ref
# walk back from one output position: a window of size k and stride s turns a span of
# r positions into (r - 1) * s + k positions of its input
_r = 1
for _k, _s in reversed([(3, 1), (3, 1), (2, 2)]):
    _r = (_r - 1) * _s + _k
assert_equal(answer_receptive_field, _r, name="answer_receptive_field",
             mistakes={"that is the two 3x3 convolutions alone: each 2x2 pooling window spans two neighbouring "
                       "positions of their output": 5,
                       "the window sizes were added (3 + 3 + 2)": 8},
             hint="walk back from one output: a layer with kernel k and stride s turns a span of r positions "
                  "into (r - 1) * s + k positions of its input.")
""")

# ---------------------------------------------------------------------------------------
md("md-params", r"""
## 7. Counting parameters

A filter has one weight per input channel and kernel position, $k_h k_w C_{in}$, plus one
bias. A layer with $C_{out}$ filters therefore learns $(k_h k_w C_{in} + 1)\, C_{out}$
numbers, **whatever the image size**: the same weights slide over every position (weight
sharing), which is why a convolutional layer is so much smaller than a dense layer on the
same image. Ten 5 x 5 filters on an RGB image: $(5 \cdot 5 \cdot 3 + 1) \cdot 10 = 760$.

**Task.** Write `conv_param_count`.
""")

solution("conv_param_count", '''
def conv_param_count(k, c_in, c_out, bias=True):
    """Number of learnable parameters of a convolutional layer.

    Args:
        k: kernel size, int or (kh, kw), each >= 1.
        c_in: input channels (int >= 1); c_out: filters, i.e. output channels (int >= 1).
        bias: whether each filter has a bias.

    Returns:
        int: kh * kw * c_in * c_out weights, plus c_out biases if bias is True.

    Raises:
        ValueError: k, c_in or c_out < 1.
    """
    ### BEGIN SOLUTION
    kh, kw = (k, k) if np.ndim(k) == 0 else k
    for name, value in (("k", kh), ("k", kw), ("c_in", c_in), ("c_out", c_out)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    return int(kh * kw * c_in * c_out + (c_out if bias else 0))
    ### END SOLUTION
''')

test("test_conv_param_count_seed", 1, '''
# Public test
assert_equal(conv_param_count(5, 3, 10), 760, name="conv_param_count(5, 3, 10)",
             mistakes={"the biases are missing": 750, "the input channels are missing": 260})
assert_equal(conv_param_count(3, 3, 5, bias=False), 135, name="conv_param_count(3, 3, 5, bias=False)")
assert_equal(conv_param_count(3, 3, 5), 140, name="conv_param_count(3, 3, 5)")
assert_equal(conv_param_count(5, 5, 3, bias=False), 375, name="conv_param_count(5, 5, 3, bias=False)")
assert_equal(conv_param_count(3, 1, 32), 320, name="conv_param_count(3, 1, 32)")
assert_equal(conv_param_count((3, 3), 32, 64), 18496, name="conv_param_count((3, 3), 32, 64)")
print("conv_param_count: public tests passed")
''')

grid_test("test_conv_param_count_hidden", 2, '''
### BEGIN HIDDEN TESTS
import solutions as ref
#<grid helper>
_points = [(_k, _cin, _cout, _bias) for _k in (1, 2, 3, 5, 7, (1, 3), (5, 2)) for _cin in (1, 3, 16)
           for _cout in (1, 4, 64) for _bias in (True, False)]
_outs = _grid("conv_param_count_grid", [[_k, _cin, _cout] for _k, _cin, _cout, _ in _points],
              [{"bias": _bias} for *_, _bias in _points])
for (_k, _cin, _cout, _bias), _out in zip(_points, _outs):
    _kk = (_k, _k) if np.ndim(_k) == 0 else _k
    _want = ref.conv_param_count(_k, _cin, _cout, _bias)
    _mist = {"the biases are missing": _kk[0] * _kk[1] * _cin * _cout,
             "the input channels are not counted": (_kk[0] * _kk[1] + _bias) * _cout,
             "one bias per input channel instead of one per filter": (_kk[0] * _kk[1] + _bias) * _cin * _cout,
             "the bias is counted although bias=False": (_kk[0] * _kk[1] * _cin + 1) * _cout}
    _name = f"conv_param_count({_k!r}, {_cin}, {_cout}, bias={_bias})"
    assert_equal(_returned(_out, _name), _want, name=_name,
                 mistakes={m: v for m, v in _mist.items() if v != _want})
assert_equal(conv_param_count((2, 4), 3, 6), 150, name="conv_param_count((2, 4), 3, 6)")
### END HIDDEN TESTS
''')

md("md-q-dense", r"""
**Question: weight sharing, in numbers.** Flatten a 32 x 32 RGB image and connect it to a
dense layer of 100 units (with biases). How many parameters does that dense layer have?
Compare with a convolutional layer of 100 filters of 5 x 5 on the same image.
""")

answer("answer_dense_params", "Parameters of the dense layer (an int)", "307_300")

answer_test("answer_dense_params", """
import solutions as ref
_n_in = 32 * 32 * 3
assert_equal(answer_dense_params, _n_in * 100 + 100, name="answer_dense_params",
             mistakes={"the biases are missing": _n_in * 100,
                       "the 3 colour channels are missing": 32 * 32 * 100 + 100,
                       "that is the convolutional layer (weights are shared over positions)":
                           ref.conv_param_count(5, 3, 100)})
""")

# ---------------------------------------------------------------------------------------
md("md-practice-net", r"""
## 8. Practice: a small network on paper

A colour image of 128 x 128 x 3 goes through:

1. a convolutional layer with 5 filters of 3 x 3 x 3, stride 5, no padding;
2. a 2 x 2 max pooling layer (stride 2);
3. a convolutional layer with 3 filters of 5 x 5 x 5, zero padding 2, stride 2.

**Task.** Fill in `practice_network()` using your functions (no hand-typed numbers): the
shape after each layer as (H, W, channels), and the weights of each convolutional layer
without and with biases. Then answer in a sentence or two (below, not graded): why pool at
all, given that pooling has no weights to learn?
""")

solution("practice_network", '''
def practice_network():
    """Shapes and parameter counts of the practice network.

    Returns:
        dict with keys
        "conv1_shape", "pool1_shape", "conv2_shape": tuples (H, W, C);
        "conv1_weights", "conv2_weights": ints, weights without biases;
        "conv1_params", "conv2_params": ints, weights plus biases.
    """
    ### BEGIN SOLUTION
    h1 = conv_output_size(128, 3, p=0, s=5)
    h2 = conv_output_size(h1, 2, p=0, s=2)
    h3 = conv_output_size(h2, 5, p=2, s=2)
    return {
        "conv1_shape": (h1, h1, 5),
        "pool1_shape": (h2, h2, 5),
        "conv2_shape": (h3, h3, 3),
        "conv1_weights": conv_param_count(3, 3, 5, bias=False),
        "conv1_params": conv_param_count(3, 3, 5),
        "conv2_weights": conv_param_count(5, 5, 3, bias=False),
        "conv2_params": conv_param_count(5, 5, 3),
    }
    ### END SOLUTION
''')

test("test_practice_network_public", 1, '''
# Public test: the first layer only (the rest is checked by a hidden test).
answer = practice_network()
assert_equal(sorted(answer), sorted(["conv1_shape", "pool1_shape", "conv2_shape", "conv1_weights",
                                     "conv1_params", "conv2_weights", "conv2_params"]), name="the keys of practice_network()")
assert_equal(tuple(answer["conv1_shape"]), (26, 26, 5), name="conv1_shape", hint="floor((128 - 3) / 5) + 1 = 26.")
assert_equal(answer["conv1_weights"], 135, name="conv1_weights", hint="5 filters of 3 x 3 x 3.")
print("practice_network: public test passed")
''')

test("test_practice_network_hidden", 2, '''
### BEGIN HIDDEN TESTS
import solutions as ref
_answer = practice_network()
_h1 = ref.conv_output_size(128, 3, 0, 5)
_h2 = ref.conv_output_size(_h1, 2, 0, 2)
_h3 = ref.conv_output_size(_h2, 5, 2, 2)
assert_equal(tuple(_answer["pool1_shape"]), (_h2, _h2, 5), name="pool1_shape")
assert_equal(tuple(_answer["conv2_shape"]), (_h3, _h3, 3), name="conv2_shape",
             mistakes={"the +1 was left out of the output size": (_h3 - 1, _h3 - 1, 3)})
assert_equal(_answer["conv1_params"], ref.conv_param_count(3, 3, 5), name="conv1_params")
assert_equal(_answer["conv2_weights"], ref.conv_param_count(5, 5, 3, bias=False), name="conv2_weights",
             mistakes={"the 5 input channels were not counted": 75})
assert_equal(_answer["conv2_params"], ref.conv_param_count(5, 5, 3), name="conv2_params")
### END HIDDEN TESTS
''')

md("md-practice-answer", r"""
*Your answer (why pool?):* ...
""")

md("md-end", r"""
## Done

Run the whole notebook from the top (*Kernel -> Restart & Run All*) and check that every
public test prints "passed". From a terminal, `cnn-course check ps1_convolution.ipynb`
runs the public tests the way the grader does and lists the hidden tests still to come.
""")


# ---------------------------------------------------------------------------------------
build = NB.build


if __name__ == "__main__":
    sys.exit(NB.main(sys.argv[1:], OUT))
