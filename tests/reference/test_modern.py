"""solutions/modern.py: batch norm, dropout, im2col, transposed convolution, bottleneck blocks and
the gradient-norm-vs-depth experiment, against PyTorch in float64 (and numerical gradients)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import solutions as ref
from solutions import modern as M

pytestmark = pytest.mark.xdist_group("modern_reference")

TOL = dict(rtol=1e-12, atol=1e-12)


def t(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def numerical_gradient(f, x, dout, h=1e-6):
    """Centred differences of L(x) = sum(f(x) * dout); the two outputs are subtracted before the
    weighted sum (summing first would subtract two large, nearly equal totals)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.array(f(x), dtype=np.float64)
        x[i] = old - h
        minus = np.array(f(x), dtype=np.float64)
        x[i] = old
        grad[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad


def close(a, b, what, **tol):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape}, expected {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=what, **(tol or TOL))


# ---------------------------------------------------------------------------
# batch norm
# ---------------------------------------------------------------------------
BN_SHAPES = [(4, 3, 5, 6), (1, 2, 3, 4), (5, 1, 1, 1), (2, 1, 7, 1), (3, 4, 2, 2)]


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm_train_forward_backward_and_running_stats_match_torch(shape):
    rng = np.random.default_rng(sum(shape))
    C = shape[1]
    x = rng.standard_normal(shape) * 3 + 2
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5
    copies = [a.copy() for a in (x, gamma, beta, rm, rv)]
    out, cache = M.batchnorm2d_forward(x, gamma, beta, eps=1e-5, running_mean=rm, running_var=rv,
                                       momentum=0.1, return_cache=True)
    xt, gt, bt = t(x, True), t(gamma, True), t(beta, True)
    rmt, rvt = t(rm), t(rv)
    want = F.batch_norm(xt, rmt, rvt, gt, bt, training=True, momentum=0.1, eps=1e-5)
    close(out, want.detach().numpy(), "out")
    close(cache["running_mean"], rmt.numpy(), "running_mean (momentum 0.1)")
    close(cache["running_var"], rvt.numpy(), "running_var (unbiased batch variance)")
    close(cache["var"], x.var(axis=(0, 2, 3)), "the biased batch variance normalises")
    for a, c in zip((x, gamma, beta, rm, rv), copies):
        np.testing.assert_array_equal(a, c)                      # nothing modified in place
    dout = rng.standard_normal(shape)
    want.backward(t(dout))
    dx, dgamma, dbeta = M.batchnorm2d_backward(dout, x, gamma, eps=1e-5)
    close(dx, xt.grad.numpy(), "dx", rtol=1e-9, atol=1e-11)
    close(dgamma, gt.grad.numpy(), "dgamma", rtol=1e-11, atol=1e-11)
    close(dbeta, bt.grad.numpy(), "dbeta")


def test_batchnorm_eval_mode_matches_torch_and_ignores_the_batch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5))
    gamma, beta, rm, rv = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3), rng.random(3) + .1
    out, cache = M.batchnorm2d_forward(x, gamma, beta, 1e-3, mode="eval", running_mean=rm, running_var=rv,
                                       return_cache=True)
    xt, gt, bt = t(x, True), t(gamma, True), t(beta, True)
    want = F.batch_norm(xt, t(rm), t(rv), gt, bt, training=False, eps=1e-3)
    close(out, want.detach().numpy(), "eval out")
    close(cache["running_mean"], rm, "eval leaves the running mean")
    # one image at a time gives the same as the batch: inference does not depend on the batch
    close(M.batchnorm2d_forward(x[:1], gamma, beta, 1e-3, mode="eval", running_mean=rm, running_var=rv),
          out[:1], "eval out of one image")
    dout = rng.standard_normal(x.shape)
    want.backward(t(dout))
    grads = M.batchnorm2d_backward(dout, x, gamma, 1e-3, mode="eval", running_mean=rm, running_var=rv)
    for g, w, name in zip(grads, (xt.grad, gt.grad, bt.grad), ("dx", "dgamma", "dbeta")):
        close(g, w.numpy(), f"eval {name}")


