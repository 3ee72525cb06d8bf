"""Build the instructor source notebook solutions/ps5_backprop/ps5_backprop.ipynb.

The cells are listed below as plain Python (see autograder/authoring.py); cell ids are
fixed, so regenerating gives the same notebook byte for byte. Run from the repository root:

    .venv/bin/python solutions/ps5_backprop/build_notebook.py

Hidden tests compare the student's gradients with PyTorch autograd (float64), run in the
grader through ``solutions.backprop.autograd_*``. The capstone: the ``digits_training``
probe runs the grader's fixed schedule through the student's ``sgd_epoch`` (hence their
``cnn_loss`` and backward functions); the grader recomputes every epoch from the student's
previous state (``solutions.backprop.check_digits_training``) and measures the accuracy
of the final weights on shifted digits the sandbox never receives.
"""
from __future__ import annotations

import sys
from pathlib import Path

from autograder.authoring import NotebookSource, nbgrader_meta

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "solutions" / "ps5_backprop" / "ps5_backprop.ipynb"

NB = NotebookSource()
md, code, setup, solution, test, hidden = NB.md, NB.code, NB.setup, NB.solution, NB.test, NB.hidden
answer = NB.answer          # a written answer, graded by hand


def given(cid: str, text: str):
    """A read-only code cell of given functions (run by the grader's sandbox too)."""
    return code(cid, text, nbgrader_meta(cid, locked=True))


# ---------------------------------------------------------------------------------------
md("md-title", r"""
# Problem set 5: backpropagation through convolution and pooling

*Measured run time of the whole notebook with the reference solutions (full mode; there is no
fast mode to turn on): about 1 min wall-clock on 2 busy CPU cores, 15 seconds of CPU; training
the capstone network takes about 3 of them.*

In ps1 you wrote the forward pass of a convolutional layer. Here you write its backward
pass, the part a framework's autograd does for you: given $\partial L/\partial\,\text{out}$
(called `dout`), compute $\partial L/\partial x$, $\partial L/\partial w$ and
$\partial L/\partial b$. Then pooling, a numerical gradient to check all of it, and a
capstone: a small CNN trained on handwritten digits, shifted around a larger canvas, with
nothing but numpy and your own backward functions. Lecture `08_backprop_through_conv` shows every idea with pictures.

**Predict before you run.** Several cells ask you to *predict* a value before you have code
that computes it: replace each `answer_... = None` line's `None` by your answer. Work it out on paper: these answers are graded
(hidden tests), and they are the best way to find out whether you understand the rule
before you program it.

**Conventions** (the same as ps1 and PyTorch): images `x` are `(N, C, H, W)`, kernels `w`
are `(F, C, KH, KW)`, biases `b` are `(F,)`; the forward pass is cross-correlation (the
kernel is not flipped); `stride` is an int or `(sh, sw)`; `padding` is an int, `(ph, pw)`,
`"valid"` or `"same"` (TensorFlow's rule: the odd extra zero goes at the bottom/right).
`dout` always has the shape of the layer's output, and each gradient the shape of the
thing it is the gradient of.

**Explain.** Two questions ask you to explain a result in words (sections 1 and 3, 2 points
each); they are graded by hand, after the automatic grading.

**Rules.** numpy only: `torch`, `tensorflow`/`keras`, `scipy` and `jax` are not allowed
(using them costs the points of the function). Do not change names or signatures. Public tests
(the cells with code) run here; hidden tests (the empty test cells) compare your functions
with PyTorch's autograd on many shapes, strides and paddings.
""")

setup("setup", """
import numpy as np
import matplotlib.pyplot as plt

from autograder.tools import (assert_close, assert_equal, assert_not_modified, assert_raises,
                              assert_shape, load_digits_images, run_probe, run_student)
from autograder.tools.data import shift_digits
""")

md("md-given", r"""
## 0. Given: the forward passes

These are ps1's functions (written compactly); the backward functions you write must
match them. `resolve_padding` turns any `padding` argument into the zeros added on each
side, `((top, bottom), (left, right))`: use it in your backward pass too.
""")

given("given_forward", '''
def resolve_padding(padding, H, W, KH, KW, sh=1, sw=1):
    """padding (int, (ph, pw), "valid" or "same") -> ((top, bottom), (left, right)).

    "same" is TensorFlow's rule: the output has ceil(H / sh) x ceil(W / sw) positions and
    an odd total padding puts the extra zero at the bottom/right.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        pads = []
        for n, k, s in ((H, KH, sh), (W, KW, sw)):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    ph, pw = (padding, padding) if np.ndim(padding) == 0 else padding
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return (int(ph), int(ph)), (int(pw), int(pw))


def conv2d(x, w, b=None, stride=1, padding=0):
    """Forward convolution (cross-correlation): x (N, C, H, W), w (F, C, KH, KW), b (F,) or None.

    Returns (N, F, H', W') with H' = floor((H + top + bottom - KH) / sh) + 1.
    """
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    KH, KW = w.shape[2:]
    (pt, pb), (pl, pr) = resolve_padding(padding, x.shape[2], x.shape[3], KH, KW, sh, sw)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::sh, ::sw]
    out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)  # (N, F, H', W')
    if b is not None:
        out = out + np.asarray(b, dtype=float)[None, :, None, None]
    return out


def pool2d(x, k, stride=None, mode="max"):
    """Max or average pooling of x (..., H, W) with k x k (or (kh, kw)) windows -> (..., H', W')."""
    x = np.asarray(x, dtype=float)
    kh, kw = (k, k) if np.ndim(k) == 0 else k
    sh, sw = (kh, kw) if stride is None else ((stride, stride) if np.ndim(stride) == 0 else stride)
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(-2, -1))[..., ::sh, ::sw, :, :]
    return windows.max(axis=(-2, -1)) if mode == "max" else windows.mean(axis=(-2, -1))


def relu(x):
    return np.maximum(x, 0)
''')

# ---------------------------------------------------------------------------------------
md("md-conv", r"""
## 1. The backward pass of a convolution

One output value is $\text{out}[n, f, i, j] = b_f + \sum_{c,u,v} x_p[n, c, i s_h + u, j s_w + v]\, w[f, c, u, v]$,
where $x_p$ is the padded input. Every input pixel and every weight that took part in it
receives its share of $\text{dout}[n, f, i, j]$ by the chain rule:

* **bias**: every output position of filter $f$ adds $b_f$ once, so
  $\partial L / \partial b_f$ collects `dout` from every image and every position;
* **weights**: $\partial L/\partial w[f, c, u, v] = \sum_{n, i, j} \text{dout}[n, f, i, j]\, x_p[n, c, i s_h + u, j s_w + v]$,
  a *correlation* of the padded input with `dout`;
* **input**: each window of $x_p$ receives $\text{dout}[n, f, i, j]\, w[f]$; added up over
  all windows this is a **full convolution** of `dout` with the kernel rotated by 180 degrees
  (channels in and out swapped). With a stride, the windows sit $s$ pixels apart: spread
  `dout`'s entries $s$ apart (zeros in between, "dilation") before convolving. With padding,
  this gives the gradient of the *padded* input: crop the border off.

Writing it as loops over the output positions that add into `dx_pad`, `dw` and `db` is
fine; so is the convolution view, or any mix.
""")

