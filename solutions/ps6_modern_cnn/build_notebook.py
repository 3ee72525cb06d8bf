"""Build the instructor source notebook solutions/ps6_modern_cnn/ps6_modern_cnn.ipynb.

The cells are listed below as plain Python (see autograder/authoring.py); cell ids are
fixed, so regenerating gives the same notebook byte for byte. Run from the repository root:

    .venv/bin/python solutions/ps6_modern_cnn/build_notebook.py

Part 1 is numpy (batch norm, dropout, im2col/col2im, transposed convolution); hidden tests
compare with ``solutions.modern`` (itself tested against PyTorch in float64). Part 2 is
PyTorch: a bottleneck block (probe ``bottleneck``: weights and output, the grader recomputes
the output from the weights), a basic block for the depth experiment (probe ``depth_stack``
returns weights; the grader measures the gradient norms with
``solutions.modern.first_layer_grad_norm``) and the capstone (probe ``capstone_training``;
the grader recomputes every epoch with ``solutions.modern_capstone`` and measures the
accuracy of the final weights on digits the sandbox never sees).
"""
from __future__ import annotations

import sys
from pathlib import Path

import solutions as ref
import solutions.modern_capstone as cap
from autograder.authoring import NotebookSource, code_of, nbgrader_meta

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "solutions" / "ps6_modern_cnn" / "ps6_modern_cnn.ipynb"

NB = NotebookSource()
md, code, setup, solution, test, hidden, answer = NB.md, NB.code, NB.setup, NB.solution, NB.test, NB.hidden, NB.answer


def given(cid: str, text: str):
    """A read-only code cell of given functions (run by the grader's sandbox too)."""
    return code(cid, text, nbgrader_meta(cid, locked=True))


# ---------------------------------------------------------------------------------------
md("md-title", r"""
# Problem set 6: modern CNN building blocks

*Measured run time of the whole notebook with the reference solutions (full mode): 2.4 min
wall-clock on 2 busy CPU cores, 80 CPU seconds, 26 of them for the capstone's demo training.
`CNN_COURSE_FAST=1` (1.7 min) shortens the depth plot and the demo training (4 epochs instead of
12: the demo's accuracy is then far lower), not the tests.*

Lecture `09_modern_cnn` showed the layers every network since 2015 is built from. Here you
write them: **part 1 in numpy** (batch normalisation forward and backward, inverted dropout,
convolution as one matrix product with im2col, the transposed convolution), **part 2 in
PyTorch** (a residual bottleneck block, the depth experiment that motivated residual
connections, and a small residual network trained on shifted digits).

**Predict before you run.** Cells with `answer_... = None` lines ask for a value you work
out on paper: replace `None` by your answer. They are graded (hidden tests) and they are a
large part of the points.

**Explain.** Two markdown cells ask you to explain a result in a few sentences; they are
graded by hand.

**Rules.** In part 1, numpy only: a part-1 function that uses `torch` (or a helper that
does), `scipy`, `jax`, `tensorflow` or `keras` loses its points. Part 2 is PyTorch (no
`scipy`, `jax`, `tensorflow` or `keras` there either). Do not change names or signatures.
Public tests run here; hidden tests (the empty test cells) check many more shapes and your
PyTorch code's weights.

**Conventions** (PyTorch's): images `x` are `(N, C, H, W)`, kernels `w` are `(F, C, KH, KW)`,
the forward convolution is cross-correlation, `stride` and `padding` are ints or pairs
`(along H, along W)`.
""")

setup("setup", """
import math
import os

import numpy as np
import matplotlib.pyplot as plt
import torch
from torch import nn

from autograder.tools import (assert_close, assert_equal, assert_not_modified, assert_raises,
                              assert_shape, load_digits_images, run_probe, run_student)
from autograder.tools.data import shift_digits

FAST = os.environ.get("CNN_COURSE_FAST", "").strip().lower() in {"1", "true", "yes", "on"}
""")

given("given_conv", '''
def pair(v):
    """An int or a pair -> a pair of ints."""
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def conv2d(x, w, b=None, stride=1, padding=0):
    """Reference convolution (cross-correlation) with loops over the kernel offsets.

    x: (N, C, H, W); w: (F, C, KH, KW); b: (F,) or None; stride, padding: int or pair.
    Returns (N, F, H', W') with H' = (H + 2 ph - KH) // sh + 1.
    """
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    out = np.zeros((N, F, Ho, Wo))
    for u in range(KH):
        for v in range(KW):
            patch = xp[:, :, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw]     # (N, C, Ho, Wo)
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, u, v])
    if b is not None:
        out += np.asarray(b, dtype=float)[None, :, None, None]
    return out
''')

# =======================================================================================
md("md-bn", r"""
# Part 1 (numpy)

## 1. Batch normalisation

For each channel $c$, training mode uses the statistics of the current batch over the batch
and both spatial axes, $M = N H W$ values:
$\mu_c = \frac1M \sum x$, $\sigma_c^2 = \frac1M \sum (x - \mu_c)^2$ (the *biased* variance),
$\hat x = (x - \mu_c)/\sqrt{\sigma_c^2 + \epsilon}$ and $\text{out} = \gamma_c \hat x + \beta_c$.

The running statistics used at inference are updated as PyTorch does (momentum 0.1 is the
weight of the new batch) with the **unbiased** variance:
`new_mean = (1 - momentum) * running_mean + momentum * mean`,
`new_var = (1 - momentum) * running_var + momentum * var * M / (M - 1)`.

The backward pass has a compact closed form (lecture 09), per channel, with
$d\beta = \sum \text{dout}$ and $d\gamma = \sum \text{dout}\cdot\hat x$ over the $M$ values:

$$dx = \frac{\gamma}{M\sqrt{\sigma^2 + \epsilon}}\left(M\,\text{dout} - d\beta - \hat x\, d\gamma\right).$$
""")

solution("predict_bn", '''
# Predict on paper (values, not code).
# (a) x has 2 channels; gamma = [2, 3], beta = [0.5, -1]. In training mode, what is the mean
#     of each channel of the output (2 numbers)?
# (b) One channel holds the M = 2 values [1, 3] (N = 2, H = W = 1). running_var is 1 and
#     momentum 0.1: the new running_var (a number).
# (c) x of shape (4, 3, 5, 5): how many values does each channel's mean average over? (an int)
answer_bn_out_mean = None      # (a)
answer_bn_running_var = None   # (b)
answer_bn_count = None         # (c)
### BEGIN SOLUTION
answer_bn_out_mean = [0.5, -1.0]
answer_bn_running_var = 1.1
answer_bn_count = 100
### END SOLUTION
''')

hidden("test_predict_bn_stats", 2, '''
import solutions as ref
_x = np.random.default_rng(6001).standard_normal((3, 2, 4, 4)) * 3 + 1
_out = ref.batchnorm2d_forward(_x, np.array([2.0, 3.0]), np.array([0.5, -1.0]))
assert_close(ref.read_answer(answer_bn_out_mean, "answer_bn_out_mean", (2,)), _out.mean(axis=(0, 2, 3)),
             rtol=0, atol=1e-6, name="answer_bn_out_mean",
             mistakes={"the mean of x-hat was taken (beta shifts the output)": np.zeros(2)})
''')

hidden("test_predict_bn_running", 2, '''
import solutions as ref
_x = np.array([1.0, 3.0]).reshape(2, 1, 1, 1)
_, _c = ref.batchnorm2d_forward(_x, np.ones(1), np.zeros(1), running_mean=np.zeros(1), running_var=np.ones(1),
                                return_cache=True)
assert_close(ref.read_answer(answer_bn_running_var, "answer_bn_running_var", ()), _c["running_var"][0],
             rtol=0, atol=1e-9, name="answer_bn_running_var",
             mistakes={"the biased variance entered the running variance (PyTorch uses the unbiased one)": 1.0})
assert_equal(int(ref.read_answer(answer_bn_count, "answer_bn_count", (), integers=True)), 4 * 5 * 5,
             name="answer_bn_count", hint="batch norm averages over the batch and both spatial axes.")
''')

solution("batchnorm2d_forward", '''
def batchnorm2d_forward(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    """Batch normalisation in training mode, as nn.BatchNorm2d.

    Args:
        x: (N, C, H, W); gamma, beta: (C,); running_mean, running_var: (C,) (never modified).
        momentum: the weight of this batch in the running statistics; eps: added to the variance.

    Returns:
        (out, cache): out (N, C, H, W); cache a dict with at least "xhat" (N, C, H, W),
        "mean" and "var" (C,) (this batch's mean and biased variance) and "running_mean",
        "running_var" (C,), the updated running statistics (new arrays).
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    gamma, beta = np.asarray(gamma, dtype=float), np.asarray(beta, dtype=float)
    N, C, H, W = x.shape
    M = N * H * W
    mean = x.mean(axis=(0, 2, 3))
    var = ((x - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
    xhat = (x - mean[None, :, None, None]) / np.sqrt(var + eps)[None, :, None, None]
    out = gamma[None, :, None, None] * xhat + beta[None, :, None, None]
    new_mean = (1 - momentum) * np.asarray(running_mean, dtype=float) + momentum * mean
    new_var = (1 - momentum) * np.asarray(running_var, dtype=float) + momentum * var * M / (M - 1)
    return out, {"xhat": xhat, "mean": mean, "var": var, "running_mean": new_mean, "running_var": new_var}
    ### END SOLUTION
''')

