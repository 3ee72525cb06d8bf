"""solutions/backprop.py: backward passes against PyTorch autograd (float64) and each other."""
from __future__ import annotations

import numpy as np
import pytest

import solutions as ref
import solutions.backprop as bp

pytestmark = pytest.mark.xdist_group("backprop_reference")


def _conv_cases(count=120, seed=0):
    rng = np.random.default_rng(seed)
    pads = [0, 1, 2, (0, 2), (2, 1), "same", "valid"]
    cases = []
    while len(cases) < count:
        N, C, F = (int(v) for v in rng.integers(1, 4, size=3))
        H, W = (int(v) for v in rng.integers(1, 10, size=2))
        KH, KW = (int(v) for v in rng.integers(1, 5, size=2))
        s = int(rng.integers(1, 4)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(1, 4, size=2))
        p = pads[len(cases) % len(pads)]
        x = rng.standard_normal((N, C, H, W))
        w = rng.standard_normal((F, C, KH, KW))
        b = rng.standard_normal(F) if rng.random() < 0.7 else None
        try:
            out = ref.conv2d(x, w, b, stride=s, padding=p)
        except ValueError:
            continue
        cases.append((rng.standard_normal(out.shape), x, w, b, s, p))
    return cases


CONV_CASES = _conv_cases()


@pytest.mark.parametrize("i", range(len(CONV_CASES)))
def test_conv2d_backward_matches_autograd_and_naive(i):
    dout, x, w, b, s, p = CONV_CASES[i]
    want = ref.autograd_conv2d_backward(dout, x, w, b, stride=s, padding=p)
    fast = ref.conv2d_backward(dout, x, w, b, stride=s, padding=p)
    naive = ref.conv2d_backward_naive(dout, x, w, b, stride=s, padding=p)
    for name, g, n, t, like in zip(("dx", "dw", "db"), fast, naive, want, (x, w, np.zeros(w.shape[0]))):
        assert g.shape == like.shape, f"{name}: shape {g.shape}, expected {like.shape} (case {i}: s={s}, p={p})"
        np.testing.assert_allclose(g, t, rtol=1e-10, atol=1e-10, err_msg=f"{name} vs autograd, s={s}, p={p}")
        np.testing.assert_allclose(n, t, rtol=1e-10, atol=1e-10, err_msg=f"naive {name} vs autograd, s={s}, p={p}")