solution("predict_conv", '''
# Predict, on paper, before you write conv2d_backward (values, not code that computes them).
#
# (a) x has shape (2, 3, 7, 7), w has shape (4, 3, 3, 3), stride 2, padding 1:
#     the shape of dout (a tuple of 4 ints).
# (b) x has shape (1, 1, 5, 4), w = np.ones((1, 1, 3, 2)), stride 1, no padding and
#     dout is all ones: dx[0, 0] (a 5x4 list of lists or array).
# (c) w = np.ones((1, 1, 3, 3)), an all-ones dout, x of shape (1, 1, 5, 5) and stride 2:
#     dx[0, 0] (5x5).
# (d) w = np.ones((1, 1, 3, 3)), x of shape (1, 1, 4, 4), stride 1, padding 1, dout all
#     ones: dx[0, 0] (4x4).
# (e) dout = np.ones((3, 4, 5, 5)) for a layer with 4 filters: db (4 numbers).
#
# Replace each None by your answer (plain values: a tuple, lists of lists of numbers)
# and delete the `raise NotImplementedError()` line.
answer_dout_shape = None          # (a)
answer_dx_ones = None             # (b)
answer_dx_ones_stride2 = None     # (c)
answer_dx_ones_padded = None      # (d)
answer_db = None                  # (e)
### BEGIN SOLUTION
answer_dout_shape = (2, 4, 4, 4)
answer_dx_ones = [[1, 2, 2, 1],
                  [2, 4, 4, 2],
                  [3, 6, 6, 3],
                  [2, 4, 4, 2],
                  [1, 2, 2, 1]]
answer_dx_ones_stride2 = [[1, 1, 2, 1, 1],
                          [1, 1, 2, 1, 1],
                          [2, 2, 4, 2, 2],
                          [1, 1, 2, 1, 1],
                          [1, 1, 2, 1, 1]]
answer_dx_ones_padded = [[4, 6, 6, 4],
                         [6, 9, 9, 6],
                         [6, 9, 9, 6],
                         [4, 6, 6, 4]]
answer_db = [75, 75, 75, 75]
### END SOLUTION
''')

hidden("test_predict_conv_dout_shape", 1, '''
import solutions as ref
_x, _w = np.zeros((2, 3, 7, 7)), np.zeros((4, 3, 3, 3))
assert_equal(tuple(int(v) for v in ref.read_answer(answer_dout_shape, "answer_dout_shape", (4,), integers=True)),
             ref.conv2d(_x, _w, stride=2, padding=1).shape,
             name="answer_dout_shape", hint="dout has the shape of the layer's output: (N, F, H', W').")
''')

hidden("test_predict_conv_db", 1, '''
import solutions as ref
assert_close(ref.read_answer(answer_db, "answer_db", (4,)), ref.conv2d_backward(np.ones((3, 4, 5, 5)), np.zeros((3, 3, 5, 5)),
                                                                     np.zeros((4, 3, 1, 1)))[2],
             rtol=0, atol=1e-9, name="answer_db",
             mistakes={"the batch was not counted (db sums over N too)": np.full(4, 25.0)})
''')

hidden("test_predict_conv_dx", 2, '''
import solutions as ref
_k = np.ones((1, 1, 3, 2))
_want = ref.conv2d_backward(np.ones((1, 1, 3, 3)), np.zeros((1, 1, 5, 4)), _k)[0][0, 0]
assert_close(ref.read_answer(answer_dx_ones, "answer_dx_ones", (5, 4)), _want, rtol=0, atol=1e-9, name="answer_dx_ones",
             hint="count, for each input pixel, how many 3x2 windows contain it.")
''')

hidden("test_predict_conv_dx_stride2", 1, '''
import solutions as ref
_k = np.ones((1, 1, 3, 3))
_want = ref.conv2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 5, 5)), _k, stride=2)[0][0, 0]
assert_close(ref.read_answer(answer_dx_ones_stride2, "answer_dx_ones_stride2", (5, 5)), _want, rtol=0, atol=1e-9,
             name="answer_dx_ones_stride2", hint="with stride 2 the windows start at rows/columns 0 and 2.")
''')

hidden("test_predict_conv_dx_padded", 1, '''
import solutions as ref
_k = np.ones((1, 1, 3, 3))
_want = ref.conv2d_backward(np.ones((1, 1, 4, 4)), np.zeros((1, 1, 4, 4)), _k, padding=1)[0][0, 0]
assert_close(ref.read_answer(answer_dx_ones_padded, "answer_dx_ones_padded", (4, 4)), _want, rtol=0, atol=1e-9,
             name="answer_dx_ones_padded", hint="windows also cover the zeros of the padding; only real pixels get a gradient.")
''')

solution("conv2d_backward", '''
def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    """Gradients of out = conv2d(x, w, b, stride, padding).

    Args:
        dout: (N, F, H', W'), dL/dout.
        x: (N, C, H, W), the layer's input; w: (F, C, KH, KW), its kernels.
        b: (F,) or None (the bias gradient does not depend on b).
        stride: int or (sh, sw); padding: int, (ph, pw), "valid" or "same" (as conv2d).

    Returns:
        (dx, dw, db): float arrays of shapes (N, C, H, W), (F, C, KH, KW) and (F,);
        db is returned even when b is None. x, w and dout are left unchanged.

    Raises:
        ValueError: dout does not have the shape of conv2d(x, w, ...)'s output, or w's
            channels do not match x's.
    """
    ### BEGIN SOLUTION
    x, w, dout = np.asarray(x, dtype=float), np.asarray(w, dtype=float), np.asarray(dout, dtype=float)
    N, C, H, W = x.shape
    F, C2, KH, KW = w.shape
    if C2 != C:
        raise ValueError(f"w has {C2} input channels but x has {C}")
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    (pt, pb), (pl, pr) = resolve_padding(padding, H, W, KH, KW, sh, sw)
    Ho = (H + pt + pb - KH) // sh + 1
    Wo = (W + pl + pr - KW) // sw + 1
    if dout.shape != (N, F, Ho, Wo):
        raise ValueError(f"dout must have the output's shape {(N, F, Ho, Wo)}, got {dout.shape}")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(Ho):
        for j in range(Wo):
            rows, cols = slice(i * sh, i * sh + KH), slice(j * sw, j * sw + KW)
            g = dout[:, :, i, j]                                          # (N, F)
            dxp[:, :, rows, cols] += np.tensordot(g, w, axes=(1, 0))      # (N, C, KH, KW)
            dw += np.tensordot(g, xp[:, :, rows, cols], axes=(0, 0))      # (F, C, KH, KW)
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, pt:pt + H, pl:pl + W].copy(), dw, db
    ### END SOLUTION
''')

test("test_conv2d_backward_public", 2, '''
# Public test: two worked examples you can check by hand (one image, one channel, one filter).
x1 = np.arange(16.0).reshape(1, 1, 4, 4)
w1 = np.array([[[[1.0, 2.0], [0.0, -1.0]]]])
d1 = np.array([[[[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.0]]]])
dx1, dw1, db1 = conv2d_backward(d1, x1, w1)
assert_close(dx1, np.array([[[[1, 2, 2, 4], [0, 0, 2, -2], [-1, -2, 0, 2], [0, 1, 0, -1]]]], dtype=float),
             name="dx (stride 1)", axes=("N", "C", "H", "W"),
             hint="dx_pad[window (i, j)] += dout[i, j] * w: the kernel as it is, added at every window.")
assert_close(dw1, np.array([[[[11.0, 15.0], [27.0, 31.0]]]]), name="dw (stride 1)",
             hint="dw[u, v] = sum over i, j of dout[i, j] * x[i + u, j + v].")
assert_close(db1, np.array([4.0]), name="db (stride 1)")
# stride 2 on a 5x5 image: the last row and column are never in a window
x2 = np.arange(25.0).reshape(1, 1, 5, 5)
w2 = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
d2 = np.array([[[[1.0, -1.0], [2.0, 0.5]]]])
dx2, dw2, db2 = conv2d_backward(d2, x2, w2, stride=2)
assert_close(dx2[0, 0], np.array([[1, 2, -1, -2, 0], [3, 4, -3, -4, 0], [2, 4, 0.5, 1, 0],
                                  [6, 8, 1.5, 2, 0], [0, 0, 0, 0, 0]]), name="dx (stride 2)",
             hint="with stride 2 the windows start at rows/columns 0 and 2.")
assert_close(dw2, np.array([[[[24.0, 26.5], [36.5, 39.0]]]]), name="dw (stride 2)")
assert_close(db2, np.array([2.5]), name="db (stride 2)")
print("conv2d_backward: public tests passed")
''')

