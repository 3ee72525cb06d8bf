"""Modern CNN building blocks: the reference for ps6_modern_cnn (lecture 09).

Conventions are those of :mod:`solutions.conv` and :mod:`solutions.backprop` (and PyTorch):
images ``x`` are ``(N, C, H, W)``, convolution kernels ``w`` are ``(F, C, KH, KW)``, the
forward convolution is cross-correlation, ``stride`` is an int or ``(sh, sw)``. Every
numpy function returns new float arrays (float64 for integer input) and leaves its
arguments unchanged; bad input raises a ValueError (wrong shape or value) or a TypeError
(wrong type or dtype) whose message names the argument and the axis at fault.

Contents:

* **batch normalisation** (:func:`batchnorm2d_forward`, :func:`batchnorm2d_backward`): per
  channel, over the batch and both spatial axes, exactly as ``nn.BatchNorm2d``: the biased
  variance normalises, the *unbiased* one enters the running variance, momentum 0.1;
* **inverted dropout** (:func:`dropout_forward`, :func:`dropout_backward`): keep each value with
  probability ``1 - p`` and scale the kept ones by ``1 / (1 - p)``, so the expectation is
  unchanged and inference needs no rescaling; the mask comes from a seeded generator;
* **im2col** (:func:`im2col`, :func:`col2im`, :func:`conv2d_im2col`): every window of the padded
  input as one row of a matrix, so a whole convolution is one matrix product; ``col2im`` is
  its adjoint (overlapping windows add up);
* **transposed convolution** (:func:`conv_transpose2d`): ``F.conv_transpose2d``, kernels
  ``(C_in, C_out, KH, KW)``; it is exactly the input gradient of a convolution with the same
  kernels (:func:`conv2d_input_grad_as_transpose`);
* **global average pooling** (:func:`global_avg_pool`, :func:`global_avg_pool_backward`);
* in PyTorch (imported on first use): ``BottleneckBlock`` (1x1 reduce, 3x3, 1x1 expand, batch
  norm after each convolution, projection shortcut when the shape changes) with its cost by
  formula (:func:`bottleneck_cost`), ``BasicBlock``/``PlainBlock`` stacks and the first-layer
  gradient norm at initialisation against depth (:func:`grad_norm_vs_depth`,
  :func:`first_layer_grad_norm`), which also accepts a list of weight arrays so a grader can
  recompute it from a student's weights.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

from solutions.conv import _array, _check_conv_args, _float_dtype, _int, _out_size, _pair, _resolve_padding

__all__ = [
    "batchnorm2d_forward",
    "batchnorm2d_backward",
    "dropout_forward",
    "dropout_backward",
    "im2col",
    "col2im",
    "conv2d_im2col",
    "conv_transpose2d",
    "conv_transpose2d_output_size",
    "conv2d_input_grad_as_transpose",
    "global_avg_pool",
    "global_avg_pool_backward",
    "bottleneck_cost",
    "count_conv_macs",
    "BottleneckBlock",
    "BasicBlock",
    "PlainBlock",
    "make_depth_stack",
    "stack_weights",
    "load_stack_weights",
    "first_layer_grad_norm",
    "grad_norm_vs_depth",
    "BLOCK_KINDS",
]


# ---------------------------------------------------------------------------
# argument checking
# ---------------------------------------------------------------------------
def _number(value, name: str, low: float, high: float, *, low_open=False, high_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if not np.isfinite(value) or below or above:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise ValueError(f"{name} must be in {lo}{low:g}, {high:g}{hi}, got {value!r}")
    return value


def _channel_vector(v, name: str, C: int) -> np.ndarray:
    v = _array(v, name, 1, "(C,)")
    if v.shape[0] != C:
        raise ValueError(f"{name} must have one entry per channel, shape ({C},) for x with C={C}, got {v.shape}")
    return v


# ---------------------------------------------------------------------------
# batch normalisation
# ---------------------------------------------------------------------------
_BN_MODES = ("train", "eval")


def _bn_stats(x):
    """Per-channel mean and biased variance over N, H, W of x (N, C, H, W) -> two (C,) arrays."""
    mean = x.mean(axis=(0, 2, 3))
    var = ((x - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
    return mean, var


def _check_bn(x, gamma, beta, eps):
    x = _array(x, "x", 4, "(N, C, H, W)")
    C = x.shape[1]
    if 0 in x.shape:
        raise ValueError(f"x must not be empty, got shape {x.shape} (N, C, H, W)")
    gamma = _channel_vector(gamma, "gamma", C)
    if beta is not None:
        beta = _channel_vector(beta, "beta", C)
    eps = _number(eps, "eps", 0.0, np.inf, high_open=True)
    dtype = _float_dtype(x, gamma) if beta is None else _float_dtype(x, gamma, beta)
    return x.astype(dtype, copy=False), gamma.astype(dtype, copy=False), \
        None if beta is None else beta.astype(dtype, copy=False), eps, dtype


def batchnorm2d_forward(x, gamma, beta, eps=1e-5, *, mode="train", running_mean=None, running_var=None,
                        momentum=0.1, return_cache=False):
    """Batch normalisation of a batch of feature maps, as ``nn.BatchNorm2d``.

    Args:
        x: (N, C, H, W), the feature maps.
        gamma, beta: (C,), the learned scale and shift of each channel.
        eps: >= 0, added to the variance before the square root.
        mode: ``"train"``: normalise with this batch's statistics; each channel's mean and
            *biased* variance (divided by ``M = N * H * W``) over the batch and both spatial axes.
            ``"eval"``: normalise with ``running_mean`` and ``running_var`` (both required).
        running_mean, running_var: (C,) or None, the running statistics. They are **never
            modified**: in training mode the updated statistics are returned in the cache (so
            pass ``return_cache=True`` with them; a ValueError otherwise, rather than losing the
            update silently). The update is PyTorch's::

                new_mean = (1 - momentum) * running_mean + momentum * mean
                new_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)

            i.e. the running variance uses the *unbiased* batch variance.
        momentum: in [0, 1], the weight of the new batch (PyTorch's convention; Keras's
            ``momentum=0.99`` is ``1 - momentum`` here).
        return_cache: return ``(out, cache)`` instead of ``out``.

    Returns:
        out: (N, C, H, W), ``gamma * (x - mean) / sqrt(var + eps) + beta`` per channel.
        cache (with ``return_cache=True``): a dict with ``"xhat"`` (N, C, H, W), the normalised
        input; ``"mean"``, ``"var"`` (C,), the statistics used (the batch's biased variance in
        training mode, the running ones in eval mode); ``"inv_std"`` (C,) ``1 / sqrt(var + eps)``;
        ``"mode"``; and ``"running_mean"``, ``"running_var"`` (C,): the *updated* running
        statistics in training mode (new arrays), the given ones in eval mode, None when none
        were given.

    Raises:
        ValueError: x is not 4-D or empty; gamma, beta or a running statistic is not (C,);
            only one running statistic given; eval mode without them; training with M = 1
            value per channel (PyTorch refuses it too: its unbiased variance is undefined);
            running statistics in training mode without ``return_cache=True``.
        TypeError: a non-numeric array or argument.
    """
    x, gamma, beta, eps, dtype = _check_bn(x, gamma, beta, eps)
    if beta is None:
        raise TypeError("beta must be a numeric array of shape (C,), got None")
    if mode not in _BN_MODES:
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    momentum = _number(momentum, "momentum", 0.0, 1.0)
    if not isinstance(return_cache, (bool, np.bool_)):
        raise TypeError(f"return_cache must be True or False, got {return_cache!r}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("give both running_mean and running_var, or neither")
    C = x.shape[1]
    if running_mean is not None:
        running_mean = _channel_vector(running_mean, "running_mean", C).astype(dtype, copy=False)
        running_var = _channel_vector(running_var, "running_var", C).astype(dtype, copy=False)
        if np.any(running_var < 0):
            raise ValueError("running_var must be >= 0 (it is a variance)")
    N, _, H, W = x.shape
    M = N * H * W
    if mode == "train":
        if M == 1:
            raise ValueError(f"training mode needs more than one value per channel, got x of shape {x.shape} "
                             "(N * H * W = 1)")
        if running_mean is not None and not return_cache:
            raise ValueError("running statistics given in training mode: pass return_cache=True and read the "
                             "updated ones from cache['running_mean'] and cache['running_var'] (the arrays you "
                             "pass are never modified)")
        mean, var = _bn_stats(x)
        if running_mean is not None:
            running_mean = (1 - momentum) * running_mean + momentum * mean
            running_var = (1 - momentum) * running_var + momentum * var * (M / (M - 1))
    else:
        if running_mean is None:
            raise ValueError("eval mode normalises with the running statistics: give running_mean and running_var")
        mean, var = running_mean.copy(), running_var.copy()
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
    out = gamma[None, :, None, None] * xhat + beta[None, :, None, None]
    if not return_cache:
        return out
    return out, {"xhat": xhat, "mean": mean, "var": var, "inv_std": inv_std, "mode": mode,
                 "running_mean": running_mean, "running_var": running_var}


def batchnorm2d_backward(dout, x, gamma, eps=1e-5, *, mode="train", running_mean=None, running_var=None):
    """Gradients of :func:`batchnorm2d_forward` (the statistics are recomputed from x).

    Args:
        dout: (N, C, H, W), the upstream gradient dL/dout.
        x: (N, C, H, W), the layer's input; gamma: (C,); eps as in the forward pass.
        mode: ``"train"`` (the batch statistics depend on x, and their gradient flows too) or
            ``"eval"`` (the running statistics are constants; give both).

    Returns:
        (dx, dgamma, dbeta) with shapes (N, C, H, W), (C,), (C,):
        ``dbeta = sum(dout)``, ``dgamma = sum(dout * xhat)`` (sums over N, H, W) and, in training
        mode, the simplified closed form with ``M = N * H * W`` values per channel::

            dx = gamma / (M * sqrt(var + eps)) * (M * dout - dbeta - xhat * dgamma)

        (per channel; var is the biased batch variance). In eval mode ``dx = gamma * dout /
        sqrt(running_var + eps)``. The bias of a convolution just before batch norm gets no
        useful gradient: whatever it adds to a channel the mean subtracts again.

    Raises:
        ValueError / TypeError: as the forward pass; dout not of x's shape.
    """
    x, gamma, _, eps, dtype = _check_bn(x, gamma, None, eps)
    dout = _array(dout, "dout", 4, "(N, C, H, W)")
    if dout.shape != x.shape:
        raise ValueError(f"dout must have x's shape {x.shape}, got {dout.shape}")
    dout = dout.astype(np.result_type(dtype, _float_dtype(dout)), copy=False)
    if mode not in _BN_MODES:
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    N, C, H, W = x.shape
    M = N * H * W
    g = gamma[None, :, None, None]
    if mode == "train":
        if M == 1:
            raise ValueError(f"training mode needs more than one value per channel, got x of shape {x.shape}")
        mean, var = _bn_stats(x)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("eval mode: give running_mean and running_var (the statistics the forward pass used)")
        mean = _channel_vector(running_mean, "running_mean", C).astype(dtype, copy=False)
        var = _channel_vector(running_var, "running_var", C).astype(dtype, copy=False)
    inv_std = (1.0 / np.sqrt(var + eps))[None, :, None, None]
    xhat = (x - mean[None, :, None, None]) * inv_std
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    if mode == "train":
        dx = g * inv_std / M * (M * dout - dbeta[None, :, None, None] - xhat * dgamma[None, :, None, None])
    else:
        dx = g * inv_std * dout
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------
# dropout
# ---------------------------------------------------------------------------
def _generator(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be an int >= 0, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(int(seed))


def dropout_forward(x, p, *, seed=None, train=True):
    """Inverted dropout: zero each value with probability ``p``, scale the survivors by ``1 / (1 - p)``.

    Args:
        x: an array of any shape.
        p: the probability of **dropping** a value (PyTorch's and Keras's convention), in [0, 1].
        seed: an int (a fresh ``np.random.default_rng(seed)``), a ``np.random.Generator`` (used and
            advanced) or None (unseeded: not reproducible). The mask is
            ``generator.random(x.shape) >= p``.
        train: False for inference: dropout is the identity (nothing dropped, nothing scaled:
            the scaling at training time already made ``E[out] = x``).

    Returns:
        (out, mask): out has x's shape; mask is a bool array of x's shape, True where the value
        was **kept** (None when ``train=False``). ``out = x * mask / (1 - p)``; with ``p = 1`` every
        value is dropped and out is all zeros (as PyTorch).

    Raises:
        ValueError: p outside [0, 1]. TypeError: non-numeric x, p or seed.
    """
    x = np.asarray(x)
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"x must be a real numeric array, got dtype {x.dtype}")
    p = _number(p, "p (the probability of dropping)", 0.0, 1.0)
    if not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"train must be True or False, got {train!r}")
    x = x.astype(_float_dtype(x), copy=False)
    if not train:
        return x.copy(), None
    mask = _generator(seed).random(x.shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return x * mask * x.dtype.type(scale), mask


def dropout_backward(dout, mask, p):
    """Gradient of :func:`dropout_forward`: ``dout * mask / (1 - p)`` (0 everywhere when p = 1).

    dout: the upstream gradient, the shape of the forward output; mask: the bool mask the forward
    pass returned (same shape), or None for a forward pass with ``train=False`` (then dx = dout).
    Returns dx with dout's shape.
    """
    dout = np.asarray(dout)
    if dout.dtype == bool or not np.issubdtype(dout.dtype, np.number) or np.issubdtype(dout.dtype, np.complexfloating):
        raise TypeError(f"dout must be a real numeric array, got dtype {dout.dtype}")
    p = _number(p, "p (the probability of dropping)", 0.0, 1.0)
    dout = dout.astype(_float_dtype(dout), copy=False)
    if mask is None:
        return dout.copy()
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"mask must be the bool array dropout_forward returned, got dtype {mask.dtype}")
    if mask.shape != dout.shape:
        raise ValueError(f"mask must have dout's shape {dout.shape}, got {mask.shape}")
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return dout * mask * dout.dtype.type(scale)


# ---------------------------------------------------------------------------
# im2col
# ---------------------------------------------------------------------------
def _windows(xp, KH, KW, sh, sw, Ho, Wo):
    """as_strided view (N, Ho, Wo, C, KH, KW) of the padded xp (N, C, Hp, Wp)."""
    N, C = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, shape=(N, Ho, Wo, C, KH, KW), strides=(s0, s2 * sh, s3 * sw, s1, s2, s3),
                      writeable=False)


def _pad_nchw(x, pads, dtype):
    (pt, pb), (pl, pr) = pads
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=dtype)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    return xp


def _geometry(x_shape, kernel_size, stride, padding):
    KH, KW = _pair(kernel_size, "kernel_size", 1)
    sh, sw = _pair(stride, "stride", 1)
    H, W = x_shape[2:]
    pads = _resolve_padding(padding, (H, W), (KH, KW), (sh, sw))
    (pt, pb), (pl, pr) = pads
    Ho = _out_size(H, KH, pt, pb, sh, "the height")
    Wo = _out_size(W, KW, pl, pr, sw, "the width")
    return (KH, KW), (sh, sw), pads, (Ho, Wo)


def im2col(x, kernel_size, stride=1, padding=0) -> np.ndarray:
    """Every window of the padded input as one row of a matrix.

    Args:
        x: (N, C, H, W).
        kernel_size: int or (KH, KW); stride: int or (sh, sw); padding: int, (ph, pw), "valid"
            or "same" (TensorFlow's rule, as :func:`solutions.conv.conv2d`).

    Returns:
        cols: (N * H' * W', C * KH * KW). Row ``n * H'W' + i * W' + j`` is the window of output
        position (i, j) of image n; column ``c * KH * KW + u * KW + v`` is its entry
        ``x_pad[n, c, i * sh + u, j * sw + v]``, the order of ``w.reshape(F, -1)``, so that
        ``cols @ w.reshape(F, -1).T`` is the convolution (rows in (n, i, j) order).
        Each input value appears in up to ``ceil(KH / sh) * ceil(KW / sw)`` rows: the matrix
        is that many times larger than x.
    """
    x = _array(x, "x", 4, "(N, C, H, W)")
    (KH, KW), (sh, sw), pads, (Ho, Wo) = _geometry(x.shape, kernel_size, stride, padding)
    xp = _pad_nchw(x, pads, _float_dtype(x))
    N, C = x.shape[:2]
    return _windows(xp, KH, KW, sh, sw, Ho, Wo).reshape(N * Ho * Wo, C * KH * KW)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0) -> np.ndarray:
    """The adjoint of :func:`im2col`: add every row back onto the window it came from.

    Args:
        cols: (N * H' * W', C * KH * KW), laid out as im2col's result.
        x_shape: (N, C, H, W), the shape of the image im2col read.
        kernel_size, stride, padding: as im2col.

    Returns:
        (N, C, H, W): entry (n, c, r, s) is the sum of every entry of ``cols`` that im2col copied
        from ``x[n, c, r, s]`` (values that fell into the padding are dropped). ``col2im(im2col(x))``
        is therefore x times the number of windows covering each pixel, and
        ``col2im(d, ...)`` is the gradient of ``sum(im2col(x) * d)`` with respect to x.
    """
    cols = _array(cols, "cols", 2, "(N * H' * W', C * KH * KW)")
    if not isinstance(x_shape, (tuple, list)) or len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W), got {x_shape!r}")
    N, C, H, W = (_int(v, f"x_shape[{i}]", 1) for i, v in enumerate(x_shape))
    (KH, KW), (sh, sw), ((pt, pb), (pl, pr)), (Ho, Wo) = _geometry((N, C, H, W), kernel_size, stride, padding)
    want = (N * Ho * Wo, C * KH * KW)
    if cols.shape != want:
        raise ValueError(f"cols must have shape (N * H' * W', C * KH * KW) = {want} for x_shape {(N, C, H, W)}, "
                         f"got {cols.shape}")
    # one copy to (KH, KW, N, C, H', W'): each kernel offset is then a contiguous block
    blocks = np.ascontiguousarray(cols.astype(_float_dtype(cols), copy=False)
                                  .reshape(N, Ho, Wo, C, KH, KW).transpose(4, 5, 0, 3, 1, 2))
    return _scatter_windows(blocks, (N, C, H, W), (sh, sw), ((pt, pb), (pl, pr)))


def _scatter_windows(blocks, x_shape, strides, pads):
    """blocks (KH, KW, N, C, H', W') -> (N, C, H, W): entry [u, v, n, c, i, j] is added at
    x_pad[n, c, i * sh + u, j * sw + v]; the padding is cropped off at the end."""
    KH, KW, _, _, Ho, Wo = blocks.shape
    N, C, H, W = x_shape
    (sh, sw), ((pt, pb), (pl, pr)) = strides, pads
    xp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=blocks.dtype)
    for u in range(KH):
        for v in range(KW):
            xp[:, :, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw] += blocks[u, v]
    return np.ascontiguousarray(xp[:, :, pt:pt + H, pl:pl + W])


def conv2d_im2col(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """Convolution as one matrix product: ``im2col(x) @ w.reshape(F, -1).T (+ b)``.

    x: (N, C, H, W); w: (F, C, KH, KW); b: (F,) or None; stride and padding as
    :func:`solutions.conv.conv2d` (whose result this equals). Returns (N, F, H', W').

    The product is (N H' W', C KH KW) @ (C KH KW, F) -> (N H' W', F), reshaped to (N, H', W', F)
    and moved to channels-first.
    """
    x, w, b, (sh, sw), pads, (Ho, Wo), dtype = _check_conv_args(x, w, b, stride, padding)
    N = x.shape[0]
    F, C, KH, KW = w.shape
    xp = _pad_nchw(x, pads, dtype)
    cols = _windows(xp, KH, KW, sh, sw, Ho, Wo).reshape(N * Ho * Wo, C * KH * KW)   # the copy: im2col
    out = cols @ w.reshape(F, C * KH * KW).astype(dtype, copy=False).T              # one matmul
    if b is not None:
        out += b.astype(dtype, copy=False)
    return np.ascontiguousarray(out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------
# transposed convolution
# ---------------------------------------------------------------------------
def conv_transpose2d_output_size(n, k, stride=1, padding=0, output_padding=0) -> int:
    """Output length of a transposed convolution along one axis: ``(n - 1) s - 2p + k + output_padding``.

    It is the input length of the convolution (k, s, p) that maps that many positions back to
    n; ``output_padding`` (0 <= it < s) picks one of the s input lengths that all give n.
    """
    n = _int(n, "n", 1)
    k = _int(k, "k", 1)
    s = _int(stride, "stride", 1)
    p = _int(padding, "padding", 0)
    op = _int(output_padding, "output_padding", 0)
    if op >= s:
        raise ValueError(f"output_padding must be smaller than the stride ({s}), got {op}")
    size = (n - 1) * s - 2 * p + k + op
    if size < 1:
        raise ValueError(f"the output would be empty: (n - 1) * s - 2p + k + output_padding = "
                         f"({n} - 1) * {s} - {2 * p} + {k} + {op} = {size}")
    return size


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0) -> np.ndarray:
    """Transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Args:
        x: (N, C_in, H, W).
        w: (C_in, C_out, KH, KW): PyTorch's layout for ``ConvTranspose2d`` (input channels first,
            the transpose of ``Conv2d``'s (C_out, C_in, KH, KW)).
        b: (C_out,) or None.
        stride: int or (sh, sw); padding: int or (ph, pw), cropped from each side of the result;
            output_padding: int or (oh, ow), each smaller than the stride along its axis, added
            at the bottom/right.

    Returns:
        (N, C_out, H_out, W_out) with ``H_out = (H - 1) * sh - 2 ph + KH + oh`` (the same along W).
        Each input value ``x[n, c, i, j]`` *stamps* ``x[n, c, i, j] * w[c]`` onto the window at
        ``(i * sh, j * sw)`` of the uncropped output, overlapping stamps add up, and the padding is
        then cropped: the scatter of a convolution's backward pass. Computed as one matrix product
        ``(N H W, C_in) @ (C_in, C_out KH KW)`` followed by :func:`col2im` (the product is laid out
        directly as col2im's per-offset blocks).

    Raises:
        ValueError: shapes that do not match (w's first axis must be x's channels), an
            output_padding not smaller than the stride, an empty output.
    """
    x = _array(x, "x", 4, "(N, C_in, H, W)")
    w = _array(w, "w", 4, "(C_in, C_out, KH, KW)")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w has {w.shape[0]} input channels (its first axis) but x has {x.shape[1]} "
                         "(w is (C_in, C_out, KH, KW) for a transposed convolution, x is (N, C_in, H, W))")
    if 0 in w.shape or 0 in x.shape:
        raise ValueError(f"x and w must not be empty, got shapes {x.shape} and {w.shape}")
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int or a pair of ints for a transposed convolution, got {padding!r}")
    N, Cin, H, W = x.shape
    _, Cout, KH, KW = w.shape
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    oh, ow = _pair(output_padding, "output_padding", 0)
    Hout = conv_transpose2d_output_size(H, KH, sh, ph, oh)
    Wout = conv_transpose2d_output_size(W, KW, sw, pw, ow)
    if b is not None:
        b = _array(b, "b", 1, "(C_out,)")
        if b.shape[0] != Cout:
            raise ValueError(f"b has {b.shape[0]} entries but w has {Cout} output channels (its second axis)")
    dtype = _float_dtype(x, w) if b is None else _float_dtype(x, w, b)
    # the product (N H W, C_in) @ (C_in, C_out KH KW) = im2col's layout, then col2im; computed
    # directly in col2im's (KH, KW, N, C_out, H, W) block layout (the same numbers, no transpose copy)
    wk = w.astype(dtype, copy=False).transpose(2, 3, 1, 0)[:, :, None]             # (KH, KW, 1, C_out, C_in)
    blocks = np.matmul(wk, x.astype(dtype, copy=False).reshape(1, 1, N, Cin, H * W))  # (KH, KW, N, C_out, H W)
    # the convolution (KH, KW, stride, padding) of an (Hout, Wout) image has exactly H x W positions
    out = _scatter_windows(blocks.reshape(KH, KW, N, Cout, H, W), (N, Cout, Hout, Wout), (sh, sw),
                           ((ph, ph), (pw, pw)))
    if b is not None:
        out += b.astype(dtype, copy=False)[None, :, None, None]
    return out


def conv2d_input_grad_as_transpose(dout, x_shape, w, stride=1, padding=0) -> np.ndarray:
    """dL/dx of ``conv2d(x, w, stride=stride, padding=padding)`` as a transposed convolution.

    dout: (N, F, H', W'); x_shape: (N, C, H, W); w: (F, C, KH, KW), the *convolution's* kernels,
    which are already in the transposed convolution's (C_in, C_out, KH, KW) layout with
    C_in = F. padding: int or (ph, pw). Returns (N, C, H, W) =
    ``conv_transpose2d(dout, w, stride, padding, output_padding)`` with
    ``output_padding = (H + 2 ph - KH) mod sh`` (the rows the forward pass's floor skipped).
    """
    if not isinstance(x_shape, (tuple, list)) or len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W), got {x_shape!r}")
    w = _array(w, "w", 4, "(F, C, KH, KW)")
    H, W = (_int(v, f"x_shape[{i + 2}]", 1) for i, v in enumerate(x_shape[2:]))
    sh, sw = _pair(stride, "stride", 1)
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int or a pair of ints here, got {padding!r}")
    ph, pw = _pair(padding, "padding", 0)
    KH, KW = w.shape[2:]
    op = ((H + 2 * ph - KH) % sh, (W + 2 * pw - KW) % sw)
    return conv_transpose2d(dout, w, None, (sh, sw), (ph, pw), op)


# ---------------------------------------------------------------------------
# global average pooling
# ---------------------------------------------------------------------------
def global_avg_pool(x) -> np.ndarray:
    """The mean of each feature map: x (N, C, H, W) -> (N, C) (``AdaptiveAvgPool2d(1)`` then flatten)."""
    x = _array(x, "x", 4, "(N, C, H, W)")
    if 0 in x.shape[2:]:
        raise ValueError(f"x must have at least one pixel, got shape {x.shape}")
    return x.astype(_float_dtype(x), copy=False).mean(axis=(2, 3))


def global_avg_pool_backward(dout, x_shape) -> np.ndarray:
    """Gradient of :func:`global_avg_pool`: dout (N, C) spread evenly, ``dout / (H W)`` to every pixel.

    x_shape: (N, C, H, W). Returns (N, C, H, W).
    """
    dout = _array(dout, "dout", 2, "(N, C)")
    if not isinstance(x_shape, (tuple, list)) or len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W), got {x_shape!r}")
    N, C, H, W = (_int(v, f"x_shape[{i}]", 1) for i, v in enumerate(x_shape))
    if dout.shape != (N, C):
        raise ValueError(f"dout must have shape (N, C) = {(N, C)}, got {dout.shape}")
    d = dout.astype(_float_dtype(dout), copy=False) / (H * W)
    return np.broadcast_to(d[:, :, None, None], (N, C, H, W)).copy()


# ---------------------------------------------------------------------------
# bottleneck block: cost by formula
# ---------------------------------------------------------------------------
def bottleneck_cost(c_in, c_mid, c_out, stride=1, height=None, width=None) -> dict:
    """Parameters and multiply-adds of a :class:`BottleneckBlock`, by formula.

    Args:
        c_in, c_mid, c_out: channels in, of the two inner convolutions, out.
        stride: int, the stride of the 3x3 convolution (and of the projection).
        height, width: the input's spatial size (width defaults to height); without them only
            the parameters are counted.

    Returns:
        a dict with

        * ``"params"``: ``c_in c_mid + 9 c_mid^2 + c_mid c_out`` convolution weights (no biases),
          ``2 (c_mid + c_mid + c_out)`` batch-norm scales and shifts, plus ``c_in c_out + 2 c_out``
          for the projection shortcut when ``stride != 1 or c_in != c_out``;
        * ``"buffers"``: the batch norms' running means and variances, ``2 (2 c_mid + c_out)``
          (+ ``2 c_out`` with a projection): state, not parameters (``num_batches_tracked`` not counted);
        * ``"projection"``: bool;
        * ``"out_size"``: (H', W') with ``H' = floor((H - 1) / stride) + 1`` (3x3, padding 1);
        * ``"macs"``: multiply-adds of the convolutions, ``H W c_in c_mid`` (1x1 reduce, full size)
          ``+ H' W' (9 c_mid^2 + c_mid c_out)`` (3x3 and 1x1 expand) ``+ H' W' c_in c_out``
          (projection); batch norm, ReLU and the addition are not counted (a few per output
          value, negligible); ``"macs_per_layer"``: the same, per convolution.
    """
    c_in = _int(c_in, "c_in", 1)
    c_mid = _int(c_mid, "c_mid", 1)
    c_out = _int(c_out, "c_out", 1)
    stride = _int(stride, "stride", 1)
    projection = stride != 1 or c_in != c_out
    params = c_in * c_mid + 9 * c_mid * c_mid + c_mid * c_out + 2 * (2 * c_mid + c_out)
    buffers = 2 * (2 * c_mid + c_out)
    if projection:
        params += c_in * c_out + 2 * c_out
        buffers += 2 * c_out
    cost = {"params": params, "buffers": buffers, "projection": projection}
    if height is None:
        if width is not None:
            raise ValueError("give height (and optionally width), not width alone")
        return cost
    H = _int(height, "height", 1)
    W = H if width is None else _int(width, "width", 1)
    Ho, Wo = (H - 1) // stride + 1, (W - 1) // stride + 1
    per = {"reduce 1x1": H * W * c_in * c_mid, "3x3": Ho * Wo * 9 * c_mid * c_mid,
           "expand 1x1": Ho * Wo * c_mid * c_out}
    if projection:
        per["projection 1x1"] = Ho * Wo * c_in * c_out
    cost.update(out_size=(Ho, Wo), macs=sum(per.values()), macs_per_layer=per)
    return cost


def count_conv_macs(model, input_shape) -> int:
    """Multiply-adds of every ``nn.Conv2d`` and ``nn.Linear`` in ``model`` for one input of shape
    ``input_shape`` (C, H, W), measured with forward hooks (an independent check of the formulas):
    a convolution costs ``out.numel() * (C_in / groups) * KH * KW``, a dense layer ``in * out``.
    """
    import torch
    from torch import nn

    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total[0] += output[0].numel() * (module.in_channels // module.groups) * kh * kw
        else:
            total[0] += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            p = next(model.parameters(), None)
            dtype = p.dtype if p is not None else torch.float32
            model(torch.zeros((1, *input_shape), dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total[0])


# ---------------------------------------------------------------------------
# PyTorch blocks (built on first use, so the numpy functions do not import torch)
# ---------------------------------------------------------------------------
BLOCK_KINDS = ("plain", "residual")


@functools.lru_cache(maxsize=None)
def _torch_classes():
    import torch
    from torch import nn

    class BottleneckBlock(nn.Module):
        """ResNet's bottleneck block: (N, c_in, H, W) -> (N, c_out, H', W'), H' = floor((H - 1) / stride) + 1.

        ``y = relu(F(x) + shortcut(x))`` with ``F`` = 1x1 conv (c_in -> c_mid) -> BN -> ReLU ->
        3x3 conv (c_mid -> c_mid, stride, padding 1) -> BN -> ReLU -> 1x1 conv (c_mid -> c_out) -> BN.
        Every convolution has ``bias=False``: the batch norm after it subtracts the channel mean,
        which would cancel any bias. The shortcut is the identity, or a 1x1 convolution with the
        stride followed by BN (a *projection*) when ``stride != 1 or c_in != c_out``. The stride
        sits on the 3x3 convolution (as torchvision's ResNet-50 v1.5; the 2015 paper put it on the
        first 1x1). Submodules: conv1, bn1, conv2, bn2, conv3, bn3 and shortcut (nn.Identity or
        nn.Sequential(conv, bn)).
        """

        def __init__(self, c_in, c_mid, c_out, stride=1):
            super().__init__()
            c_in, c_mid, c_out = _int(c_in, "c_in", 1), _int(c_mid, "c_mid", 1), _int(c_out, "c_out", 1)
            stride = _int(stride, "stride", 1)
            self.conv1 = nn.Conv2d(c_in, c_mid, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_mid)
            self.conv2 = nn.Conv2d(c_mid, c_mid, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_mid)
            self.conv3 = nn.Conv2d(c_mid, c_out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(c_out)
            self.shortcut = nn.Identity()
            if stride != 1 or c_in != c_out:
                self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            f = torch.relu(self.bn1(self.conv1(x)))
            f = torch.relu(self.bn2(self.conv2(f)))
            f = self.bn3(self.conv3(f))
            return torch.relu(f + self.shortcut(x))

    class BasicBlock(nn.Module):
        """ResNet's basic block (lecture 06): y = relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x)).

        (N, c_in, H, W) -> (N, c_out, H', W'); bias-free convolutions; a 1x1 projection (conv with
        the stride + BN) when the shape changes. Submodules: F (nn.Sequential) and shortcut.
        """

        residual = True

        def __init__(self, c_in, c_out, stride=1):
            super().__init__()
            self.F = nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
            self.shortcut = nn.Identity()
            if stride != 1 or c_in != c_out:
                self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            return torch.relu(self.F(x) + self.shortcut(x)) if self.residual else torch.relu(self.F(x))

    class PlainBlock(BasicBlock):
        """BasicBlock's layers without the shortcut: y = relu(F(x))."""

        residual = False

    for cls in (BottleneckBlock, BasicBlock, PlainBlock):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return {"BottleneckBlock": BottleneckBlock, "BasicBlock": BasicBlock, "PlainBlock": PlainBlock}


def __getattr__(name):
    if name in ("BottleneckBlock", "BasicBlock", "PlainBlock"):
        return _torch_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


STACK_CHANNELS = 16
STACK_CLASSES = 10
MAX_DEPTH = 256


def _check_kind(block_kind):
    if block_kind not in BLOCK_KINDS:
        raise ValueError(f"block_kind must be one of {BLOCK_KINDS}, got {block_kind!r}")
    return block_kind


def make_depth_stack(block_kind, depth, seed=0, channels=STACK_CHANNELS):
    """The network of the depth experiment, at PyTorch's default initialisation, in float64.

    ``Conv2d(1, channels, 3, padding=1)`` (the *first layer*, with a bias) -> ``depth`` blocks
    (``PlainBlock`` or ``BasicBlock(channels, channels)``; block_kind "plain" or "residual") ->
    ``AdaptiveAvgPool2d(1)`` -> ``Flatten`` -> ``Linear(channels, 10)``. The weights are drawn
    after ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng``, so the caller's global
    random state is unchanged. Input (N, 1, H, W) -> logits (N, 10).
    """
    import torch
    from torch import nn

    _check_kind(block_kind)
    depth = _int(depth, "depth", 0)
    if depth > MAX_DEPTH:
        raise ValueError(f"depth must be <= {MAX_DEPTH}, got {depth}")
    channels = _int(channels, "channels", 1)
    block = _torch_classes()["PlainBlock" if block_kind == "plain" else "BasicBlock"]
    seed = _int(seed, "seed", 0)
    with torch.random.fork_rng(devices=[]):          # the caller's global RNG state is left as it was
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), *[block(channels, channels) for _ in range(depth)],
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, STACK_CLASSES))
    return net.double()


