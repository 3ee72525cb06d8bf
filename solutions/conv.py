"""Convolution, padding and pooling in numpy: the reference for ps1_convolution.

Conventions (the same as PyTorch's):

* a batch of images is ``x`` with shape ``(N, C, H, W)``: N images, C channels;
* a bank of kernels is ``w`` with shape ``(F, C, KH, KW)``: F filters, each with one
  ``KH x KW`` slice per input channel, and ``b`` has shape ``(F,)``;
* ``conv2d`` computes *cross-correlation* (the kernel is not flipped), which is what
  deep-learning frameworks call convolution. ``conv2d_single(..., flip=True)`` computes
  true convolution (the kernel rotated by 180 degrees), as in the practice problem of
  the first lecture;
* the output size along one axis is ``floor((n + 2p - k) / s) + 1``;
  ``padding="same"`` follows TensorFlow: the output has ``ceil(n / s)`` positions and
  when the padding needed is odd the extra row/column goes at the bottom/right;
* every function returns a new array in the input's floating dtype (float64 for
  integer input) and leaves its arguments unchanged.
"""
from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "conv_output_size",
    "zero_pad",
    "conv2d_single",
    "conv2d",
    "conv2d_naive",
    "pool2d",
    "conv_param_count",
]

_PAD_WORDS = ("valid", "same")
_IM2COL_CHUNK_BYTES = 2 << 20   # size of one im2col block in conv2d


# ---------------------------------------------------------------------------
# argument checking
# ---------------------------------------------------------------------------
def _int(value, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints -> a pair of ints, each >= minimum."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (along H, along W), got {value!r}")
        return _int(value[0], f"{name}[0]", minimum), _int(value[1], f"{name}[1]", minimum)
    v = _int(value, name, minimum)
    return v, v