def test_batchnorm_backward_numerical_gradient():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 3, 2))
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    dout = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = M.batchnorm2d_backward(dout, x, gamma)
    close(dx, numerical_gradient(lambda z: M.batchnorm2d_forward(z, gamma, beta), x, dout), "dx numerical",
          rtol=1e-6, atol=1e-8)
    close(dgamma, numerical_gradient(lambda g: M.batchnorm2d_forward(x, g, beta), gamma, dout), "dgamma numerical",
          rtol=1e-6, atol=1e-8)
    close(dbeta, numerical_gradient(lambda b: M.batchnorm2d_forward(x, gamma, b), beta, dout), "dbeta numerical",
          rtol=1e-6, atol=1e-8)
    # the normalised output has zero mean per channel, so the sum of dx over a channel is 0 when
    # dout is constant: a conv bias before BN receives no gradient
    dx_const = M.batchnorm2d_backward(np.ones_like(x), x, gamma)[0]
    assert np.abs(dx_const).max() < 1e-12


def test_conv_bias_is_cancelled_by_batchnorm():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4) * 5
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    with_b = M.batchnorm2d_forward(ref.conv2d(x, w, b, padding=1), gamma, beta)
    without = M.batchnorm2d_forward(ref.conv2d(x, w, None, padding=1), gamma, beta)
    close(with_b, without, "BN(conv + b) == BN(conv)", rtol=1e-10, atol=1e-10)
    assert np.abs(ref.conv2d(x, w, b, padding=1) - ref.conv2d(x, w, None, padding=1)).max() > 1


def test_batchnorm_dtypes_and_torch_module_in_float32():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
    out = M.batchnorm2d_forward(x, np.ones(2, np.float32), np.zeros(2, np.float32))
    assert out.dtype == np.float32
    bn = torch.nn.BatchNorm2d(2).train()
    close(out, bn(torch.from_numpy(x)).detach().numpy(), "float32 vs nn.BatchNorm2d", rtol=1e-5, atol=1e-5)
    ints = M.batchnorm2d_forward(np.arange(16).reshape(2, 2, 2, 2), [1, 1], [0, 0])
    assert ints.dtype == np.float64


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(x=np.zeros((2, 3, 4))), ValueError, r"x must have 4 axes"),
    (dict(gamma=np.ones(2)), ValueError, r"gamma must have one entry per channel, shape \(3,\)"),
    (dict(beta=np.ones((3, 1))), ValueError, r"beta must have 1 axes"),
    (dict(x=np.zeros((2, 3, 4, 4), dtype=bool)), TypeError, r"dtype bool"),
    (dict(mode="test"), ValueError, r"mode must be 'train' or 'eval'"),
    (dict(mode="eval"), ValueError, r"running_mean and running_var"),
    (dict(running_mean=np.zeros(3)), ValueError, r"both running_mean and running_var"),
    (dict(running_mean=np.zeros(3), running_var=np.ones(3)), ValueError, r"return_cache=True"),
    (dict(running_mean=np.zeros(3), running_var=np.ones(4), return_cache=True), ValueError, r"running_var must have"),
    (dict(x=np.zeros((1, 3, 1, 1))), ValueError, r"more than one value per channel"),
    (dict(momentum=1.5), ValueError, r"momentum must be in \[0, 1\]"),
    (dict(eps=-1.0), ValueError, r"eps must be in"),
    (dict(eps="1e-5"), TypeError, r"eps must be a real number"),
])
def test_batchnorm_bad_input(kwargs, exc, match):
    args = dict(x=np.zeros((2, 3, 4, 4)), gamma=np.ones(3), beta=np.zeros(3))
    args.update(kwargs)
    x, gamma, beta = args.pop("x"), args.pop("gamma"), args.pop("beta")
    with pytest.raises(exc, match=match):
        M.batchnorm2d_forward(x, gamma, beta, **args)