def stack_weights(net) -> list:
    """The parameters of a network as a list of float64 numpy arrays, in ``net.parameters()`` order.

    For :func:`make_depth_stack` networks: the first conv's weight (channels, 1, 3, 3) and bias,
    then per block conv (c, c, 3, 3), BN gamma, BN beta, conv, gamma, beta, then the dense
    layer's weight (10, c) and bias (10,). Buffers (running statistics) are not included: at
    initialisation, in training mode, they do not affect the output.
    """
    return [p.detach().cpu().double().numpy().copy() for p in net.parameters()]


def load_stack_weights(block_kind, weights, channels=STACK_CHANNELS):
    """Build the :func:`make_depth_stack` network whose parameters are ``weights`` (a list of arrays).

    The depth follows from the number of arrays (``4 + 6 * depth``). Every array is checked
    (count, shape, finite) before anything is copied, so untrusted weights (a student's) give a
    ValueError that names the first bad entry, never a crash deep in PyTorch.
    """
    import torch

    _check_kind(block_kind)
    if not isinstance(weights, (list, tuple)):
        raise ValueError(f"weights must be a list of arrays, got {type(weights).__name__}")
    n = len(weights)
    if n < 4 or (n - 4) % 6 or (n - 4) // 6 > MAX_DEPTH:
        raise ValueError(f"weights must hold 4 + 6 * depth arrays (depth <= {MAX_DEPTH}), got {n}")
    net = make_depth_stack(block_kind, (n - 4) // 6, seed=0, channels=channels)
    params = list(net.parameters())
    arrays = []
    for i, (w, p) in enumerate(zip(weights, params)):
        try:
            a = np.asarray(w, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"weights[{i}] is not a numeric array: {exc}") from None
        if a.shape != tuple(p.shape):
            raise ValueError(f"weights[{i}] has shape {a.shape}, expected {tuple(p.shape)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"weights[{i}] contains NaN or infinite values")
        arrays.append(a)
    with torch.no_grad():
        for a, p in zip(arrays, params):
            p.copy_(torch.from_numpy(a))
    return net


def first_layer_grad_norm(net_or_weights, block_kind=None, *, data_seed=0, batch=32, size=16) -> float:
    """Norm of the loss's gradient at the first layer's weight, on a fixed random batch.

    Args:
        net_or_weights: an ``nn.Module`` whose first parameter is the first layer's weight (it is
            used in float64 and training mode, on a copy, so the caller's model is untouched), or a
            list of weight arrays for :func:`load_stack_weights` (then block_kind is required).
        data_seed: the seed of the batch, drawn from its own generator: ``batch`` images
            (batch, 1, size, size) of standard normal noise and labels uniform in 0-9, independent
            of the weights, so the result is a pure function of the weights.

    Returns:
        ``||dL/dW_1||`` (Frobenius norm), L the mean cross-entropy, as a float.
    """
    import copy

    import torch
    from torch import nn

    if isinstance(net_or_weights, nn.Module):
        net = copy.deepcopy(net_or_weights).double()
    else:
        if block_kind is None:
            raise ValueError("with a list of weights, give block_kind ('plain' or 'residual')")
        net = load_stack_weights(block_kind, net_or_weights)
    net.train()
    gen = torch.Generator().manual_seed(_int(data_seed, "data_seed", 0))
    batch, size = _int(batch, "batch", 2), _int(size, "size", 1)
    x = torch.randn(batch, 1, size, size, generator=gen, dtype=torch.float64)
    y = torch.randint(0, STACK_CLASSES, (batch,), generator=gen)
    first = next(net.parameters())
    net.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(net(x), y).backward()
    return float(first.grad.norm())


def grad_norm_vs_depth(block_kind, depths, seed=0, *, data_seed=0) -> np.ndarray:
    """First-layer gradient norm at initialisation for stacks of ``depth`` blocks, one per depth.

    block_kind: "plain" or "residual"; depths: a list of ints (0 to 256). Each network is
    :func:`make_depth_stack(block_kind, depth, seed)` and the norm :func:`first_layer_grad_norm`
    on the batch of ``data_seed``. Returns a float64 array of ``len(depths)`` norms. Plain stacks'
    norms change by orders of magnitude with depth; residual ones stay within a narrow factor.
    """
    _check_kind(block_kind)
    if not isinstance(depths, (list, tuple, np.ndarray)) or len(depths) == 0:
        raise ValueError(f"depths must be a non-empty list of ints, got {depths!r}")
    return np.array([first_layer_grad_norm(make_depth_stack(block_kind, d, seed), data_seed=data_seed)
                     for d in depths])