hidden("test_conv2d_backward_hidden_grid", 6, '''
import solutions as ref
_rng = np.random.default_rng(5001)
_done = 0
while _done < 24:
    _N, _C, _F = (int(v) for v in _rng.integers(1, 4, size=3))
    _H, _W = (int(v) for v in _rng.integers(2, 9, size=2))
    _KH, _KW = (int(v) for v in _rng.integers(1, 4, size=2))
    if _KH > _H or _KW > _W:
        continue
    _x = _rng.standard_normal((_N, _C, _H, _W))
    _w = _rng.standard_normal((_F, _C, _KH, _KW))
    _b = _rng.standard_normal(_F)
    _d = _rng.standard_normal(ref.conv2d(_x, _w, _b).shape)
    _want = ref.autograd_conv2d_backward(_d, _x, _w, _b)
    _mist = ref.conv2d_backward_mistakes(_d, _x, _w, _b)
    _got = conv2d_backward(_d, _x, _w, _b)
    _case = f"x{_x.shape}, w{_w.shape}, stride 1, padding 0"
    for _i, _name in enumerate(("dx", "dw", "db")):
        assert_close(_got[_i], _want[_i], rtol=1e-8, atol=1e-9, name=f"{_name} for {_case}",
                     mistakes=_mist[_name])
    _done += 1
''')

hidden("test_conv2d_backward_stride_padding", 4, '''
import solutions as ref
_rng = np.random.default_rng(5002)
_cases = [(1, 1), (2, 0), (2, 1), (3, 2), ((2, 1), 1), ((1, 3), (2, 0)), (2, "same"), (1, "same"),
          ((3, 2), "same"), (2, "valid"), (1, (0, 2)), (3, 0)]
for _s, _p in _cases:
    for _shape, _ks in [((2, 3, 7, 6), (3, 3)), ((1, 2, 8, 9), (2, 3)), ((3, 1, 5, 5), (4, 2))]:
        _x = _rng.standard_normal(_shape)
        _w = _rng.standard_normal((int(_rng.integers(1, 4)), _shape[1]) + _ks)
        try:
            _out = ref.conv2d(_x, _w, stride=_s, padding=_p)
        except ValueError:
            continue
        _d = _rng.standard_normal(_out.shape)
        _want = ref.autograd_conv2d_backward(_d, _x, _w, None, stride=_s, padding=_p)
        _mist = ref.conv2d_backward_mistakes(_d, _x, _w, None, stride=_s, padding=_p)
        _got = conv2d_backward(_d, _x, _w, None, stride=_s, padding=_p)
        _case = f"x{_x.shape}, w{_w.shape}, stride={_s!r}, padding={_p!r}"
        for _i, _name in enumerate(("dx", "dw", "db")):
            assert_close(_got[_i], _want[_i], rtol=1e-8, atol=1e-9, name=f"{_name} for {_case}",
                         mistakes=_mist[_name])
''')

hidden("test_conv2d_backward_unchanged", 1, '''
import solutions as ref
_rng = np.random.default_rng(5003)
_x = _rng.standard_normal((2, 2, 6, 6))
_w = _rng.standard_normal((3, 2, 3, 3))
_b = _rng.standard_normal(3)
_d = _rng.standard_normal(ref.conv2d(_x, _w, _b, stride=2, padding=1).shape)
_copies = [a.copy() for a in (_d, _x, _w, _b)]
_got = conv2d_backward(_d, _x, _w, _b, stride=2, padding=1)
for _a, _a0, _n in zip((_d, _x, _w, _b), _copies, ("dout", "x", "w", "b")):
    assert_not_modified(_a, _a0, name=_n)
_want = ref.conv2d_backward(_d, _x, _w, _b, stride=2, padding=1)
for _i, _name in enumerate(("dx", "dw", "db")):
    assert_close(_got[_i], _want[_i], rtol=1e-8, atol=1e-9, name=_name)
''')

hidden("test_conv2d_backward_errors", 1, '''
assert_raises(ValueError, conv2d_backward, np.ones((1, 2, 4, 4)), np.ones((1, 1, 5, 5)), np.ones((2, 1, 3, 3)),
              because="dout must have the shape of the layer's output")
assert_raises(ValueError, conv2d_backward, np.ones((1, 2, 3, 3)), np.ones((1, 1, 5, 5)), np.ones((2, 3, 3, 3)),
              because="w has 3 input channels but x has 1")
''')

md("md-explain-flip", r"""
### Explain 1 (graded by hand, 2 points): why dx is a flipped full convolution

Take one image, one channel, one filter, stride 1 and no padding. In a few sentences (an
equation helps), explain why $\partial L/\partial x$ is a convolution of `dout` with the
kernel **rotated by 180 degrees**, and why a **full** one (`dout` padded with $K - 1$ zeros
on each side): where does the flip come from, and what do the padding zeros stand for?
Write your answer in the cell below.
""")

answer("answer_explain_flip", 2, r"""
### BEGIN SOLUTION
**Model answer.** The forward pass is $\text{out}[i, j] = \sum_{u,v} x[i + u, j + v]\, w[u, v]$.
Pixel $x[r, c]$ takes part in output $(i, j)$ with weight $w[r - i, c - j]$, whenever
$0 \le r - i < K_H$ and $0 \le c - j < K_W$. By the chain rule

$$\frac{\partial L}{\partial x[r, c]} = \sum_{i, j} \text{dout}[i, j]\; w[r - i,\, c - j].$$

As the output index $i$ grows, the kernel index $r - i$ shrinks: the kernel is read
backwards in both directions, which is a true convolution, or a cross-correlation with the
kernel rotated by 180 degrees. (The scatter view says the same: each `dout[i, j]` stamps
`dout[i, j] * w`, unflipped, on its window; collected from one pixel's side, the
contributions arrive in reversed kernel order.)

It is *full* because every output whose window contains $x[r, c]$ counts, including windows
that only touch the pixel with their last row or column. Near the border of $x$ fewer than
$K$ windows contain a pixel; to write the sum as one sliding window over `dout` anyway,
`dout` is padded with $K - 1$ zeros on each side: the zeros stand for windows that do not
exist (they add nothing), and the result has $H' + K - 1 = H$ rows, the input's size.

**Rubric (2 points).** 1 point: the chain-rule sum $\sum_{i,j} \text{dout}[i, j]\, w[r - i, c - j]$
(or the stamp/scatter argument) with the reason for the flip, the kernel index decreasing
as the output index increases. 1 point: "full": all outputs whose windows contain the
pixel contribute, border windows included, hence $K - 1$ zeros of padding that stand for
missing windows and give dx the input's size. Half a point for each claim stated without a
reason; no point for restating "it is a full convolution".
### END SOLUTION
""")

# ---------------------------------------------------------------------------------------
md("md-pool", r"""
## 2. The backward pass of pooling

Pooling has no weights, only a rule for where each window's gradient goes:

* **max pooling** passes the whole `dout` of a window to the entry that was the maximum
  (the others did not influence the output). **Ties:** when several entries share the
  maximum, the *first one in row-major order* (smallest row, then smallest column) gets
  all of it and the others get nothing. PyTorch follows the same rule.
* **average pooling** spreads it evenly: each of the $k_h k_w$ entries gets
  $\text{dout} / (k_h k_w)$.

When windows overlap (stride < k) an entry can belong to several windows: add up what it
receives from each.
""")

solution("predict_pool", '''
# Predict on paper. A = [[1, 3, 2, 2],
#                        [3, 0, 1, 2],
#                        [4, 4, 0, 5],
#                        [1, 4, 6, 0]]
# is pooled with 2x2 windows, stride 2, and the upstream gradient is dout = [[1, 2], [3, 4]].
# (a) dx for max pooling (4x4), with the tie rule above.
# (b) dx for average pooling (4x4).
# (c) x = [[1, 5, 2, 0]] (one row) is max-pooled with k = (1, 2), stride 1, and
#     dout = [[1, 1, 1]]: dx (1x4).
#
# Replace each None by your answer (lists of lists of numbers) and delete the
# `raise NotImplementedError()` line.
answer_maxpool_dx = None          # (a)
answer_avgpool_dx = None          # (b)
answer_overlap_dx = None          # (c)
### BEGIN SOLUTION
answer_maxpool_dx = [[0, 1, 2, 0],
                     [0, 0, 0, 0],
                     [3, 0, 0, 0],
                     [0, 0, 4, 0]]
answer_avgpool_dx = [[0.25, 0.25, 0.5, 0.5],
                     [0.25, 0.25, 0.5, 0.5],
                     [0.75, 0.75, 1.0, 1.0],
                     [0.75, 0.75, 1.0, 1.0]]
answer_overlap_dx = [[0, 2, 1, 0]]
### END SOLUTION
''')