test("test_batchnorm2d_forward_public", 2, '''
# Public test: one channel, two images of one pixel each: mean 2, biased variance 1.
out, cache = batchnorm2d_forward(np.array([1.0, 3.0]).reshape(2, 1, 1, 1), np.array([2.0]), np.array([0.5]),
                                 np.zeros(1), np.ones(1), eps=0.0)
assert_close(out.ravel(), np.array([-1.5, 2.5]), name="out", hint="x-hat is [-1, 1]; out = gamma * x-hat + beta.")
assert_close(cache["mean"], np.array([2.0]), name="cache['mean']")
assert_close(cache["var"], np.array([1.0]), name="cache['var']", hint="the biased variance divides by M.")
assert_close(cache["running_mean"], np.array([0.2]), name="cache['running_mean']")
assert_close(cache["running_var"], np.array([1.1]), name="cache['running_var']",
             mistakes={"the biased variance entered the running variance": np.array([1.0])})
print("batchnorm2d_forward: public test passed")
''')

hidden("test_batchnorm2d_forward_hidden", 4, '''
import solutions as ref
from autograder.tools.checks import expect_array
_rng = np.random.default_rng(6002)
for _shape in [(2, 3, 4, 5), (5, 1, 2, 2), (1, 4, 3, 3), (3, 2, 1, 7)]:
    _C = _shape[1]
    _x = _rng.standard_normal(_shape) * 2 + 0.5
    _g, _b = _rng.standard_normal(_C), _rng.standard_normal(_C)
    _rm, _rv = _rng.standard_normal(_C), _rng.random(_C) + 0.5
    _m = float(_rng.choice([0.1, 0.3]))
    _out, _cache = batchnorm2d_forward(_x, _g, _b, _rm, _rv, momentum=_m)
    _want, _wc = ref.batchnorm2d_forward(_x, _g, _b, running_mean=_rm, running_var=_rv, momentum=_m,
                                         return_cache=True)
    _M = _shape[0] * _shape[2] * _shape[3]
    _xm = _x.mean(axis=(0, 2, 3))
    _per_image = ((_x - _x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(_x.var(axis=(2, 3), keepdims=True) + 1e-5)
                  * _g[None, :, None, None] + _b[None, :, None, None])
    _case = f"x{_shape}, momentum {_m}"
    assert_close(expect_array(_out, name=f"out for {_case}"), _want, rtol=1e-7, atol=1e-9, name=f"out for {_case}",
                 mistakes={"the statistics were taken per image (over H, W only), not over the batch": _per_image})
    _cache = _cache if isinstance(_cache, dict) else {}
    _biased = (1 - _m) * _rv + _m * _x.var(axis=(0, 2, 3))
    _by_n = (1 - _m) * _rv + _m * _x.var(axis=(0, 2, 3)) * _shape[0] / max(_shape[0] - 1, 1)
    assert_close(expect_array(_cache.get("running_mean"), name=f"cache['running_mean'] for {_case}"),
                 _wc["running_mean"], rtol=1e-7, atol=1e-9, name=f"cache['running_mean'] for {_case}")
    assert_close(expect_array(_cache.get("running_var"), name=f"cache['running_var'] for {_case}"),
                 _wc["running_var"], rtol=1e-7, atol=1e-9, name=f"cache['running_var'] for {_case}",
                 mistakes={"the biased variance entered the running variance (use var * M / (M - 1))": _biased,
                           "the correction used N instead of M = N * H * W": _by_n})
''')

hidden("test_batchnorm2d_forward_unchanged", 1, '''
_rng = np.random.default_rng(6003)
_args = [_rng.standard_normal((2, 3, 4, 4)), _rng.standard_normal(3), _rng.standard_normal(3),
         _rng.standard_normal(3), _rng.random(3) + 0.5]
_copies = [a.copy() for a in _args]
batchnorm2d_forward(*_args)
for _a, _a0, _n in zip(_args, _copies, ("x", "gamma", "beta", "running_mean", "running_var")):
    assert_not_modified(_a, _a0, name=_n)
''')

solution("batchnorm2d_backward", '''
def batchnorm2d_backward(dout, x, gamma, eps=1e-5):
    """Gradients of batchnorm2d_forward in training mode (recompute the statistics from x).

    Returns (dx, dgamma, dbeta) with shapes (N, C, H, W), (C,), (C,).
    """
    ### BEGIN SOLUTION
    x, dout = np.asarray(x, dtype=float), np.asarray(dout, dtype=float)
    gamma = np.asarray(gamma, dtype=float)
    N, C, H, W = x.shape
    M = N * H * W
    mean = x.mean(axis=(0, 2, 3))
    var = ((x - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dx = (gamma * inv_std / M)[None, :, None, None] * (M * dout - dbeta[None, :, None, None]
                                                       - xhat * dgamma[None, :, None, None])
    return dx, dgamma, dbeta
    ### END SOLUTION
''')

test("test_batchnorm2d_backward_public", 2, '''
# Public test: compare with a numerical gradient of sum(out * dout) (centred differences).
rng = np.random.default_rng(0)
x0, g0, b0 = rng.standard_normal((2, 2, 3, 3)), np.array([1.5, -0.5]), np.array([0.1, 0.2])
d0 = rng.standard_normal(x0.shape)
f = lambda z, g=g0, b=b0: float(np.sum(batchnorm2d_forward(z, g, b, np.zeros(2), np.ones(2))[0] * d0))
num_dx = np.zeros_like(x0)
for i in np.ndindex(x0.shape):
    e = np.zeros_like(x0); e[i] = 1e-5
    num_dx[i] = (f(x0 + e) - f(x0 - e)) / 2e-5
num_dg = np.array([(f(x0, g0 + 1e-5 * np.eye(2)[c]) - f(x0, g0 - 1e-5 * np.eye(2)[c])) / 2e-5 for c in range(2)])
dx, dg, db = batchnorm2d_backward(d0, x0, g0)
assert_close(dx, num_dx, rtol=1e-5, atol=1e-6, name="dx", axes=("N", "C", "H", "W"),
             hint="dx = gamma / (M sqrt(var + eps)) * (M dout - dbeta - xhat * dgamma), per channel.")
assert_close(dg, num_dg, rtol=1e-5, atol=1e-6, name="dgamma")
assert_close(db, d0.sum(axis=(0, 2, 3)), name="dbeta")
print("batchnorm2d_backward: public test passed")
''')

hidden("test_batchnorm2d_backward_hidden", 4, '''
import solutions as ref
from autograder.tools.checks import expect_array
_rng = np.random.default_rng(6004)
for _shape in [(2, 3, 4, 5), (4, 1, 2, 2), (1, 2, 3, 3), (3, 4, 1, 6)]:
    _x = _rng.standard_normal(_shape) * 2 - 1
    _g = _rng.standard_normal(_shape[1])
    _d = _rng.standard_normal(_shape)
    _got = batchnorm2d_backward(_d, _x, _g)
    _want = ref.batchnorm2d_backward(_d, _x, _g)
    _N, _C, _H, _W = _shape
    # N instead of M = N * H * W in the closed form
    _xh = (_x - _x.mean(axis=(0, 2, 3))[None, :, None, None]) / np.sqrt(_x.var(axis=(0, 2, 3)) + 1e-5)[None, :, None, None]
    _gn = (_g / np.sqrt(_x.var(axis=(0, 2, 3)) + 1e-5) / _N)[None, :, None, None]
    _by_n = _gn * (_N * _d - _want[2][None, :, None, None] - _xh * _want[1][None, :, None, None])
    _no_stats = (_g / np.sqrt(_x.var(axis=(0, 2, 3)) + 1e-5))[None, :, None, None] * _d
    _case = f"x{_shape}"
    if not isinstance(_got, (tuple, list)) or len(_got) != 3:
        raise AssertionError("batchnorm2d_backward should return (dx, dgamma, dbeta)")
    assert_close(expect_array(_got[0], name=f"dx for {_case}"), _want[0], rtol=1e-6, atol=1e-9, name=f"dx for {_case}",
                 mistakes={"M = N * H * W was replaced by N (count every value of the channel)": _by_n,
                           "the gradient through the batch mean and variance is missing": _no_stats})
    assert_close(expect_array(_got[1], name=f"dgamma for {_case}"), _want[1], rtol=1e-7, atol=1e-9,
                 name=f"dgamma for {_case}")
    assert_close(expect_array(_got[2], name=f"dbeta for {_case}"), _want[2], rtol=1e-7, atol=1e-9,
                 name=f"dbeta for {_case}")
''')

