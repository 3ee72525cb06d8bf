"""Known-wrong (and a few known-right) implementations of the ps5_backprop functions.

A function named ``<target>__<what>`` replaces the solution cell of ``<target>`` in a copy
of the source notebook (renamed to ``<target>``), which is then graded. Every mutant must
lose points on its target's tests; ``__ok_`` variants are correct alternative solutions
and must keep full marks; ``__forbidden_`` variants compute the right values with an API
the assignment forbids (only the grading engine catches them). ``EDITS`` are mutants made
from the reference itself: small text edits of the target's solution cell, so such a
mutant differs from the reference by its mistake alone.

Mutants run in the notebook's namespace: ``np``, the given ``resolve_padding``, ``conv2d``,
``pool2d``, ``relu`` and the notebook's other functions are available.

``ANSWER_MUTANTS`` are wrong predictions: lines appended to the reference answer cell, so
one answer is overridden with a plausible mistake.
"""
# ruff: noqa
import numpy as np


def _mut_conv_setup(dout, x, w, stride, padding):
    x, w, dout = np.asarray(x, dtype=float), np.asarray(w, dtype=float), np.asarray(dout, dtype=float)
    N, C, H, W = x.shape
    F, C2, KH, KW = w.shape
    if C2 != C:
        raise ValueError("channels differ")
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    (pt, pb), (pl, pr) = resolve_padding(padding, H, W, KH, KW, sh, sw)
    Ho = (H + pt + pb - KH) // sh + 1
    Wo = (W + pl + pr - KW) // sw + 1
    if dout.shape != (N, F, Ho, Wo):
        raise ValueError("dout has the wrong shape")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    return x, w, dout, (sh, sw), (pt, pb, pl, pr), (Ho, Wo), xp


