"""solutions.shapes: the seeds' worked examples, errors, and agreement with Keras and PyTorch.

The Keras and PyTorch comparisons build real models from the same layer lists and compare
every row (name, output shape, parameters) and the trainable / non-trainable totals.
"""

import numpy as np
import pytest

from solutions import build_keras_model, build_torch_model, conv_output_size, layer_output_shape, summarize
from solutions.shapes import (example_network, keras_summary, layer_param_count, random_architecture,
                              torch_summary)

pytestmark = [pytest.mark.xdist_group("keras"),
              pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")]

MNIST_CNN = example_network("mnist_cnn")[1]
BN_CNN = example_network("bn_cnn")[1]
LENET5 = example_network("lenet5")[1]
PRACTICE = example_network("practice")[1]


def vgg16(include_top=True):
    return example_network("vgg16" if include_top else "vgg16_notop")[1]


def alexnet(c1_padding="valid"):
    return example_network("alexnet" if c1_padding == "valid" else "alexnet_224_same")[1]


NAMED = {  # name: (input shape, layers)
    "mnist_cnn": example_network("mnist_cnn"),
    "bn_cnn": example_network("bn_cnn"),
    "lenet5": example_network("lenet5"),
    "practice": example_network("practice"),
    "alexnet_227_conv": ((227, 227, 3), alexnet()[:8]),  # its 58M dense weights take long to initialise
    "vgg16_notop": example_network("vgg16_notop"),
}


def params(rows):
    return [p for _, _, p in rows]


def shapes(rows):
    return [s for _, s, _ in rows]


# ---------------------------------------------------------------------------
# the seeds' worked examples
# ---------------------------------------------------------------------------
def test_seed000_7x7_strides_and_does_not_fit():
    assert [conv_output_size(7, 3, s=s) for s in (1, 2)] == [5, 3]
    with pytest.raises(ValueError, match="not a whole number"):
        conv_output_size(7, 3, s=3, exact=True)
    assert conv_output_size(7, 3, s=3) == 2  # Keras floors: the last column is skipped
    conv = lambda s: {"type": "conv", "filters": 1, "kernel_size": 3, "strides": s}  # noqa: E731
    assert [layer_output_shape((7, 7, 1), conv(s)) for s in (1, 2, 3)] == [(5, 5, 1), (3, 3, 1), (2, 2, 1)]
    assert layer_output_shape((7, 7, 1), {"type": "conv", "filters": 1, "kernel_size": 3, "padding": 1}) == (7, 7, 1)


def test_seed000_single_conv_layers():
    ten = {"type": "conv", "filters": 10, "kernel_size": 5}
    assert summarize((32, 32, 3), [{**ten, "padding": 2}])["rows"] == [("conv2d", (32, 32, 10), 760)]
    assert summarize((32, 32, 3), [{**ten, "padding": "same"}])["rows"] == [("conv2d", (32, 32, 10), 760)]
    assert layer_output_shape((28, 28, 3), ten) == (24, 24, 10)
    # seed 002: 8x8 k3 p1 -> 8; 125x49 k5 p2 s2 -> 63x25 (the seed's 62x24 is wrong)
    assert layer_output_shape((8, 8, 1), {"type": "conv", "filters": 1, "kernel_size": 3, "padding": 1}) == (8, 8, 1)
    assert layer_output_shape((125, 49, 1), {"type": "conv", "filters": 1, "kernel_size": 5, "strides": 2,
                                             "padding": 2}) == (63, 25, 1)


def test_seed000_practice_network():
    s = summarize((128, 128, 3), PRACTICE)
    assert shapes(s["rows"]) == [(26, 26, 5), (13, 13, 5), (7, 7, 3)]
    assert params(s["rows"]) == [140, 0, 378]
    no_bias = summarize(*example_network("practice_no_bias"))
    assert params(no_bias["rows"]) == [135, 0, 375]
    assert layer_param_count((128, 128, 3), {**PRACTICE[0], "use_bias": False}) == (135, 0)
    assert layer_param_count((13, 13, 5), PRACTICE[2]) == (378, 0)


def test_seed000_mnist_table():
    s = summarize((28, 28, 1), MNIST_CNN)
    assert s["rows"] == [
        ("conv2d", (26, 26, 32), 320),
        ("conv2d_1", (24, 24, 64), 18496),
        ("max_pooling2d", (12, 12, 64), 0),
        ("dropout", (12, 12, 64), 0),
        ("flatten", (9216,), 0),
        ("dense", (128,), 1179776),
        ("dropout_1", (128,), 0),
        ("dense_1", (10,), 1290),
    ]
    assert (s["total"], s["trainable"], s["non_trainable"]) == (1199882, 1199882, 0)


def test_seed004_batchnorm_table():
    s = summarize((28, 28, 1), BN_CNN)
    assert [r for r in s["rows"] if r[2]] == [
        ("conv2d", (28, 28, 40), 1040),
        ("conv2d_1", (12, 12, 32), 11552),
        ("dense", (64,), 73792),
        ("batch_normalization", (64,), 256),
        ("dense_1", (10,), 650),
    ]
    assert shapes(s["rows"])[:7] == [(28, 28, 40), (14, 14, 40), (14, 14, 40), (12, 12, 32), (6, 6, 32),
                                     (6, 6, 32), (1152,)]
    assert (s["total"], s["trainable"], s["non_trainable"]) == (87290, 87162, 128)


def test_seed004_lenet5():
    s = summarize((32, 32, 1), LENET5)
    assert shapes(s["rows"]) == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (1, 1, 120), (120,), (84,), (10,)]
    assert params(s["rows"]) == [156, 0, 2416, 0, 48120, 0, 10164, 850]
    assert s["total"] == s["trainable"] == 61706
    assert s["rows"][1][0] == "average_pooling2d"