def test_batchnorm_backward_bad_input():
    with pytest.raises(ValueError, match=r"dout must have x's shape \(2, 3, 4, 4\)"):
        M.batchnorm2d_backward(np.zeros((2, 3, 4, 5)), np.zeros((2, 3, 4, 4)), np.ones(3))
    with pytest.raises(ValueError, match="eval mode"):
        M.batchnorm2d_backward(np.zeros((2, 3, 4, 4)), np.zeros((2, 3, 4, 4)), np.ones(3), mode="eval")


# ---------------------------------------------------------------------------
# dropout
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_is_inverted_and_matches_a_mask_based_torch_computation(p):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 5, 4))
    out, mask = M.dropout_forward(x, p, seed=7)
    assert mask.dtype == bool and mask.shape == x.shape
    out2, mask2 = M.dropout_forward(x, p, seed=7)
    np.testing.assert_array_equal(mask, mask2)                       # seeded: the same mask
    np.testing.assert_array_equal(mask, np.random.default_rng(7).random(x.shape) >= p)
    xt = t(x, True)
    mt = torch.tensor(mask)
    want = xt * mt / (1 - p)
    close(out, want.detach().numpy(), "dropout forward vs x * mask / (1 - p)")
    assert np.all(out[~mask] == 0) and np.allclose(out[mask], x[mask] / (1 - p))
    dout = rng.standard_normal(x.shape)
    want.backward(t(dout))
    close(M.dropout_backward(dout, mask, p), xt.grad.numpy(), "dropout backward vs autograd")


def test_dropout_keeps_the_expectation_and_drops_a_fraction_p():
    x = np.full(400_000, 2.0)
    for p in (0.2, 0.5, 0.9):
        out, mask = M.dropout_forward(x, p, seed=11)
        # each out is 2 / (1 - p) with probability 1 - p: mean 2, sd 2 sqrt(p / (1 - p)) / sqrt(n)
        sd = 2 * np.sqrt(p / (1 - p)) / np.sqrt(x.size)
        assert abs(out.mean() - 2.0) < 5 * sd, (p, out.mean())
        assert abs((~mask).mean() - p) < 5 * np.sqrt(p * (1 - p) / x.size)


def test_dropout_eval_p0_p1_generator_and_float32():
    x = np.arange(12.0).reshape(3, 4)
    out, mask = M.dropout_forward(x, 0.5, seed=0, train=False)
    assert mask is None
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(M.dropout_backward(np.ones_like(x), None, 0.5), np.ones_like(x))
    np.testing.assert_array_equal(M.dropout_forward(x, 0.0, seed=0)[0], x)
    out1, mask1 = M.dropout_forward(x, 1.0, seed=0)
    assert not mask1.any() and np.all(out1 == 0)
    assert np.all(M.dropout_backward(np.ones_like(x), mask1, 1.0) == 0)
    np.testing.assert_array_equal(F.dropout(t(x), p=1.0).numpy(), out1)
    gen = np.random.default_rng(3)
    a, b = M.dropout_forward(x, 0.5, seed=gen)[1], M.dropout_forward(x, 0.5, seed=gen)[1]
    assert not np.array_equal(a, b)                                  # a Generator is advanced
    assert M.dropout_forward(x.astype(np.float32), 0.3, seed=1)[0].dtype == np.float32


