"""The reference convolution library: seed examples, differential tests, bad input."""
import itertools

import numpy as np
import pytest

from solutions import conv as C

# ---------------------------------------------------------------------------
# worked examples from the seeds (../shared/SEED-NOTES.md)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("s, expected", [(1, 5), (2, 3)])
def test_seed000_7x7_kernel3_strides(s, expected):
    assert C.conv_output_size(7, 3, 0, s, exact=True) == expected


def test_seed000_7x7_stride3_does_not_fit():
    assert C.conv_output_size(7, 3, 0, 3) == 2          # floor: the last column is skipped
    with pytest.raises(ValueError, match="does not fit"):
        C.conv_output_size(7, 3, 0, 3, exact=True)


def test_seed000_pad1_keeps_size_and_seed002_8x8():
    assert C.conv_output_size(7, 3, 1, 1) == 7
    assert C.conv_output_size(8, 3, 1) == 8


def test_seed002_output_size_erratum_125x49():
    # the seed's (n + 2p - f) / s gives 62 x 24; the floor and the +1 give 63 x 25
    assert (C.conv_output_size(125, 5, 2, 2), C.conv_output_size(49, 5, 2, 2)) == (63, 25)


def test_seed000_ten_5x5x3_kernels():
    x = np.zeros((1, 3, 32, 32))
    w = np.zeros((10, 3, 5, 5))
    assert C.conv2d(x, w, np.zeros(10), padding=2).shape == (1, 10, 32, 32)
    assert C.conv_param_count(5, 3, 10) == 760
    assert C.conv2d(np.zeros((1, 3, 28, 28)), w).shape == (1, 10, 24, 24)


def test_seed000_practice_flipped_kernel():
    X = np.array([[5, 1, 3, 7, 8], [2, 4, 6, 1, 7], [3, 4, 9, 7, 2], [4, 9, 4, 5, 9], [7, 9, 8, 7, 9]])
    K = np.array([[3, 0, 0], [0, 0, 0], [0, 0, -3]])
    expected = np.array([
        [12, 18, 3, 21, 0],
        [12, 12, 18, -3, -21],
        [27, 6, 3, 9, -3],
        [27, 15, 9, 0, -21],
        [0, -12, -27, -12, -15],
    ])
    out = C.conv2d_single(X, K, padding=1, flip=True)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float64
    # without the flip (cross-correlation) the answer is the negated, mirrored one
    assert not np.array_equal(C.conv2d_single(X, K, padding=1), expected)


def test_seed000_practice_network_shapes():
    n1 = C.conv_output_size(128, 3, 0, 5)
    assert n1 == 26
    assert C.conv_param_count(3, 3, 5, bias=False) == 135 and C.conv_param_count(3, 3, 5) == 140
    assert C.pool2d(np.zeros((5, n1, n1)), 2).shape == (5, 13, 13)
    assert C.conv_output_size(13, 5, 2, 2) == 7
    assert C.conv_param_count(5, 5, 3, bias=False) == 375 and C.conv_param_count(5, 5, 3) == 378


def test_seed000_pooling_4x4():
    X = np.array([[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]])
    np.testing.assert_array_equal(C.pool2d(X, 2), [[20, 30], [112, 37]])
    # erratum 3: the last average is (37 + 4 + 25 + 12) / 4 = 19.5, not 20
    np.testing.assert_array_equal(C.pool2d(X, 2, mode="avg"), [[13, 8], [79, 19.5]])
    np.testing.assert_array_equal(C.pool2d(X, 2, mode="sum"), [[52, 32], [316, 78]])