def test_seed002_vgg16_counts():
    top, notop = summarize((224, 224, 3), vgg16(True)), summarize((224, 224, 3), vgg16(False))
    kinds = [layer["type"] for layer in vgg16(True)]
    assert (kinds.count("conv"), kinds.count("pool"), kinds.count("dense")) == (13, 5, 3)
    assert top["total"] == 138_357_544
    assert notop["total"] == 14_714_688
    assert top["rows"][-1] == ("dense_2", (1000,), 4_097_000)  # 1000 classes (the seed says 4096)
    assert notop["rows"][-1][1] == (7, 7, 512)


def test_seed004_alexnet_224_vs_227():
    c1 = {"type": "conv", "filters": 96, "kernel_size": 11, "strides": 4}
    assert layer_output_shape((227, 227, 3), c1) == (55, 55, 96)
    assert layer_output_shape((224, 224, 3), {**c1, "padding": "same"}) == (56, 56, 96)
    assert layer_output_shape((224, 224, 3), c1) == (54, 54, 96)
    with pytest.raises(ValueError):
        conv_output_size(224, 11, s=4, exact=True)  # (224 - 11) / 4 is not whole
    assert conv_output_size(227, 11, s=4, exact=True) == 55
    s = summarize((227, 227, 3), alexnet())
    assert shapes(s["rows"])[:10] == [(55, 55, 96), (27, 27, 96), (27, 27, 256), (13, 13, 256),
                                      (13, 13, 384), (13, 13, 384), (13, 13, 256), (6, 6, 256), (9216,), (4096,)]
    # with 224 and SAME, C1 gives 56, and S2 is back to 27x27: the rest of the table holds
    assert shapes(summarize((224, 224, 3), alexnet("same"))["rows"])[1] == (27, 27, 96)