@pytest.mark.parametrize("call, exc, match", [
    (lambda: M.dropout_forward(np.ones(3), 1.5), ValueError, r"p \(the probability of dropping\) must be in \[0, 1\]"),
    (lambda: M.dropout_forward(np.ones(3), -0.1), ValueError, r"must be in \[0, 1\]"),
    (lambda: M.dropout_forward(np.ones(3), 0.5, seed=-1), TypeError, "seed must be"),
    (lambda: M.dropout_forward(np.ones(3), 0.5, seed="a"), TypeError, "seed must be"),
    (lambda: M.dropout_forward(np.array(["a"]), 0.5), TypeError, "real numeric array"),
    (lambda: M.dropout_backward(np.ones(3), np.ones(4, bool), 0.5), ValueError, r"mask must have dout's shape"),
    (lambda: M.dropout_backward(np.ones(3), np.ones(3), 0.5), TypeError, r"bool array"),
])
def test_dropout_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------------------
# im2col
# ---------------------------------------------------------------------------
def _conv_cases(count=60, seed=0):
    """Random shapes, many awkward: stride > kernel, sizes that do not divide, N = 1, C = 1."""
    rng = np.random.default_rng(seed)
    fixed = [((1, 1, 7, 7), (1, 1, 2, 2), 3, 0), ((1, 1, 5, 6), (2, 1, 3, 3), 2, 1),
             ((2, 3, 8, 5), (4, 3, 1, 1), 4, 0), ((1, 2, 9, 9), (3, 2, 3, 2), (3, 2), (1, 0)),
             ((3, 1, 4, 4), (1, 1, 4, 4), 1, 2)]
    cases = []
    for xs, ws, s, p in fixed:
        cases.append((rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0]), s, p))
    while len(cases) < count:
        N, C, Fo = (int(v) for v in rng.integers(1, 4, size=3))
        H, W = (int(v) for v in rng.integers(1, 10, size=2))
        KH, KW = (int(v) for v in rng.integers(1, 5, size=2))
        s = int(rng.integers(1, 5))
        p = int(rng.integers(0, 3))
        if KH > H + 2 * p or KW > W + 2 * p:
            continue
        b = rng.standard_normal(Fo) if rng.random() < 0.6 else None
        cases.append((rng.standard_normal((N, C, H, W)), rng.standard_normal((Fo, C, KH, KW)), b, s, p))
    return cases


CONV_CASES = _conv_cases()


def test_conv2d_im2col_matches_torch_and_the_reference_conv():
    worst = 0.0
    for i, (x, w, b, s, p) in enumerate(CONV_CASES):
        got = M.conv2d_im2col(x, w, b, stride=s, padding=p)
        want = F.conv2d(t(x), t(w), None if b is None else t(b), stride=s, padding=p).numpy()
        close(got, want, f"case {i}: x {x.shape} w {w.shape} s={s} p={p}", rtol=1e-12, atol=1e-12)
        close(got, ref.conv2d(x, w, b, stride=s, padding=p), f"case {i} vs solutions.conv2d", rtol=1e-12, atol=1e-12)
        worst = max(worst, float(np.abs(got - want).max()))
    assert worst < 1e-12


def test_conv2d_im2col_same_padding_and_float32():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 4, 3))
    for s in (1, 2, 3):
        close(M.conv2d_im2col(x, w, stride=s, padding="same"), ref.conv2d(x, w, stride=s, padding="same"),
              f"same, s={s}", rtol=1e-12, atol=1e-12)
    got = M.conv2d_im2col(x.astype(np.float32), w.astype(np.float32), padding=1)
    assert got.dtype == np.float32


def test_im2col_layout_matches_torch_unfold_and_col2im_matches_fold():
    rng = np.random.default_rng(7)
    for (N, C, H, W), (KH, KW), s, p in [((2, 3, 7, 6), (3, 2), 2, 1), ((1, 1, 5, 5), (2, 2), 3, 0),
                                         ((2, 2, 6, 9), (3, 3), (1, 2), (2, 1))]:
        x = rng.standard_normal((N, C, H, W))
        cols = M.im2col(x, (KH, KW), s, p)
        unfold = F.unfold(t(x), (KH, KW), padding=p, stride=s).numpy()          # (N, C KH KW, L)
        close(cols, unfold.transpose(0, 2, 1).reshape(-1, C * KH * KW), "im2col vs F.unfold")
        d = rng.standard_normal(cols.shape)
        back = M.col2im(d, (N, C, H, W), (KH, KW), s, p)
        L = cols.shape[0] // N
        fold = F.fold(t(d.reshape(N, L, -1).transpose(0, 2, 1)), (H, W), (KH, KW), padding=p, stride=s).numpy()
        close(back, fold, "col2im vs F.fold")
        # adjoint: <im2col(x), d> == <x, col2im(d)>
        assert abs(np.sum(cols * d) - np.sum(x * back)) < 1e-10 * max(1.0, abs(np.sum(cols * d)))


