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
_STRIDE_CHECK = (
    "    if sh < 1 or sw < 1:\n"
    "        raise ValueError(f\"stride must be >= 1, got {stride!r}\")\n")
_TO_FLOAT = "    if not np.issubdtype(dtype, np.floating):\n        dtype = np.float64\n"
_CONV_W = "np.tensordot(windows, w.astype(dtype),"
_CONV_BIAS = "Y = Y + b.astype(dtype)[None, :, None, None]"
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
    # ---- conv2d_single
    # rotates the kernel when flip is False and not when it is True
    "conv2d_single__flip_inverted": [("    if flip:\n        K = K[::-1, ::-1]", "    if not flip:\n        K = K[::-1, ::-1]")],
    # always moves one pixel at a time
    "conv2d_single__stride_ignored": [(_STRIDE_CHECK, _STRIDE_CHECK + "    sh = sw = 1\n")],
    # never pads
    "conv2d_single__padding_ignored": [("Xp = zero_pad(X.astype(dtype), pads)", "Xp = X.astype(dtype)")],
    # flip=True mirrors the rows only (not a 180-degree rotation)
    "conv2d_single__flip_updown_only": [("K = K[::-1, ::-1]", "K = K[::-1, :]")],
    # rotates the caller's kernel in place (right values, modified input)
    "conv2d_single__flip_in_place": [("K = K[::-1, ::-1]", "K[...] = K[::-1, ::-1].copy()")],
    # integer inputs give an integer result
    "conv2d_single__int_dtype": [(_TO_FLOAT, "")],
    # ---- conv2d
    # true convolution instead of cross-correlation
    "conv2d__flipped_kernel": [(_CONV_W, "np.tensordot(windows, w[:, :, ::-1, ::-1].astype(dtype),")],
    # forgets the bias
    "conv2d__bias_dropped": [(_CONV_BIAS, "Y = Y")],
    # adds the bias inside the channel loop: C times per output
    "conv2d__bias_per_channel": [(_CONV_BIAS, "Y = Y + C * b.astype(dtype)[None, :, None, None]")],
    # always stride 1
    "conv2d__stride_ignored": [(_STRIDE_CHECK, _STRIDE_CHECK + "    sh = sw = 1\n")],
    # reads stride=(sh, sw) as (sw, sh)
    "conv2d__stride_pair_swapped": [(_STRIDE_CHECK, _STRIDE_CHECK + "    sh, sw = sw, sh\n")],
    # 'same' as (k - 1) // 2 zeros on each side (PyTorch style, ignores the stride)
    "conv2d__same_symmetric": [("(same_padding(H, KH, sh), same_padding(W, KW, sw))",
                                "(((KH - 1) // 2,) * 2, ((KW - 1) // 2,) * 2)")],
    # pads the channel and height axes instead of height and width
    "conv2d__pads_channel_axis": [("xp = zero_pad(x.astype(dtype), pads)",
                                   "xp = np.pad(x.astype(dtype), ((0, 0), pads[0], pads[1], (0, 0)))")],
    # computes in the inputs' dtype even for integers
    "conv2d__int_stays_int": [(_TO_FLOAT, "")],
    # no channel check of its own: numpy's shape-mismatch error does not say what is wrong
    "conv2d__unclear_channel_error": [('raise ValueError(f"w has {Cw} input channels but x has {C} channels")',
                                       'raise ValueError("shape-mismatch for sum")')],
    # right values, but rotates the caller's w in place (and uses it rotated back)
    "conv2d__flips_w_in_place": [("    w = np.asarray(w)\n", "    w = np.asarray(w)\n    w[...] = w[:, :, ::-1, ::-1].copy()\n"),
                                 (_CONV_W, "np.tensordot(windows, w[:, :, ::-1, ::-1].astype(dtype),")],
    # ---- pool2d
    # mode='avg' returns the sum of each window
    "pool2d__avg_is_sum": [("return windows.mean(axis=(-2, -1))", "return windows.sum(axis=(-2, -1))")],
    # always moves by the window size
    "pool2d__stride_ignored": [("    if stride is None:\n        stride = (kh, kw)\n", "    stride = (kh, kw)\n")],
    # stride=None means 1 (overlapping windows) instead of k
    "pool2d__stride_default_one": [("stride = (kh, kw)\n", "stride = 1\n")],
    # integer input stays integer: uint8 sums overflow (and max returns uint8)
    "pool2d__keeps_int_dtype": [("    if not np.issubdtype(X.dtype, np.floating):\n        X = X.astype(np.float64)\n", ""),
                                ("return windows.sum(axis=(-2, -1))", "return windows.sum(axis=(-2, -1), dtype=X.dtype)")],
    # reads k=(kh, kw) as (kw, kh)
    "pool2d__k_swapped": [("kh, kw = (k, k) if np.ndim(k) == 0 else k\n", "kw, kh = (k, k) if np.ndim(k) == 0 else k\n")],
    # clips negative values to 0 in the caller's array before pooling
    "pool2d__relu_in_place": [("    if not np.issubdtype(X.dtype, np.floating):\n", "    X[X < 0] = 0\n    if not np.issubdtype(X.dtype, np.floating):\n")],
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