# ---------------------------------------------------------------------------
# every layer type, and the errors
# ---------------------------------------------------------------------------
def test_each_layer_type():
    x = (10, 9, 4)
    assert layer_output_shape(x, {"type": "conv", "filters": 2, "kernel_size": (3, 2), "strides": (2, 3)}) == (4, 3, 2)
    assert layer_output_shape(x, {"type": "conv", "filters": 2, "kernel_size": 4, "strides": 3, "padding": "same"}) == (4, 3, 2)
    assert layer_output_shape(x, {"type": "conv", "filters": 2, "kernel_size": 3, "padding": (0, 1)}) == (8, 9, 2)
    assert layer_output_shape(x, {"type": "pool", "pool_size": 3}) == (3, 3, 4)
    assert layer_output_shape(x, {"type": "pool", "pool_size": 3, "strides": 1}) == (8, 7, 4)
    assert layer_output_shape(x, {"type": "pool", "pool_size": 3, "padding": "same"}) == (4, 3, 4)
    assert layer_output_shape(x, {"type": "flatten"}) == (360,)
    assert layer_output_shape((7,), {"type": "flatten"}) == (7,)
    assert layer_output_shape(x, {"type": "dense", "units": 5}) == (10, 9, 5)
    assert layer_output_shape((7,), {"type": "dense", "units": 5}) == (5,)
    assert layer_output_shape(x, {"type": "dropout"}) == x
    assert layer_output_shape(x, {"type": "batchnorm"}) == x
    assert layer_param_count(x, {"type": "dense", "units": 5}) == (25, 0)
    assert layer_param_count(x, {"type": "dense", "units": 5, "use_bias": False}) == (20, 0)
    assert layer_param_count(x, {"type": "batchnorm"}) == (8, 8)
    assert layer_param_count(x, {"type": "conv", "filters": 2, "kernel_size": (3, 2), "use_bias": False}) == (48, 0)
    assert layer_param_count(x, {"type": "pool", "pool_size": 2}) == (0, 0)
    s = summarize(x, [])
    assert s == {"rows": [], "total": 0, "trainable": 0, "non_trainable": 0}
    names = [r[0] for r in summarize(x, [{"type": "conv", "filters": 1, "kernel_size": 1, "name": "conv2d_1"},
                                         {"type": "conv", "filters": 1, "kernel_size": 1},
                                         {"type": "conv", "filters": 1, "kernel_size": 1}])["rows"]]
    assert names == ["conv2d_1", "conv2d", "conv2d_2"]  # automatic names skip the ones taken


CONV = {"type": "conv", "filters": 4, "kernel_size": 3}
BAD_LAYERS = [  # (layer, words the message must contain)
    ({"type": "convolution", "filters": 4}, ["unknown layer type", "convolution"]),
    ({"filters": 4}, ["missing key", "type"]),
    ("conv", ["dict"]),
    ({"type": "conv", "kernel_size": 3}, ["missing", "filters"]),
    ({"type": "pool"}, ["missing", "pool_size"]),
    ({"type": "dense"}, ["missing", "units"]),
    ({**CONV, "stride": 2}, ["unknown key", "stride"]),
    ({**CONV, "filters": 0}, ["filters", "0"]),
    ({**CONV, "filters": 2.0}, ["filters", "2.0"]),
    ({**CONV, "kernel_size": (3, 3, 3)}, ["kernel_size"]),
    ({**CONV, "strides": 0}, ["strides"]),
    ({**CONV, "padding": "full"}, ["padding", "full"]),
    ({**CONV, "padding": -1}, ["padding", "-1"]),
    ({**CONV, "use_bias": 1}, ["use_bias"]),
    ({"type": "pool", "pool_size": 2, "padding": 1}, ["padding"]),
    ({"type": "pool", "pool_size": 2, "mode": "min"}, ["mode", "min"]),
    ({"type": "dense", "units": -3}, ["units", "-3"]),
    ({"type": "dropout", "rate": 1.5}, ["rate", "1.5"]),
    ({**CONV, "kernel_size": 9}, ["below 1", "height"]),  # 9 > 8
    ({"type": "pool", "pool_size": (2, 12)}, ["below 1", "width"]),
]