def test_im2col_bad_input():
    with pytest.raises(ValueError, match=r"larger than the padded input"):
        M.im2col(np.zeros((1, 1, 3, 3)), 5)
    with pytest.raises(ValueError, match=r"cols must have shape"):
        M.col2im(np.zeros((5, 9)), (1, 1, 4, 4), 3)
    with pytest.raises(ValueError, match=r"w has 2 input channels but x has 3"):
        M.conv2d_im2col(np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3)))
    with pytest.raises(TypeError, match="stride must be an int"):
        M.conv2d_im2col(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), stride=1.5)


# ---------------------------------------------------------------------------
# transposed convolution
# ---------------------------------------------------------------------------
def _transpose_cases(count=50, seed=1):
    rng = np.random.default_rng(seed)
    cases = [((1, 1, 3, 3), (1, 1, 2, 2), 3, 0, 2), ((1, 2, 2, 4), (2, 1, 3, 3), 2, 1, 1),
             ((2, 3, 4, 3), (3, 2, 1, 1), 4, 0, 3), ((1, 1, 1, 1), (1, 3, 4, 4), 1, 0, 0),
             ((2, 2, 3, 5), (2, 4, 3, 2), (2, 3), (1, 0), (1, 2))]
    cases = [(rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1]), s, p, op)
             for xs, ws, s, p, op in cases]
    while len(cases) < count:
        N, Ci, Co = (int(v) for v in rng.integers(1, 4, size=3))
        H, W = (int(v) for v in rng.integers(1, 7, size=2))
        K = int(rng.integers(1, 5))
        s = int(rng.integers(1, 5))
        p = int(rng.integers(0, 3))
        op = int(rng.integers(0, s))
        if (H - 1) * s - 2 * p + K + op < 1 or (W - 1) * s - 2 * p + K + op < 1:
            continue
        b = rng.standard_normal(Co) if rng.random() < 0.5 else None
        cases.append((rng.standard_normal((N, Ci, H, W)), rng.standard_normal((Ci, Co, K, K)), b, s, p, op))
    return cases


def test_conv_transpose2d_matches_torch():
    worst = 0.0
    for i, (x, w, b, s, p, op) in enumerate(_transpose_cases()):
        got = M.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op)
        want = F.conv_transpose2d(t(x), t(w), None if b is None else t(b), stride=s, padding=p,
                                  output_padding=op).numpy()
        close(got, want, f"case {i}: x {x.shape} w {w.shape} s={s} p={p} op={op}")
        worst = max(worst, float(np.abs(got - want).max()))
    assert worst < 1e-12


def test_conv2d_input_gradient_is_a_transposed_convolution():
    """dx of conv2d(x, w, s, p) == conv_transpose2d(dout, w, s, p, output_padding=(H + 2p - K) mod s)."""
    needed_output_padding = 0
    for i, (x, w, b, s, p) in enumerate(CONV_CASES):
        dout = np.random.default_rng(i).standard_normal(ref.conv2d(x, w, b, stride=s, padding=p).shape)
        dx = ref.conv2d_backward(dout, x, w, b, stride=s, padding=p)[0]
        sh, sw = (s, s) if isinstance(s, int) else s
        ph, pw = (p, p) if isinstance(p, int) else p
        op = ((x.shape[2] + 2 * ph - w.shape[2]) % sh, (x.shape[3] + 2 * pw - w.shape[3]) % sw)
        got = M.conv_transpose2d(dout, w, stride=s, padding=p, output_padding=op)
        close(got, dx, f"case {i}: x {x.shape} w {w.shape} s={s} p={p}", rtol=1e-11, atol=1e-11)
        close(M.conv2d_input_grad_as_transpose(dout, x.shape, w, s, p), dx, f"case {i} helper",
              rtol=1e-11, atol=1e-11)
        if any(op):
            needed_output_padding += 1
            # without output_padding the transposed convolution is too small: the rows the
            # forward pass's floor skipped are missing
            try:
                short = M.conv_transpose2d(dout, w, stride=s, padding=p).shape[2:]
            except ValueError:          # or even empty: refused
                short = None
            assert short != x.shape[2:]
    assert needed_output_padding >= 10, "the cases should cover sizes that do not divide"