md("md-explain-bias", r"""
### Explain 1 (graded by hand, 3 points): why batch norm makes the convolution's bias redundant

Lecture 09 and part 2 give every convolution that batch norm follows `bias=False`. In a few
sentences: what happens to a convolution's bias $b_c$ in batch norm's forward pass (training
mode), what gradient does $b_c$ get, and which parameter of batch norm takes over its role?
Write your answer in the cell below.
""")

answer("answer_explain_bias", 3, r"""
### BEGIN SOLUTION
**Model answer.** The bias adds the same constant $b_c$ to every value of channel $c$. Batch
norm subtracts the channel's batch mean, which grows by exactly $b_c$, and the variance does not
change: $\hat x = ((z + b_c) - (\mu + b_c)) / \sqrt{\sigma^2 + \epsilon} = (z - \mu) / \sqrt{\sigma^2 + \epsilon}$.
The output, hence the loss, does not depend on $b_c$ at all, so its gradient is
$\partial L / \partial b_c = \sum \partial L / \partial \hat z = 0$ (the sum of batch norm's $dx$
over a channel is 0: the closed form subtracts $d\beta$). The bias never learns; it only costs
parameters and memory. The shift a bias would provide comes back after the normalisation as
batch norm's $\beta_c$ (out $= \gamma_c \hat x + \beta_c$), which the mean does not cancel.
(At inference the running mean plays the same role: a bias would be subtracted again there too.)

**Rubric (3 points).** 1: the mean subtraction cancels the bias (variance unchanged). 1: hence
zero gradient / no effect on the loss. 1: $\beta$ takes over the shift.
### END SOLUTION
""")

# =======================================================================================
md("md-dropout", r"""
## 2. Inverted dropout

In training, each value is **dropped** (set to 0) with probability $p$ and the kept ones are
scaled by $1/(1-p)$, so the expected output equals the input and inference needs no change.
Draw the mask with `np.random.default_rng(seed).random(x.shape) >= p` (True where **kept**),
exactly so: the grader checks your masks.
""")

solution("predict_dropout", '''
# Predict on paper.
# (a) x is an array of 2.0s, p = 0.2: the value of an entry that is kept.
# (b) x is an array of 1.0s, p = 0.25: the expected value of one output entry.
answer_dropout_kept = None      # (a)
answer_dropout_mean = None      # (b)
### BEGIN SOLUTION
answer_dropout_kept = 2.5
answer_dropout_mean = 1.0
### END SOLUTION
''')

hidden("test_predict_dropout", 2, '''
import solutions as ref
_out, _mask = ref.dropout_forward(np.full(50, 2.0), 0.2, seed=0)
assert_close(ref.read_answer(answer_dropout_kept, "answer_dropout_kept", ()), _out[_mask][0], rtol=0, atol=1e-9,
             name="answer_dropout_kept", mistakes={"the kept values were not scaled by 1 / (1 - p)": 2.0,
                                                   "the kept values were scaled by 1 - p": 1.6})
assert_close(ref.read_answer(answer_dropout_mean, "answer_dropout_mean", ()), 1.0, rtol=0, atol=1e-9,
             name="answer_dropout_mean", mistakes={"the 1 / (1 - p) scaling was forgotten": 0.75})
''')

solution("dropout_forward", '''
def dropout_forward(x, p, seed):
    """Inverted dropout in training mode.

    x: an array of any shape; p: the probability of dropping, 0 <= p < 1; seed: an int.
    Returns (out, mask): mask = np.random.default_rng(seed).random(x.shape) >= p (bool, True
    where kept) and out = x * mask / (1 - p).
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    mask = np.random.default_rng(seed).random(x.shape) >= p
    return x * mask / (1 - p), mask
    ### END SOLUTION
''')

test("test_dropout_forward_public", 1, '''
# Public test
x = np.arange(1.0, 9.0).reshape(2, 4)
out, mask = dropout_forward(x, 0.5, seed=3)
want_mask = np.random.default_rng(3).random((2, 4)) >= 0.5
assert_equal(np.asarray(mask, dtype=bool), want_mask, name="mask", hint="True where kept: rng.random(shape) >= p.")
assert_close(out, x * want_mask * 2.0, name="out", mistakes={"the kept values were not scaled": x * want_mask})
print("dropout_forward: public test passed")
''')

hidden("test_dropout_forward_hidden", 2, '''
import solutions as ref
from autograder.tools.checks import expect_array
_rng = np.random.default_rng(6005)
for _shape, _p, _seed in [((3, 4, 5), 0.3, 11), ((1000,), 0.9, 12), ((2, 2, 3, 3), 0.0, 13), ((7, 6), 0.5, 14)]:
    _x = _rng.standard_normal(_shape)
    _res = dropout_forward(_x, _p, _seed)
    if not isinstance(_res, (tuple, list)) or len(_res) != 2:
        raise AssertionError("dropout_forward should return (out, mask)")
    _out, _mask = ref.dropout_forward(_x, _p, seed=_seed)
    _got_mask = expect_array(_res[1], shape=_shape, name=f"the mask for p={_p}")
    assert_equal(_got_mask.astype(bool), _mask, name=f"the mask for x{_shape}, p={_p}",
                 hint="the mask is True where a value is KEPT: rng.random(x.shape) >= p.")
    assert_close(expect_array(_res[0], name=f"out for p={_p}"), _out, rtol=1e-9, atol=1e-12,
                 name=f"out for x{_shape}, p={_p}",
                 mistakes={"the kept values were not scaled by 1 / (1 - p)": _x * _mask,
                           "the mask is inverted (it zeroes the values it should keep)": _x * ~_mask / (1 - _p)})
''')

solution("dropout_backward", '''
def dropout_backward(dout, mask, p):
    """Gradient of dropout_forward: dout * mask / (1 - p)."""
    ### BEGIN SOLUTION
    return np.asarray(dout, dtype=float) * np.asarray(mask) / (1 - p)
    ### END SOLUTION
''')

test("test_dropout_backward_public", 1, '''
# Public test
d = np.array([[1.0, 2.0], [3.0, 4.0]])
m = np.array([[True, False], [False, True]])
assert_close(dropout_backward(d, m, 0.75), np.array([[4.0, 0.0], [0.0, 16.0]]), name="dx",
             mistakes={"the gradient was not scaled by 1 / (1 - p)": d * m})
print("dropout_backward: public test passed")
''')

hidden("test_dropout_backward_hidden", 1, '''
import solutions as ref
from autograder.tools.checks import expect_array
_rng = np.random.default_rng(6006)
for _shape, _p in [((4, 5), 0.3), ((2, 3, 2, 2), 0.6)]:
    _d = _rng.standard_normal(_shape)
    _m = _rng.random(_shape) >= _p
    assert_close(expect_array(dropout_backward(_d, _m, _p), name=f"dx for p={_p}"), ref.dropout_backward(_d, _m, _p),
                 rtol=1e-9, atol=1e-12, name=f"dx for dout{_shape}, p={_p}",
                 mistakes={"the gradient was not scaled by 1 / (1 - p)": _d * _m})
''')

# =======================================================================================
md("md-im2col", r"""
## 3. Convolution as one matrix product: im2col

`im2col` copies every window of the padded input into one **row** of a matrix: row
`n * H'W' + i * W' + j` holds the window of output position `(i, j)` of image `n`, and column
`c * KH * KW + u * KW + v` its entry `x_pad[n, c, i * sh + u, j * sw + v]` (the order of
`w.reshape(F, -1)`). Then the convolution is `cols @ w.reshape(F, -1).T`, reshaped to
`(N, H', W', F)` and moved to channels-first. `col2im` is the way back (the *adjoint*): it
**adds** every row onto the window it came from; windows overlap, so an input pixel collects
the sum of all its copies. (`col2im` is what a convolution's backward pass uses for `dx`.)
""")

solution("predict_im2col", '''
# Predict on paper.
# (a) x of shape (2, 3, 9, 9), a 3x3 kernel, stride 2, padding 1: the shape of im2col's matrix.
# (b) x of shape (1, 1, 4, 4), a 3x3 kernel, stride 1, no padding: col2im(im2col(x)) equals x
#     times a count per pixel. That count for the pixel at row 1, column 1 (an int)?
answer_cols_shape = None     # (a) a tuple of 2 ints
answer_col2im_count = None   # (b)
### BEGIN SOLUTION
answer_cols_shape = (50, 27)
answer_col2im_count = 4
### END SOLUTION
''')