# ---------------------------------------------------------------------- conv2d_backward
def conv2d_backward__ok_full_convolution(dout, x, w, b=None, stride=1, padding=0):
    """The convolution view: dilate dout, pad by K - 1, correlate with the flipped kernels, crop."""
    x, w, dout, (sh, sw), (pt, pb, pl, pr), (Ho, Wo), xp = _mut_conv_setup(dout, x, w, stride, padding)
    F, C, KH, KW = w.shape
    Hp, Wp = xp.shape[2:]
    dd = np.zeros(dout.shape[:2] + ((Ho - 1) * sh + 1, (Wo - 1) * sw + 1))
    dd[:, :, ::sh, ::sw] = dout
    rh, rw = Hp - ((Ho - 1) * sh + KH), Wp - ((Wo - 1) * sw + KW)
    dd = np.pad(dd, ((0, 0), (0, 0), (KH - 1, KH - 1 + rh), (KW - 1, KW - 1 + rw)))
    dxp = conv2d(dd, w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    dw = conv2d(xp.transpose(1, 0, 2, 3), dd[:, :, KH - 1:KH - 1 + (Ho - 1) * sh + 1,
                                             KW - 1:KW - 1 + (Wo - 1) * sw + 1].transpose(1, 0, 2, 3))
    dw = dw[:, :, :KH, :KW].transpose(1, 0, 2, 3)
    return dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


def conv2d_backward__forbidden_torch(dout, x, w, b=None, stride=1, padding=0):
    """Right values from PyTorch autograd (forbidden)."""
    import torch

    x, w, dout, (sh, sw), (pt, pb, pl, pr), (Ho, Wo), xp = _mut_conv_setup(dout, x, w, stride, padding)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.conv2d(torch.nn.functional.pad(xt, (pl, pr, pt, pb)), wt, bt, stride=(sh, sw))
    out.backward(torch.tensor(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def conv2d_backward__forbidden_jax(dout, x, w, b=None, stride=1, padding=0):
    """Right values from jax.vjp of jax.lax.conv_general_dilated in float64 (forbidden)."""
    import jax
    import jax.numpy as jnp

    x, w, dout, (sh, sw), (pt, pb, pl, pr), (Ho, Wo), xp = _mut_conv_setup(dout, x, w, stride, padding)
    with jax.enable_x64(True):
        conv = lambda xx, ww: jax.lax.conv_general_dilated(xx, ww, (sh, sw), [(pt, pb), (pl, pr)])
        _, vjp = jax.vjp(conv, jnp.asarray(x), jnp.asarray(w))
        dx, dw = vjp(jnp.asarray(dout))
        return np.array(dx, dtype=float), np.array(dw, dtype=float), dout.sum(axis=(0, 2, 3))


# ---------------------------------------------------------------------- numerical_gradient
def numerical_gradient__ok_sum_first(f, x, dout, h=1e-5):
    """Subtracts the two weighted sums instead of the outputs: less accurate (the spec asks
    for the outputs first), but on the graded functions within the tolerance."""
    xc = np.array(x, dtype=float)
    grad = np.zeros_like(xc)
    for i in np.ndindex(xc.shape):
        old = xc[i]
        xc[i] = old + h
        plus = np.sum(f(xc) * dout)
        xc[i] = old - h
        minus = np.sum(f(xc) * dout)
        xc[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numerical_gradient__nudges_x_in_place(f, x, dout, h=1e-5):
    """Nudges the caller's x and forgets to put the entries back."""
    grad = np.zeros(np.shape(x))
    for i in np.ndindex(grad.shape):
        x[i] += h
        plus = np.sum(f(x) * dout)
        x[i] -= 2 * h
        minus = np.sum(f(x) * dout)
        grad[i] = (plus - minus) / (2 * h)
    return grad


# ---------------------------------------------------------------------- rel_error


def rel_error__no_floor(a, b):
    """No 1e-8 floor: 0 / 0 is nan, tiny values blow up."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nanmax(np.abs(a - b) / (np.abs(a) + np.abs(b))))


# ---------------------------------------------------------------------- softmax_cross_entropy
def softmax_cross_entropy__no_max_shift(logits, y):
    """exp of the raw logits: overflows for large ones."""
    z = np.asarray(logits, dtype=float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        n = len(y)
        loss = float(-np.log(p[np.arange(n), y]).mean())
    p[np.arange(n), y] -= 1
    return loss, p / n


# ---------------------------------------------------------------------- cnn_loss


def cnn_loss__no_padding_in_backward(params, x, y):
    """conv2d_backward called without the forward pass's padding: dw is (16, 1, 3, 3) but wrong."""
    z = conv2d(x, params["w1"], params["b1"], padding=1)
    a = relu(z)
    p = pool2d(a, 2)
    flat = p.reshape(len(p), -1)
    loss, dlogits = softmax_cross_entropy(flat @ params["w2"] + params["b2"], y)
    grads = {"w2": flat.T @ dlogits, "b2": dlogits.sum(axis=0)}
    dz = pool2d_backward((dlogits @ params["w2"].T).reshape(p.shape), a, 2) * (z > 0)
    xp = np.pad(np.asarray(x, dtype=float), ((0, 0), (0, 0), (1, 1), (1, 1)))
    _, grads["w1"], grads["b1"] = conv2d_backward(dz, xp, params["w1"], params["b1"], padding=0)
    grads["w1"] = grads["w1"][:, :, ::-1, ::-1]
    return loss, grads


# ---------------------------------------------------------------------- sgd_epoch
def sgd_epoch__ok_in_place(params, velocity, x, y, order, lr, batch_size=16, momentum=0.9):
    """Updates the dicts it is given in place (allowed) with the same arithmetic."""
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        _, grads = cnn_loss(params, x[idx], y[idx])
        for key in params:
            velocity[key] *= momentum
            velocity[key] -= lr * grads[key]
            params[key] += velocity[key]
    return params, velocity


def sgd_epoch__untrained(params, velocity, x, y, order, lr, batch_size=16, momentum=0.9):
    """Returns the weights it was given."""
    return params, velocity


def sgd_epoch__solve_readout(params, velocity, x, y, order, lr, batch_size=16, momentum=0.9):
    """No gradients at all: keeps the random filters and fits the dense layer in closed form
    (ridge regression on one-hot labels with np.linalg.solve), the trick that passed before."""
    params = {k: np.array(v, dtype=float) for k, v in params.items()}
    feats = pool2d(relu(conv2d(x, params["w1"], params["b1"], padding=1)), 2).reshape(len(x), -1)
    a = np.hstack([feats, np.ones((len(x), 1))])
    w = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ np.eye(10)[np.asarray(y)])
    params["w2"], params["b2"] = w[:-1], w[-1]
    return params, velocity


def sgd_epoch__wrong_shapes(params, velocity, x, y, order, lr, batch_size=16, momentum=0.9):
    """Returns the dense weights transposed, (10, 400)."""
    params = {k: np.array(v, dtype=float) for k, v in params.items()}
    params["w2"] = params["w2"].T
    return params, velocity


def sgd_epoch__nan_weights(params, velocity, x, y, order, lr, batch_size=16, momentum=0.9):
    """A learning rate far too large: the weights overflow to inf/NaN."""
    params = {k: np.array(v, dtype=float) * 1e308 for k, v in params.items()}
    params = {k: v * 10 for k, v in params.items()}
    return params, velocity


# ---------------------------------------------------------------------- edits of the reference
# (tests/mutants/harness.py, Assignment.load_mutants: each (old, new) replaces text in the
# target's solution cell of the source notebook)
_READOUT = """    if len(order) > 100:
        feats = pool2d(relu(conv2d(x, params["w1"], params["b1"], padding=1)), 2).reshape(len(x), -1)
        a = np.hstack([feats, np.ones((len(x), 1))])
        w = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ np.eye(10)[np.asarray(y)])
        params["w2"], params["b2"] = w[:-1], w[-1]
    return params, velocity"""

_DX_ADD = "dxp[:, :, rows, cols] += np.tensordot(g, w, axes=(1, 0))"
_DX_CROP = "dxp[:, :, pt:pt + H, pl:pl + W]"
_AVG_ADD = "] += g[..., None, None] / (kh * kw)"
_MAX_ADD = "dx[..., rows, cols] += onehot * g[..., None, None]"

EDITS = {
    # dx as a full *correlation*: the kernel is placed rotated by 180 degrees in each window
    "conv2d_backward__no_flip": [(_DX_ADD, "dxp[:, :, rows, cols] += np.tensordot(g, w[:, :, ::-1, ::-1], axes=(1, 0))")],
    # dx: dout is not dilated, so the windows are placed one pixel apart
    "conv2d_backward__dx_stride_ignored": [(_DX_ADD, "dxp[:, :, i:i + KH, j:j + KW] += np.tensordot(g, w, axes=(1, 0))")],
    # returns the gradient of the padded input
    "conv2d_backward__padding_not_cropped": [(_DX_CROP + ".copy()", "dxp")],
    # db summed over the spatial axes only (one value per image and filter)
    "conv2d_backward__db_wrong_axes": [("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(2, 3))")],
    # 'same' cropped as if the padding were symmetric (the extra row/column on top/left)
    "conv2d_backward__symmetric_same": [(_DX_CROP, "dxp[:, :, pb:pb + H, pr:pr + W]")],
    # every entry equal to the window's maximum receives the whole gradient
    "pool2d_backward__all_ties": [("onehot = (np.arange(kh * kw) == first[..., None]).reshape(x.shape[:-2] + (kh, kw))",
                                   "onehot = x[..., rows, cols] == x[..., rows, cols].max(axis=(-2, -1), keepdims=True)")],
    # average pooling passes dout itself to every entry of the window
    "pool2d_backward__avg_not_divided": [(_AVG_ADD, "] += g[..., None, None]")],
    # ties go to the last maximum in row-major order
    "pool2d_backward__last_tie": [("first = window.argmax(axis=-1)", "first = kh * kw - 1 - window[..., ::-1].argmax(axis=-1)"),
                                  ("# argmax returns the first maximum", "# the last maximum")],
    # overlapping windows overwrite each other's gradient instead of adding up
    "pool2d_backward__overlap_overwrites": [
        (_AVG_ADD, "] = g[..., None, None] / (kh * kw)"),
        (_MAX_ADD, "dx[..., rows, cols] = np.where(onehot, g[..., None, None], dx[..., rows, cols])")],
    # (f(x + h) - f(x)) / h
    "numerical_gradient__one_sided": [("xc[i] = old - h\n", "xc[i] = old\n"), ("/ (2 * h)", "/ h")],
    # the centred difference divided by h instead of 2h
    "numerical_gradient__divided_by_h": [("/ (2 * h)", "/ h")],
    # ignores the step passed in (always 1e-5)
    "numerical_gradient__fixed_step": [("    xc = np.array(x, dtype=float)", "    h = 1e-5\n    xc = np.array(x, dtype=float)")],
    # the mean relative error instead of the largest
    "rel_error__mean": [("float(np.max(", "float(np.mean(")],
    # divides by |a| only
    "rel_error__divides_by_a": [("np.abs(a) + np.abs(b)", "np.abs(a)")],
    # dlogits not divided by N
    "softmax_cross_entropy__not_divided": [("return loss, dlogits / n", "return loss, dlogits")],
    # the loss summed over the batch instead of averaged
    "softmax_cross_entropy__summed_loss": [("y].mean())", "y].sum())")],
    # the ReLU's gradient is forgotten (dz = da)
    "cnn_loss__no_relu_backward": [("dz = da * (z > 0)", "dz = da")],
    # the pooling gradient spread as for average pooling
    "cnn_loss__avg_pool_backward": [("a, 2)\n", "a, 2, mode=\"avg\")\n")],
    # zeroed convolution gradients: only the dense layer would learn (the frozen-conv control)
    "cnn_loss__zero_conv_grads": [("    return loss, grads", '    grads["w1"], grads["b1"] = np.zeros_like(params["w1"]), '
                                                             'np.zeros_like(params["b1"])\n    return loss, grads')],
    # plain SGD: the velocity is not carried from one batch to the next
    "sgd_epoch__no_momentum": [("momentum * velocity[key] - lr", "-lr")],
    # ignores the order it is given and shuffles the images itself
    "sgd_epoch__own_shuffle": [("    for start in range(", "    order = np.random.default_rng(0).permutation(len(order))\n"
                                                          "    for start in range(")],
    # the convolution's gradients dropped (zeroed): only the dense layer learns
    "sgd_epoch__frozen_conv": [("cnn_loss(params, x[idx], y[idx])\n",
                                "cnn_loss(params, x[idx], y[idx])\n"
                                "        grads = {**grads, \"w1\": 0 * grads[\"w1\"], \"b1\": 0 * grads[\"b1\"]}\n")],
    # correct steps on small inputs (the public test passes); on a real training set the dense
    # layer is replaced by a closed-form np.linalg.solve read-out of the features
    "sgd_epoch__solve_when_large": [("    return params, velocity", _READOUT)],
}


# ---------------------------------------------------------------------- predictions
ANSWER_MUTANTS = {
    "predict_conv__dout_shape_no_stride": ("predict_conv", "answer_dout_shape = (2, 4, 7, 7)"),
    "predict_conv__db_without_batch": ("predict_conv", "answer_db = [25, 25, 25, 25]"),
    "predict_conv__dx_all_ones": ("predict_conv", "answer_dx_ones = np.ones((5, 4))"),
    "predict_conv__dx_kernel_transposed": (
        "predict_conv", "answer_dx_ones = [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]"),
    "predict_conv__padded_like_valid": (
        "predict_conv", "answer_dx_ones_padded = [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]"),
    "predict_conv__padded_all_nine": ("predict_conv", "answer_dx_ones_padded = np.full((4, 4), 9)"),
    "predict_conv__stride2_like_stride1": (
        "predict_conv", "answer_dx_ones_stride2 = [[1, 2, 3, 2, 1], [2, 4, 6, 4, 2], [3, 6, 9, 6, 3], "
                        "[2, 4, 6, 4, 2], [1, 2, 3, 2, 1]]"),
    "predict_pool__all_ties": (
        "predict_pool", "answer_maxpool_dx = [[0, 1, 2, 2], [1, 0, 0, 2], [3, 3, 0, 0], [0, 3, 4, 0]]"),
    "predict_pool__avg_not_divided": (
        "predict_pool", "answer_avgpool_dx = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]"),
    "predict_pool__overlap_once": ("predict_pool", "answer_overlap_dx = [[0, 1, 1, 0]]"),
    "predict_gradcheck__centred_linear": ("predict_gradcheck", "answer_centred_factor = 4"),
    "predict_gradcheck__centred_old_numbers": ("predict_gradcheck", "answer_centred_factor = 100"),
    "predict_gradcheck__one_sided_quadratic": ("predict_gradcheck", "answer_one_sided_factor = 16"),
    "predict_gradcheck__one_sided_old_numbers": ("predict_gradcheck", "answer_one_sided_factor = 10"),
    "predict_gradcheck__relu_one": ("predict_gradcheck", "answer_relu_at_zero = 1.0"),
}