def test_conv_transpose2d_numerical_gradient():
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((1, 2, 3, 2)), rng.standard_normal((2, 3, 3, 2))
    out = M.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    dout = rng.standard_normal(out.shape)
    # the transpose's own input gradient is a plain convolution with the same kernels
    dx = ref.conv2d(dout, w, stride=2, padding=1)
    close(dx, numerical_gradient(lambda z: M.conv_transpose2d(z, w, stride=2, padding=1, output_padding=1), x, dout),
          "conv_transpose2d dx numerical", rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("call, match", [
    (lambda: M.conv_transpose2d(np.zeros((1, 3, 4, 4)), np.zeros((2, 3, 3, 3))), r"w has 2 input channels"),
    (lambda: M.conv_transpose2d(np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 3, 3)), stride=2, output_padding=2),
     r"output_padding must be smaller than the stride \(2\)"),
    (lambda: M.conv_transpose2d(np.zeros((1, 2, 1, 1)), np.zeros((2, 3, 1, 1)), padding=1), r"output would be empty"),
    (lambda: M.conv_transpose2d(np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 3, 3)), padding="same"), r"int or a pair"),
    (lambda: M.conv_transpose2d(np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 3, 3)), b=np.zeros(2)), r"b has 2 entries"),
    (lambda: M.conv_transpose2d(np.zeros((2, 4, 4)), np.zeros((2, 3, 3, 3))), r"x must have 4 axes"),
])
def test_conv_transpose2d_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------
# global average pooling
# ---------------------------------------------------------------------------
def test_global_avg_pool_and_backward_match_torch():
    rng = np.random.default_rng(9)
    for shape in [(2, 3, 5, 4), (1, 1, 1, 1), (3, 2, 7, 1)]:
        x = rng.standard_normal(shape)
        xt = t(x, True)
        want = F.adaptive_avg_pool2d(xt, 1).flatten(1)
        close(M.global_avg_pool(x), want.detach().numpy(), f"gap {shape}")
        dout = rng.standard_normal(shape[:2])
        want.backward(t(dout))
        close(M.global_avg_pool_backward(dout, shape), xt.grad.numpy(), f"gap backward {shape}")
    with pytest.raises(ValueError, match=r"dout must have shape \(N, C\) = \(2, 3\)"):
        M.global_avg_pool_backward(np.zeros((3, 2)), (2, 3, 4, 4))


# ---------------------------------------------------------------------------
# bottleneck block
# ---------------------------------------------------------------------------
def test_bottleneck_hand_counts_resnet50_first_stage():
    # conv2_x of ResNet-50, first block: 64 -> 64 -> 64 -> 256 with a projection, 56 x 56:
    # 1x1: 64*64 = 4,096; 3x3: 9*64*64 = 36,864; 1x1: 64*256 = 16,384; BN: 2*(64+64+256) = 768;
    # projection: 64*256 + 2*256 = 16,896 -> 75,008 parameters
    cost = M.bottleneck_cost(64, 64, 256, 1, 56)
    assert cost["params"] == 4096 + 36864 + 16384 + 768 + 16896 == 75_008
    assert cost["macs"] == 56 * 56 * (4096 + 36864 + 16384 + 16384) == 231_211_008
    # the next two blocks: 256 -> 64 -> 64 -> 256, identity shortcut: 70,400 each; the stage 215,808
    assert M.bottleneck_cost(256, 64, 256)["params"] == 16384 + 36864 + 16384 + 768 == 70_400
    assert 75_008 + 2 * 70_400 == 215_808
    assert not M.bottleneck_cost(256, 64, 256)["projection"]