hidden("test_predict_im2col", 2, '''
import solutions as ref
assert_equal(tuple(int(v) for v in ref.read_answer(answer_cols_shape, "answer_cols_shape", (2,), integers=True)),
             ref.im2col(np.zeros((2, 3, 9, 9)), 3, stride=2, padding=1).shape, name="answer_cols_shape",
             hint="one row per output position of every image, one column per kernel entry of every channel.")
_x = np.ones((1, 1, 4, 4))
assert_equal(int(ref.read_answer(answer_col2im_count, "answer_col2im_count", (), integers=True)),
             int(ref.col2im(ref.im2col(_x, 3), _x.shape, 3)[0, 0, 1, 1]), name="answer_col2im_count",
             hint="count the 3x3 windows that contain that pixel.")
''')

solution("im2col", '''
def im2col(x, kernel_size, stride=1, padding=0):
    """Every window of the zero-padded x as one row: (N * H' * W', C * KH * KW).

    x: (N, C, H, W); kernel_size, stride, padding: int or pair. Rows in (n, i, j) order,
    columns in (c, u, v) order.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    (KH, KW), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    cols = np.zeros((N, Ho, Wo, C, KH, KW))
    for u in range(KH):
        for v in range(KW):
            cols[:, :, :, :, u, v] = xp[:, :, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw].transpose(0, 2, 3, 1)
    return cols.reshape(N * Ho * Wo, C * KH * KW)
    ### END SOLUTION
''')

test("test_im2col_public", 1, '''
# Public test: a 3x3 image, 2x2 windows: four windows, one per row.
x = np.arange(9.0).reshape(1, 1, 3, 3)
assert_close(im2col(x, 2), np.array([[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]], dtype=float),
             name="im2col(x, 2)", hint="row i * W' + j is the window at (i, j), read row by row.")
assert_shape(im2col(np.zeros((2, 3, 5, 5)), 3, stride=2, padding=1), (18, 27), name="im2col of a padded batch")
print("im2col: public test passed")
''')

hidden("test_im2col_hidden", 2, '''
import solutions as ref
from autograder.tools.checks import expect_array
_rng = np.random.default_rng(6007)
for _shape, _k, _s, _p in [((2, 3, 6, 7), 3, 1, 0), ((1, 2, 7, 7), 3, 2, 1), ((3, 1, 5, 8), (2, 3), (1, 2), (1, 0)),
                           ((2, 2, 4, 4), 1, 1, 0), ((1, 3, 9, 6), (4, 2), 3, 2)]:
    _x = _rng.standard_normal(_shape)
    _want = ref.im2col(_x, _k, _s, _p)
    assert_close(expect_array(im2col(_x, _k, _s, _p), name="im2col's matrix"), _want, rtol=1e-12, atol=1e-12,
                 name=f"im2col(x{_shape}, kernel_size={_k!r}, stride={_s!r}, padding={_p!r})",
                 hint="rows in (n, i, j) order, columns in (c, u, v) order, as w.reshape(F, -1).")
''')

solution("col2im", '''
def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """The adjoint of im2col: add every row of cols (N * H' * W', C * KH * KW) back onto its window.

    Returns (N, C, H, W) (x_shape); values that fell on the padding are dropped.
    """
    ### BEGIN SOLUTION
    cols = np.asarray(cols, dtype=float)
    N, C, H, W = x_shape
    (KH, KW), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    blocks = cols.reshape(N, Ho, Wo, C, KH, KW)
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for u in range(KH):
        for v in range(KW):
            xp[:, :, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw] += blocks[:, :, :, :, u, v].transpose(0, 3, 1, 2)
    return xp[:, :, ph:ph + H, pw:pw + W]
    ### END SOLUTION
''')

test("test_col2im_public", 1, '''
# Public test: col2im of all ones counts the windows covering each pixel.
assert_close(col2im(np.ones((4, 4)), (1, 1, 3, 3), 2)[0, 0], np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=float),
             name="col2im(ones) for a 3x3 image, 2x2 windows",
             mistakes={"the copies were assigned (=) instead of added (+=)": np.ones((3, 3))},
             hint="overlapping windows add up: the centre pixel is in all four windows.")
print("col2im: public test passed")
''')

hidden("test_col2im_hidden", 2, '''
import solutions as ref
from autograder.tools.checks import expect_array
_rng = np.random.default_rng(6008)
for _shape, _k, _s, _p in [((2, 3, 6, 7), 3, 1, 0), ((1, 2, 7, 7), 3, 2, 1), ((3, 1, 5, 8), (2, 3), (1, 2), (1, 0)),
                           ((1, 3, 9, 6), (4, 2), 3, 2)]:
    _n = ref.im2col(np.zeros(_shape), _k, _s, _p).shape
    _c = _rng.standard_normal(_n)
    _want = ref.col2im(_c, _shape, _k, _s, _p)
    # the classic bug: the last window written wins (= instead of +=)
    (_KH, _KW), (_sh, _sw), (_ph, _pw) = [(v, v) if np.ndim(v) == 0 else tuple(v) for v in (_k, _s, _p)]
    _Ho, _Wo = (_shape[2] + 2 * _ph - _KH) // _sh + 1, (_shape[3] + 2 * _pw - _KW) // _sw + 1
    _b = _c.reshape(_shape[0], _Ho, _Wo, _shape[1], _KH, _KW)
    _xp = np.zeros((_shape[0], _shape[1], _shape[2] + 2 * _ph, _shape[3] + 2 * _pw))
    for _u in range(_KH):
        for _v in range(_KW):
            _xp[:, :, _u:_u + (_Ho - 1) * _sh + 1:_sh, _v:_v + (_Wo - 1) * _sw + 1:_sw] = _b[:, :, :, :, _u, _v].transpose(0, 3, 1, 2)
    _assigned = _xp[:, :, _ph:_ph + _shape[2], _pw:_pw + _shape[3]]
    assert_close(expect_array(col2im(_c, _shape, _k, _s, _p), name="col2im's result"), _want, rtol=1e-10, atol=1e-12,
                 name=f"col2im for x{_shape}, kernel_size={_k!r}, stride={_s!r}, padding={_p!r}",
                 mistakes={"the copies were assigned (=) instead of added (+=)": _assigned})
''')

solution("conv2d_im2col", '''
def conv2d_im2col(x, w, b=None, stride=1, padding=0):
    """conv2d (given above) as one matrix product: im2col(x) @ w.reshape(F, -1).T (+ b).

    Returns (N, F, H', W').
    """
    ### BEGIN SOLUTION
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    out = im2col(x, (KH, KW), stride, padding) @ w.reshape(F, -1).T
    if b is not None:
        out = out + np.asarray(b, dtype=float)
    return out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)
    ### END SOLUTION
''')

test("test_conv2d_im2col_public", 1, '''
# Public test: equal to a convolution written with loops (the given conv2d computes the same).
def conv_loops(x, w, b, s, p):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho, Wo = (xp.shape[2] - w.shape[2]) // s + 1, (xp.shape[3] - w.shape[3]) // s + 1
    out = np.zeros((x.shape[0], w.shape[0], Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * s:i * s + w.shape[2], j * s:j * s + w.shape[3]]
            out[:, :, i, j] = np.tensordot(win, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


rng = np.random.default_rng(1)
x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
assert_close(conv2d_im2col(x, w, b, stride=2, padding=1), conv_loops(x, w, b, 2, 1), rtol=1e-9,
             atol=1e-12, name="conv2d_im2col(x, w, b, stride=2, padding=1)", axes=("N", "F", "H'", "W'"),
             hint="reshape the product to (N, H', W', F), then transpose to (N, F, H', W').")
print("conv2d_im2col: public test passed")
''')

hidden("test_conv2d_im2col_hidden", 2, '''
import solutions as ref
from autograder.tools.checks import expect_array
_rng = np.random.default_rng(6009)
for _xs, _ws, _s, _p, _bias in [((2, 3, 7, 7), (4, 3, 3, 3), 1, 1, True), ((1, 1, 8, 6), (2, 1, 2, 3), (2, 1), 0, False),
                                ((3, 2, 5, 9), (5, 2, 1, 1), 1, 0, True), ((2, 4, 9, 9), (3, 4, 3, 3), 2, (0, 2), True)]:
    _x, _w = _rng.standard_normal(_xs), _rng.standard_normal(_ws)
    _b = _rng.standard_normal(_ws[0]) if _bias else None
    _want = ref.conv2d_im2col(_x, _w, _b, _s, _p)
    _got = expect_array(conv2d_im2col(_x, _w, _b, _s, _p), name="conv2d_im2col's result")
    _mist = {"the product was reshaped to (N, F, H', W') directly (reshape to (N, H', W', F), then transpose)":
             (_want.transpose(0, 2, 3, 1).reshape(-1, _ws[0])).reshape(_want.shape)}
    assert_close(_got, _want, rtol=1e-9, atol=1e-10,
                 name=f"conv2d_im2col for x{_xs}, w{_ws}, stride={_s!r}, padding={_p!r}", mistakes=_mist)
''')

