"""Known-wrong (and a few known-right) implementations of the ps1_convolution functions.

A function named ``<target>__<what>`` replaces the solution cell of ``<target>`` in a copy
of the source notebook (renamed to ``<target>``), which is then graded. Every mutant must
lose points on its target's tests; ``__ok_`` variants are correct alternative solutions
and must keep full marks; ``__forbidden_`` variants compute the right values with an API
the assignment forbids, so only the grading engine (not the in-process run) catches them.
``EDITS`` are mutants made from the reference itself: small text edits of the target's
solution cell.

Mutants run in the notebook's namespace: ``np`` and the notebook's other functions
(``zero_pad``, ``same_padding``, ...) are available; nothing else from this module is.
"""
# ruff: noqa
import math

import numpy as np


# --------------------------------------------------------------------- conv_output_size
def conv_output_size__no_plus_one(n, k, p=0, s=1, exact=False):
    """The lecture slide's formula: (n + 2p - k) / s without the +1."""
    if p == "same":
        return -(-n // s)
    p = 0 if p == "valid" else p
    if k > n + 2 * p or min(n, k, s) < 1 or p < 0:
        raise ValueError("bad arguments")
    if exact and (n + 2 * p - k) % s:
        raise ValueError("does not fit")
    return (n + 2 * p - k) // s


def conv_output_size__ceil(n, k, p=0, s=1, exact=False):
    """Rounds up instead of down."""
    if p == "same":
        return -(-n // s)
    p = 0 if p == "valid" else p
    if k > n + 2 * p or min(n, k, s) < 1 or p < 0:
        raise ValueError("bad arguments")
    if exact and (n + 2 * p - k) % s:
        raise ValueError("does not fit")
    return math.ceil((n + 2 * p - k) / s) + 1


def conv_output_size__exact_ignored(n, k, p=0, s=1, exact=False):
    """Never checks whether the kernel fits."""
    if p == "same":
        return -(-n // s)
    p = 0 if p == "valid" else p
    if k > n + 2 * p or min(n, k, s) < 1 or p < 0:
        raise ValueError("bad arguments")
    return (n + 2 * p - k) // s + 1


def conv_output_size__pad_once(n, k, p=0, s=1, exact=False):
    """Counts the padding on one side only."""
    if p == "same":
        return -(-n // s)
    p = 0 if p == "valid" else p
    if k > n + p or min(n, k, s) < 1 or p < 0:
        raise ValueError("bad arguments")
    if exact and (n + p - k) % s:
        raise ValueError("does not fit")
    return (n + p - k) // s + 1


def conv_output_size__same_floor(n, k, p=0, s=1, exact=False):
    """'same' as n // s (floor) instead of ceil(n / s)."""
    if p == "same":
        return n // s
    p = 0 if p == "valid" else p
    if k > n + 2 * p or min(n, k, s) < 1 or p < 0:
        raise ValueError("bad arguments")
    if exact and (n + 2 * p - k) % s:
        raise ValueError("does not fit")
    return (n + 2 * p - k) // s + 1


def conv_output_size__no_validation(n, k, p=0, s=1, exact=False):
    """The formula alone: no errors for bad sizes, a float division by zero for s=0."""
    if p == "same":
        return -(-n // s)
    p = 0 if p == "valid" else p
    if exact and (n + 2 * p - k) % s:
        raise ValueError("does not fit")
    return int((n + 2 * p - k) / s) + 1


# ----------------------------------------------------------------------------- zero_pad
def _mut_pad_amounts(p):
    if isinstance(p, (tuple, list)) and all(isinstance(q, (tuple, list)) for q in p):
        return p[0][0], p[0][1], p[1][0], p[1][1]
    if isinstance(p, (tuple, list)):
        return p[0], p[0], p[1], p[1]
    return p, p, p, p


def zero_pad__all_axes(x, p):
    """np.pad with an int pads every axis, batch and channels included."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("x must be at least 2-D")
    if isinstance(p, int):
        if p < 0:
            raise ValueError("p < 0")
        return np.pad(x, p)
    (top, bottom), (left, right) = p if isinstance(p[0], (tuple, list)) else ((p[0], p[0]), (p[1], p[1]))
    if min(top, bottom, left, right) < 0:
        raise ValueError("p < 0")
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)])


def zero_pad__overwrites_border(x, p):
    """Sets the border of x itself to zero (in place) instead of adding a border."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("x must be at least 2-D")
    t, b, l, r = _mut_pad_amounts(p)
    if min(t, b, l, r) < 0:
        raise ValueError("p < 0")
    H, W = x.shape[-2:]
    x[..., :t, :] = 0
    x[..., H - b:H, :] = 0 if b else x[..., H:H, :]
    x[..., :, :l] = 0
    x[..., :, W - r:W] = 0 if r else x[..., :, W:W]
    return x


# ------------------------------------------------------------------------- same_padding
def same_padding__symmetric(n, k, s=1):
    """PyTorch-style (k - 1) // 2 on both sides."""
    return (k - 1) // 2, (k - 1) // 2


def same_padding__extra_before(n, k, s=1):
    """The odd extra zero goes to the top/left."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total - total // 2, total // 2


def same_padding__ignores_stride(n, k, s=1):
    """Total k - 1, right for stride 1 only."""
    total = k - 1
    return total // 2, total - total // 2


def same_padding__no_max(n, k, s=1):
    """Forgets that the padding cannot be negative (k < s)."""
    out = -(-n // s)
    total = (out - 1) * s + k - n
    return total // 2, total - total // 2


# ------------------------------------------------------------------------ conv2d_single
def _mut_single(image, kernel, stride, padding, flip, *, flip_lr=True, use_stride=True, use_padding=True,
            to_float=True):
    X = np.asarray(image)
    K = np.asarray(kernel)
    if X.ndim != 2 or K.ndim != 2:
        raise ValueError("image and kernel must be 2-D")
    if flip:
        K = K[::-1, ::-1] if flip_lr else K[::-1, :]
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    if min(sh, sw) < 1:
        raise ValueError("stride must be >= 1")
    if not use_stride:
        sh = sw = 1
    H, W = X.shape
    KH, KW = K.shape
    if padding == "same":
        pads = (same_padding(H, KH, sh), same_padding(W, KW, sw))
    elif padding == "valid":
        pads = ((0, 0), (0, 0))
    elif isinstance(padding, str):
        raise ValueError("padding must be an int, a pair, 'valid' or 'same'")
    else:
        ph, pw = (padding, padding) if np.ndim(padding) == 0 else padding
        if min(ph, pw) < 0:
            raise ValueError("padding must be >= 0")
        pads = ((ph, ph), (pw, pw))
    if not use_padding:
        pads = ((0, 0), (0, 0))
    dtype = np.result_type(X, K)
    if to_float and not np.issubdtype(dtype, np.floating):
        dtype = np.float64
    Xp = zero_pad(X.astype(dtype), pads)
    if KH > Xp.shape[0] or KW > Xp.shape[1]:
        raise ValueError("the kernel is larger than the padded image")
    Ho, Wo = (Xp.shape[0] - KH) // sh + 1, (Xp.shape[1] - KW) // sw + 1
    Y = np.zeros((Ho, Wo), dtype=dtype)
    for i in range(Ho):
        for j in range(Wo):
            Y[i, j] = np.sum(Xp[i * sh:i * sh + KH, j * sw:j * sw + KW] * K)
    return Y


def conv2d_single__flip_inverted(image, kernel, stride=1, padding=0, flip=False):
    """Rotates the kernel when flip is False and not when it is True."""
    return _mut_single(image, kernel, stride, padding, not flip)


def conv2d_single__stride_ignored(image, kernel, stride=1, padding=0, flip=False):
    """Always moves one pixel at a time."""
    return _mut_single(image, kernel, stride, padding, flip, use_stride=False)


def conv2d_single__padding_ignored(image, kernel, stride=1, padding=0, flip=False):
    """Never pads."""
    return _mut_single(image, kernel, stride, padding, flip, use_padding=False)


def conv2d_single__flip_updown_only(image, kernel, stride=1, padding=0, flip=False):
    """flip=True mirrors the rows only (not a 180-degree rotation)."""
    return _mut_single(image, kernel, stride, padding, flip, flip_lr=False)


def conv2d_single__flip_in_place(image, kernel, stride=1, padding=0, flip=False):
    """Rotates the caller's kernel in place (right values, modified input)."""
    K = np.asarray(kernel)
    if flip:
        K[...] = K[::-1, ::-1].copy()
    return _mut_single(image, K, stride, padding, False)


def conv2d_single__int_dtype(image, kernel, stride=1, padding=0, flip=False):
    """Integer inputs give an integer result."""
    return _mut_single(image, kernel, stride, padding, flip, to_float=False)






# ------------------------------------------------------------------------------- conv2d
def _mut_conv(x, w, b=None, stride=1, padding=0, *, flip=False, use_bias=True, bias_scale=None,
          use_stride=True, swap_stride=False, same_sym=False, pad_axes=(2, 3), to_float=True,
          check_channels=True):
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError("x and w must be 4-D")
    N, C, H, W = x.shape
    F, Cw, KH, KW = w.shape
    if check_channels and Cw != C:
        raise ValueError(f"w has {Cw} input channels but x has {C} channels")
    if b is not None:
        b = np.asarray(b)
        if b.shape != (F,):
            raise ValueError("b must have one entry per filter")
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    if min(sh, sw) < 1:
        raise ValueError("stride must be >= 1")
    if swap_stride:
        sh, sw = sw, sh
    if not use_stride:
        sh = sw = 1
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError("padding must be an int, a pair, 'valid' or 'same'")
        if padding == "valid":
            pads = ((0, 0), (0, 0))
        elif same_sym:
            pads = (((KH - 1) // 2,) * 2, ((KW - 1) // 2,) * 2)
        else:
            pads = (same_padding(H, KH, sh), same_padding(W, KW, sw))
    else:
        ph, pw = (padding, padding) if np.ndim(padding) == 0 else padding
        if min(ph, pw) < 0:
            raise ValueError("padding must be >= 0")
        pads = ((ph, ph), (pw, pw))
    dtype = np.result_type(*([x, w] if b is None else [x, w, b]))
    if to_float and not np.issubdtype(dtype, np.floating):
        dtype = np.float64
    widths = [(0, 0)] * 4
    widths[pad_axes[0]], widths[pad_axes[1]] = pads
    xp = np.pad(x.astype(dtype), widths)
    if KH > xp.shape[2] or KW > xp.shape[3]:
        raise ValueError("the kernel is larger than the padded input")
    if flip:
        w = w[:, :, ::-1, ::-1]
    win = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::sh, ::sw]
    Y = np.tensordot(win, w.astype(dtype), axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    if b is not None and use_bias:
        scale = 1 if bias_scale is None else bias_scale(C)
        Y = Y + (b.astype(dtype) * scale)[None, :, None, None]
    return np.ascontiguousarray(Y, dtype=dtype)


def conv2d__flipped_kernel(x, w, b=None, stride=1, padding=0):
    """True convolution instead of cross-correlation."""
    return _mut_conv(x, w, b, stride, padding, flip=True)


def conv2d__bias_dropped(x, w, b=None, stride=1, padding=0):
    """Forgets the bias."""
    return _mut_conv(x, w, b, stride, padding, use_bias=False)


def conv2d__bias_per_channel(x, w, b=None, stride=1, padding=0):
    """Adds the bias inside the channel loop: C times per output."""
    return _mut_conv(x, w, b, stride, padding, bias_scale=lambda C: C)


def conv2d__stride_ignored(x, w, b=None, stride=1, padding=0):
    """Always stride 1."""
    return _mut_conv(x, w, b, stride, padding, use_stride=False)


def conv2d__stride_pair_swapped(x, w, b=None, stride=1, padding=0):
    """Reads stride=(sh, sw) as (sw, sh)."""
    return _mut_conv(x, w, b, stride, padding, swap_stride=True)


def conv2d__same_symmetric(x, w, b=None, stride=1, padding=0):
    """'same' as (k - 1) // 2 zeros on each side (PyTorch style, ignores the stride)."""
    return _mut_conv(x, w, b, stride, padding, same_sym=True)


def conv2d__pads_channel_axis(x, w, b=None, stride=1, padding=0):
    """Pads the channel and height axes instead of height and width."""
    return _mut_conv(x, w, b, stride, padding, pad_axes=(1, 2))


def conv2d__int_stays_int(x, w, b=None, stride=1, padding=0):
    """Computes in the inputs' dtype even for integers."""
    return _mut_conv(x, w, b, stride, padding, to_float=False)


def conv2d__unclear_channel_error(x, w, b=None, stride=1, padding=0):
    """No channel check: numpy's shape-mismatch error does not say what is wrong."""
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim == 4 and w.ndim == 4 and x.shape[1] != w.shape[1]:
        raise ValueError("shape-mismatch for sum")
    return _mut_conv(x, w, b, stride, padding, check_channels=False)


def conv2d__flips_w_in_place(x, w, b=None, stride=1, padding=0):
    """Right values, but rotates the caller's w in place (and uses it rotated back)."""
    w = np.asarray(w)
    w[...] = w[:, :, ::-1, ::-1].copy()
    return _mut_conv(x, w, b, stride, padding, flip=True)






# ------------------------------------------------------------------------------- pool2d
def _mut_pool(x, k, stride=None, mode="max", *, avg_is_sum=False, stride_is_k=False, default_one=False,
          keep_dtype=False, swap_k=False, relu_in_place=False):
    X = np.asarray(x)
    if X.ndim < 2:
        raise ValueError("x must be at least 2-D")
    if mode not in ("max", "avg", "sum"):
        raise ValueError(f"mode must be 'max', 'avg' or 'sum', got {mode!r}")
    kh, kw = (k, k) if np.ndim(k) == 0 else k
    if swap_k:
        kh, kw = kw, kh
    if stride is None or stride_is_k:
        stride = 1 if (default_one and stride is None) else (kh, kw)
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    if min(kh, kw, sh, sw) < 1:
        raise ValueError("k and stride must be >= 1")
    if kh > X.shape[-2] or kw > X.shape[-1]:
        raise ValueError("the window is larger than the input")
    if relu_in_place:
        X[X < 0] = 0
    if not keep_dtype and not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    win = np.lib.stride_tricks.sliding_window_view(X, (kh, kw), axis=(-2, -1))[..., ::sh, ::sw, :, :]
    if mode == "max":
        return win.max(axis=(-2, -1))
    if mode == "avg" and not avg_is_sum:
        return win.mean(axis=(-2, -1))
    return win.sum(axis=(-2, -1), dtype=X.dtype if keep_dtype else None)


def pool2d__avg_is_sum(x, k, stride=None, mode="max"):
    """mode='avg' returns the sum of each window."""
    return _mut_pool(x, k, stride, mode, avg_is_sum=True)


def pool2d__stride_ignored(x, k, stride=None, mode="max"):
    """Always moves by the window size."""
    return _mut_pool(x, k, stride, mode, stride_is_k=True)


def pool2d__stride_default_one(x, k, stride=None, mode="max"):
    """stride=None means 1 (overlapping windows) instead of k."""
    return _mut_pool(x, k, stride, mode, default_one=True)


def pool2d__keeps_int_dtype(x, k, stride=None, mode="max"):
    """Integer input stays integer: uint8 sums overflow and averages are truncated."""
    return _mut_pool(x, k, stride, mode, keep_dtype=True)


def pool2d__k_swapped(x, k, stride=None, mode="max"):
    """Reads k=(kh, kw) as (kw, kh)."""
    return _mut_pool(x, k, stride, mode, swap_k=True)


def pool2d__relu_in_place(x, k, stride=None, mode="max"):
    """Clips negative values to 0 in the caller's array before pooling."""
    return _mut_pool(x, k, stride, mode, relu_in_place=True)




# --------------------------------------------------------------------- practice_network
def practice_network__no_plus_one(*args, **kwargs):
    """Sizes from the slide's formula (n + 2p - k) / s, without the +1."""
    h1 = (128 - 3) // 5
    h2 = h1 // 2
    h3 = (h2 + 4 - 5) // 2
    return {"conv1_shape": (h1, h1, 5), "pool1_shape": (h2, h2, 5), "conv2_shape": (h3, h3, 3),
            "conv1_weights": 135, "conv1_params": 140, "conv2_weights": 375, "conv2_params": 378}


def practice_network__channels_first(*args, **kwargs):
    """Shapes written (C, H, W) as on the slide instead of (H, W, C)."""
    return {"conv1_shape": (5, 26, 26), "pool1_shape": (5, 13, 13), "conv2_shape": (3, 7, 7),
            "conv1_weights": 135, "conv1_params": 140, "conv2_weights": 375, "conv2_params": 378}


def practice_network__conv2_without_cin(*args, **kwargs):
    """Counts the second layer's weights as 3 filters of 5 x 5 (forgets its 5 input channels)."""
    return {"conv1_shape": (26, 26, 5), "pool1_shape": (13, 13, 5), "conv2_shape": (7, 7, 3),
            "conv1_weights": 135, "conv1_params": 140, "conv2_weights": 75, "conv2_params": 78}


def practice_network__pool_forgotten(*args, **kwargs):
    """Feeds the first conv layer's output to the second conv layer directly."""
    h3 = (26 + 4 - 5) // 2 + 1
    return {"conv1_shape": (26, 26, 5), "pool1_shape": (26, 26, 5), "conv2_shape": (h3, h3, 3),
            "conv1_weights": 135, "conv1_params": 140, "conv2_weights": 375, "conv2_params": 378}


# the reference's computing tails (after its checks), which the EDITS below replace
_SINGLE_LOOPS = (
    "    Ho = (Xp.shape[0] - KH) // sh + 1\n"
    "    Wo = (Xp.shape[1] - KW) // sw + 1\n"
    "    Y = np.zeros((Ho, Wo), dtype=dtype)\n"
    "    for i in range(Ho):\n"
    "        for j in range(Wo):\n"
    "            window = Xp[i * sh:i * sh + KH, j * sw:j * sw + KW]\n"
    "            Y[i, j] = np.sum(window * K)\n"
    "    return Y\n")
_CONV_TENSORDOT = (
    "    windows = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))\n"
    "    windows = windows[:, :, ::sh, ::sw]                         # (N, C, H', W', KH, KW)\n"
    "    Y = np.tensordot(windows, w.astype(dtype), axes=([1, 4, 5], [1, 2, 3]))   # (N, H', W', F)\n"
    "    Y = Y.transpose(0, 3, 1, 2)                                 # (N, F, H', W')\n")
_POOL_WINDOWS = (
    "    windows = np.lib.stride_tricks.sliding_window_view(X, (kh, kw), axis=(-2, -1))\n"
    "    windows = windows[..., ::sh, ::sw, :, :]                    # (..., H', W', kh, kw)\n"
    "    if mode == \"max\":\n"
    "        return windows.max(axis=(-2, -1))\n"
    "    if mode == \"avg\":\n"
    "        return windows.mean(axis=(-2, -1))\n"
    "    return windows.sum(axis=(-2, -1))\n")


# ------------------------------------------------------------ predict-before-run answers
# wrong answers to the questions: {"<answer name>__<what>": source of the value}
# edits of the reference (tests/mutants/harness.py, Assignment.load_mutants: each (old, new)
# replaces text in the target's solution cell of the source notebook)
EDITS = {
    # a correct alternative: sliding_window_view and einsum instead of the loops
    "conv2d_single__ok_vectorised": [(_SINGLE_LOOPS, (
        "    win = np.lib.stride_tricks.sliding_window_view(Xp, K.shape)[::sh, ::sw]\n"
        "    return np.einsum(\"ijuv,uv->ij\", win, K.astype(dtype))\n"))],
    # right values via scipy.signal (forbidden in this assignment); K is already rotated for flip=True
    "conv2d_single__forbidden_scipy": [(_SINGLE_LOOPS, (
        "    from scipy import signal\n"
        "    return signal.correlate2d(Xp, K.astype(dtype), mode=\"valid\")[::sh, ::sw].astype(dtype)\n"))],
    # a correct alternative: explicit loops over n, f, i, j (slow but right)
    "conv2d__ok_naive_loops": [(_CONV_TENSORDOT, (
        "    Ho, Wo = (xp.shape[2] - KH) // sh + 1, (xp.shape[3] - KW) // sw + 1\n"
        "    Y = np.zeros((N, F, Ho, Wo), dtype=dtype)\n"
        "    for n in range(N):\n"
        "        for f in range(F):\n"
        "            for i in range(Ho):\n"
        "                for j in range(Wo):\n"
        "                    Y[n, f, i, j] = np.sum(xp[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW] * w[f])\n"))],
    # right values from torch.nn.functional.conv2d (forbidden in this assignment)
    "conv2d__forbidden_torch": [(_CONV_TENSORDOT, (
        "    import torch\n"
        "    import torch.nn.functional as tF\n"
        "    Y = tF.conv2d(torch.from_numpy(np.ascontiguousarray(xp, dtype=np.float64)),\n"
        "                  torch.from_numpy(np.ascontiguousarray(w, dtype=np.float64)), stride=(sh, sw)).numpy()\n"))],
    # a correct alternative with loops over the output positions
    "pool2d__ok_loops": [(_POOL_WINDOWS, (
        "    reduce = {\"max\": np.max, \"avg\": np.mean, \"sum\": np.sum}[mode]\n"
        "    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1\n"
        "    out = np.zeros(X.shape[:-2] + (Ho, Wo), dtype=X.dtype)\n"
        "    for i in range(Ho):\n"
        "        for j in range(Wo):\n"
        "            out[..., i, j] = reduce(X[..., i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(-2, -1))\n"
        "    return out\n"))],
    # adds 2p zeros at the top and left only (the right size, the wrong place)
    "zero_pad__one_side": [("out[..., top:top + H, left:left + W] = x",
                            "out[..., top + bottom:top + bottom + H, left + right:left + right + W] = x")],
    # np.zeros without dtype=x.dtype: integer images come back as float64
    "zero_pad__float_dtype": [(", dtype=x.dtype)", ")")],
    # reads ((top, bottom), (left, right)) as ((top, left), (bottom, right))
    "zero_pad__tuple_misread": [("(top, bottom), (left, right) = p\n", "(top, left), (bottom, right) = p\n")],
    # forgets the biases
    "conv_param_count__no_bias": [(" + (c_out if bias else 0)", "")],
    # counts one k x k kernel per filter, forgetting the input channels
    "conv_param_count__no_c_in": [("kh * kw * c_in * c_out", "kh * kw * c_out")],
    # one bias per (filter, input channel) pair
    "conv_param_count__bias_per_input_channel": [("(c_out if bias else 0)", "(c_in * c_out if bias else 0)")],
    # always counts the biases
    "conv_param_count__bias_flag_ignored": [("(c_out if bias else 0)", "c_out")],
    # treats k=(kh, kw) as kh x kh
    "conv_param_count__square_only": [("np.ndim(k) == 0 else k\n", "np.ndim(k) == 0 else (k[0], k[0])\n")],
}


ANSWERS = {
    "answer_unseen_pixels__last_column_only": "10",
    "answer_unseen_pixels__seen_count": "81",
    "answer_unseen_pixels__string": "'19'",
    "answer_windows_covering__stride_one": "6",
    "answer_windows_covering__one": "1",
    "answer_keras_same__extra_on_top": "(5, 2, 1)",
    "answer_keras_same__torch_style": "(5, 1, 1)",
    "answer_keras_same__floor": "(4, 1, 2)",
    "answer_torch_rows__same_as_keras": "5",
    "answer_torch_rows__no_plus_one": "3",
    "answer_practice_row2__not_flipped": "(3, 0, 9, -3, -21)",
    "answer_practice_row2__first_row": "(0, 6, 12, 18, 3)",
    "answer_practice_row2__lectures_kernel": "(12, 12, 18, -3, -21)",
    "answer_practice_row2__too_short": "(-3, 0, -9, 3)",
    "answer_receptive_field__convs_only": "5",
    "answer_receptive_field__sum": "8",
    "answer_dense_params__no_bias": "307_200",
    "answer_dense_params__conv_layer": "7_600",
    "answer_dense_params__none": "None",
}