def _array(x, name: str, ndim: int, axes: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise TypeError(f"{name} must be a numeric array of shape {axes}: {exc}") from None
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be a real numeric array of shape {axes}, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes {axes}, got shape {arr.shape}")
    return arr


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    dtype = np.result_type(*arrays)
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def _same_padding(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: (before, after), extra pixel after."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _resolve_padding(padding, sizes, kernel, strides, name="padding"):
    """padding (int, (ph, pw), "valid", "same") -> ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding not in _PAD_WORDS:
            raise ValueError(f"{name} must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
        if padding == "valid":
            return (0, 0), (0, 0)
        return tuple(_same_padding(n, k, s) for n, k, s in zip(sizes, kernel, strides))
    ph, pw = _pair(padding, name, 0)
    return (ph, ph), (pw, pw)


def _out_size(n: int, k: int, before: int, after: int, s: int, what: str) -> int:
    span = n + before + after
    if k > span:
        raise ValueError(
            f"the kernel ({k}) is larger than the padded input ({span} = {n} + {before} + {after}) along {what}"
        )
    return (span - k) // s + 1


# ---------------------------------------------------------------------------
# sizes and padding
# ---------------------------------------------------------------------------
def conv_output_size(n, k, p=0, s=1, exact=False) -> int:
    """Number of positions a ``k``-wide kernel takes along an axis of length ``n``.

    ``floor((n + 2p - k) / s) + 1`` for an integer padding ``p`` ("valid" means p = 0);
    ``ceil(n / s)`` for ``p="same"`` (TensorFlow's rule).

    With ``exact=True`` a ValueError is raised when the kernel does not tile the
    padded input exactly, i.e. when ``(n + 2p - k) / s`` is not whole (ignored with "same").

    >>> conv_output_size(7, 3, s=2), conv_output_size(125, 5, p=2, s=2)
    (3, 63)
    """
    n = _int(n, "n", 1)
    k = _int(k, "k", 1)
    s = _int(s, "s", 1)
    if isinstance(p, str):
        if p not in _PAD_WORDS:
            raise ValueError(f"p must be an int >= 0, 'valid' or 'same', got {p!r}")
        if p == "same":
            return -(-n // s)
        p = 0
    p = _int(p, "p", 0)
    span = n + 2 * p
    if k > span:
        raise ValueError(f"the kernel size k={k} is larger than the padded input n + 2p = {span}")
    if exact and (span - k) % s:
        raise ValueError(
            f"the kernel does not fit: (n + 2p - k) / s = ({n} + {2 * p} - {k}) / {s} = {(span - k) / s:g} "
            f"is not a whole number, so the last {(span - k) % s} row(s)/column(s) would be skipped"
        )
    return (span - k) // s + 1


def zero_pad(x, p) -> np.ndarray:
    """Pad the last two axes of ``x`` (shape ``(..., H, W)``) with zeros.

    ``p`` is an int (the same on all four sides), a pair ``(ph, pw)``, or
    ``((top, bottom), (left, right))``. Returns a new array of shape
    ``(..., H + top + bottom, W + left + right)`` with ``x``'s dtype; other axes
    (batch, channels) are never padded.
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 axes (..., H, W), got shape {x.shape}")
    if isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(q, (tuple, list)) for q in p):
        (top, bottom), (left, right) = _pair(p[0], "p[0]", 0), _pair(p[1], "p[1]", 0)
    else:
        ph, pw = _pair(p, "p", 0)
        top = bottom = ph
        left = right = pw
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(x, widths, mode="constant", constant_values=0)


# ---------------------------------------------------------------------------
# convolution
# ---------------------------------------------------------------------------
def conv2d_single(image, kernel, stride=1, padding=0, flip=False) -> np.ndarray:
    """Slide one 2-D ``kernel`` (KH, KW) over one 2-D ``image`` (H, W).

    Each output value is the sum of the element-wise product of the kernel and
    the window under it (cross-correlation). ``flip=True`` rotates the kernel by
    180 degrees first, which is true (mathematical) convolution.
    ``stride``: int or (sh, sw); ``padding``: int, (ph, pw), "valid" or "same".
    Returns (H', W') with H' = floor((H + 2ph - KH) / sh) + 1 (ceil(H / sh) for "same").
    """
    image = _array(image, "image", 2, "(H, W)")
    kernel = _array(kernel, "kernel", 2, "(KH, KW)")
    out = conv2d(image[None, None], kernel[None, None, ::-1, ::-1] if flip else kernel[None, None],
                 stride=stride, padding=padding)
    return out[0, 0]


def _check_conv_args(x, w, b, stride, padding):
    x = _array(x, "x", 4, "(N, C, H, W)")
    w = _array(w, "w", 4, "(F, C, KH, KW)")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w has {w.shape[1]} input channels but x has {x.shape[1]} (w is (F, C, KH, KW), x is (N, C, H, W))")
    if 0 in w.shape[2:]:
        raise ValueError(f"w must have a kernel of at least 1x1, got shape {w.shape}")
    if b is not None:
        b = _array(b, "b", 1, "(F,)")
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"b has {b.shape[0]} entries but w has {w.shape[0]} filters")
    sh, sw = _pair(stride, "stride", 1)
    H, W = x.shape[2:]
    KH, KW = w.shape[2:]
    (pt, pb), (pl, pr) = _resolve_padding(padding, (H, W), (KH, KW), (sh, sw))
    Ho = _out_size(H, KH, pt, pb, sh, "the height")
    Wo = _out_size(W, KW, pl, pr, sw, "the width")
    dtype = _float_dtype(x, w) if b is None else _float_dtype(x, w, b)
    return x, w, b, (sh, sw), ((pt, pb), (pl, pr)), (Ho, Wo), dtype


def conv2d(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """Multi-channel, multi-filter 2-D cross-correlation (vectorised).

    x: (N, C, H, W); w: (F, C, KH, KW); b: (F,) or None.
    stride: int or (sh, sw); padding: int, (ph, pw), "valid" or "same" (TensorFlow rule).
    Returns (N, F, H', W') with
    ``out[n, f, i, j] = b[f] + sum_{c,u,v} x_pad[n, c, i*sh + u, j*sw + v] * w[f, c, u, v]``.

    Implementation: the padded input is moved to channels-last, an ``as_strided``
    view exposes every window without copying, and for a block of images at a time
    the windows are copied into rows (im2col) and one matrix product with the
    flattened kernels does all the multiply-adds, written straight into the
    (N, F, H'W') output.
    """
    x, w, b, (sh, sw), ((pt, pb), (pl, pr)), (Ho, Wo), dtype = _check_conv_args(x, w, b, stride, padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.zeros((N, H + pt + pb, W + pl + pr, C), dtype=dtype)             # padded, channels-last
    xp[:, pt:pt + H, pl:pl + W, :] = x.transpose(0, 2, 3, 1)
    s0, s1, s2, s3 = xp.strides
    windows = as_strided(xp, shape=(N, Ho, Wo, KH, KW, C),
                         strides=(s0, s1 * sh, s2 * sw, s1, s2, s3), writeable=False)
    K = np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(F, KH * KW * C), dtype=dtype)
    out = np.empty((N, F, Ho * Wo), dtype=dtype)
    # im2col a few images at a time, so the copied windows stay in cache for the product
    step = max(1, _IM2COL_CHUNK_BYTES // (Ho * Wo * KH * KW * C * xp.itemsize))
    for n in range(0, N, step):
        cols = windows[n:n + step].reshape(-1, Ho * Wo, KH * KW * C)      # (B, H'W', KH*KW*C): a copy
        np.matmul(K, cols.transpose(0, 2, 1), out=out[n:n + step])        # (F, KH*KW*C) @ (B, KH*KW*C, H'W')
    if b is not None:
        out += b.astype(dtype, copy=False)[:, None]
    return out.reshape(N, F, Ho, Wo)


def conv2d_naive(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """The same as :func:`conv2d`, written as explicit loops over outputs (to teach with).

    x: (N, C, H, W); w: (F, C, KH, KW); b: (F,) or None -> (N, F, H', W').
    """
    x, w, b, (sh, sw), pads, (Ho, Wo), dtype = _check_conv_args(x, w, b, stride, padding)
    N = x.shape[0]
    F, _, KH, KW = w.shape
    xp = zero_pad(x, pads).astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    out = np.zeros((N, F, Ho, Wo), dtype=dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW]   # (C, KH, KW)
                    out[n, f, i, j] = np.sum(window * w[f])
            if b is not None:
                out[n, f] += b[f]
    return out


# ---------------------------------------------------------------------------
# pooling and parameter counts
# ---------------------------------------------------------------------------
_POOL_MODES = ("max", "avg", "sum")


def pool_args(x, k, stride, mode):
    """Check pooling arguments; return ``(x, (kh, kw), (sh, sw), (H', W'))`` (x as an array).

    Shared by :func:`pool2d` and its backward pass, so both refuse the same inputs with the
    same messages."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 axes (..., H, W), got shape {x.shape}")
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"x must be a real numeric array, got dtype {x.dtype}")
    if mode not in _POOL_MODES:
        raise ValueError(f"mode must be one of {_POOL_MODES}, got {mode!r}")
    kh, kw = _pair(k, "k", 1)
    sh, sw = _pair(k if stride is None else stride, "stride", 1)
    H, W = x.shape[-2:]
    Ho = _out_size(H, kh, 0, 0, sh, "the height")
    Wo = _out_size(W, kw, 0, 0, sw, "the width")
    return x, (kh, kw), (sh, sw), (Ho, Wo)


def pool2d(x, k, stride=None, mode="max") -> np.ndarray:
    """Max, average or sum pooling over the last two axes of ``x`` (..., H, W).

    k: int or (kh, kw); stride: int or (sh, sw), defaults to k (non-overlapping
    windows); no padding, so windows that would run past the edge are dropped.
    Returns (..., H', W') with H' = floor((H - kh) / sh) + 1.
    """
    x, (kh, kw), (sh, sw), (Ho, Wo) = pool_args(x, k, stride, mode)
    xf = np.ascontiguousarray(x, dtype=_float_dtype(x))
    *lead, _, _ = xf.shape
    st = xf.strides
    windows = as_strided(xf, shape=(*lead, Ho, Wo, kh, kw),
                         strides=(*st[:-2], st[-2] * sh, st[-1] * sw, st[-2], st[-1]), writeable=False)
    reduce = {"max": np.max, "avg": np.mean, "sum": np.sum}[mode]
    return reduce(windows, axis=(-2, -1))


def conv_param_count(k, c_in, c_out, bias=True) -> int:
    """Learnable parameters of a conv layer: ``kh * kw * c_in * c_out`` weights (+ ``c_out`` biases).

    >>> conv_param_count(5, 3, 10)      # ten 5x5x3 kernels
    760
    """
    kh, kw = _pair(k, "k", 1)
    c_in = _int(c_in, "c_in", 1)
    c_out = _int(c_out, "c_out", 1)
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"bias must be True or False, got {bias!r}")
    return kh * kw * c_in * c_out + (c_out if bias else 0)