# =======================================================================================
md("md-convT", r"""
## 4. Transposed convolution

`conv_transpose2d(x, w, b, stride, padding, output_padding)` is PyTorch's
`F.conv_transpose2d`: kernels `w` are **`(C_in, C_out, KH, KW)`** (input channels first). Each
input value `x[n, c, i, j]` *stamps* `x[n, c, i, j] * w[c]` onto the window at
`(i * sh, j * sw)` of an output of size `(H - 1) * sh + KH` (overlapping stamps add up); then
`padding` rows/columns are cropped from each side and `output_padding` (smaller than the
stride) extra rows/columns are kept at the bottom/right:
$H_\text{out} = (H - 1) s - 2p + K + \text{output\_padding}$.

That stamping is exactly what the backward pass of a convolution does with `dout`: **the
gradient `dx` of `conv2d(x, w, stride, padding)` is `conv_transpose2d(dout, w, stride=stride,
padding=padding, output_padding=(H + 2p - K) mod s)`**, with the convolution's own kernels
(their shape `(F, C, KH, KW)` is already `(C_in, C_out, ...)` for the transposed convolution).
A public test below checks this on your code. (Hint: `col2im` does the stamping.)
""")

solution("predict_conv_transpose", '''
# Predict on paper.
# x has shape (1, 4, 5, 5), w has shape (4, 2, 3, 3), stride 2, padding 1, output_padding 1:
# the shape of conv_transpose2d(x, w, ...) (4 ints).
answer_convT_shape = None
### BEGIN SOLUTION
answer_convT_shape = (1, 2, 10, 10)
### END SOLUTION
''')

hidden("test_predict_conv_transpose", 2, '''
import solutions as ref
_want = ref.conv_transpose2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 2, 3, 3)), stride=2, padding=1, output_padding=1).shape
assert_equal(tuple(int(v) for v in ref.read_answer(answer_convT_shape, "answer_convT_shape", (4,), integers=True)), _want,
             name="answer_convT_shape", hint="H_out = (H - 1) * s - 2p + K + output_padding; the channels are w's second axis.")
''')

solution("conv_transpose2d", '''
def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Transposed convolution, as F.conv_transpose2d.

    x: (N, C_in, H, W); w: (C_in, C_out, KH, KW); b: (C_out,) or None; stride, padding,
    output_padding: int or pair (output_padding smaller than the stride).
    Returns (N, C_out, H_out, W_out), H_out = (H - 1) * sh - 2 ph + KH + oh.
    """
    ### BEGIN SOLUTION
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    N, Cin, H, W = x.shape
    _, Cout, KH, KW = w.shape
    (sh, sw), (ph, pw), (oh, ow) = pair(stride), pair(padding), pair(output_padding)
    Hout, Wout = (H - 1) * sh - 2 * ph + KH + oh, (W - 1) * sw - 2 * pw + KW + ow
    # one row per input position, the stamp w[c] weighted by x: (N H W, C_in) @ (C_in, C_out KH KW)
    cols = x.transpose(0, 2, 3, 1).reshape(N * H * W, Cin) @ w.reshape(Cin, Cout * KH * KW)
    out = col2im(cols, (N, Cout, Hout, Wout), (KH, KW), (sh, sw), (ph, pw))
    if b is not None:
        out = out + np.asarray(b, dtype=float)[None, :, None, None]
    return out
    ### END SOLUTION
''')

test("test_conv_transpose2d_public", 2, '''
# Public test 1: one input channel and one output channel, stride 2: the stamps of a 2x2 kernel
# do not overlap.
x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
w = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
assert_close(conv_transpose2d(x, w, stride=2)[0, 0],
             np.array([[1, 10, 2, 20], [100, 1000, 200, 2000], [3, 30, 4, 40], [300, 3000, 400, 4000]], dtype=float),
             name="conv_transpose2d(x, w, stride=2)", hint="x[i, j] * w is stamped at (2i, 2j).")
# Public test 2: dx of a convolution IS a transposed convolution. sum(conv(x) * dout) is linear
# in x, so its gradient entry for x[i] is the sum for the one-hot image e_i.
def conv_loops(x, w, s, p):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho, Wo = (xp.shape[2] - w.shape[2]) // s + 1, (xp.shape[3] - w.shape[3]) // s + 1
    out = np.zeros((x.shape[0], w.shape[0], Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = np.tensordot(xp[:, :, i * s:i * s + w.shape[2], j * s:j * s + w.shape[3]], w,
                                           axes=([1, 2, 3], [1, 2, 3]))
    return out


rng = np.random.default_rng(2)
x0, w0 = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
d0 = rng.standard_normal(conv_loops(x0, w0, 2, 1).shape)
num = np.zeros_like(x0)
for i in np.ndindex(x0.shape):
    e = np.zeros_like(x0); e[i] = 1.0
    num[i] = np.sum(conv_loops(e, w0, 2, 1) * d0)
assert_close(conv_transpose2d(d0, w0, stride=2, padding=1, output_padding=(6 + 2 - 3) % 2), num, rtol=1e-6,
             atol=1e-8, name="conv_transpose2d(dout, w, stride 2, padding 1, output_padding 1) = dx of the convolution",
             hint="with output_padding the last row/column that the convolution's floor skipped comes back (as zeros).")
print("conv_transpose2d: public tests passed")
''')

hidden("test_conv_transpose2d_hidden", 3, '''
import solutions as ref
from autograder.tools.checks import expect_array
_rng = np.random.default_rng(6010)
for _xs, _ws, _s, _p, _op, _bias in [((2, 3, 4, 4), (3, 2, 3, 3), 2, 1, 1, True), ((1, 2, 3, 5), (2, 4, 2, 2), 2, 0, 0, False),
                                     ((1, 1, 5, 4), (1, 3, 3, 2), (3, 2), (1, 0), (2, 1), True),
                                     ((2, 2, 4, 4), (2, 2, 4, 4), 2, 1, 0, True), ((3, 2, 3, 3), (2, 1, 3, 3), 1, 1, 0, False)]:
    _x, _w = _rng.standard_normal(_xs), _rng.standard_normal(_ws)
    _b = _rng.standard_normal(_ws[1]) if _bias else None
    _want = ref.conv_transpose2d(_x, _w, _b, _s, _p, _op)
    _got = expect_array(conv_transpose2d(_x, _w, _b, _s, _p, _op), name="conv_transpose2d's result")
    _case = f"conv_transpose2d for x{_xs}, w{_ws}, stride={_s!r}, padding={_p!r}, output_padding={_op!r}"
    if np.any(np.atleast_1d(_op) > 0) and _got.shape == ref.conv_transpose2d(_x, _w, _b, _s, _p, 0).shape:
        raise AssertionError(f"{_case}: output_padding was ignored (the extra rows/columns at the bottom/right "
                             "are missing)")
    assert_close(_got, _want, rtol=1e-9, atol=1e-10, name=_case)
''')

hidden("test_conv_transpose2d_is_conv_grad", 2, '''
import solutions as ref
from autograder.tools.checks import expect_array
_rng = np.random.default_rng(6011)
for _xs, _ws, _s, _p in [((2, 3, 7, 7), (4, 3, 3, 3), 2, 1), ((1, 2, 8, 5), (3, 2, 2, 3), (3, 2), (0, 1)),
                         ((1, 1, 6, 6), (2, 1, 3, 3), 1, 0)]:
    _w = _rng.standard_normal(_ws)
    _d = _rng.standard_normal(ref.conv2d_im2col(np.zeros(_xs), _w, None, _s, _p).shape)
    (_sh, _sw), (_ph, _pw) = [(v, v) if np.ndim(v) == 0 else tuple(v) for v in (_s, _p)]
    _op = ((_xs[2] + 2 * _ph - _ws[2]) % _sh, (_xs[3] + 2 * _pw - _ws[3]) % _sw)
    _got = expect_array(conv_transpose2d(_d, _w, None, _s, _p, _op), name="conv_transpose2d(dout, w, ...)")
    assert_close(_got, ref.conv2d_input_grad_as_transpose(_d, _xs, _w, _s, _p), rtol=1e-9, atol=1e-10,
                 name=f"conv_transpose2d(dout, w, ...) as dx of conv2d for x{_xs}, w{_ws}, stride={_s!r}, padding={_p!r}")
''')

hidden("test_conv_transpose2d_unchanged", 1, '''
_rng = np.random.default_rng(6012)
_x, _w, _b = _rng.standard_normal((2, 3, 4, 4)), _rng.standard_normal((3, 2, 3, 3)), _rng.standard_normal(2)
_copies = [a.copy() for a in (_x, _w, _b)]
conv_transpose2d(_x, _w, _b, 2, 1, 1)
for _a, _a0, _n in zip((_x, _w, _b), _copies, ("x", "w", "b")):
    assert_not_modified(_a, _a0, name=_n)
''')