def test_conv2d_backward_leaves_inputs_alone_and_keeps_float32():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    dout = rng.standard_normal(ref.conv2d(x, w, stride=2, padding=1).shape).astype(np.float32)
    copies = [a.copy() for a in (dout, x, w)]
    dx, dw, db = ref.conv2d_backward(dout, x, w, stride=2, padding=1)
    for a, c in zip((dout, x, w), copies):
        np.testing.assert_array_equal(a, c)
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    ints = ref.conv2d_backward(np.ones((1, 1, 2, 2), dtype=int), np.ones((1, 1, 3, 3), dtype=int),
                               np.ones((1, 1, 2, 2), dtype=int))
    assert all(g.dtype == np.float64 for g in ints)
    np.testing.assert_array_equal(ints[0][0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_conv2d_backward_is_a_full_convolution_with_the_flipped_kernel():
    """dx of a 1-channel, stride-1, valid conv equals the textbook full convolution."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 1, 6, 7))
    k = rng.standard_normal((3, 2))
    d = rng.standard_normal((4, 6))
    dx, _, _ = ref.conv2d_backward(d[None, None], x, k[None, None])
    full = np.zeros((6, 7))
    for i in range(4):            # sum of shifted copies of the kernel, weighted by dout
        for j in range(6):
            full[i:i + 3, j:j + 2] += d[i, j] * k
    np.testing.assert_allclose(dx[0, 0], full, rtol=1e-12)
    np.testing.assert_allclose(dx[0, 0], ref.conv2d_single(np.pad(d, ((2, 2), (1, 1))), k, flip=True), rtol=1e-12)


@pytest.mark.parametrize("bad, why", [
    (dict(dout=np.ones((1, 2, 3, 3))), "dout"),
    (dict(w=np.ones((2, 3, 3, 3))), "channels"),
    (dict(stride=0), "stride"),
    (dict(padding="full"), "padding"),
    (dict(b=np.ones(3)), "b has"),
])
def test_conv2d_backward_errors(bad, why):
    args = dict(dout=np.ones((1, 2, 3, 3)).reshape(1, 2, 3, 3), x=np.ones((1, 1, 5, 5)), w=np.ones((2, 1, 3, 3)),
                b=None, stride=1, padding=0)
    args.update(bad)
    if why == "dout":
        args["dout"] = np.ones((1, 2, 4, 4))
    with pytest.raises(ValueError, match=why):
        ref.conv2d_backward(**args)


def _pool_cases(count=80, seed=3):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        shape = tuple(int(v) for v in rng.integers(1, 4, size=int(rng.integers(0, 3)))) + \
            tuple(int(v) for v in rng.integers(1, 9, size=2))
        k = int(rng.integers(1, 4)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(1, 4, size=2))
        s = None if rng.random() < 0.3 else (int(rng.integers(1, 4)) if rng.random() < 0.5
                                              else tuple(int(v) for v in rng.integers(1, 4, size=2)))
        # small integers: many tied maxima
        x = rng.integers(0, 3, size=shape).astype(float) if len(cases) % 2 else rng.standard_normal(shape)
        try:
            out = ref.pool2d(x, k, s)
        except ValueError:
            continue
        cases.append((rng.standard_normal(out.shape), x, k, s))
    return cases


POOL_CASES = _pool_cases()


@pytest.mark.parametrize("mode", ["max", "avg", "sum"])
def test_pool2d_backward_matches_autograd_and_naive(mode):
    for dout, x, k, s in POOL_CASES:
        want = ref.autograd_pool2d_backward(dout, x, k, s, mode)
        got = ref.pool2d_backward(dout, x, k, s, mode)
        assert got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"{mode}, x{x.shape}, k={k}, s={s}")
        np.testing.assert_allclose(ref.pool2d_backward_naive(dout, x, k, s, mode), want, rtol=1e-12, atol=1e-12)


def test_max_pool_tie_rule_first_in_row_major_order():
    x = np.array([[5., 5.], [5., 1.]])
    np.testing.assert_array_equal(ref.pool2d_backward(np.array([[3.]]), x, 2), [[3, 0], [0, 0]])
    x = np.array([[0., 2.], [2., 2.]])
    np.testing.assert_array_equal(ref.pool2d_backward(np.array([[3.]]), x, 2), [[0, 3], [0, 0]])
    # overlapping windows that share a maximum add up there
    x = np.array([[0., 9., 0.]])
    np.testing.assert_array_equal(ref.pool2d_backward(np.array([[1., 2.]]), x, (1, 2), 1), [[0, 3, 0]])


def test_pool2d_backward_errors():
    with pytest.raises(ValueError, match="mode"):
        ref.pool2d_backward(np.ones((2, 2)), np.ones((4, 4)), 2, mode="median")
    with pytest.raises(ValueError, match="dout"):
        ref.pool2d_backward(np.ones((3, 3)), np.ones((4, 4)), 2)
    with pytest.raises(ValueError):
        ref.pool2d_backward(np.ones((1, 1)), np.ones((4, 4)), 5)


def test_numerical_gradient_centred_and_leaves_x_alone():
    x = np.array([[0.5, -1.0], [2.0, 0.0]])
    x0 = x.copy()
    d = np.array([[1.0, 2.0], [-1.0, 0.5]])
    g = ref.numerical_gradient(lambda z: z ** 3, x, d, h=0.1)
    np.testing.assert_array_equal(x, x0)
    # centred difference of z^3: 3 z^2 + h^2 exactly
    np.testing.assert_allclose(g, (3 * x ** 2 + 0.01) * d, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.numerical_gradient(lambda z: z ** 2, x, d), 2 * x * d, rtol=1e-8, atol=1e-9)
    assert ref.numerical_gradient(lambda z: float(np.sum(z ** 2)), x, 1.0).shape == x.shape
    with pytest.raises(ValueError, match="h"):
        ref.numerical_gradient(np.sin, x, d, h=0)


def test_numerical_gradient_subtracts_outputs_before_summing():
    """Outputs that do not depend on x cancel exactly when the two outputs are subtracted
    first; summing first subtracts two totals of about 1e8 (the reference did so before: its
    relative error here was 2e-4; now 1e-11)."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal(4)
    constant = 1e3 * rng.standard_normal(100_000)
    d = np.concatenate([rng.standard_normal(4), np.abs(rng.standard_normal(100_000))])
    f = lambda z: np.concatenate([z ** 2, constant + 1e3])     # noqa: E731
    g = ref.numerical_gradient(f, x, d)
    np.testing.assert_allclose(g, 2 * x * d[:4], rtol=1e-8, atol=1e-9)
    # f may hand back its input itself: the first output must be a copy, not the nudged array
    np.testing.assert_allclose(ref.numerical_gradient(lambda z: z, x, d[:4]), d[:4], rtol=1e-9, atol=1e-10)


def test_gradient_check_of_the_layers():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    for s, p in [(1, 0), (2, 1), ((2, 1), "same")]:
        d = rng.standard_normal(ref.conv2d(x, w, b, s, p).shape)
        dx, dw, db = ref.conv2d_backward(d, x, w, b, s, p)
        assert ref.gradient_check(lambda z: ref.conv2d(z, w, b, s, p), x, d, dx) < 1e-7
        assert ref.gradient_check(lambda z: ref.conv2d(x, z, b, s, p), w, d, dw) < 1e-7
        assert ref.gradient_check(lambda z: ref.conv2d(x, w, z, s, p), b, d, db) < 1e-7
    d = rng.standard_normal((2, 3, 3, 2))
    assert ref.gradient_check(lambda z: ref.pool2d(z, 2, mode="avg"), x, d, ref.pool2d_backward(d, x, 2, mode="avg")) < 1e-7
    assert ref.gradient_check(lambda z: ref.pool2d(z, 2), x, d, ref.pool2d_backward(d, x, 2)) < 1e-7
    # a wrong gradient is obvious
    assert ref.gradient_check(lambda z: ref.pool2d(z, 2), x, d, ref.pool2d_backward(d, x, 2, mode="avg")) > 1e-2


def test_rel_error():
    assert ref.rel_error(np.ones(3), np.ones(3)) == 0.0
    assert ref.rel_error(np.array([1.0, 0.0]), np.array([1.0, 1e-3])) == pytest.approx(1.0)
    assert ref.rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="shape"):
        ref.rel_error(np.ones(3), np.ones(4))


def test_softmax_cross_entropy_matches_torch():
    import torch

    rng = np.random.default_rng(5)
    logits = rng.standard_normal((7, 10)) * 30          # large: the max trick matters
    y = rng.integers(0, 10, size=7)
    loss, d = ref.softmax_cross_entropy(logits, y)
    t = torch.tensor(logits, requires_grad=True)
    want = torch.nn.functional.cross_entropy(t, torch.tensor(y))
    want.backward()
    assert loss == pytest.approx(want.item(), rel=1e-12)
    np.testing.assert_allclose(d, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_digits_split_and_capstone_network():
    xtr, ytr, xte, yte = ref.load_digits_split(0)
    assert xtr.shape == (1258, 1, 10, 10) and xte.shape == (539, 1, 10, 10)
    assert xtr.min() >= 0 and xtr.max() <= 1 and set(np.unique(ytr)) == set(range(10))
    a, b, c, d = ref.load_digits_split(0)
    np.testing.assert_array_equal(c, xte)
    # the network's gradients, checked numerically on a few images (noise added: the zero
    # background would put ReLU and max-pool ties exactly on their kinks)
    params = ref.init_digits_cnn(1)
    assert {k: v.shape for k, v in params.items()} == ref.digits_shapes() == \
        {"w1": (16, 1, 3, 3), "b1": (16,), "w2": (400, 10), "b2": (10,)}
    xs = xtr[:5] + 0.05 * np.random.default_rng(6).standard_normal(xtr[:5].shape)
    _, grads = ref.digits_cnn_loss(params, xs, ytr[:5])
    for key in ("w1", "b1", "b2"):
        def loss_of(v, key=key):
            return ref.digits_cnn_loss({**params, key: v}, xs, ytr[:5])[0]
        assert ref.gradient_check(loss_of, params[key], 1.0, grads[key]) < 1e-5, key
    trained = ref.train_digits_cnn(xtr, ytr, seed=0)
    assert ref.digits_cnn_accuracy(trained, xte, yte) >= ref.DIGITS_PASS_ACCURACY
    with pytest.raises(ValueError, match="w2"):
        ref.digits_cnn_accuracy({k: v for k, v in trained.items() if k != "w2"}, xte, yte)
    with pytest.raises(ValueError, match="shape"):
        ref.digits_cnn_accuracy({**trained, "w1": trained["w1"][:3]}, xte, yte)
    with pytest.raises(ValueError, match="NaN"):
        ref.digits_cnn_accuracy({**trained, "b2": np.full(10, np.nan)}, xte, yte)
    with pytest.raises(ValueError, match="real numbers"):
        ref.digits_cnn_accuracy({**trained, "b2": np.array(["a"] * 10)}, xte, yte)


def _training_run(x, y, seed=0, epochs=None):
    """What the digits_training probe returns for a correct sgd_epoch (lists per epoch)."""
    params = ref.init_digits_cnn(seed)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    orders, rates = ref.digits_schedule(seed, len(y))
    run = {k: [] for k in ("w1", "b1", "w2", "b2", "v_w1", "v_b1", "v_w2", "v_b2")}
    for order, rate in list(zip(orders, rates))[:epochs]:
        params, velocity = ref.sgd_epoch(params, velocity, x, y, order, rate)
        for k in ("w1", "b1", "w2", "b2"):
            run[k].append(params[k].copy())
            run["v_" + k].append(velocity[k].copy())
    return run


def test_check_digits_training_recomputes_every_epoch():
    xtr, ytr, _, _ = ref.load_digits_split(3)
    x, y = xtr[:64], ytr[:64]                      # small: 4 batches an epoch
    run = _training_run(x, y)
    bad, params = ref.check_digits_training(run, x, y)
    assert bad is None and set(params) == {"w1", "b1", "w2", "b2"}
    np.testing.assert_array_equal(params["w2"], run["w2"][-1])
    # one epoch nudged (a weight moved by a millionth of the scale is tolerated, by 1e-4 not)
    for epoch in (0, 4, 9):
        tampered = {k: [a.copy() for a in v] for k, v in run.items()}
        tampered["w1"][epoch][0, 0, 1, 1] += 1e-4 * (1 + np.abs(run["w1"][epoch]).max())
        assert ref.check_digits_training(tampered, x, y)[0] == epoch
    # the same velocity check: a run whose momentum was dropped is caught in epoch 1
    tampered = {k: [a.copy() for a in v] for k, v in run.items()}
    tampered["v_b2"][0] = np.zeros(10)
    assert ref.check_digits_training(tampered, x, y)[0] == 0
    # frozen convolution (zero conv gradients) differs from epoch 1
    params0 = ref.init_digits_cnn(0)
    p, v = ref.sgd_epoch(params0, {k: np.zeros_like(a) for k, a in params0.items()}, x, y,
                         ref.digits_schedule(0, len(y))[0][0], ref.digits_schedule(0, len(y))[1][0], frozen_conv=True)
    frozen = {k: [a.copy() for a in vals] for k, vals in run.items()}
    for k in ("w1", "b1", "w2", "b2"):
        frozen[k][0], frozen["v_" + k][0] = p[k], v[k]
    assert ref.check_digits_training(frozen, x, y)[0] == 0


@pytest.mark.parametrize("change, match", [
    (lambda r: r.pop("v_w2"), "velocity\\['w2'\\] after each of the 10 epochs"),
    (lambda r: r["w1"].pop(), "after each of the 10 epochs"),
    (lambda r: r.__setitem__("w2", [a.T for a in r["w2"]]), "after epoch 1 has shape \\(10, 400\\), expected \\(400, 10\\)"),
    (lambda r: r["b1"].__setitem__(3, np.full(16, np.inf)), "NaN or infinite values after epoch 4"),
    (lambda r: r["b1"].__setitem__(0, np.array(["x"] * 16)), "real numbers"),
    (lambda r: r["b1"].__setitem__(0, [object()] * 16), "real numbers"),
    (lambda r: r.__setitem__("b2", "all good"), "after each of the 10 epochs"),
])
def test_check_digits_training_validates_before_computing(change, match):
    xtr, ytr, _, _ = ref.load_digits_split(3)
    run = _training_run(xtr[:32], ytr[:32], epochs=10)
    change(run)
    with pytest.raises(ValueError, match=match):
        ref.check_digits_training(run, xtr[:32], ytr[:32])
    with pytest.raises(ValueError, match="dict"):
        ref.check_digits_training([run], xtr[:32], ytr[:32])


def test_check_digits_training_counts_nan_as_a_difference(monkeypatch):
    """Were the recomputed epoch NaN (weights that overflow), it must not count as agreeing."""
    xtr, ytr, _, _ = ref.load_digits_split(3)
    run = _training_run(xtr[:32], ytr[:32])
    import solutions.backprop as bp

    real = bp.sgd_epoch

    def nan_epoch(*args, **kwargs):
        p, v = real(*args, **kwargs)
        return {**p, "b2": np.full(10, np.nan)}, v
    monkeypatch.setattr(bp, "sgd_epoch", nan_epoch)
    assert ref.check_digits_training(run, xtr[:32], ytr[:32])[0] == 0


@pytest.mark.parametrize("value, kwargs, match", [
    (None, {}, "still None"),
    ("2444", {}, "must be a number"),
    ({"a": 1}, {}, "must be a number"),
    ([[1, 2], [3]], {}, "rows of equal length"),
    ([1, 2, 3], {"shape": (4,)}, r"shape \(4,\), got \(3,\)"),
    ([1.0, float("nan")], {}, "NaN or infinite"),
    ([2, 4, 4.5, 4], {"shape": (4,), "integers": True}, "whole numbers"),
])
def test_read_answer_rejects(value, kwargs, match):
    with pytest.raises(AssertionError, match=match):
        ref.read_answer(value, "answer_x", **kwargs)


def test_read_answer_accepts_numbers():
    np.testing.assert_array_equal(ref.read_answer((2, 4, 4, 4), "a", (4,), integers=True), [2, 4, 4, 4])
    np.testing.assert_array_equal(ref.read_answer([[1, 2], [3, 4]], "a", (2, 2)), [[1, 2], [3, 4]])
    assert ref.read_answer(0.5, "a", ()).shape == () and ref.read_answer(np.float32(3), "a", ()) == 3


def test_fast_digits_loss_matches_the_reference_ties_included():
    """The grader's fast path (digits_cnn_loss_fast) gives digits_cnn_loss's gradients: on
    shifted digits with positive biases (blank regions make every pooling window a tie),
    on small-integer images (ties among positive values) and with the convolution frozen."""
    xtr, ytr, _, _ = ref.load_digits_split(2)
    rng = np.random.default_rng(7)
    for trial, x in enumerate([xtr[:20], rng.integers(0, 3, size=(20, 1, 10, 10)).astype(float),
                               rng.integers(0, 2, size=(6, 1, 6, 8)).astype(float)]):
        params = ref.init_digits_cnn(trial, canvas=x.shape[-1]) if x.shape[-1] == x.shape[-2] else {
            "w1": np.round(rng.standard_normal((16, 1, 3, 3))), "b1": np.abs(rng.standard_normal(16)),
            "w2": rng.standard_normal((16 * 3 * 4, 10)), "b2": np.zeros(10)}
        params["b1"] = np.abs(params["b1"]) + 0.1
        y = rng.integers(0, 10, size=len(x))
        for frozen in (False, True):
            loss, grads = ref.digits_cnn_loss(params, x, y, frozen_conv=frozen)
            fast_loss, fast = bp.digits_cnn_loss_fast(params, x, y, frozen_conv=frozen)
            assert fast_loss == pytest.approx(loss, rel=1e-13)
            for key in grads:
                np.testing.assert_allclose(fast[key], grads[key], rtol=1e-10, atol=1e-13, err_msg=key)