hidden("test_predict_pool_max", 2, '''
import solutions as ref
_A = np.array([[1, 3, 2, 2], [3, 0, 1, 2], [4, 4, 0, 5], [1, 4, 6, 0]], dtype=float)
_d = np.array([[1.0, 2.0], [3.0, 4.0]])
assert_close(ref.read_answer(answer_maxpool_dx, "answer_maxpool_dx", (4, 4)), ref.pool2d_backward(_d, _A, 2), rtol=0, atol=1e-9,
             name="answer_maxpool_dx", mistakes=ref.pool2d_backward_mistakes(_d, _A, 2),
             hint="three of the four windows have tied maxima.")
''')

hidden("test_predict_pool_avg", 1, '''
import solutions as ref
_A = np.array([[1, 3, 2, 2], [3, 0, 1, 2], [4, 4, 0, 5], [1, 4, 6, 0]], dtype=float)
_d = np.array([[1.0, 2.0], [3.0, 4.0]])
assert_close(ref.read_answer(answer_avgpool_dx, "answer_avgpool_dx", (4, 4)), ref.pool2d_backward(_d, _A, 2, mode="avg"), rtol=0,
             atol=1e-9, name="answer_avgpool_dx", mistakes=ref.pool2d_backward_mistakes(_d, _A, 2, mode="avg"))
''')

hidden("test_predict_pool_overlap", 1, '''
import solutions as ref
_x = np.array([[1.0, 5.0, 2.0, 0.0]])
assert_close(ref.read_answer(answer_overlap_dx, "answer_overlap_dx", (1, 4)), ref.pool2d_backward(np.ones((1, 3)), _x, (1, 2), 1),
             rtol=0, atol=1e-9, name="answer_overlap_dx",
             hint="the 5 is the maximum of two windows.")
''')

solution("pool2d_backward", '''
def pool2d_backward(dout, x, k, stride=None, mode="max"):
    """Gradient of out = pool2d(x, k, stride, mode) with respect to x.

    Args:
        dout: (..., H', W'), dL/dout, H' = floor((H - kh) / sh) + 1.
        x: (..., H, W), the pooling layer's input (any leading axes: batch, channels).
        k: int or (kh, kw); stride: int or (sh, sw), defaults to k; no padding.
        mode: "max" (each window's gradient goes to its maximum; ties: the first maximum
            in row-major order gets all of it) or "avg" (dout / (kh * kw) to each entry).

    Returns:
        dx: float array of x's shape; overlapping windows add up, entries no window
        covers get 0. x and dout are left unchanged.

    Raises:
        ValueError: mode is not "max" or "avg", or dout's shape is not the output's.
    """
    ### BEGIN SOLUTION
    x, dout = np.asarray(x, dtype=float), np.asarray(dout, dtype=float)
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    kh, kw = (k, k) if np.ndim(k) == 0 else k
    sh, sw = (kh, kw) if stride is None else ((stride, stride) if np.ndim(stride) == 0 else stride)
    H, W = x.shape[-2:]
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    if dout.shape != x.shape[:-2] + (Ho, Wo):
        raise ValueError(f"dout must have the output's shape {x.shape[:-2] + (Ho, Wo)}, got {dout.shape}")
    dx = np.zeros_like(x)
    for i in range(Ho):
        for j in range(Wo):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            g = dout[..., i, j]
            if mode == "avg":
                dx[..., rows, cols] += g[..., None, None] / (kh * kw)
            else:
                window = x[..., rows, cols].reshape(x.shape[:-2] + (kh * kw,))
                first = window.argmax(axis=-1)                     # argmax returns the first maximum
                onehot = (np.arange(kh * kw) == first[..., None]).reshape(x.shape[:-2] + (kh, kw))
                dx[..., rows, cols] += onehot * g[..., None, None]
    return dx
    ### END SOLUTION
''')

test("test_pool2d_backward_public", 2, '''
# Public test: no ties, no overlap; then a batch of shape (N, C, H, W).
X = np.array([[1.0, 2.0, 9.0, 0.0], [8.0, 3.0, 4.0, 5.0], [0.0, 7.0, 1.0, 1.5], [6.0, 2.0, 3.0, 2.5]])
D = np.array([[10.0, 20.0], [30.0, 40.0]])
assert_close(pool2d_backward(D, X, 2), np.array([[0, 0, 20, 0], [10, 0, 0, 0], [0, 30, 0, 0], [0, 0, 40, 0]], dtype=float),
             name="pool2d_backward(D, X, 2) (max)", hint="each window's gradient goes to its largest entry only.")
assert_close(pool2d_backward(D, X, 2, mode="avg"),
             np.array([[2.5, 2.5, 5, 5], [2.5, 2.5, 5, 5], [7.5, 7.5, 10, 10], [7.5, 7.5, 10, 10]]),
             name="pool2d_backward(D, X, 2, mode='avg')",
             mistakes={"the gradient was not divided by the window size": np.kron(D, np.ones((2, 2)))})
xb = np.arange(2 * 3 * 4 * 6, dtype=float).reshape(2, 3, 4, 6)
assert_shape(pool2d_backward(np.ones((2, 3, 2, 3)), xb, 2), (2, 3, 4, 6), name="dx of a batch",
             axes=("N", "C", "H", "W"))
print("pool2d_backward: public tests passed")
''')

hidden("test_pool2d_backward_hidden_max", 3, '''
import solutions as ref
_rng = np.random.default_rng(5004)
for _shape, _k, _s in [((2, 3, 6, 6), 2, None), ((1, 2, 7, 5), 2, None), ((2, 2, 8, 9), (2, 3), None),
                       ((3, 6, 6), 3, 1), ((1, 1, 9, 7), (3, 2), (2, 1)), ((5, 8), 2, 3), ((2, 4, 4), 4, None)]:
    _x = _rng.standard_normal(_shape)
    _d = _rng.standard_normal(ref.pool2d(_x, _k, _s).shape)
    assert_close(pool2d_backward(_d, _x, _k, _s, "max"), ref.autograd_pool2d_backward(_d, _x, _k, _s, "max"),
                 rtol=1e-9, atol=1e-12, name=f"max-pool dx for x{_shape}, k={_k!r}, stride={_s!r}",
                 mistakes=ref.pool2d_backward_mistakes(_d, _x, _k, _s, "max"))
''')

hidden("test_pool2d_backward_hidden_avg", 2, '''
import solutions as ref
_rng = np.random.default_rng(5005)
for _shape, _k, _s in [((2, 3, 6, 6), 2, None), ((1, 2, 7, 5), 2, None), ((2, 2, 8, 9), (2, 3), None),
                       ((3, 6, 6), 3, 1), ((1, 1, 9, 7), (3, 2), (2, 1)), ((5, 8), 2, 3)]:
    _x = _rng.standard_normal(_shape)
    _d = _rng.standard_normal(ref.pool2d(_x, _k, _s).shape)
    assert_close(pool2d_backward(_d, _x, _k, _s, "avg"), ref.autograd_pool2d_backward(_d, _x, _k, _s, "avg"),
                 rtol=1e-9, atol=1e-12, name=f"average-pool dx for x{_shape}, k={_k!r}, stride={_s!r}",
                 mistakes=ref.pool2d_backward_mistakes(_d, _x, _k, _s, "avg"))
''')