# =======================================================================================
md("md-bottleneck", r"""
# Part 2 (PyTorch)

## 5. The bottleneck block

ResNet-50's block: `y = relu(F(x) + shortcut(x))` with `F` = 1x1 conv (`c_in -> c_mid`) -> BN
-> ReLU -> 3x3 conv (`c_mid -> c_mid`, the block's `stride`, padding 1) -> BN -> ReLU -> 1x1
conv (`c_mid -> c_out`) -> BN. Every convolution has `bias=False`. The shortcut is the identity
when the shape does not change, else a **projection**: a 1x1 convolution with the stride
(`bias=False`) followed by BN. Use exactly these attribute names (the grader loads weights by
name): `conv1, bn1, conv2, bn2, conv3, bn3` and `shortcut` (`nn.Identity()` or
`nn.Sequential(conv, bn)`).

Batch norm layers have 2 parameters per channel (gamma, beta); their running statistics are
buffers, not parameters. Multiply-adds count the convolutions only: a convolution producing
`H' x W' x F` values with `C x KH x KW` kernels costs `H' W' F C KH KW`.
""")

solution("predict_bottleneck", '''
# Predict on paper, for BottleneckBlock(c_in=48, c_mid=12, c_out=96, stride=2) on a 14x14 input
# (so a projection shortcut):
# (a) its number of parameters (an int), (b) its multiply-adds for one image (an int).
answer_bottleneck_params = None
answer_bottleneck_macs = None
### BEGIN SOLUTION
answer_bottleneck_params = 48 * 12 + 9 * 12 * 12 + 12 * 96 + 2 * (12 + 12 + 96) + 48 * 96 + 2 * 96
answer_bottleneck_macs = 14 * 14 * 48 * 12 + 7 * 7 * (9 * 12 * 12 + 12 * 96) + 7 * 7 * 48 * 96
### END SOLUTION
''')

hidden("test_predict_bottleneck_params", 3, '''
import solutions as ref
_cost = ref.bottleneck_cost(48, 12, 96, 2, 14)
_no_proj_bn = _cost["params"] - 2 * 96
assert_equal(int(ref.read_answer(answer_bottleneck_params, "answer_bottleneck_params", (), integers=True)),
             _cost["params"], name="answer_bottleneck_params",
             mistakes={"the projection's batch norm was not counted": _no_proj_bn,
                       "convolution biases were counted (every convolution has bias=False)": _cost["params"] + 12 + 12 + 96 + 96,
                       "the running statistics were counted as parameters": _cost["params"] + _cost["buffers"]},
             hint="1x1, 3x3 and 1x1 kernels, 2 per channel for each BN, and the projection (conv + BN).")
''')

hidden("test_predict_bottleneck_macs", 3, '''
import solutions as ref
_cost = ref.bottleneck_cost(48, 12, 96, 2, 14)
_all_full = 14 * 14 * (48 * 12 + 9 * 12 * 12 + 12 * 96 + 48 * 96)
assert_equal(int(ref.read_answer(answer_bottleneck_macs, "answer_bottleneck_macs", (), integers=True)), _cost["macs"],
             name="answer_bottleneck_macs",
             mistakes={"every layer was counted at 14x14 (the stride halves the 3x3's, the expand's and the projection's outputs)": _all_full,
                       "the projection was not counted": _cost["macs"] - _cost["macs_per_layer"]["projection 1x1"]},
             hint="the first 1x1 runs at 14x14; the stride-2 3x3, the expand 1x1 and the projection produce 7x7 maps.")
''')

solution("BottleneckBlock", f'''
class BottleneckBlock(nn.Module):
    """(N, c_in, H, W) -> (N, c_out, H', W'), H' = (H - 1) // stride + 1."""

    def __init__(self, c_in, c_mid, c_out, stride=1):
        super().__init__()
        ### BEGIN SOLUTION
{code_of(ref.BottleneckBlock.__init__, after='stride = _int(stride, "stride", 1)', indent=8)}
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
{code_of(ref.BottleneckBlock.forward, indent=8)}
        ### END SOLUTION
''')

test("test_BottleneckBlock_public", 2, '''
# Public test: shapes, bias-free convolutions, the parameter count of an identity-shortcut block,
# and a block whose branch F is zeroed (bn3's gamma = 0) passes relu(x) through.
res = run_student("""
torch.manual_seed(0)
blk = BottleneckBlock(32, 8, 32)
x = torch.randn(2, 32, 5, 5)
with torch.no_grad():
    blk.bn3.weight.zero_()
    y = blk(x)
down = BottleneckBlock(16, 4, 32, stride=2)
result = {"shape": tuple(down(torch.randn(2, 16, 7, 7)).shape), "n_params": sum(p.numel() for p in blk.parameters()),
          "biases": [name for name, m in list(blk.named_modules()) + list(down.named_modules())
                     if isinstance(m, nn.Conv2d) and m.bias is not None],
          "identity_out": y.numpy(), "relu_x": torch.relu(x).numpy()}
""")
assert_equal(tuple(res["shape"]), (2, 32, 4, 4), name="BottleneckBlock(16, 4, 32, stride=2) on (2, 16, 7, 7)",
             hint="the 3x3 convolution and the projection carry the stride; H' = (H - 1) // stride + 1.")
assert res["biases"] == [], f"these convolutions have a bias: {res['biases']} (use bias=False before batch norm)"
assert_equal(int(res["n_params"]), 32 * 8 + 9 * 8 * 8 + 8 * 32 + 2 * (8 + 8 + 32), name="parameters of BottleneckBlock(32, 8, 32)")
assert_close(res["identity_out"], res["relu_x"], rtol=1e-5, atol=1e-6, name="the block's output when bn3's gamma is 0",
             hint="y = relu(F(x) + x) with the identity shortcut: with F = 0 that is relu(x).")
print("BottleneckBlock: public test passed")
''')

hidden("test_BottleneckBlock_hidden", 4, '''
import solutions as ref
import solutions.modern_capstone as cap
from autograder.tools.checks import expect_array
import torch as _torch
_rng = np.random.default_rng(6013)
for _ci, _cm, _co, _s, _H in [(16, 4, 32, 2, 7), (24, 6, 24, 1, 5), (8, 8, 16, 1, 6)]:
    _x = _rng.standard_normal((3, _ci, _H, _H))
    _res = run_probe("bottleneck", c_in=_ci, c_mid=_cm, c_out=_co, stride=_s, seed=int(_rng.integers(1000)), x=_x)
    _case = f"BottleneckBlock({_ci}, {_cm}, {_co}, stride={_s})"
    _net = ref.BottleneckBlock(_ci, _cm, _co, _s).double()
    _shapes = {k: tuple(v.shape) for k, v in _net.state_dict().items() if v.is_floating_point()}
    if not isinstance(_res, dict):
        raise AssertionError(f"{_case}: the probe gave no result")
    _state = _res.get("state")
    if isinstance(_state, dict):
        _extra = sorted(str(k) for k in _state if k not in _shapes)
        _missing = sorted(k for k in _shapes if k not in _state)
        if any(k.endswith("bias") and ("conv" in k or k.startswith("shortcut.0")) for k in _extra):
            raise AssertionError(f"{_case}: a convolution has a bias ({_extra[0]}); batch norm right after it "
                                 "subtracts the channel mean, so use bias=False")
        if any(k.startswith("shortcut.1") for k in _missing):
            raise AssertionError(f"{_case}: the projection shortcut has no batch norm (shortcut = "
                                 "nn.Sequential(conv 1x1 with the stride, BatchNorm2d))")
        if any(k.startswith("shortcut") for k in _missing):
            raise AssertionError(f"{_case}: the shape changes but the shortcut has no projection")
    _state = cap.checked_state(_state, f"the weights of {_case}", _shapes)
    _net.load_state_dict({k: _torch.from_numpy(v.astype(np.float64)) for k, v in _state.items()}, strict=False)
    _net.train()
    with _torch.no_grad():
        _xt = _torch.from_numpy(_x)
        _want = _net(_xt).numpy()
        _f = _net.bn3(_net.conv3(_torch.relu(_net.bn2(_net.conv2(_torch.relu(_net.bn1(_net.conv1(_xt))))))))
        _no_short = _torch.relu(_f).numpy()
        _no_relu = (_f + _net.shortcut(_xt)).numpy()
    _got = expect_array(_res.get("out"), shape=_want.shape, name=f"the output of {_case}")
    assert_close(_got, _want, rtol=1e-6, atol=1e-7, name=f"the output of {_case} (training mode, float64)",
                 mistakes={"the shortcut was not added (y = relu(F(x) + shortcut(x)))": _no_short,
                           "the final ReLU (after the addition) is missing": _no_relu})
''')