@pytest.mark.parametrize("layer, words", BAD_LAYERS, ids=[str(i) for i in range(len(BAD_LAYERS))])
def test_bad_layer_names_index_type_and_problem(layer, words):
    layers = [{"type": "dropout"}, {"type": "batchnorm"}, layer]
    with pytest.raises(ValueError) as info:
        summarize((8, 11, 3), layers)
    msg = str(info.value)
    assert msg.startswith("layer 2"), msg
    if isinstance(layer, dict) and layer.get("type") in ("conv", "pool", "dense", "dropout"):
        assert f"layer 2 ({layer['type']})" in msg
    for w in words:
        assert w in msg, (w, msg)
    with pytest.raises(ValueError):
        layer_output_shape((8, 11, 3), layer)


def test_bad_shapes_and_lists():
    for shape in [(28, 28), (0, 5, 3), (28.0, 28, 1), "28x28", 28, (28, 28, 1, 1)]:
        with pytest.raises(ValueError, match="input_shape"):
            summarize(shape, MNIST_CNN)
    with pytest.raises(ValueError, match=r"layer 1 \(conv\).*\(H, W, C\)"):
        summarize((28, 28, 1), [{"type": "flatten"}, CONV])
    with pytest.raises(ValueError, match="list"):
        summarize((28, 28, 1), CONV)
    with pytest.raises(ValueError, match="unique"):
        summarize((28, 28, 1), [{**CONV, "name": "a"}, {**CONV, "name": "a"}])


# ---------------------------------------------------------------------------
# agreement with real Keras and PyTorch models
# ---------------------------------------------------------------------------
def assert_matches_keras(input_shape, layers):
    assert summarize(input_shape, layers) == keras_summary(input_shape, layers)


def torch_counts(input_shape, layers):
    t = torch_summary(input_shape, layers)
    return t["trainable"], t["non_trainable"], t["output_shape"]


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_match_keras_and_torch(name):
    input_shape, layers = NAMED[name]
    assert_matches_keras(input_shape, layers)
    s = summarize(input_shape, layers)
    assert torch_counts(input_shape, layers) == (s["trainable"], s["non_trainable"], s["rows"][-1][1])


@pytest.mark.slow
def test_vgg16_matches_keras_applications():
    import keras

    for include_top in (False, True):
        ref = keras.applications.VGG16(weights=None, include_top=include_top, input_shape=(224, 224, 3))
        s = summarize((224, 224, 3), vgg16(include_top))
        ref_rows = [(tuple(layer.output.shape[1:]), layer.count_params()) for layer in ref.layers[1:]]
        assert [(shape, p) for _, shape, p in s["rows"]] == ref_rows
        assert s["total"] == ref.count_params()
        del ref
        keras.backend.clear_session()


N_RANDOM = 20


def test_random_architectures_match_keras():
    rng = np.random.default_rng(20240604)
    kinds = set()
    for _ in range(N_RANDOM):
        input_shape, layers = random_architecture(rng)
        for layer in layers:
            pad = layer.get("padding", "valid")
            kinds.add((layer["type"], pad if isinstance(pad, str) else "explicit"))
        assert_matches_keras(input_shape, layers)
    # the sample covers every layer type and padding kind
    assert kinds >= {("conv", "valid"), ("conv", "same"), ("conv", "explicit"), ("pool", "valid"),
                     ("pool", "same"), ("flatten", "valid"), ("dense", "valid"), ("dropout", "valid"),
                     ("batchnorm", "valid")}


def test_random_architectures_match_torch():
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(7)
    for _ in range(N_RANDOM):
        input_shape, layers = random_architecture(rng, torch_compatible=True)
        s = summarize(input_shape, layers)
        assert torch_counts(input_shape, layers) == (s["trainable"], s["non_trainable"], s["rows"][-1][1])


def test_torch_refuses_what_it_cannot_express():
    with pytest.raises(ValueError, match=r"layer 0 \(conv\).*same.*stride"):
        build_torch_model((28, 28, 1), [{**CONV, "padding": "same", "strides": 2}])
    with pytest.raises(ValueError, match=r"layer 1 \(pool\).*same"):
        build_torch_model((28, 28, 1), [CONV, {"type": "pool", "pool_size": 2, "padding": "same"}])
    with pytest.raises(ValueError, match="activation"):
        build_torch_model((28, 28, 1), [{**CONV, "activation": "selu"}])
    # stride 1 'same' with an even kernel is fine (the extra pixel goes bottom/right as in Keras)
    assert torch_counts((9, 8, 2), [{**CONV, "kernel_size": (4, 2), "padding": "same"}])[2] == (9, 8, 4)