def test_seed002_binary_image():
    X = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
    K = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(C.conv2d_single(X, K), [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_seed002_three_channels_with_bias():
    red = [[156, 155, 156, 158, 158], [153, 154, 157, 159, 159], [149, 151, 155, 158, 159],
           [146, 146, 149, 153, 158], [145, 143, 143, 148, 158]]
    green = [[167, 166, 167, 169, 169], [164, 165, 168, 170, 170], [160, 162, 166, 169, 170],
             [156, 156, 159, 163, 168], [155, 153, 153, 158, 168]]
    blue = [[163, 162, 163, 165, 165], [160, 161, 164, 166, 166], [156, 158, 162, 165, 166],
            [155, 155, 158, 162, 167], [154, 152, 152, 157, 167]]
    x = np.array([[red, green, blue]])
    w = np.array([[[[-1, -1, 1], [0, 1, -1], [0, 1, 1]],
                   [[1, 0, 0], [1, -1, -1], [1, 0, -1]],
                   [[0, 1, 1], [0, 1, 0], [1, -1, 1]]]])
    per_channel = [C.conv2d_single(x[0, c], w[0, c], padding=1)[0, 0] for c in range(3)]
    assert per_channel == [308, -498, 164]
    assert C.conv2d(x, w, np.array([1]), padding=1)[0, 0, 0, 0] == -25


def test_seed002_pooling_4x4():
    X = np.array([[1, 4, 2, 1], [5, 8, 3, 4], [7, 6, 4, 5], [1, 3, 1, 2]])
    np.testing.assert_array_equal(C.pool2d(X, 2, 2), [[8, 4], [7, 5]])
    np.testing.assert_array_equal(C.pool2d(X, 2, 1, mode="avg"),
                                  [[4.5, 4.25, 2.5], [6.5, 5.25, 4], [4.25, 3.5, 3]])


def test_seed003_arange_cross_correlation():
    X = np.arange(9).reshape(3, 3)
    K = np.arange(4).reshape(2, 2)
    np.testing.assert_array_equal(C.conv2d_single(X, K), [[19, 25], [37, 43]])


# ---------------------------------------------------------------------------
# differential tests against PyTorch, TensorFlow and SciPy
# ---------------------------------------------------------------------------
GRID = [
    # (N, C, H, W, F, KH, KW, stride, padding)
    (1, 1, 5, 5, 1, 3, 3, 1, 0),
    (2, 3, 7, 9, 4, 3, 3, 2, 1),
    (1, 2, 8, 6, 3, 2, 2, 1, 0),        # even kernel
    (3, 1, 9, 7, 2, 2, 4, (1, 2), (1, 3)),  # non-square kernel, (sh, sw), (ph, pw)
    (2, 4, 10, 11, 5, 1, 1, 3, 0),      # 1x1 kernel, stride 3
    (1, 3, 6, 6, 2, 5, 3, 2, 2),
    (2, 2, 12, 5, 3, 3, 2, (3, 1), 3),
    (1, 5, 4, 4, 2, 4, 4, 1, 0),        # kernel as large as the input
]


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("case", GRID)
def test_conv2d_matches_torch_and_naive(case):
    import torch
    N, Cin, H, W, F, KH, KW, stride, padding = case
    x, w, b = _rand((N, Cin, H, W), 1), _rand((F, Cin, KH, KW), 2), _rand((F,), 3)
    x0, w0, b0 = x.copy(), w.copy(), b.copy()
    out = C.conv2d(x, w, b, stride, padding)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                     stride=stride, padding=padding).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(C.conv2d_naive(x, w, b, stride, padding), out, rtol=1e-10, atol=1e-12)
    # inputs unchanged
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("H, W, K, s", [(7, 7, 3, 1), (7, 8, 3, 2), (9, 6, 2, 3), (10, 10, 4, 2), (5, 7, 1, 2),
                                        (6, 6, 5, 3)])
def test_conv2d_same_matches_tensorflow(H, W, K, s):
    import tensorflow as tf
    x, w = _rand((2, 3, H, W), 4), _rand((4, 3, K, K), 5)
    out = C.conv2d(x, w, stride=s, padding="same")
    ref = tf.nn.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), strides=s, padding="SAME").numpy()
    np.testing.assert_allclose(out, ref.transpose(0, 3, 1, 2), rtol=1e-10, atol=1e-12)
    assert out.shape[2:] == (-(-H // s), -(-W // s))


def test_conv2d_explicit_padding_matches_tensorflow():
    import tensorflow as tf
    x, w = _rand((1, 2, 6, 7), 6), _rand((3, 2, 3, 2), 7)
    out = C.conv2d(x, w, stride=(2, 1), padding=(2, 1))
    ref = tf.nn.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), strides=(2, 1),
                       padding=[[0, 0], [2, 2], [1, 1], [0, 0]]).numpy()
    np.testing.assert_allclose(out, ref.transpose(0, 3, 1, 2), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, kshape", [((6, 6), (3, 3)), ((7, 5), (2, 4)), ((4, 9), (1, 1))])
def test_conv2d_single_matches_scipy(shape, kshape):
    from scipy import signal
    X, K = _rand(shape, 8), _rand(kshape, 9)
    np.testing.assert_allclose(C.conv2d_single(X, K), signal.correlate2d(X, K, mode="valid"), rtol=1e-12)
    np.testing.assert_allclose(C.conv2d_single(X, K, flip=True), signal.convolve2d(X, K, mode="valid"), rtol=1e-12)
    p = 1
    np.testing.assert_allclose(C.conv2d_single(X, K, padding=p),
                               signal.correlate2d(np.pad(X, p), K, mode="valid"), rtol=1e-12)


@pytest.mark.parametrize("k, s", [(2, None), (3, 1), (3, 2), ((2, 3), (1, 2)), (1, 1)])
def test_pool2d_matches_torch(k, s):
    import torch
    x = _rand((2, 3, 7, 8), 10)
    t = torch.from_numpy(x)
    np.testing.assert_allclose(C.pool2d(x, k, s), torch.nn.functional.max_pool2d(t, k, s).numpy())
    np.testing.assert_allclose(C.pool2d(x, k, s, mode="avg"), torch.nn.functional.avg_pool2d(t, k, s).numpy(),
                               rtol=1e-12)
    kh, kw = (k, k) if isinstance(k, int) else k
    np.testing.assert_allclose(C.pool2d(x, k, s, mode="sum"),
                               torch.nn.functional.avg_pool2d(t, k, s).numpy() * kh * kw, rtol=1e-12)


def test_output_size_formula_agrees_with_conv2d():
    for n, k, p, s in itertools.product(range(3, 9), range(1, 5), range(0, 3), range(1, 4)):
        if k > n + 2 * p:
            continue
        got = C.conv2d(np.zeros((1, 1, n, n)), np.zeros((1, 1, k, k)), stride=s, padding=p).shape[-1]
        assert got == C.conv_output_size(n, k, p, s)
    for n, s in itertools.product(range(1, 12), range(1, 4)):
        assert C.conv_output_size(n, 3, "same", s) == -(-n // s)


# ---------------------------------------------------------------------------
# dtypes, padding, inputs unchanged
# ---------------------------------------------------------------------------
def test_dtypes():
    x32 = np.ones((1, 1, 4, 4), np.float32)
    assert C.conv2d(x32, np.ones((1, 1, 2, 2), np.float32)).dtype == np.float32
    assert C.conv2d(x32.astype(int), np.ones((1, 1, 2, 2), int)).dtype == np.float64
    assert C.pool2d(np.ones((4, 4), np.int32), 2, mode="avg").dtype == np.float64
    assert C.pool2d(np.ones((4, 4), np.float32), 2).dtype == np.float32


def test_zero_pad_only_last_two_axes():
    x = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    y = C.zero_pad(x, 1)
    assert y.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(y[:, :, 1:-1, 1:-1], x)
    assert y.sum() == x.sum()
    z = C.zero_pad(x, ((1, 2), (0, 3)))
    assert z.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(z[:, :, 1:3, 0:2], x)
    assert C.zero_pad(x, (1, 0)).shape == (2, 3, 4, 2)


# ---------------------------------------------------------------------------
# bad input: each documented error, with a message naming the problem
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs, exc, words", [
    ((5, 7), {}, ValueError, "larger"),
    ((0, 3), {}, ValueError, "n must be >= 1"),
    ((5, 0), {}, ValueError, "k must be >= 1"),
    ((5, 3, -1), {}, ValueError, "p must be >= 0"),
    ((5, 3, 0, 0), {}, ValueError, "s must be >= 1"),
    ((5.0, 3), {}, TypeError, "n must be an int"),
    ((5, 3, "full"), {}, ValueError, "'valid' or 'same'"),
    ((7, 3, 0, 3), {"exact": True}, ValueError, "does not fit"),
])
def test_conv_output_size_errors(args, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        C.conv_output_size(*args, **kwargs)


def test_conv_output_size_same_ignores_exact_and_large_kernel():
    assert C.conv_output_size(3, 5, "same", 2, exact=True) == 2


@pytest.mark.parametrize("x, w, b, kw, words", [
    (np.zeros((1, 3, 5, 5)), np.zeros((2, 4, 3, 3)), None, {}, "w has 4 input channels but x has 3"),
    (np.zeros((3, 5, 5)), np.zeros((2, 3, 3, 3)), None, {}, r"x must have 4 axes \(N, C, H, W\), got shape \(3, 5, 5\)"),
    (np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3)), None, {}, "w must have 4 axes"),
    (np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), np.zeros(3), {}, "b has 3 entries but w has 2 filters"),
    (np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 7, 3)), None, {}, "larger than the padded input"),
    (np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), None, {"stride": 0}, "stride must be >= 1"),
    (np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), None, {"padding": -1}, "padding must be >= 0"),
    (np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), None, {"padding": "full"}, "'valid' or 'same'"),
    (np.zeros((1, 1, 5, 5), bool), np.zeros((2, 1, 3, 3)), None, {}, "dtype bool"),
])
def test_conv2d_errors(x, w, b, kw, words):
    for f in (C.conv2d, C.conv2d_naive):
        with pytest.raises((ValueError, TypeError), match=words):
            f(x, w, b, **kw)


def test_pool_and_param_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        C.pool2d(np.zeros((4, 4)), 2, mode="median")
    with pytest.raises(ValueError, match="larger"):
        C.pool2d(np.zeros((3, 3)), 4)
    with pytest.raises(ValueError, match="at least 2 axes"):
        C.pool2d(np.zeros(4), 2)
    with pytest.raises(ValueError, match="c_in must be >= 1"):
        C.conv_param_count(3, 0, 4)
    with pytest.raises(TypeError, match="bias must be True or False"):
        C.conv_param_count(3, 1, 4, bias="yes")
    with pytest.raises(ValueError, match="at least 2 axes"):
        C.zero_pad(np.zeros(3), 1)
    with pytest.raises(ValueError, match="p must be >= 0"):
        C.zero_pad(np.zeros((3, 3)), -1)