hidden("test_pool2d_backward_ties", 2, '''
import solutions as ref
_rng = np.random.default_rng(5006)
for _shape, _k, _s in [((2, 2, 6, 6), 2, None), ((1, 3, 7, 7), 3, 1), ((2, 5, 8), (2, 3), (1, 2)), ((4, 4), 2, 1)]:
    _x = _rng.integers(0, 3, size=_shape).astype(float)          # small integers: many ties
    _x0 = _x.copy()
    _d = _rng.standard_normal(ref.pool2d(_x, _k, _s).shape)
    assert_close(pool2d_backward(_d, _x, _k, _s, "max"), ref.autograd_pool2d_backward(_d, _x, _k, _s, "max"),
                 rtol=1e-9, atol=1e-12, name=f"max-pool dx with tied maxima, x{_shape}, k={_k!r}, stride={_s!r}",
                 mistakes=ref.pool2d_backward_mistakes(_d, _x, _k, _s, "max"))
    assert_not_modified(_x, _x0, name="x")
''')

hidden("test_pool2d_backward_errors", 1, '''
assert_raises(ValueError, pool2d_backward, np.ones((2, 2)), np.ones((4, 4)), 2, mode="median",
              because="mode must be 'max' or 'avg'")
assert_raises(ValueError, pool2d_backward, np.ones((3, 3)), np.ones((4, 4)), 2,
              because="dout must have the shape of the pooling's output")
''')

# ---------------------------------------------------------------------------------------
md("md-numgrad", r"""
## 3. Checking a gradient numerically

A backward function is easy to get almost right. The check: nudge one input entry by
$\pm h$ and watch the loss. For $L(x) = \sum f(x) \cdot \text{dout}$ the **centred difference**

$$ \frac{\partial L}{\partial x_i} \approx \frac{L(x + h e_i) - L(x - h e_i)}{2h} $$

has an error proportional to $h^2$; the one-sided $(L(x + h e_i) - L(x))/h$ only to $h$.
Compare the two gradients with the **relative error**
$\max_i |a_i - b_i| / \max(10^{-8}, |a_i| + |b_i|)$: in float64 with $h = 10^{-5}$, about
$10^{-7}$ or less means they agree, $10^{-2}$ or more means a bug. Near a kink (ReLU at 0,
a tie in max pooling) the numerical gradient is unreliable: check on random inputs.

**Subtract, then sum.** $L(x \pm h e_i)$ are sums over every output, large and nearly
equal: subtracting the two *sums* throws away most of their digits. Subtract the two
*outputs* first, then take the weighted sum,
$\sum \big(f(x + h e_i) - f(x - h e_i)\big) \cdot \text{dout}$, divided by $2h$ (keep a
copy of $f(x + h e_i)$: `f` may return an array that changes when you nudge `x` again).
Even so, each of the $n$ summed terms brings its own round-off, so the error floor of a
check grows with the number of outputs (roughly like $\sqrt n$ to $n$ times
$\epsilon / h$): a layer with many outputs needs a looser tolerance than a small one.
""")

solution("predict_gradcheck", '''
# Predict on paper. f(x) = x ** 3 at x = 1 (so f'(1) = 3).
# (a) The error of the centred difference with h = 0.1, divided by its error with h = 0.025
#     (a number: by what factor does the error shrink when h is 4 times smaller?).
# (b) The same ratio for the one-sided difference (roughly; a number).
# (c) The centred difference of relu(x) = max(x, 0) at x = 0 with h = 1e-5 (a number).
#
# Replace each None by your answer (a number) and delete the `raise NotImplementedError()` line.
answer_centred_factor = None      # (a)
answer_one_sided_factor = None    # (b)
answer_relu_at_zero = None        # (c)
### BEGIN SOLUTION
answer_centred_factor = 16
answer_one_sided_factor = 4
answer_relu_at_zero = 0.5
### END SOLUTION
''')

hidden("test_predict_gradcheck_centred", 1, '''
import solutions as ref
_err = [abs(ref.numerical_gradient(lambda z: z ** 3, np.ones(1), np.ones(1), h=_h)[0] - 3) for _h in (0.1, 0.025)]
assert abs(float(ref.read_answer(answer_centred_factor, "answer_centred_factor", ())) - _err[0] / _err[1]) < 1, (
    f"answer_centred_factor is {answer_centred_factor!r}: the centred difference's error is proportional to h ** 2.")
''')

hidden("test_predict_gradcheck_one_sided", 1, '''
import solutions as ref
_err = [abs(((1 + _h) ** 3 - 1) / _h - 3) for _h in (0.1, 0.025)]
assert 0.9 * _err[0] / _err[1] < float(ref.read_answer(answer_one_sided_factor, "answer_one_sided_factor", ())) < 1.1 * _err[0] / _err[1], (
    f"answer_one_sided_factor is {answer_one_sided_factor!r}: the one-sided difference's error is proportional to h.")
''')

hidden("test_predict_gradcheck_relu", 1, '''
import solutions as ref
_want = ref.numerical_gradient(lambda z: np.maximum(z, 0), np.zeros(1), np.ones(1), h=1e-5)[0]
assert abs(float(ref.read_answer(answer_relu_at_zero, "answer_relu_at_zero", ())) - _want) < 1e-6, (
    f"answer_relu_at_zero is {answer_relu_at_zero!r}: evaluate (relu(h) - relu(-h)) / (2h).")
''')

solution("numerical_gradient", '''
def numerical_gradient(f, x, dout, h=1e-5):
    """Centred-difference gradient of L(x) = sum(f(x) * dout) with respect to x.

    Args:
        f: a function of one array of x's shape, returning an array of dout's shape.
        x: the point (any shape). Not modified: work on a float copy.
        dout: the upstream gradient, the shape of f(x) (a scalar for a scalar f).
        h: the step (> 0).

    Returns:
        float array of x's shape: grad[i] = sum((f(x + h e_i) - f(x - h e_i)) * dout) / (2h).
        Subtract the two outputs first, then sum with dout (subtracting two large sums
        loses digits); the round-off still grows with the number of summed terms, so the
        tolerance of a check must grow with the size of f's output.
    """
    ### BEGIN SOLUTION
    xc = np.array(x, dtype=float)
    grad = np.zeros_like(xc)
    for i in np.ndindex(xc.shape):
        old = xc[i]
        xc[i] = old + h
        plus = np.array(f(xc), dtype=float)       # a copy: f may return x itself
        xc[i] = old - h
        minus = np.array(f(xc), dtype=float)
        xc[i] = old
        grad[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad
    ### END SOLUTION
''')

test("test_numerical_gradient_public", 1, '''
# Public test (run_student runs the code where your functions are, here and in the grader).
res = run_student("""
x = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
x_before = x.copy()
dout = np.array([[1.0, 2.0, -1.0], [0.5, 1.0, 3.0]])
result = {"square": numerical_gradient(lambda z: z ** 2, x, dout),
          "cube": numerical_gradient(lambda z: z ** 3, x, dout, h=0.1),
          "unchanged": bool(np.array_equal(x, x_before))}
""")
xs = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
ds = np.array([[1.0, 2.0, -1.0], [0.5, 1.0, 3.0]])
assert_close(res["square"], 2 * xs * ds, rtol=1e-6, atol=1e-8, name="numerical gradient of sum(x**2 * dout)")
assert_close(res["cube"], (3 * xs ** 2 + 0.01) * ds, rtol=1e-9, atol=1e-9, name="numerical gradient of x**3 with h=0.1",
             mistakes={"it is a one-sided difference": (3 * xs ** 2 + 3 * 0.1 * xs + 0.01) * ds},
             hint="the centred difference of x**3 is exactly 3x**2 + h**2.")
assert res["unchanged"], "numerical_gradient changed x: nudge a copy of it."
print("numerical_gradient: public test passed")
''')

