"""Backpropagation through convolution and pooling in numpy: the reference for ps5_backprop.

Conventions are those of :mod:`solutions.conv` (and PyTorch): images ``x`` are
``(N, C, H, W)``, kernels ``w`` are ``(F, C, KH, KW)``, biases ``b`` are ``(F,)``, the
forward pass is cross-correlation, ``stride`` is an int or ``(sh, sw)`` and ``padding`` an
int, ``(ph, pw)``, ``"valid"`` or ``"same"`` (TensorFlow's rule: the odd extra zero goes at
the bottom/right). The forward functions are :func:`solutions.conv.conv2d` and
:func:`solutions.conv.pool2d`; nothing is copied from there.

A backward function takes ``dout``, the gradient of a scalar loss ``L`` with respect to
the layer's output (same shape as the output), and returns the gradients of ``L`` with
respect to the layer's inputs, each with the shape of that input:

* convolution: ``dx`` is the *full* convolution (the kernel flipped) of ``dout`` with
  the kernels, channels in and out swapped; with stride ``s`` the rows/columns of
  ``dout`` are first spread ``s`` apart (zeros between them), and with padding the
  border of the padded ``dx`` is cropped off. ``dw`` is the cross-correlation of the
  padded input with (dilated) ``dout``; ``db`` sums ``dout`` over the batch and both
  spatial axes.
* max pooling: each window's gradient goes to the position of its maximum. **Tie rule:**
  when several entries of a window share the maximum, the first one in row-major order
  (the smallest row, then the smallest column) receives the whole gradient; the others
  get none. This is the rule PyTorch's CPU ``max_pool2d`` follows.
* average pooling: each window's gradient is spread evenly, ``dout / (kh * kw)`` to each
  of its entries; "sum" pooling sends ``dout`` itself to each entry.
* overlapping windows (stride < kernel) add their contributions.

All functions return new float arrays (float64 for integer input) and leave their
arguments unchanged.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from solutions.conv import (pool_args, _array, _check_conv_args, _float_dtype, _pair,
                            conv2d, pool2d)

__all__ = [
    "conv2d_backward",
    "conv2d_backward_naive",
    "pool2d_backward",
    "pool2d_backward_naive",
    "dilate",
    "numerical_gradient",
    "rel_error",
    "gradient_check",
    "relu_forward",
    "relu_backward",
    "dense_forward",
    "dense_backward",
    "softmax_cross_entropy",
    "init_digits_cnn",
    "digits_cnn_forward",
    "digits_cnn_loss",
    "digits_cnn_accuracy",
    "train_digits_cnn",
    "load_digits_split",
    "digits_shapes",
    "digits_schedule",
    "sgd_epoch",
    "digits_cnn_loss_fast",
    "check_digits_params",
    "check_digits_training",
    "read_answer",
    "autograd_conv2d_backward",
    "autograd_pool2d_backward",
    "conv2d_backward_mistakes",
    "pool2d_backward_mistakes",
]


# ---------------------------------------------------------------------------
# convolution
# ---------------------------------------------------------------------------
def _check_dout(dout, shape, dtype, what):
    dout = _array(dout, "dout", len(shape), "the layer's output shape")
    if dout.shape != tuple(shape):
        raise ValueError(f"dout must have the shape of {what}'s output {tuple(shape)}, got {dout.shape}")
    return dout.astype(np.result_type(dtype, _float_dtype(dout)), copy=False)


def dilate(d, stride) -> np.ndarray:
    """Spread the rows and columns of ``d`` (..., H, W) ``stride`` apart, zeros between.

    stride: int or (sh, sw). Returns (..., (H - 1) * sh + 1, (W - 1) * sw + 1); ``d[..., i, j]``
    lands at ``[..., i * sh, j * sw]``. With stride 1 it is a copy of ``d``.
    """
    d = np.asarray(d)
    sh, sw = _pair(stride, "stride", 1)
    H, W = d.shape[-2:]
    out = np.zeros(d.shape[:-2] + ((H - 1) * sh + 1, (W - 1) * sw + 1), dtype=d.dtype)
    out[..., ::sh, ::sw] = d
    return out


def conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    """Gradients of a convolutional layer ``out = conv2d(x, w, b, stride, padding)``.

    Args:
        dout: (N, F, H', W'), the upstream gradient dL/dout.
        x: (N, C, H, W), the layer's input.
        w: (F, C, KH, KW), its kernels.
        b: (F,) or None; only checked (the gradient of a bias does not depend on it).
        stride: int or (sh, sw); padding: int, (ph, pw), "valid" or "same", as in conv2d.

    Returns:
        (dx, dw, db) with shapes (N, C, H, W), (F, C, KH, KW) and (F,); db is returned even
        when b is None (it is what a bias would receive).

    Both gradients are convolutions:

    * ``dx``: dilate ``dout`` by the stride, pad it with ``KH - 1`` / ``KW - 1`` zeros (plus
      the rows/columns the forward pass skipped when the kernel did not tile the input),
      cross-correlate with the kernels flipped by 180 degrees and with C and F swapped,
      which is a *full* true convolution, then crop the forward padding off;
    * ``dw[f, c] = sum_n xcorr(x_pad[n, c], dilate(dout[n, f]))`` restricted to the kernel's
      KH x KW positions.

    Raises:
        ValueError / TypeError: as conv2d for x, w, b, stride and padding; ValueError when
            dout does not have the forward output's shape.
    """
    x, w, b, (sh, sw), ((pt, pb), (pl, pr)), (Ho, Wo), dtype = _check_conv_args(x, w, b, stride, padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    dout = _check_dout(dout, (N, F, Ho, Wo), dtype, "conv2d")
    dtype = dout.dtype
    Hp, Wp = H + pt + pb, W + pl + pr
    # --- dx: full convolution of the dilated dout with the flipped kernels
    dd = dilate(dout, (sh, sw))                                    # (N, F, (Ho-1)sh+1, (Wo-1)sw+1)
    rh = Hp - ((Ho - 1) * sh + KH)                                 # rows the forward pass never reached
    rw = Wp - ((Wo - 1) * sw + KW)
    dd = np.pad(dd, ((0, 0), (0, 0), (KH - 1, KH - 1 + rh), (KW - 1, KW - 1 + rw)))
    w_flip = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).astype(dtype)   # (C, F, KH, KW)
    dxp = conv2d(dd, w_flip)                                       # (N, C, Hp, Wp)
    dx = np.ascontiguousarray(dxp[:, :, pt:pt + H, pl:pl + W])
    # --- dw: correlation of the padded input with dout, one window per kernel position
    xp = np.zeros((N, C, Hp, Wp), dtype=dtype)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    s0, s1, s2, s3 = xp.strides
    windows = as_strided(xp, shape=(N, C, KH, KW, Ho, Wo),
                         strides=(s0, s1, s2, s3, s2 * sh, s3 * sw), writeable=False)
    dw = np.tensordot(dout, windows, axes=([0, 2, 3], [0, 4, 5]))   # (F, C, KH, KW)
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def conv2d_backward_naive(dout, x, w, b=None, stride=1, padding=0):
    """The same as :func:`conv2d_backward`, as loops that undo the forward loops (to teach with).

    For every output position ``(n, f, i, j)`` the forward pass computed
    ``out = b[f] + sum(x_pad[n, :, i*sh:i*sh+KH, j*sw:j*sw+KW] * w[f])``, so that window of
    ``dx_pad`` receives ``dout[n, f, i, j] * w[f]``, ``dw[f]`` receives
    ``dout[n, f, i, j] * window`` and ``db[f]`` receives ``dout[n, f, i, j]``.
    Shapes: dout (N, F, H', W'), x (N, C, H, W), w (F, C, KH, KW) -> dx, dw, db as x, w, (F,).
    """
    x, w, b, (sh, sw), ((pt, pb), (pl, pr)), (Ho, Wo), dtype = _check_conv_args(x, w, b, stride, padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    dout = _check_dout(dout, (N, F, Ho, Wo), dtype, "conv2d")
    dtype = dout.dtype
    xp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=dtype)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape, dtype=dtype)
    db = np.zeros(F, dtype=dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    g = dout[n, f, i, j]
                    rows, cols = slice(i * sh, i * sh + KH), slice(j * sw, j * sw + KW)
                    dxp[n, :, rows, cols] += g * w[f]
                    dw[f] += g * xp[n, :, rows, cols]
                    db[f] += g
    return dxp[:, :, pt:pt + H, pl:pl + W].copy(), dw, db


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------
_POOL_MODES = ("max", "avg", "sum")


def _check_pool_args(dout, x, k, stride, mode):
    x, (kh, kw), (sh, sw), (Ho, Wo) = pool_args(x, k, stride, mode)      # the forward pass's own checks
    dtype = _float_dtype(x)
    dout = _check_dout(dout, x.shape[:-2] + (Ho, Wo), dtype, "pool2d")
    return dout, np.ascontiguousarray(x, dtype=dout.dtype), (kh, kw), (sh, sw), (Ho, Wo)


def pool2d_backward(dout, x, k, stride=None, mode="max"):
    """Gradient of ``out = pool2d(x, k, stride, mode)`` with respect to ``x``.

    Args:
        dout: (..., H', W'), the upstream gradient, H' = floor((H - kh) / sh) + 1.
        x: (..., H, W), the pooling layer's input (any leading axes: batch, channels).
        k: int or (kh, kw); stride: int or (sh, sw), defaults to k; no padding.
        mode: "max" (the gradient goes to each window's maximum; ties: the first maximum in
            row-major order gets all of it), "avg" (dout / (kh * kw) to every entry of the
            window) or "sum" (dout to every entry).

    Returns:
        dx: (..., H, W). Rows/columns no window covers get 0; where windows overlap their
        contributions add up.

    Implementation: a loop over the kh * kw offsets of a window, each a strided slice of
    ``dx`` covering that offset in every window at once.
    """
    dout, x, (kh, kw), (sh, sw), (Ho, Wo) = _check_pool_args(dout, x, k, stride, mode)
    dx = np.zeros(x.shape, dtype=dout.dtype)
    if mode == "max":
        st = x.strides
        windows = as_strided(x, shape=(*x.shape[:-2], Ho, Wo, kh, kw),
                             strides=(*st[:-2], st[-2] * sh, st[-1] * sw, st[-2], st[-1]), writeable=False)
        first = windows.reshape(*x.shape[:-2], Ho, Wo, kh * kw).argmax(axis=-1)   # first maximum (row-major)
    for u in range(kh):
        for v in range(kw):
            rows = slice(u, u + (Ho - 1) * sh + 1, sh)
            cols = slice(v, v + (Wo - 1) * sw + 1, sw)
            if mode == "max":
                dx[..., rows, cols] += np.where(first == u * kw + v, dout, 0)
            elif mode == "avg":
                dx[..., rows, cols] += dout / (kh * kw)
            else:
                dx[..., rows, cols] += dout
    return dx


def pool2d_backward_naive(dout, x, k, stride=None, mode="max"):
    """The same as :func:`pool2d_backward`, one window at a time (to teach with).

    Shapes: dout (..., H', W'), x (..., H, W) -> dx (..., H, W).
    """
    dout, x, (kh, kw), (sh, sw), (Ho, Wo) = _check_pool_args(dout, x, k, stride, mode)
    lead = x.shape[:-2]
    xf = x.reshape((-1,) + x.shape[-2:])
    df = dout.reshape((-1, Ho, Wo))
    dx = np.zeros(xf.shape, dtype=dout.dtype)
    for m in range(xf.shape[0]):
        for i in range(Ho):
            for j in range(Wo):
                window = xf[m, i * sh:i * sh + kh, j * sw:j * sw + kw]
                g = df[m, i, j]
                if mode == "max":
                    u, v = np.unravel_index(np.argmax(window), window.shape)   # the first maximum
                    dx[m, i * sh + u, j * sw + v] += g
                elif mode == "avg":
                    dx[m, i * sh:i * sh + kh, j * sw:j * sw + kw] += g / (kh * kw)
                else:
                    dx[m, i * sh:i * sh + kh, j * sw:j * sw + kw] += g
    return dx.reshape(lead + x.shape[-2:])


# ---------------------------------------------------------------------------
# gradient checking
# ---------------------------------------------------------------------------
def numerical_gradient(f, x, dout, h=1e-5) -> np.ndarray:
    """Centred-difference estimate of the gradient of ``L(x) = sum(f(x) * dout)``.

    Args:
        f: a function of one array (the shape of x) returning an array of dout's shape
            (or a scalar when dout is a scalar).
        x: the point, an array of any shape; it is not modified (f gets a float64 copy
            that is nudged one entry at a time).
        dout: the upstream gradient dL/df(x), the shape of f(x).
        h: the step, a float > 0.

    Returns:
        grad: float64 array of x's shape, with
        ``grad[i] = sum((f(x + h e_i) - f(x - h e_i)) * dout) / (2 h)``. Its truncation
        error is O(h^2) (a one-sided difference would be O(h)).

    The two outputs are subtracted *before* the weighted sum: ``L(x + h e_i)`` and
    ``L(x - h e_i)`` are large, nearly equal totals, and subtracting them would lose their
    common digits. Each of the n summed terms still brings its own round-off (about
    ``eps * |f| * |dout| / h``), so the error floor grows with n (roughly like sqrt(n) to n):
    compare a layer with many outputs with a looser tolerance than a small one.

    Raises:
        ValueError: h is not a positive finite number.
    """
    if not callable(f):
        raise TypeError(f"f must be a function, got {type(f).__name__}")
    if isinstance(h, bool) or not np.isscalar(h) or not np.isfinite(h) or h <= 0:
        raise ValueError(f"h must be a positive number, got {h!r}")
    xc = np.array(x, dtype=np.float64)                 # a copy: the caller's x is never touched
    dout = np.asarray(dout, dtype=np.float64)
    grad = np.zeros_like(xc)
    it = np.nditer(xc, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = xc[i]
        xc[i] = old + h
        plus = np.array(f(xc), dtype=np.float64)     # a copy: f may return (a view of) its input
        xc[i] = old - h
        minus = np.array(f(xc), dtype=np.float64)
        xc[i] = old
        grad[i] = np.sum((plus - minus) * dout) / (2 * h)   # outputs first, then the sum
    return grad


def rel_error(a, b) -> float:
    """Largest element-wise relative error ``|a - b| / max(1e-8, |a| + |b|)``.

    a, b: arrays of the same shape (or broadcastable), e.g. an analytic and a numerical
    gradient. Returns a float: about 1e-7 or less means they agree (float64, h = 1e-5);
    1e-2 or more means a bug. Raises ValueError when the shapes differ.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def gradient_check(f, x, dout, analytic, h=1e-5) -> float:
    """``rel_error(analytic, numerical_gradient(f, x, dout, h))``: a single number to judge by.

    analytic: the gradient of ``sum(f(x) * dout)`` with respect to x computed by a backward
    function (x's shape).
    """
    return rel_error(analytic, numerical_gradient(f, x, dout, h))