md("md-depth", r"""
## 6. Why residual connections: gradients against depth

Lecture 09 measured the norm of the loss's gradient at the first layer's weights, at
initialisation, for stacks of `depth` blocks: a *plain* block `relu(F(x))` and a *residual* one
`relu(F(x) + x)` with `F` = 3x3 conv -> BN -> ReLU -> 3x3 conv -> BN (bias-free convolutions,
`c -> c`). Write the `BasicBlock` (with `self.F = nn.Sequential(...)` in that order and
`self.shortcut`: `nn.Identity()`, or a projection `nn.Sequential(conv 1x1 with the stride, BN)`
when the shape changes); `PlainBlock` is given. The given `make_depth_stack` builds the stacks;
the grader takes the weights your code builds and measures the gradient norms itself.
""")

solution("BasicBlock", f'''
class BasicBlock(nn.Module):
    """y = relu(F(x) + shortcut(x)); PlainBlock (residual = False) drops the shortcut."""

    residual = True

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        ### BEGIN SOLUTION
{code_of(ref.BasicBlock.__init__, after="super().__init__()", indent=8)}
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
{code_of(ref.BasicBlock.forward, indent=8)}
        ### END SOLUTION
''')

given("given_depth", '''
class PlainBlock(BasicBlock):
    residual = False


def make_depth_stack(block_kind, depth, seed=0, channels=16):
    """conv 3x3 (1 -> channels, with a bias) -> depth blocks -> global average pool -> dense (channels -> 10),
    float64, drawn after torch.manual_seed(seed). block_kind: "plain" or "residual"."""
    block = PlainBlock if block_kind == "plain" else BasicBlock
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), *[block(channels, channels) for _ in range(depth)],
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))
    return net.double()


def first_layer_grad_norm(net, seed=0, batch=32, size=16):
    """||dL/dW_1|| at the first layer's weight for a batch of noise images with random labels."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, size, size, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (batch,), generator=gen)
    net.train()
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    return float(next(net.parameters()).grad.norm())
''')

test("test_BasicBlock_public", 1, '''
# Public test: the block keeps the shape, the plain one has no shortcut, the parameter order is F's.
res = run_student("""
torch.manual_seed(0)
blk = BasicBlock(16, 16)
x = torch.randn(2, 16, 6, 6)
with torch.no_grad():
    blk.F[4].weight.zero_()
    y = blk(x)
result = {"shape": tuple(y.shape), "identity": y.numpy(), "relu_x": torch.relu(x).numpy(),
          "shapes": [tuple(p.shape) for p in blk.parameters()],
          "down": tuple(BasicBlock(16, 32, stride=2)(torch.randn(2, 16, 6, 6)).shape)}
""")
assert_equal([tuple(s) for s in res["shapes"]], [(16, 16, 3, 3), (16,), (16,), (16, 16, 3, 3), (16,), (16,)],
             name="the parameter shapes of BasicBlock(16, 16)",
             hint="F = conv 3x3 (bias=False), BN, ReLU, conv 3x3 (bias=False), BN; the identity shortcut has none.")
assert_close(res["identity"], res["relu_x"], rtol=1e-5, atol=1e-6, name="the block's output when F's last gamma is 0")
assert_equal(tuple(res["down"]), (2, 32, 3, 3), name="BasicBlock(16, 32, stride=2) on (2, 16, 6, 6)")
print("BasicBlock: public test passed")
''')

hidden("test_BasicBlock_depth_experiment", 3, '''
import solutions as ref
from autograder.tools.checks import expect_array
for _kind, _depth in [("plain", 3), ("residual", 3), ("plain", 12), ("residual", 12)]:
    _weights = run_probe("depth_stack", kind=_kind, depth=_depth, seed=7)
    if not isinstance(_weights, (list, tuple)) or len(_weights) > 4 + 6 * 256:
        raise AssertionError(f"make_depth_stack({_kind!r}, {_depth}) gave no list of weights")
    _weights = [expect_array(_w, max_size=10_000, name=f"weight {_i} of the {_kind} stack of depth {_depth}")
                for _i, _w in enumerate(_weights)]
    try:
        _got = ref.first_layer_grad_norm(_weights, _kind)
    except ValueError as _exc:
        raise AssertionError(f"the {_kind} stack of depth {_depth} does not have the expected layers: {_exc}") from None
    _want = ref.grad_norm_vs_depth(_kind, [_depth], seed=7)[0]
    assert_close(_got, _want, rtol=1e-6, atol=0, name=f"the first-layer gradient norm of your {_kind} stack of depth {_depth}",
                 hint="the weights must be PyTorch's defaults, drawn in the order F's layers are built; "
                      "for the residual kind, check that the shortcut is added before the final ReLU.")
''')

code("demo-depth", '''
depths = [1, 2, 4, 8, 16] if FAST else [1, 2, 4, 8, 16, 32]
norms = {kind: [first_layer_grad_norm(make_depth_stack(kind, d, seed=0)) for d in depths] for kind in ("plain", "residual")}
for kind, values in norms.items():
    print(f"{kind:9s}", "  ".join(f"{v:9.3g}" for v in values))
plt.figure(figsize=(5, 3.5))
for kind, values in norms.items():
    plt.semilogy(depths, values, "o-", label=kind)
plt.xlabel("blocks"); plt.ylabel("||dL/dW_1|| at initialisation"); plt.legend(); plt.tight_layout(); plt.show()
''')

md("md-explain-depth", r"""
### Explain 2 (graded by hand, 3 points): gradients of plain and residual stacks

Look at the plot above. How does the first layer's gradient norm change with depth for the
plain stack, and for the residual one? Explain, with the chain rule through
`y = relu(F(x) + x)`, why the residual stack's gradient stays within a narrow range, and what
that means for training a 30-block network with one learning rate. Write your answer below.
""")

answer("answer_explain_depth", 3, r"""
### BEGIN SOLUTION
**Model answer.** For the plain stack the norm changes by orders of magnitude with depth (here
it grows by a factor of about $10^4$ from 1 to 32 blocks; in other set-ups it vanishes): the
gradient at the first layer is a product of one Jacobian per block,
$\partial y_L/\partial y_0 = \prod_l J_{F_l}$, and a product of many factors that are not
exactly of norm 1 grows or shrinks geometrically. For a residual block
$\partial y / \partial x = \text{diag}(\text{relu}')\,(I + J_F)$: the identity term carries the
upstream gradient through unchanged, so the product over blocks stays close to a sum of paths,
the shortest of which is the identity; the norm grows only slowly (within a factor of about
20 over 32 blocks here). With norms spread over orders of magnitude, one learning rate is far
too large for some layers and far too small for others, so a deep plain network trains badly;
a residual one can be trained with one learning rate (and, at worst, learns $F \approx 0$ and
behaves like a shallower network).

**Rubric (3 points).** 1: plain changes by orders of magnitude, residual stays in a narrow
range (read from the plot). 1: chain rule: product of Jacobians vs $I + J_F$ (identity path).
1: consequence for one learning rate / trainability of deep networks.
### END SOLUTION
""")

# =======================================================================================
md("md-capstone", r"""
## 7. Capstone: a residual network on shifted digits

scikit-learn's 8x8 digits, each placed at a random offset (0 to 4 pixels) on a **12 x 12**
canvas. The network, `DigitsResNet` (use these attribute names):

| attribute | layers | output |
|---|---|---|
| `stem` | `nn.Sequential(Conv2d(1, 16, 3, padding=1, bias=False), BatchNorm2d(16), ReLU())` | (N, 16, 12, 12) |
| `block` | your `BottleneckBlock(16, 8, 32, stride=2)` (a projection shortcut) | (N, 32, 6, 6) |
| `pool` | `nn.AdaptiveAvgPool2d(1)`: **global average pooling**, then flatten | (N, 32) |
| `fc` | `nn.Linear(32, 10)` | (N, 10) logits |

Global average pooling makes the classifier blind to *where* a stroke was found: exactly what
shifted digits need, but only if the convolutions learn useful stroke detectors.

`train_epoch(model, optimizer, x, y, order, batch_size=32)`: one epoch. The batches are
`order[0:32]`, `order[32:64]`, ... in that order; for each: `optimizer.zero_grad()`, the
model's logits in **training mode**, the mean cross-entropy (`nn.functional.cross_entropy`),
`backward()`, `optimizer.step()`. Return the mean loss over the epoch's batches (a float).

**How it is graded.** The grader chooses the initial weights, the 12 visiting orders and the
learning rates (`0.15 * 0.8 ** epoch`, SGD with momentum 0.9); the probe `capstone_training`
runs your `train_epoch` once per epoch and returns the weights, running statistics and
momentum buffers after each. The grader recomputes every epoch from your state after the one
before (at most 1% off the epoch's change), then measures the final weights' accuracy itself,
in eval mode, on shifted digits your code never sees. Learned convolutions reach about 89%; the
same schedule with the convolutions **frozen** at their random initial values reaches about 45-52%,
so the pass mark is **75%**. Before that: CS231n's sanity checks (below).
""")