hidden("test_numerical_gradient_hidden", 3, '''
import solutions as ref
_rng = np.random.default_rng(5007)
_m = _rng.standard_normal((4, 3))
_fs = {"cube": lambda z: z ** 3, "sin": np.sin, "square_rows": lambda z: (z ** 2).sum(axis=-1),
       "linear": lambda z: z @ _m, "exp": np.exp}
def _one_sided(f, x, dout, h):
    _g = np.zeros(x.shape)
    for _i in np.ndindex(x.shape):
        _xp = x.copy(); _xp[_i] += h
        _g[_i] = np.sum((f(_xp) - f(x)) * dout) / h
    return _g
for _name, _shape, _h in [("cube", (3, 4), 0.1), ("cube", (2, 3), 0.01), ("sin", (2, 2, 3), 0.05),
                          ("square_rows", (3, 5), 0.2), ("linear", (2, 4), 0.1), ("exp", (5,), "default")]:
    _x = _rng.standard_normal(_shape)
    _d = _rng.standard_normal(_fs[_name](_x).shape)
    _res = run_probe("numerical_gradient", function=_name, x=_x, dout=_d, h=_h, matrix=_m)
    _hh = 1e-5 if _h == "default" else _h
    _want = ref.numerical_gradient(_fs[_name], _x, _d, h=_hh)
    _mist = {"it is a one-sided difference (f(x + h) - f(x)) / h; use the centred one": _one_sided(_fs[_name], _x, _d, _hh),
             "the centred difference was divided by h instead of 2h": 2 * _want}
    if _h != "default":
        _mist["the step h passed in was not used"] = ref.numerical_gradient(_fs[_name], _x, _d, h=1e-5)
    assert_close(_res["grad"], _want, rtol=1e-6, atol=1e-8,
                 name=f"numerical_gradient({_name}, x{_shape}, h={_h!r})", mistakes=_mist)
    assert_not_modified(_res["x_after"], _x, name="x")
''')

solution("rel_error", '''
def rel_error(a, b):
    """Largest element-wise relative error max(|a - b| / max(1e-8, |a| + |b|)) as a float.

    a, b: arrays of the same shape.
    """
    ### BEGIN SOLUTION
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
    ### END SOLUTION
''')

test("test_rel_error_public", 1, '''
# Public test
assert_close(rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])), 0.0, name="rel_error of equal arrays")
assert_close(rel_error(np.array([1.0, 3.0]), np.array([1.0, 1.0])), 0.5, name="rel_error([1, 3], [1, 1])",
             hint="|3 - 1| / (|3| + |1|) = 0.5, and the largest value over the entries is returned.")
print("rel_error: public test passed")
''')

hidden("test_rel_error_hidden", 1, '''
import solutions as ref
_rng = np.random.default_rng(5008)
for _shape in [(3,), (2, 4), (2, 3, 4, 5)]:
    _a = _rng.standard_normal(_shape)
    _b = _a + 1e-6 * _rng.standard_normal(_shape)
    assert_close(rel_error(_a, _b), ref.rel_error(_a, _b), rtol=1e-9, atol=0, name=f"rel_error for {_shape}")
assert_close(rel_error(np.zeros(3), np.array([0.0, 1e-12, 0.0])), ref.rel_error(np.zeros(3), np.array([0.0, 1e-12, 0.0])),
             rtol=1e-9, atol=0, name="rel_error near zero", hint="divide by max(1e-8, |a| + |b|).")
''')

md("md-check-yours", r"""
**Check your layers.** The cell below runs `numerical_gradient` on your `conv2d_backward`
and `pool2d_backward` (with the given forward functions) and prints the relative errors.
All of them should be below $10^{-7}$; if one is not, the printout tells you which gradient
to look at.
""")

code("demo-gradcheck", '''
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 7, 6))
w = rng.standard_normal((4, 3, 3, 2))
b = rng.standard_normal(4)
for stride, padding in [(1, 0), (2, 1), ((2, 1), "same")]:
    dout = rng.standard_normal(conv2d(x, w, b, stride, padding).shape)
    dx, dw, db = conv2d_backward(dout, x, w, b, stride, padding)
    errors = {"dx": rel_error(dx, numerical_gradient(lambda z: conv2d(z, w, b, stride, padding), x, dout)),
              "dw": rel_error(dw, numerical_gradient(lambda z: conv2d(x, z, b, stride, padding), w, dout)),
              "db": rel_error(db, numerical_gradient(lambda z: conv2d(x, w, z, stride, padding), b, dout))}
    print(f"conv stride={stride!r:7} padding={padding!r:7}", {k: f"{v:.1e}" for k, v in errors.items()})
for mode in ("max", "avg"):
    dout = rng.standard_normal(pool2d(x, 2, mode=mode).shape)
    err = rel_error(pool2d_backward(dout, x, 2, mode=mode), numerical_gradient(lambda z: pool2d(z, 2, mode=mode), x, dout))
    print(f"{mode}-pool dx: {err:.1e}")
''')

md("md-explain-kinks", r"""
### Explain 2 (graded by hand, 2 points): why gradient checks fail at kinks

A correct `pool2d_backward` and a correct ReLU backward (`dout * (z > 0)`) can fail a
gradient check. Explain why, with two examples: ReLU at exactly $z = 0$ (your prediction
(c) above), and max pooling over a window whose two largest entries are tied. For each,
say what the centred difference computes, what the backward function returns, and why a
smaller $h$ does not help. Then: what do gradient checks do about it, and does such a
failure mean the backward function has a bug?
Write your answer in the cell below.
""")

answer("answer_explain_kinks", 2, r"""
### BEGIN SOLUTION
**Model answer.** At a kink the function has two different one-sided slopes, so its
derivative does not exist there; a backward function returns one of them by convention.
The centred difference straddles the kink and measures the *average* of the two slopes.

* ReLU at $z = 0$: $(\text{relu}(h) - \text{relu}(-h)) / (2h) = (h - 0) / (2h) = 1/2$ for
  every $h$, while the backward pass with the mask $z > 0$ returns 0 (another convention
  would return 1). The relative error is about 1, whatever $h$.
* A tie in max pooling: nudging a tied entry up by $h$ makes it the only maximum (the
  output rises by $h$: slope 1); nudging it down leaves the other tied entry as the maximum
  (slope 0). The centred difference gives each tied entry $\text{dout}/2$; the backward
  pass gives all of `dout` to the first maximum and nothing to the other.

A smaller $h$ does not help because the quotient is the same for every $h$: it never
converges to either one-sided slope. The same happens at a point within $h$ of a kink (a
$|z| < h$, or two entries closer than $2h$): the nudge crosses the kink. So such a failure
is not a bug. Gradient checks use random real-valued inputs, where exact zeros and ties
almost never occur, keep $h$ small, and skip or ignore the entries that lie within $h$ of a
kink (or check the two sides separately).

**Rubric (2 points).** 1 point: one-sided slopes differ at a kink; the centred difference
averages them (1/2 for ReLU at 0, `dout`/2 to each of two tied maxima) while the backward
picks one (0 or 1; everything to the first maximum), independently of $h$. 1 point: the
remedy (random inputs without exact zeros or ties, or skipping entries near a kink) and
that the mismatch is not a bug. Half a point for a correct claim without its reason.
### END SOLUTION
""")