@pytest.mark.parametrize("c_in, c_mid, c_out, stride, size", [
    (64, 64, 256, 1, 56), (256, 64, 256, 1, 14), (256, 128, 512, 2, 15), (8, 2, 8, 3, 7), (3, 1, 5, 2, 1),
])
def test_bottleneck_block_counts_match_pytorch(c_in, c_mid, c_out, stride, size):
    block = M.BottleneckBlock(c_in, c_mid, c_out, stride)
    cost = M.bottleneck_cost(c_in, c_mid, c_out, stride, size)
    assert sum(p.numel() for p in block.parameters()) == cost["params"]
    n_buffers = sum(b.numel() for name, b in block.named_buffers() if not name.endswith("num_batches_tracked"))
    assert n_buffers == cost["buffers"]
    assert M.count_conv_macs(block, (c_in, size, size)) == cost["macs"]
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is None for c in convs), "convolutions before batch norm carry no bias"
    assert len(convs) == (4 if cost["projection"] else 3)
    out = block(torch.randn(2, c_in, size, size))
    assert tuple(out.shape) == (2, c_out, *cost["out_size"])
    assert (out >= 0).all()


def test_bottleneck_identity_when_the_last_bn_scale_is_zero_and_cheaper_than_basic():
    block = M.BottleneckBlock(16, 4, 16).eval()
    torch.nn.init.zeros_(block.bn3.weight)
    x = torch.relu(torch.randn(2, 16, 5, 5))
    with torch.no_grad():
        assert torch.equal(block(x), x)
    # at 256 channels a bottleneck (256 -> 64 -> 256) costs ~17x fewer weights than a basic block
    basic = sum(p.numel() for p in M.BasicBlock(256, 256).parameters())
    assert basic > 15 * M.bottleneck_cost(256, 64, 256)["params"]
    with pytest.raises(ValueError, match="c_mid must be >= 1"):
        M.BottleneckBlock(4, 0, 4)


# ---------------------------------------------------------------------------
# gradient norm against depth
# ---------------------------------------------------------------------------
def test_grad_norm_vs_depth_plain_varies_far_more_than_residual():
    depths = [1, 12]
    plain = M.grad_norm_vs_depth("plain", depths, seed=0)
    resid = M.grad_norm_vs_depth("residual", depths, seed=0)
    assert plain.shape == resid.shape == (2,) and np.all(np.isfinite(plain)) and np.all(plain > 0)
    change_plain = max(plain[1] / plain[0], plain[0] / plain[1])
    change_resid = max(resid[1] / resid[0], resid[0] / resid[1])
    assert change_plain > 10 * change_resid, (plain, resid)
    np.testing.assert_array_equal(M.grad_norm_vs_depth("plain", depths, seed=0), plain)   # deterministic


def test_first_layer_grad_norm_from_weights_equals_from_model_and_checks_weights():
    state = torch.get_rng_state()
    net = M.make_depth_stack("residual", 2, seed=3)
    assert torch.equal(torch.get_rng_state(), state), "building a stack must not move the global RNG"
    weights = M.stack_weights(net)
    assert len(weights) == 4 + 6 * 2 and weights[0].shape == (16, 1, 3, 3)
    a = M.first_layer_grad_norm(net)
    assert next(net.parameters()).grad is None               # the caller's model is untouched
    assert M.first_layer_grad_norm(weights, "residual") == a
    # the same weights without shortcuts give a different norm; other data another one
    assert M.first_layer_grad_norm(weights, "plain") != a
    assert M.first_layer_grad_norm(net, data_seed=1) != a
    with pytest.raises(ValueError, match=r"4 \+ 6 \* depth arrays"):
        M.load_stack_weights("residual", weights[:-1])
    bad = list(weights)
    bad[5] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"weights\[5\] has shape \(3, 3\), expected"):
        M.load_stack_weights("residual", bad)
    bad[5] = np.full(weights[5].shape, np.nan)
    with pytest.raises(ValueError, match=r"weights\[5\] contains NaN"):
        M.load_stack_weights("residual", bad)
    with pytest.raises(ValueError, match="block_kind must be one of"):
        M.grad_norm_vs_depth("dense", [1])
    with pytest.raises(ValueError, match="give block_kind"):
        M.first_layer_grad_norm(weights)