solution("DigitsResNet", f'''
class DigitsResNet(nn.Module):
    """(N, 1, 12, 12) -> (N, 10) logits."""

    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
{code_of(cap.digits_resnet_class().__init__, after="super().__init__()", indent=8)}
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
{code_of(cap.digits_resnet_class().forward, indent=8)}
        ### END SOLUTION
''')

test("test_DigitsResNet_public", 1, '''
# Public test (sanity check 1): the shapes, the parameter count, and the initial loss. With
# PyTorch's default initialisation the logits start small, every class gets about 1/10, and
# the loss starts near ln 10 = 2.303: far from it means a bug (or a bad initialisation).
res = run_student("""
torch.manual_seed(0)
model = DigitsResNet()
model.train()
images, labels = load_digits_images()
xs = torch.from_numpy(shift_digits(images[:256], canvas=12, seed=0)[:, None].astype(np.float32))
logits = model(xs)
result = {"shape": tuple(logits.shape), "n_params": sum(p.numel() for p in model.parameters()),
          "loss": nn.functional.cross_entropy(logits, torch.from_numpy(labels[:256].astype(np.int64))).item()}
""")
assert_equal(tuple(res["shape"]), (256, 10), name="the logits' shape")
assert_equal(int(res["n_params"]), 2138, name="the parameters of DigitsResNet",
             hint="stem 16*9 + 2*16, the bottleneck 16->8->32 with a projection, fc 32*10 + 10.")
assert abs(res["loss"] - math.log(10)) < 0.3, f"the initial loss is {res['loss']:.3f}, expected about ln 10 = 2.303"
print(f"DigitsResNet: public test passed (initial loss {res['loss']:.3f})")
''')

hidden("test_DigitsResNet_hidden", 1, '''
import solutions.modern_capstone as cap
_x = cap.load_split(seed=65)[0][:64]
_start = cap.init_state(65)
_got = run_probe("digits_resnet_forward", x=_x, state=_start)
if not isinstance(_got, dict) or not {"train", "eval", "state"} <= set(_got):
    raise AssertionError("the forward pass of DigitsResNet gave no logits")
_state = cap.checked_state(_got["state"], "DigitsResNet's state after a training-mode forward pass")
_ref = cap.load_model(_start)
_X = torch.from_numpy(np.asarray(_x, dtype=np.float32))
with torch.no_grad():
    _ref.train()
    _want_train = _ref(_X).numpy()
    _ref.eval()
    _want_eval = _ref(_X).numpy()
_want_state = cap.float_state(_ref)
assert_close(_got["train"], _want_train, rtol=1e-4, atol=1e-5, name="DigitsResNet's output in training mode",
             hint="stem -> block -> global AVERAGE pooling -> flatten -> fc, with the layers the table names.")
for _k in ("stem.1.running_mean", "stem.1.running_var"):
    assert_close(_state[_k], _want_state[_k], rtol=1e-4, atol=1e-6, name=f"{_k} after one training-mode pass",
                 hint="use nn.BatchNorm2d(16) with its default momentum in the stem.")
assert_close(_got["eval"], _want_eval, rtol=1e-4, atol=1e-5, name="DigitsResNet's output in eval mode",
             hint="in eval mode batch norm uses its running statistics.")
''')

solution("train_epoch", '''
def train_epoch(model, optimizer, x, y, order, batch_size=32):
    """One epoch of minibatch training; x (N, 1, 12, 12) float32 and y (N,) int64 tensors,
    order an array of indices. Returns the mean of the batches' losses (a float)."""
    ### BEGIN SOLUTION
    model.train()
    losses = []
    order = torch.as_tensor(np.asarray(order), dtype=torch.int64)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))
    ### END SOLUTION
''')

test("test_train_epoch_public", 1, '''
# Public test (sanity check 2): overfit 50 images. A correct model and loop drive the training
# loss of a tiny data set towards 0; if they cannot, something is broken before any tuning.
res = run_student("""
torch.manual_seed(0)
model = DigitsResNet()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
images, labels = load_digits_images()
xs = torch.from_numpy(shift_digits(images[:50], canvas=12, seed=1)[:, None].astype(np.float32))
ys = torch.from_numpy(labels[:50].astype(np.int64))
rng = np.random.default_rng(0)
losses = [train_epoch(model, opt, xs, ys, rng.permutation(50), batch_size=10) for _ in range(40)]
model.eval()
with torch.no_grad():
    acc = float((model(xs).argmax(1) == ys).float().mean())
result = {"first": losses[0], "last": losses[-1], "acc": acc}
""")
assert res["first"] > 1.5, f"the first epoch's mean loss is {res['first']:.3f}: expected about ln 10 (return the mean loss)"
assert res["last"] < 0.2, f"after 40 epochs on 50 images the loss is still {res['last']:.3f} (expected < 0.2)"
assert res["acc"] >= 0.96, f"the model classifies only {res['acc']:.0%} of the 50 training images (eval mode)"
print(f"train_epoch: public test passed (loss {res['first']:.2f} -> {res['last']:.3f}, training accuracy {res['acc']:.0%})")
''')

hidden("test_train_epoch_overfit", 2, '''
import solutions.modern_capstone as cap
_x, _y, _, _ = cap.load_split(seed=61)
_x, _y = _x[:50], _y[:50]
_rng = np.random.default_rng(62)
_orders = [_rng.permutation(50) for _ in range(40)]
_run = run_probe("capstone_training", x=_x, y=_y, state=cap.init_state(63), orders=_orders, rates=[0.1] * 40,
                 batch_size=10, keep="last")
if not isinstance(_run, dict) or not isinstance(_run.get("states"), list) or not _run["states"]:
    raise AssertionError("the training run gave no weights")
_state = cap.checked_state(_run["states"][-1], "the weights after 40 epochs on 50 images")
_acc = cap.accuracy(_state, _x, _y)
assert _acc >= 0.96, (f"after 40 epochs on 50 images your model classifies {_acc:.0%} of them correctly "
                      "(measured by the grader from your weights); a correct loop overfits them.")
''')

hidden("test_train_epoch_capstone", 5, '''
import solutions.modern_capstone as cap
_xtr, _ytr, _xte, _yte = cap.load_split(seed=64)      # the test part never leaves the grader
_orders, _rates = cap.schedule(64, len(_ytr))
_start = cap.init_state(64)
_run = run_probe("capstone_training", x=_xtr, y=_ytr, state=_start, orders=_orders, rates=_rates, batch_size=32,
                 keep="all")
_final = cap.check_training(_run, _start, _xtr, _ytr, _orders, _rates)
_acc = cap.accuracy(_final, _xte, _yte)
assert _acc >= cap.PASS_ACCURACY, (
    f"the trained network classifies {100 * _acc:.1f}% of held-out digits correctly; "
    f"{100 * cap.PASS_ACCURACY:.0f}% is needed.")
''')

code("demo-capstone", '''
import time

images, labels = load_digits_images()
x_all = shift_digits(images, canvas=12, seed=0)[:, None].astype(np.float32)
order = np.random.default_rng(0).permutation(len(labels))
tr, te = order[:1258], order[1258:]
xtr, ytr = torch.from_numpy(x_all[tr]), torch.from_numpy(labels[tr].astype(np.int64))
epochs = 4 if FAST else 12
torch.manual_seed(0)
model = DigitsResNet()
opt = torch.optim.SGD(model.parameters(), lr=0.15, momentum=0.9)
rng = np.random.default_rng(1)
start = time.process_time()
for epoch in range(epochs):
    for g in opt.param_groups:
        g["lr"] = 0.15 * 0.8 ** epoch
    loss = train_epoch(model, opt, xtr, ytr, rng.permutation(len(tr)))
    print(f"epoch {epoch + 1:2d}: mean training loss {loss:.3f}")
model.eval()
with torch.no_grad():
    predicted = model(torch.from_numpy(x_all[te])).argmax(1).numpy()
print(f"{time.process_time() - start:.1f} CPU s; test accuracy {np.mean(predicted == labels[te]):.3f} on {len(te)} digits")
fig, axes = plt.subplots(1, 8, figsize=(10, 1.8))
for ax, i in zip(axes, range(8)):
    ax.imshow(x_all[te[i], 0], cmap="gray_r")
    ax.set_title(f"{predicted[i]} (true {labels[te[i]]})", fontsize=8)
    ax.axis("off")
plt.tight_layout()
plt.show()
''')

md("md-end", r"""
## Done

Run the whole notebook from the top (*Kernel -> Restart & Run All*) and check that every
public test prints "passed". `cnn-course check ps6_modern_cnn.ipynb` runs the public tests
the way the grader does.
""")


# ---------------------------------------------------------------------------------------
build = NB.build


if __name__ == "__main__":
    sys.exit(NB.main(sys.argv[1:], OUT))