# ---------------------------------------------------------------------------------------
md("md-capstone", r"""
## 4. Capstone: a CNN in numpy, trained on shifted digits

scikit-learn ships 1,797 handwritten digits of 8 x 8 pixels (`load_digits_images()` gives
them as uint8 images with their labels). Here each digit sits at a random place on a
10 x 10 blank canvas (`shift_digits`: moved 0, 1 or 2 pixels down and right). That
defeats a classifier that reads fixed pixel positions: logistic regression on the raw
pixels gets about 56% of new digits right. A convolution looks at every position with
the same filters, and *learned* filters do better than random ones. The network:

| layer | output shape |
|---|---|
| input, grey levels in [0, 1] | (N, 1, 10, 10) |
| conv, 16 filters 3 x 3, padding 1, + bias; ReLU | (N, 16, 10, 10) |
| max pool 2 x 2 | (N, 16, 5, 5) |
| flatten in C order; dense 400 -> 10, + bias | (N, 400), then (N, 10) logits |
| softmax cross-entropy with the labels | a number |

Its parameters are a dict `{"w1": (16, 1, 3, 3), "b1": (16,), "w2": (400, 10), "b2": (10,)}`.
**Flatten order:** the pooled maps `p` of shape `(N, F, H, W) = (N, 16, 5, 5)` become rows
of 400 numbers in C order, `p.reshape(N, 400)`: feature `f*H*W + h*W + w` = `f*25 + h*5 + w`
is filter `f` at row `h`, column `w`, and meets row `f*25 + h*5 + w` of `w2`. The grader's
forward pass and its recomputed epochs flatten this way: another order does not pass.
You write the loss, its gradients with your backward functions (`cnn_loss`), and one
epoch of training (`sgd_epoch`). **How it is graded:** the grader runs a fixed training
schedule, 10 epochs from initial weights and visiting orders it chooses, calling your
`sgd_epoch` once per epoch (probe `digits_training` in `grading.toml`). It recomputes every
epoch itself, with correct gradients, starting from the weights your code had reached after
the epoch before, and compares; then it measures the accuracy of your final weights, with
its own forward pass, on shifted digits your code never sees. Both must hold: every epoch
agrees and **at least 90% of the held-out digits** are classified correctly. Correct
gradients reach about 92%. Filters that never learn (a blank `conv2d_backward`, zero
gradients for `w1`) stay near 82%, what the same schedule gives with the random initial
filters frozen.

First the loss: $\text{softmax}(z)_k = e^{z_k}/\sum_j e^{z_j}$, the loss is the mean of
$-\log \text{softmax}(z)_{y}$ over the batch, and its gradient with respect to the logits
is $(\text{softmax}(z) - \text{onehot}(y)) / N$. Subtract each row's maximum before `exp`.
""")

solution("softmax_cross_entropy", '''
def softmax_cross_entropy(logits, y):
    """Mean softmax cross-entropy and its gradient.

    Args:
        logits: (N, K) floats; y: (N,) integer labels in 0..K-1.

    Returns:
        (loss, dlogits): a float and an (N, K) array, (softmax(logits) - onehot(y)) / N.
    """
    ### BEGIN SOLUTION
    z = np.asarray(logits, dtype=float)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(y)
    loss = float(-logp[np.arange(n), y].mean())
    dlogits = np.exp(logp)
    dlogits[np.arange(n), y] -= 1
    return loss, dlogits / n
    ### END SOLUTION
''')

test("test_softmax_cross_entropy_public", 1, '''
# Public test: equal logits give log(K) and (1/K - onehot) / N.
loss, d = softmax_cross_entropy(np.zeros((2, 4)), np.array([1, 3]))
assert_close(loss, np.log(4), name="the loss of equal logits", hint="every class has probability 1/4.")
assert_close(d, np.array([[0.25, -0.75, 0.25, 0.25], [0.25, 0.25, 0.25, -0.75]]) / 2, name="dlogits",
             mistakes={"dlogits was not divided by N": np.array([[0.25, -0.75, 0.25, 0.25], [0.25, 0.25, 0.25, -0.75]])})
print("softmax_cross_entropy: public test passed")
''')

hidden("test_softmax_cross_entropy_hidden", 2, '''
import solutions as ref
_rng = np.random.default_rng(5009)
_cases = [(_rng.standard_normal((5, 10)), 1.0), (_rng.standard_normal((8, 3)) * 50, 50.0),
          (np.array([[1000.0, 0.0, -5.0], [-800.0, 900.0, 0.0]]), 1000.0)]
for _z, _scale in _cases:
    _y = _rng.integers(0, _z.shape[1], size=len(_z))
    _loss, _d = softmax_cross_entropy(_z, _y)
    _wl, _wd = ref.softmax_cross_entropy(_z, _y)
    assert_close(_loss, _wl, rtol=1e-9, atol=1e-9, name=f"the loss for logits of scale {_scale:g}",
                 hint="subtract each row's maximum before exp (large logits overflow).")
    assert_close(_d, _wd, rtol=1e-8, atol=1e-12, name=f"dlogits for logits of scale {_scale:g}")
''')

solution("cnn_loss", '''
def cnn_loss(params, x, y):
    """Loss and gradients of the capstone CNN on a batch.

    Args:
        params: {"w1": (16, 1, 3, 3), "b1": (16,), "w2": (400, 10), "b2": (10,)}.
        x: (N, 1, 10, 10) images in [0, 1]; y: (N,) labels in 0-9.

    Returns:
        (loss, grads): a float and a dict with the keys and shapes of params.
        Use conv2d, relu and pool2d (given) forward and your backward functions.
        Flatten the pooled (N, 16, 5, 5) maps in C order, p.reshape(N, 400): feature
        f * 25 + i * 5 + j is filter f at row i, column j (row f * 25 + i * 5 + j of w2).
    """
    ### BEGIN SOLUTION
    z = conv2d(x, params["w1"], params["b1"], padding=1)          # (N, 16, 10, 10)
    a = relu(z)
    p = pool2d(a, 2)                                              # (N, 16, 5, 5)
    flat = p.reshape(len(p), -1)                                  # (N, 400), C order
    logits = flat @ params["w2"] + params["b2"]                   # (N, 10)
    loss, dlogits = softmax_cross_entropy(logits, y)
    dflat = dlogits @ params["w2"].T
    grads = {"w2": flat.T @ dlogits, "b2": dlogits.sum(axis=0)}
    da = pool2d_backward(dflat.reshape(p.shape), a, 2)
    dz = da * (z > 0)
    _, grads["w1"], grads["b1"] = conv2d_backward(dz, x, params["w1"], params["b1"], padding=1)
    return loss, grads
    ### END SOLUTION
''')

test("test_cnn_loss_public", 1, '''
# Public test: shapes, and the loss of an all-zero network is log(10).
params0 = {"w1": np.zeros((16, 1, 3, 3)), "b1": np.zeros(16), "w2": np.zeros((400, 10)), "b2": np.zeros(10)}
loss0, grads0 = cnn_loss(params0, np.ones((3, 1, 10, 10)), np.array([0, 4, 9]))
assert_close(loss0, np.log(10), name="the loss of an all-zero network")
for key, value in params0.items():
    assert_shape(grads0[key], value.shape, name=f"grads[{key!r}]")
print("cnn_loss: public test passed")
''')

hidden("test_cnn_loss_hidden", 2, '''
import solutions as ref
_rng = np.random.default_rng(5010)
_params = ref.init_digits_cnn(3)
_params["b1"] = 0.1 * _rng.standard_normal(16)
_params["b2"] = 0.1 * _rng.standard_normal(10)
_x = _rng.random((6, 1, 10, 10))
_y = _rng.integers(0, 10, size=6)
_loss, _grads = cnn_loss(_params, _x, _y)
_wl, _wg = ref.digits_cnn_loss(_params, _x, _y)
assert_close(_loss, _wl, rtol=1e-9, atol=1e-9, name="the loss")
for _key in ("w1", "b1", "w2", "b2"):
    assert_close(_grads[_key], _wg[_key], rtol=1e-7, atol=1e-10, name=f"grads[{_key!r}]")
''')

md("md-train", r"""
**Task.** `sgd_epoch(params, velocity, x, y, order, lr)`: one epoch of minibatch SGD with
momentum. The batches are `order[0:16]`, `order[16:32]`, ... (the last one may be
shorter); for each batch `idx`, compute `loss, grads = cnn_loss(params, x[idx], y[idx])`,
then for every key $k$: $v_k \leftarrow 0.9\, v_k - \eta\, g_k$ and
$\theta_k \leftarrow \theta_k + v_k$ (`velocity[k] = momentum * velocity[k] - lr * grads[k]`,
then `params[k] = params[k] + velocity[k]`). Return `(params, velocity)`.

The grader calls it with its own weights, orders and learning rates, so do exactly this
(no shuffling of your own, no other update rule). The schedule around it is the given
`train_digits_cnn` below: He initialisation ($w \sim \mathcal{N}(0, 2/\text{fan-in})$, zero
biases), 10 epochs, $\eta = 0.05 \cdot 0.85^{\text{epoch}}$. The grader allows 90 CPU seconds
for the 10 epochs (the reference solution takes about 3): loops over the output positions,
as in section 1, are fast enough; loops over every single pixel and weight may not be.
""")