# ---------------------------------------------------------------------------
# the layers of the capstone network
# ---------------------------------------------------------------------------
def relu_forward(x) -> np.ndarray:
    """max(x, 0), any shape."""
    return np.maximum(x, 0)


def relu_backward(dout, x) -> np.ndarray:
    """dL/dx of ReLU: dout where x > 0, else 0 (the gradient at exactly 0 is taken as 0)."""
    return np.where(np.asarray(x) > 0, dout, 0.0)


def dense_forward(x, w, b) -> np.ndarray:
    """x (N, D) @ w (D, M) + b (M,) -> (N, M)."""
    return x @ w + b


def dense_backward(dout, x, w):
    """Gradients of dense_forward: dout (N, M), x (N, D), w (D, M) -> dx (N, D), dw (D, M), db (M,)."""
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def softmax_cross_entropy(logits, y):
    """Mean softmax cross-entropy of ``logits`` (N, K) against integer labels ``y`` (N,).

    Returns ``(loss, dlogits)``: a float and (N, K) = (softmax(logits) - onehot(y)) / N.
    Subtracting each row's maximum first keeps exp from overflowing.
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    if logits.ndim != 2 or y.shape != (logits.shape[0],):
        raise ValueError(f"logits must be (N, K) and y (N,), got {logits.shape} and {y.shape}")
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    N = logits.shape[0]
    loss = float(-logp[np.arange(N), y].mean())
    d = np.exp(logp)
    d[np.arange(N), y] -= 1
    return loss, d / N


# ---------------------------------------------------------------------------
# the capstone: a small CNN on shifted 8x8 digits, trained by a fixed loop
# ---------------------------------------------------------------------------
DIGITS_FILTERS = 16
DIGITS_CANVAS = 10          # each 8x8 digit sits at a random offset (0-2 pixels) on a 10x10 canvas
DIGITS_KEYS = ("w1", "b1", "w2", "b2")
# The grader's training schedule (ps5's capstone): epochs of minibatch SGD with momentum.
DIGITS_SCHEDULE = {"epochs": 10, "batch_size": 16, "lr": 0.05, "decay": 0.85, "momentum": 0.9}
# A trained network must classify this fraction of the held-out shifted digits. Measured
# on the graded split (load_digits_split(5011), seed 0): the reference reaches 92.4%; the
# same loop with the convolution frozen at its random initial filters 82.0% (85.7% with 30
# epochs); the best closed-form (np.linalg.solve, ridge) read-out of those frozen filters
# 88.5% and logistic regression on them 87.6% (both tuned on the test part itself);
# logistic regression on the raw pixels 56.4%. Only learned convolutions pass.
DIGITS_PASS_ACCURACY = 0.90


def load_digits_split(seed: int = 0, test_fraction: float = 0.3, canvas: int = DIGITS_CANVAS):
    """scikit-learn's 1,797 8x8 digits, shifted on a ``canvas`` x ``canvas`` field, shuffled and split.

    Each digit is placed at a random offset by :func:`autograder.tools.data.shift_digits`
    (shifts drawn with ``seed``); the images are then shuffled with ``seed`` and the last
    ``round(test_fraction * 1797)`` (539 for 0.3) form the test part. Returns
    ``(x_train, y_train, x_test, y_test)``: images (n, 1, canvas, canvas) float64 in [0, 1]
    and labels (n,) int64 in 0-9.
    """
    from autograder.tools.data import load_digits_images, shift_digits

    images, labels = load_digits_images()
    x = shift_digits(images, canvas, seed=seed)[:, None]
    y = np.asarray(labels, dtype=np.int64)
    if x.shape != (1797, 1, canvas, canvas) or set(np.unique(y)) != set(range(10)):
        raise RuntimeError(f"unexpected digits data: images {x.shape}, labels {np.unique(y)}")
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    tr, te = order[:-n_test], order[-n_test:]
    return x[tr], y[tr], x[te], y[te]


def digits_shapes(filters: int = DIGITS_FILTERS, canvas: int = DIGITS_CANVAS) -> dict:
    """The parameter shapes of the capstone CNN: {"w1", "b1", "w2", "b2"} -> shape."""
    pooled = (canvas // 2) ** 2
    return {"w1": (filters, 1, 3, 3), "b1": (filters,), "w2": (filters * pooled, 10), "b2": (10,)}


def init_digits_cnn(seed: int = 0, filters: int = DIGITS_FILTERS, canvas: int = DIGITS_CANVAS) -> dict:
    """He-initialised parameters of the capstone CNN.

    conv 3x3 "same" (1 -> filters) -> ReLU -> 2x2 max pool -> flatten -> dense (filters * (canvas/2)^2 -> 10).
    Returns {"w1": (16, 1, 3, 3), "b1": (16,), "w2": (400, 10), "b2": (10,)} for the defaults.
    """
    rng = np.random.default_rng(seed)
    shapes = digits_shapes(filters, canvas)
    fan_in2 = shapes["w2"][0]
    return {"w1": rng.standard_normal(shapes["w1"]) * np.sqrt(2 / 9),
            "b1": np.zeros(filters),
            "w2": rng.standard_normal(shapes["w2"]) * np.sqrt(2 / fan_in2),
            "b2": np.zeros(10)}


def digits_cnn_forward(params: dict, x) -> np.ndarray:
    """Logits (N, 10) of the capstone CNN for images x (N, 1, H, W)."""
    a = relu_forward(conv2d(x, params["w1"], params["b1"], padding=1))     # (N, F, H, W)
    p = pool2d(a, 2)                                                      # (N, F, H/2, W/2)
    return dense_forward(p.reshape(len(p), -1), params["w2"], params["b2"])


def digits_cnn_loss(params: dict, x, y, frozen_conv: bool = False):
    """(loss, grads) of the capstone CNN on a batch: x (N, 1, H, W), y (N,) -> float, dict like params.

    ``frozen_conv``: return zero gradients for w1 and b1 (the control the capstone's pass
    mark is set against: only the dense layer learns).
    """
    z = conv2d(x, params["w1"], params["b1"], padding=1)
    a = relu_forward(z)
    p = pool2d(a, 2)
    flat = p.reshape(len(p), -1)
    logits = dense_forward(flat, params["w2"], params["b2"])
    loss, dlogits = softmax_cross_entropy(logits, y)
    dflat, dw2, db2 = dense_backward(dlogits, flat, params["w2"])
    if frozen_conv:
        return loss, {"w1": np.zeros_like(params["w1"]), "b1": np.zeros_like(params["b1"]), "w2": dw2, "b2": db2}
    da = pool2d_backward(dflat.reshape(p.shape), a, 2)
    dz = relu_backward(da, z)
    _, dw1, db1 = conv2d_backward(dz, x, params["w1"], params["b1"], padding=1)
    return loss, {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


def digits_cnn_loss_fast(params: dict, x, y, frozen_conv: bool = False):
    """:func:`digits_cnn_loss` for the capstone's own layout only (one input channel, 3x3
    kernels, padding 1, 2x2 max pooling of an even-sized image), about 4x faster: the
    convolution as one matrix product over the 3x3 windows, no gradient for the input
    (the network's first layer needs none). Same gradients (same tie rule: the first
    maximum of a pooling window in row-major order takes it), up to rounding; the grader
    recomputes the student's training with it.
    """
    x = np.asarray(x, dtype=np.float64)
    N, _, H, W = x.shape
    w1 = params["w1"]
    F = w1.shape[0]
    Hp, Wp = H // 2, W // 2
    xp = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2)).reshape(N * H * W, 9)
    z = (cols @ w1.reshape(F, 9).T + params["b1"]).reshape(N, H, W, F)
    a = np.maximum(z, 0)
    windows = a.reshape(N, Hp, 2, Wp, 2, F).transpose(0, 1, 3, 5, 2, 4).reshape(N, Hp, Wp, F, 4)
    first = windows.argmax(axis=-1)                                  # the first maximum, row-major
    pooled = np.take_along_axis(windows, first[..., None], axis=-1)[..., 0]      # (N, Hp, Wp, F)
    flat = pooled.transpose(0, 3, 1, 2).reshape(N, -1)              # the reference's (F, Hp, Wp) order
    loss, dlogits = softmax_cross_entropy(flat @ params["w2"] + params["b2"], y)
    grads = {"w2": flat.T @ dlogits, "b2": dlogits.sum(axis=0)}
    if frozen_conv:
        return loss, {"w1": np.zeros_like(w1), "b1": np.zeros_like(params["b1"]), **grads}
    dpooled = (dlogits @ params["w2"].T).reshape(N, F, Hp, Wp).transpose(0, 2, 3, 1)
    dwindows = np.zeros(windows.shape)
    np.put_along_axis(dwindows, first[..., None], dpooled[..., None], axis=-1)
    da = dwindows.reshape(N, Hp, Wp, F, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(N, H, W, F)
    dz = np.where(z > 0, da, 0.0).reshape(N * H * W, F)
    grads["w1"] = (dz.T @ cols).reshape(w1.shape)
    grads["b1"] = dz.sum(axis=0)
    return loss, grads


def check_digits_params(params, shapes=None) -> dict:
    """Validate trained parameters from a submission: a dict with w1, b1, w2, b2 of the
    capstone's shapes, real finite numbers. Returns them as float64 copies; raises
    ValueError (saying what is wrong) otherwise."""
    if not isinstance(params, dict):
        raise ValueError(f"the parameters must be a dict, got {type(params).__name__}")
    want = digits_shapes() if shapes is None else shapes
    out = {}
    for key, shape in want.items():
        if key not in params:
            raise ValueError(f"the parameters have no {key!r} (expected keys {sorted(want)})")
        arr = np.asarray(params[key])
        if arr.shape != tuple(shape):
            raise ValueError(f"params[{key!r}] has shape {arr.shape}, expected {tuple(shape)}")
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"params[{key!r}] must hold real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"params[{key!r}] contains NaN or infinite values")
        out[key] = arr
    return out


def digits_cnn_accuracy(params: dict, x, y) -> float:
    """Fraction of images x (N, 1, H, W) whose arg-max logit equals the label y (N,).

    Raises ValueError when params lacks a key or has a wrongly shaped, non-numeric or
    non-finite array (:func:`check_digits_params`), so a grader can reject malformed weights.
    """
    params = check_digits_params(params, digits_shapes(canvas=np.shape(x)[-1]))
    return float(np.mean(digits_cnn_forward(params, x).argmax(axis=1) == np.asarray(y)))


def digits_schedule(seed: int, n: int, epochs: int | None = None, batch_size: int | None = None,
                    lr: float | None = None, decay: float | None = None):
    """The capstone's fixed training schedule for ``n`` training images.

    Returns ``(orders, rates)``: ``orders`` (epochs, n) int64, the order the images are
    visited in each epoch (a fresh permutation per epoch from ``np.random.default_rng(seed
    + 1)``), and ``rates`` (epochs,) float64, ``lr * decay ** epoch``. Defaults:
    :data:`DIGITS_SCHEDULE`.
    """
    sch = DIGITS_SCHEDULE
    epochs = sch["epochs"] if epochs is None else epochs
    lr = sch["lr"] if lr is None else lr
    decay = sch["decay"] if decay is None else decay
    rng = np.random.default_rng(seed + 1)
    orders = np.stack([rng.permutation(n) for _ in range(epochs)]).astype(np.int64)
    rates = np.array([lr * decay ** e for e in range(epochs)], dtype=np.float64)
    return orders, rates


def sgd_epoch(params: dict, velocity: dict, x, y, order, lr: float, batch_size: int = 16,
              momentum: float = 0.9, frozen_conv: bool = False):
    """One epoch of minibatch SGD with momentum on the capstone CNN (the grader's reference).

    The batches are ``order[0:batch_size]``, ``order[batch_size:2 * batch_size]``, ... (the
    last may be shorter); for each, ``v = momentum * v - lr * grad; param = param + v``
    for every key. Returns new ``(params, velocity)`` dicts; the arguments are unchanged.
    """
    params = {k: np.array(params[k], dtype=np.float64) for k in DIGITS_KEYS}
    velocity = {k: np.array(velocity[k], dtype=np.float64) for k in DIGITS_KEYS}
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    order = np.asarray(order)
    fast = x.ndim == 4 and x.shape[1] == 1 and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0 \
        and np.shape(params["w1"])[1:] == (1, 3, 3)
    loss_fn = digits_cnn_loss_fast if fast else digits_cnn_loss
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        _, grads = loss_fn(params, x[idx], y[idx], frozen_conv=frozen_conv)
        for key in DIGITS_KEYS:
            velocity[key] = momentum * velocity[key] - lr * grads[key]
            params[key] = params[key] + velocity[key]
    return params, velocity


def train_digits_cnn(x, y, seed: int = 0, frozen_conv: bool = False, **schedule) -> dict:
    """Train the capstone CNN from :func:`init_digits_cnn` (seed) with the fixed schedule
    (:func:`digits_schedule`, :func:`sgd_epoch`); returns the parameters.

    x: (N, 1, 10, 10) in [0, 1]; y: (N,) labels. Under a CPU second for 1,258 images, as
    :func:`sgd_epoch` uses :func:`digits_cnn_loss_fast` (the notebook's solution, with
    loops over the output positions, takes about 3).
    ``schedule`` overrides :data:`DIGITS_SCHEDULE` entries (epochs, batch_size, lr, decay,
    momentum); ``frozen_conv`` trains the dense layer only (the control).
    """
    sch = {**DIGITS_SCHEDULE, **schedule}
    params = init_digits_cnn(seed, canvas=np.shape(x)[-1])
    velocity = {key: np.zeros_like(value) for key, value in params.items()}
    orders, rates = digits_schedule(seed, len(y), sch["epochs"], sch["batch_size"], sch["lr"], sch["decay"])
    for order, rate in zip(orders, rates):
        params, velocity = sgd_epoch(params, velocity, x, y, order, rate, sch["batch_size"], sch["momentum"],
                                     frozen_conv=frozen_conv)
    return params


DIGITS_TRAINING_ATOL = 1e-6     # per epoch, relative to (1 + the largest entry) of each array


def check_digits_training(result, x, y, seed: int = 0):
    """Verify the capstone's training run that a submission reports, epoch by epoch.

    ``result``: what the ``digits_training`` probe returned, a dict with, for each key
    k of w1, b1, w2, b2, ``k`` and ``"v_" + k``: lists of one array per epoch (the
    parameter's shape), the parameters and the momentum after each epoch of the fixed schedule
    (:func:`digits_schedule`) started from :func:`init_digits_cnn` (seed) with zero momentum.

    Every value is validated first (a dict of real, finite arrays of exactly those shapes:
    ValueError otherwise). Then each epoch is recomputed here with the reference gradients,
    from the submission's own state after the previous epoch, and compared with the state
    it reports after it. Returns ``(bad_epoch, params)``: the first epoch (0-based) whose
    result differs from correct training (None when every epoch agrees) and the final
    parameters (the submission's own, float64).
    """
    sch = DIGITS_SCHEDULE
    if not isinstance(result, dict):
        raise ValueError(f"the training run must be a dict of arrays, got {type(result).__name__}")
    x = np.asarray(x, dtype=np.float64)
    shapes = digits_shapes(canvas=x.shape[-1])
    E = sch["epochs"]
    run = {}
    for key, shape in [*shapes.items(), *(("v_" + k, s) for k, s in shapes.items())]:
        what = f"velocity[{key[2:]!r}]" if key.startswith("v_") else f"params[{key!r}]"
        epochs = result.get(key)
        if not isinstance(epochs, (list, tuple)) or len(epochs) != E:
            raise ValueError(f"the run must hold {what} after each of the {E} epochs")
        arrays = []
        for epoch, value in enumerate(epochs):
            arr = np.asarray(value)
            if arr.shape != tuple(shape):
                raise ValueError(f"{what} after epoch {epoch + 1} has shape {arr.shape}, expected {tuple(shape)}")
            if arr.dtype.kind not in "biuf":
                raise ValueError(f"{what} after epoch {epoch + 1} must hold real numbers, got dtype {arr.dtype}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{what} contains NaN or infinite values after epoch {epoch + 1}")
            arrays.append(arr.astype(np.float64))
        run[key] = arrays
    orders, rates = digits_schedule(seed, len(y))
    params = init_digits_cnn(seed, canvas=x.shape[-1])
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    for epoch in range(E):
        want_p, want_v = sgd_epoch(params, velocity, x, y, orders[epoch], rates[epoch], sch["batch_size"],
                                   sch["momentum"])
        params = {k: run[k][epoch] for k in DIGITS_KEYS}
        velocity = {k: run["v_" + k][epoch] for k in DIGITS_KEYS}
        for k in DIGITS_KEYS:
            for got, want in ((params[k], want_p[k]), (velocity[k], want_v[k])):
                with np.errstate(all="ignore"):       # a NaN anywhere counts as a difference
                    agree = np.all(np.abs(got - want) <= DIGITS_TRAINING_ATOL * (1 + np.max(np.abs(want))))
                if not agree:
                    return epoch, params
    return None, params


def read_answer(value, name: str, shape=None, integers: bool = False) -> np.ndarray:
    """A predict-before-you-run answer from a submission, validated before any use.

    Returns it as a float64 array. Raises AssertionError with a message for the student
    when it is still None, is not plain numbers (a number, or a list/tuple of them, nested),
    is not finite, has another shape than ``shape`` (the shape the question states), or,
    with ``integers``, holds a non-integer.
    """
    if value is None:
        raise AssertionError(f"{name} is still None: replace None by your prediction.")
    if isinstance(value, (str, bytes, dict, set)) or callable(value):
        raise AssertionError(f"{name} must be a number or a list of numbers, got {type(value).__name__}.")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise AssertionError(f"{name} must be a number or a list of numbers (rows of equal length).") from None
    if shape is not None and arr.shape != tuple(shape):
        raise AssertionError(f"{name} must have shape {tuple(shape)}, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise AssertionError(f"{name} holds NaN or infinite values.")
    if integers and not np.array_equal(arr, np.round(arr)):
        raise AssertionError(f"{name} must hold whole numbers.")
    return arr


# ---------------------------------------------------------------------------
# known mistakes, for feedback that names them (graders and tests only)
# ---------------------------------------------------------------------------
def conv2d_backward_mistakes(dout, x, w, b=None, stride=1, padding=0) -> dict:
    """What common wrong versions of conv2d_backward return, for ``assert_close(mistakes=...)``.

    Returns ``{"dx": {description: array}, "dw": {...}, "db": {...}}``; a mistake that gives
    the right answer for these arguments (e.g. "stride ignored" with stride 1) is left out.
    Loops: meant for the small arrays of tests.
    """
    x, w, b, (sh, sw), ((pt, pb), (pl, pr)), (Ho, Wo), dtype = _check_conv_args(x, w, b, stride, padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    dout = _check_dout(dout, (N, F, Ho, Wo), dtype, "conv2d").astype(np.float64)
    dx, dw, db = conv2d_backward(dout, x, w, b, stride, padding)
    Hp, Wp = H + pt + pb, W + pl + pr
    xp = np.zeros((N, C, Hp, Wp))
    xp[:, :, pt:pt + H, pl:pl + W] = x
    dxp_nostride = np.zeros((N, C, Hp, Wp))
    dxp = np.zeros((N, C, Hp, Wp))
    dw_nostride = np.zeros(w.shape)
    for i in range(Ho):
        for j in range(Wo):
            g = dout[:, :, i, j]                                              # (N, F)
            dxp[:, :, i * sh:i * sh + KH, j * sw:j * sw + KW] += np.tensordot(g, w, axes=(1, 0))
            if i + KH <= Hp and j + KW <= Wp:
                dxp_nostride[:, :, i:i + KH, j:j + KW] += np.tensordot(g, w, axes=(1, 0))
                dw_nostride += np.tensordot(g, xp[:, :, i:i + KH, j:j + KW], axes=(0, 0))
    dx_noflip = conv2d_backward(dout, x, w[:, :, ::-1, ::-1], b, stride, padding)[0]
    out = {"dx": {}, "dw": {}, "db": {}}
    cand_dx = {
        "dx was computed with the kernel not flipped (dx is a *full convolution* of dout with the "
        "kernel rotated by 180 degrees)": dx_noflip,
        "the stride was ignored in dx (dout must be spread out, stride - 1 zeros between its "
        "entries, before the full convolution)": dxp_nostride[:, :, pt:pt + H, pl:pl + W],
        "the padded dx was not cropped (remove the forward pass's padding from dx)": dxp,
        "the padding was cropped from the wrong sides": dxp[:, :, pb:pb + H, pr:pr + W],
    }
    cand_dw = {
        "dw is flipped (dw is a correlation of x with dout, not a convolution)": dw[:, :, ::-1, ::-1],
        "the stride was ignored in dw": dw_nostride,
    }
    cand_db = {f"db was summed over the wrong axes {axes} (sum dout over the batch N and the "
               f"spatial axes H', W'; keep one value per filter F)": dout.sum(axis=axes)
               for axes in [(2, 3), (0, 1), (0, 2), (0, 3), (1, 2, 3), (0,)]}
    cand_db["db is the mean of dout instead of its sum"] = dout.mean(axis=(0, 2, 3))
    for key, right, cands in (("dx", dx, cand_dx), ("dw", dw, cand_dw), ("db", db, cand_db)):
        for what, arr in cands.items():
            if arr.shape != right.shape or not np.allclose(arr, right):
                out[key][what] = arr
    return out


def pool2d_backward_mistakes(dout, x, k, stride=None, mode="max") -> dict:
    """{description: dx} of common wrong pool2d_backward versions (those that differ here)."""
    dout, xf, (kh, kw), (sh, sw), (Ho, Wo) = _check_pool_args(dout, x, k, stride, mode)
    right = pool2d_backward(dout, x, k, stride, mode)
    X = xf.reshape((-1,) + xf.shape[-2:])
    D = dout.reshape((-1, Ho, Wo))
    all_ties, last = np.zeros(X.shape), np.zeros(X.shape)
    for m in range(X.shape[0]):
        for i in range(Ho):
            for j in range(Wo):
                win = X[m, i * sh:i * sh + kh, j * sw:j * sw + kw]
                all_ties[m, i * sh:i * sh + kh, j * sw:j * sw + kw] += D[m, i, j] * (win == win.max())
                u, v = np.unravel_index(win.size - 1 - np.argmax(win.ravel()[::-1]), win.shape)
                last[m, i * sh + u, j * sw + v] += D[m, i, j]
    cands = {}
    if mode == "max":
        cands["every tied maximum received the gradient (only the first maximum in row-major order "
              "should get it)"] = all_ties.reshape(xf.shape)
        cands["the last tied maximum received the gradient instead of the first (row-major order)"] = \
            last.reshape(xf.shape)
        cands["the gradient was spread as for average pooling"] = pool2d_backward(dout, x, k, stride, "avg")
    if mode == "avg":
        cands["the gradient was not divided by the window size kh * kw"] = pool2d_backward(dout, x, k, stride, "sum")
        cands["the gradient was routed as for max pooling"] = pool2d_backward(dout, x, k, stride, "max")
    return {what: arr for what, arr in cands.items()
            if arr.shape != right.shape or not np.allclose(arr, right)}


# ---------------------------------------------------------------------------
# PyTorch autograd, the independent check (graders and tests only)
# ---------------------------------------------------------------------------
def _torch_padding(padding, H, W, KH, KW, sh, sw):
    from solutions.conv import _resolve_padding

    (pt, pb), (pl, pr) = _resolve_padding(padding, (H, W), (KH, KW), (sh, sw))
    return pl, pr, pt, pb


def autograd_conv2d_backward(dout, x, w, b=None, stride=1, padding=0):
    """(dx, dw, db) of conv2d by PyTorch autograd in float64, as numpy arrays.

    The same conventions as conv2d_backward ("same" pads asymmetrically, TensorFlow's rule,
    via an explicit F.pad). db is returned even when b is None.
    """
    import torch
    import torch.nn.functional as Fn

    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    sh, sw = _pair(stride, "stride", 1)
    pads = _torch_padding(padding, *x.shape[2:], *w.shape[2:], sh, sw)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(np.zeros(w.shape[0]) if b is None else np.asarray(b, dtype=np.float64), requires_grad=True)
    out = Fn.conv2d(Fn.pad(xt, pads), wt, bt, stride=(sh, sw))
    out.backward(torch.tensor(np.asarray(dout, dtype=np.float64)))
    return xt.grad.numpy().copy(), wt.grad.numpy().copy(), bt.grad.numpy().copy()


def autograd_pool2d_backward(dout, x, k, stride=None, mode="max"):
    """dx of pool2d by PyTorch autograd in float64 (max_pool2d / avg_pool2d), x (..., H, W)."""
    import torch
    import torch.nn.functional as Fn

    x = np.asarray(x, dtype=np.float64)
    kh, kw = _pair(k, "k", 1)
    sh, sw = _pair(k if stride is None else stride, "stride", 1)
    lead = x.shape[:-2]
    xt = torch.tensor(x.reshape((1, -1) + x.shape[-2:]), requires_grad=True)
    if mode == "max":
        out = Fn.max_pool2d(xt, (kh, kw), (sh, sw))
    elif mode == "avg":
        out = Fn.avg_pool2d(xt, (kh, kw), (sh, sw))
    elif mode == "sum":
        out = Fn.avg_pool2d(xt, (kh, kw), (sh, sw), divisor_override=1)
    else:
        raise ValueError(f"mode must be one of {_POOL_MODES}, got {mode!r}")
    out.backward(torch.tensor(np.asarray(dout, dtype=np.float64).reshape(out.shape)))
    return xt.grad.numpy().reshape(lead + x.shape[-2:]).copy()