def test_keras_and_torch_compute_the_same_function():
    """Copy the Keras weights into the torch model: same predictions (same padding, flatten order, BN)."""
    import torch

    torch.set_num_threads(1)
    layers = [
        {"type": "conv", "filters": 3, "kernel_size": (4, 3), "padding": "same", "activation": "relu"},
        {"type": "conv", "filters": 4, "kernel_size": 3, "strides": 2, "padding": (1, 2), "use_bias": False},
        {"type": "batchnorm"},
        {"type": "pool", "pool_size": 2, "strides": 1, "mode": "avg"},
        {"type": "dense", "units": 3, "activation": "tanh"},
        {"type": "flatten"},
        {"type": "dense", "units": 6},
        {"type": "batchnorm"},
        {"type": "dense", "units": 5, "activation": "softmax"},
    ]
    input_shape = (9, 10, 2)
    km = build_keras_model(input_shape, layers)
    assert [layer.name for layer in km.layers] == ["conv2d", "conv2d_1_pad", "conv2d_1", "batch_normalization",
                                                   "average_pooling2d", "dense", "flatten", "dense_1",
                                                   "batch_normalization_1", "dense_2"]
    tm = build_torch_model(input_shape, layers).eval()
    rng = np.random.default_rng(0)
    for layer in km.layers:  # non-trivial BN statistics
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()])
    tmods = dict(tm.named_modules())
    with torch.no_grad():
        for layer in km.layers:
            w = layer.get_weights()
            kind = type(layer).__name__
            if kind == "Conv2D":
                tmods[layer.name].weight.copy_(torch.tensor(w[0].transpose(3, 2, 0, 1)))
                if len(w) > 1:
                    tmods[layer.name].bias.copy_(torch.tensor(w[1]))
            elif kind == "Dense":
                lin = [m for m in tmods[layer.name].modules() if isinstance(m, torch.nn.Linear)][0]
                lin.weight.copy_(torch.tensor(w[0].T))
                lin.bias.copy_(torch.tensor(w[1]))
            elif kind == "BatchNormalization":
                bn = tmods[layer.name]
                for t, v in zip((bn.weight, bn.bias, bn.running_mean, bn.running_var), w):
                    t.copy_(torch.tensor(v))
    x = rng.standard_normal((3, *input_shape)).astype("float32")
    want = np.asarray(km(x, training=False))
    got = tm(torch.tensor(x.transpose(0, 3, 1, 2))).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_example_networks_totals():
    totals = {name: summarize(*example_network(name))["total"]
              for name in ("practice", "practice_no_bias", "mnist_cnn", "bn_cnn", "lenet5", "vgg16", "vgg16_notop",
                           "alexnet", "alexnet_224_same")}
    assert totals["practice"] == 518 and totals["practice_no_bias"] == 510
    assert (totals["mnist_cnn"], totals["bn_cnn"], totals["lenet5"]) == (1_199_882, 87_290, 61_706)
    assert (totals["vgg16"], totals["vgg16_notop"]) == (138_357_544, 14_714_688)
    # one-tower AlexNet: 62,378,344 parameters either way (padding changes no count, and S2 is 27x27 in both)
    assert totals["alexnet"] == totals["alexnet_224_same"] == 62_378_344
    with pytest.raises(ValueError, match="resnet"):
        example_network("resnet")


def test_framework_summaries_are_memoised():
    shape, layers = example_network("lenet5")
    first = keras_summary(shape, layers)
    first["rows"].clear()  # a caller changing its copy does not change the cache
    assert keras_summary(shape, layers) == summarize(shape, layers)
    assert torch_summary(shape, layers) == {"trainable": 61706, "non_trainable": 0, "output_shape": (10,)}