solution("sgd_epoch", '''
def sgd_epoch(params, velocity, x, y, order, lr, batch_size=16, momentum=0.9):
    """One epoch of minibatch SGD with momentum on the capstone CNN.

    Args:
        params, velocity: dicts with keys "w1", "b1", "w2", "b2" (the shapes of cnn_loss's
            params); velocity starts at zeros.
        x: (N, 1, 10, 10) images in [0, 1]; y: (N,) labels in 0-9.
        order: (N,) ints, the order to visit the images in; the batches are
            order[0:batch_size], order[batch_size:2 * batch_size], ...
        lr: the learning rate of this epoch.

    Returns:
        (params, velocity) after the epoch: dicts of float arrays (new ones, or the
        arguments updated in place).
    """
    ### BEGIN SOLUTION
    params = {key: np.array(value, dtype=float) for key, value in params.items()}
    velocity = {key: np.array(value, dtype=float) for key, value in velocity.items()}
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        _, grads = cnn_loss(params, x[idx], y[idx])
        for key in params:
            velocity[key] = momentum * velocity[key] - lr * grads[key]
            params[key] = params[key] + velocity[key]
    return params, velocity
    ### END SOLUTION
''')

test("test_sgd_epoch_public", 1, '''
# Public test: one batch from zero velocity moves every parameter by -lr * gradient; with
# two batches the second step carries 0.9 of the first (momentum).
res = run_student("""
rng = np.random.default_rng(1)
p0 = {"w1": 0.3 * rng.standard_normal((16, 1, 3, 3)), "b1": np.zeros(16),
      "w2": 0.05 * rng.standard_normal((400, 10)), "b2": np.zeros(10)}
xs, ys = rng.random((5, 1, 10, 10)), np.array([3, 1, 4, 1, 5])
def fresh():      # copies: sgd_epoch may update the dicts it is given in place
    return {k: v.copy() for k, v in p0.items()}, {k: np.zeros_like(v) for k, v in p0.items()}
_, g = cnn_loss(fresh()[0], xs[[2, 0, 4]], ys[[2, 0, 4]])
p1, v1 = sgd_epoch(*fresh(), xs, ys, np.array([2, 0, 4]), 0.1)
p1 = {k: np.array(p1[k], dtype=float) for k in p0}
v1 = {k: np.array(v1[k], dtype=float) for k in p0}
p2, v2 = sgd_epoch(*fresh(), xs, ys, np.array([2, 0, 4, 1, 3]), 0.1, batch_size=3)
_, g2 = cnn_loss(p1, xs[[1, 3]], ys[[1, 3]])
result = {"moved": {k: p1[k] - p0[k] for k in p0}, "step": {k: -0.1 * np.asarray(g[k]) for k in p0},
          "v1": v1, "second": {k: np.asarray(p2[k], dtype=float) - p1[k] for k in p0},
          "second_want": {k: 0.9 * v1[k] - 0.1 * np.asarray(g2[k]) for k in p0}}
""")
for key in ("w1", "b1", "w2", "b2"):
    assert_close(res["moved"][key], res["step"][key], rtol=1e-9, atol=1e-12,
                 name=f"params[{key!r}] after one batch minus before",
                 hint="one step from zero velocity is -lr * the gradient of cnn_loss on the batch order[0:16].")
    assert_close(res["v1"][key], res["step"][key], rtol=1e-9, atol=1e-12, name=f"velocity[{key!r}] after one batch")
    assert_close(res["second"][key], res["second_want"][key], rtol=1e-9, atol=1e-12,
                 name=f"the second step of params[{key!r}] (batch_size=3)",
                 hint="v = momentum * v - lr * grad, then params + v; the batches are order[0:3] and order[3:6].")
print("sgd_epoch: public test passed")
''')

hidden("test_sgd_epoch_capstone", 6, '''
import solutions as ref
_xtr, _ytr, _xte, _yte = ref.load_digits_split(seed=5011)     # the test part never leaves the grader
_orders, _rates = ref.digits_schedule(0, len(_ytr))
_run = run_probe("digits_training", x=_xtr, y=_ytr, params=ref.init_digits_cnn(0), orders=_orders, rates=_rates)
try:
    _bad, _params = ref.check_digits_training(_run, _xtr, _ytr, seed=0)
except ValueError as _exc:
    raise AssertionError(f"the training run of your sgd_epoch cannot be used: {_exc}") from None
assert _bad is None, (
    f"epoch {_bad + 1} of 10 did not do what correct gradients do from the weights your code had reached: "
    "check cnn_loss and your backward functions (section 3), then that sgd_epoch follows the update rule "
    "exactly (batches in the given order, momentum, no other change to the weights).")
_acc = ref.digits_cnn_accuracy(_params, _xte, _yte)
assert _acc >= ref.DIGITS_PASS_ACCURACY, (
    f"the trained network classifies {100 * _acc:.1f}% of held-out digits correctly; "
    f"{100 * ref.DIGITS_PASS_ACCURACY:.0f}% is needed.")
''')

given("given_train", '''
def train_digits_cnn(x, y, seed=0, epochs=10, lr=0.05, decay=0.85):
    """The capstone's schedule (the one the grader runs): He initialisation, then `epochs`
    calls of your sgd_epoch, each with a fresh visiting order and the rate lr * decay ** epoch."""
    rng = np.random.default_rng(seed)
    fan_in = 16 * (x.shape[-2] // 2) * (x.shape[-1] // 2)
    params = {"w1": rng.standard_normal((16, 1, 3, 3)) * np.sqrt(2 / 9), "b1": np.zeros(16),
              "w2": rng.standard_normal((fan_in, 10)) * np.sqrt(2 / fan_in), "b2": np.zeros(10)}
    velocity = {key: np.zeros_like(value) for key, value in params.items()}
    order_rng = np.random.default_rng(seed + 1)
    for epoch in range(epochs):
        params, velocity = sgd_epoch(params, velocity, x, y, order_rng.permutation(len(y)), lr * decay ** epoch)
    return params
''')

md("md-run-capstone", r"""
Train it here on your own split and look at the result (the grader does its own).
""")

code("demo-capstone", '''
import time

images, labels = load_digits_images()
shifted = shift_digits(images, canvas=10, seed=0)          # (1797, 10, 10) floats in [0, 1]
order = np.random.default_rng(0).permutation(len(labels))
train_idx, test_idx = order[:1300], order[1300:]
x_all = shifted[:, None]
start = time.process_time()
params = train_digits_cnn(x_all[train_idx], labels[train_idx], seed=0)
logits = relu(conv2d(x_all[test_idx], params["w1"], params["b1"], padding=1))
logits = pool2d(logits, 2).reshape(len(test_idx), -1) @ params["w2"] + params["b2"]
predicted = logits.argmax(axis=1)
print(f"trained in {time.process_time() - start:.1f} CPU s; "
      f"test accuracy {np.mean(predicted == labels[test_idx]):.3f} on {len(test_idx)} digits")
fig, axes = plt.subplots(2, 8, figsize=(10, 3))
for ax, i in zip(axes[0], range(8)):
    ax.imshow(params["w1"][i, 0], cmap="RdBu")
    ax.set_title(f"filter {i}", fontsize=8)
    ax.axis("off")
for ax, i in zip(axes[1], range(8)):
    ax.imshow(shifted[test_idx[i]], cmap="gray_r")
    ax.set_title(f"{predicted[i]} (true {labels[test_idx[i]]})", fontsize=8)
    ax.axis("off")
plt.tight_layout()
plt.show()
''')

md("md-end", r"""
## Done

Run the whole notebook from the top (*Kernel -> Restart & Run All*) and check that every
public test prints "passed". `cnn-course check ps5_backprop.ipynb` runs the public tests
the way the grader does.
""")


# ---------------------------------------------------------------------------------------
build = NB.build


if __name__ == "__main__":
    sys.exit(NB.main(sys.argv[1:], OUT))
