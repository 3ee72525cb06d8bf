"""Reference transfer-learning library (solutions/transfer.py) and autograder/tools/keras_utils.py.

VGG16 is built with random weights at 32x32 (14,714,688 parameters, about a second); the
other models are tiny. One test runs the core functions under KERAS_BACKEND=torch in a
subprocess (and jax, when it is importable).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

from autograder.tools import keras_utils as ku  # noqa: E402
from solutions import transfer as T  # noqa: E402

MEAN_BGR = np.array([103.939, 116.779, 123.68])
VGG16_NOTOP = 14_714_688
BLOCK5 = 3 * (3 * 3 * 512 * 512 + 512)            # 7,079,424


@pytest.fixture(scope="module")
def vgg():
    return keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))


def n_params(ws):
    return int(sum(int(np.prod(w.shape)) for w in ws))


def lr_of(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


# ----------------------------------------------------------------------------- prepare_images
def test_prepare_images_bgr_and_means_exact():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(3, 5, 5, 3), dtype=np.uint8)
    x0 = x.copy()
    out = T.prepare_images(x, size=5)
    np.testing.assert_array_equal(x, x0)
    assert out.dtype == np.float32 and out.shape == (3, 5, 5, 3)
    np.testing.assert_allclose(out, x[..., ::-1] - MEAN_BGR, rtol=0, atol=1e-4)
    # a pure red pixel: channel 2 (R in BGR order) carries the 255
    red = np.zeros((1, 1, 1, 3), np.uint8)
    red[..., 0] = 255
    np.testing.assert_allclose(T.prepare_images(red, size=1)[0, 0, 0], [-103.939, -116.779, 255 - 123.68], atol=1e-4)


def test_prepare_images_gray_resize_and_constant():
    g = np.full((2, 28, 28), 77, np.uint8)
    out = T.prepare_images(g, size=32)
    assert out.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(out, np.broadcast_to(77 - MEAN_BGR, out.shape), atol=1e-3)
    ramp = np.tile(np.arange(0, 240, 30, dtype=np.uint8), (1, 8, 1))        # (1, 8, 8)
    up = T.prepare_images(ramp, size=16)
    assert up.shape == (1, 16, 16, 3)
    col = up[0, 0, :, 2] + 123.68                                            # R channel, first row
    assert np.all(np.diff(col) >= -1e-4), "bilinear upsampling of a ramp must stay monotone"
    assert 0 <= col.min() and col.max() <= 210 + 1e-3


@pytest.mark.parametrize("bad, exc, words", [
    (np.zeros((2, 8, 8), np.float32), TypeError, ["uint8", "float32"]),
    (np.zeros((2, 8, 8, 4), np.uint8), ValueError, ["(N, H, W)", "(2, 8, 8, 4)"]),
    (np.zeros((8, 8), np.uint8), ValueError, ["(8, 8)"]),
    ([[1, 2]], TypeError, ["numpy array", "list"]),
])
def test_prepare_images_errors(bad, exc, words):
    with pytest.raises(exc) as info:
        T.prepare_images(bad, 32)
    for w in words:
        assert w in str(info.value)
    with pytest.raises(ValueError, match="size"):
        T.prepare_images(np.zeros((1, 4, 4), np.uint8), size=0)


# ----------------------------------------------------------------------------- build / unfreeze
def test_build_transfer_model_counts_shape_softmax(vgg):
    model = T.build_transfer_model(vgg, 5, dense_units=8)
    assert n_params(model.non_trainable_weights) == VGG16_NOTOP
    assert n_params(model.trainable_weights) == 512 * 8 + 8 + 8 * 5 + 5 == 4149
    assert model.output_shape == (None, 5)
    assert any(isinstance(l, keras.layers.GlobalAveragePooling2D) for l in model.layers)
    p = keras.ops.convert_to_numpy(model(np.random.default_rng(1).normal(0, 50, (3, 32, 32, 3)).astype("float32")))
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    assert model.loss == "sparse_categorical_crossentropy"
    assert lr_of(model) == pytest.approx(1e-3)


def test_build_transfer_model_pooled_base_has_no_gap():
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    model = T.build_transfer_model(base, 3, dense_units=4)
    assert not any(isinstance(l, keras.layers.GlobalAveragePooling2D) for l in model.layers)
    assert n_params(model.trainable_weights) == 512 * 4 + 4 + 4 * 3 + 3


def test_build_transfer_model_errors(vgg):
    with pytest.raises(TypeError, match="keras.Model"):
        T.build_transfer_model("vgg", 3)
    with pytest.raises(ValueError, match="num_classes"):
        T.build_transfer_model(vgg, 1)
    with pytest.raises(ValueError, match="dense_units"):
        T.build_transfer_model(vgg, 3, dense_units=0)
    with pytest.raises(TypeError, match="num_classes"):
        T.build_transfer_model(vgg, 3.0)


def test_unfreeze_top_counts_flags_lr_and_repeated_calls(vgg):
    model = T.build_transfer_model(vgg, 5, dense_units=8)
    out = T.unfreeze_top(vgg, 4, learning_rate=1e-5, model=model)
    assert out is model
    assert n_params(model.trainable_weights) == BLOCK5 + 4149 == 7_083_573
    assert n_params(model.non_trainable_weights) == VGG16_NOTOP - BLOCK5 == 7_635_264
    assert lr_of(model) == pytest.approx(1e-5)
    assert [l.trainable for l in vgg.layers] == [False] * 15 + [True] * 4
    # unfreezing fewer, then more: every flag is reset, not accumulated
    T.unfreeze_top(vgg, 0, learning_rate=2e-5, model=model)
    assert n_params(model.trainable_weights) == 4149 and lr_of(model) == pytest.approx(2e-5)
    assert T.unfreeze_top(vgg, 2) is vgg
    assert n_params(vgg.trainable_weights) == 2_359_808
    T.unfreeze_top(vgg, len(vgg.layers))
    assert n_params(vgg.trainable_weights) == VGG16_NOTOP


def test_unfreeze_top_errors(vgg):
    with pytest.raises(ValueError, match="n_layers"):
        T.unfreeze_top(vgg, len(vgg.layers) + 1)
    with pytest.raises(ValueError, match="n_layers"):
        T.unfreeze_top(vgg, -1)
    with pytest.raises(ValueError, match="learning_rate"):
        T.unfreeze_top(vgg, 2, learning_rate=0)
    with pytest.raises(TypeError, match="model"):
        T.unfreeze_top(vgg, 2, model="m")


def test_mixed_precision_keeps_softmax_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inp = keras.Input((8, 8, 3))
        base = keras.Model(inp, keras.layers.Conv2D(4, 3)(inp))
        model = T.build_transfer_model(base, 3, dense_units=4)
        assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
        assert model.layers[-2].dtype_policy.name == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_short_fit_lowers_loss_and_keeps_base_frozen():
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    base = keras.Model(inp, keras.layers.Conv2D(8, 3, activation="relu")(inp))
    w0 = [keras.ops.convert_to_numpy(w).copy() for w in base.weights]
    model = T.build_transfer_model(base, 3, dense_units=16)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 16, 16, 3)).astype("float32")
    y = np.argmax(x.mean(axis=(1, 2)), axis=1)
    loss = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert loss[-1] < loss[0]
    for a, w in zip(w0, base.weights):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(w))


# ----------------------------------------------------------------------------- reuse_model
def _tiny_sequential(path):
    keras.utils.set_random_seed(1)
    src = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                            keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                            keras.layers.Dense(6, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    src.save(path)
    return src


def test_reuse_model_recipe(tmp_path):
    path = tmp_path / "tiny.keras"
    src = _tiny_sequential(path)
    m = T.reuse_model(path, n_pop=1, n_frozen=1, num_classes=4)
    assert [l.trainable for l in m.layers] == [False, True, True, True, True]
    assert n_params(m.non_trainable_weights) == 40
    assert n_params(m.trainable_weights) == 222 + 28
    assert m.output_shape == (None, 4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(m.layers[0].kernel),
                                  keras.ops.convert_to_numpy(src.layers[0].kernel))
    assert m.layers[-1].name == "new_head" and m.layers[-1].dtype_policy.name == "float32"
    m2 = T.reuse_model(path, n_pop=2, n_frozen=3, num_classes=2)
    assert n_params(m2.trainable_weights) == 36 * 2 + 2 and len(m2.layers) == 4


def test_reuse_model_errors(tmp_path):
    path = tmp_path / "tiny.keras"
    _tiny_sequential(path)
    for args, exc, word in [((path, 0, 0, 3), ValueError, "n_pop"), ((path, 5, 0, 3), ValueError, "n_pop"),
                            ((path, 1, 5, 3), ValueError, "n_frozen"), ((path, 1, 0, 1), ValueError, "num_classes"),
                            ((tmp_path / "missing.keras", 1, 0, 3), FileNotFoundError, "missing.keras"),
                            ((tmp_path / "model.h5", 1, 0, 3), ValueError, ".keras"),
                            ((3, 1, 0, 3), TypeError, "path")]:
        with pytest.raises(exc, match=word.replace(".", r"\.")):
            T.reuse_model(*args)
    inp = keras.Input((4,))
    functional = keras.Model(inp, keras.layers.Dense(2)(inp))
    functional.save(tmp_path / "f.keras")
    with pytest.raises(TypeError, match="Sequential"):
        T.reuse_model(tmp_path / "f.keras", 1, 0, 3)


# ----------------------------------------------------------------------------- keras_utils
def test_select_device_cpu_and_fake_gpu(capsys):
    cfg = ku.select_device(gpus=[], backend="tensorflow", fast=True, apply=True)
    assert (cfg.device, cfg.mixed_precision, cfg.image_size, cfg.batch_size) == ("cpu", False, 32, 32)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert "CPU" in capsys.readouterr().out
    try:
        cfg = ku.select_device(gpus=["Fake H100"], backend="torch", fast=False, apply=True)
        assert (cfg.device, cfg.name, cfg.mixed_precision, cfg.image_size, cfg.batch_size) == \
            ("gpu", "Fake H100", True, 224, 64)
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        out = capsys.readouterr().out
        assert "GPU (Fake H100)" in out and "mixed_float16" in out
    finally:
        keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(ValueError, match="backend"):
        ku.select_device(gpus=[], backend="theano", apply=False, verbose=False)


def test_select_device_queries_the_backend(monkeypatch):
    monkeypatch.setattr(ku, "_gpu_names", lambda backend: ["Patched GPU"])
    try:
        cfg = ku.select_device(verbose=False)
        assert cfg.device == "gpu" and cfg.name == "Patched GPU" and cfg.backend == keras.backend.backend()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    monkeypatch.setattr(ku, "_gpu_names", lambda backend: [])
    monkeypatch.setenv("CNN_COURSE_FAST", "1")
    cfg = ku.select_device(verbose=False, apply=False)
    assert cfg.device == "cpu" and cfg.fast and cfg.epochs == 3


def test_vgg16_weights_resolution(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ku.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert ku.vgg16_weights_path() is None
    base = ku.get_vgg16(weights="auto", input_shape=(32, 32, 3))
    assert "not available offline" in capsys.readouterr().out and base.count_params() == VGG16_NOTOP
    with pytest.raises(FileNotFoundError, match=ku.WEIGHTS_ENV):
        ku.get_vgg16(weights="imagenet")
    # a local weights file (saved here from a random model) is found through the env var and loaded
    wfile = tmp_path / "vgg.weights.h5"
    base.save_weights(wfile)
    monkeypatch.setenv(ku.WEIGHTS_ENV, str(wfile))
    assert ku.vgg16_weights_path() == wfile
    again = ku.get_vgg16(weights="auto", input_shape=(32, 32, 3))
    assert "weights from" in capsys.readouterr().out
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again.layers[1].kernel),
                                  keras.ops.convert_to_numpy(base.layers[1].kernel))
    monkeypatch.setenv(ku.WEIGHTS_ENV, str(tmp_path / "nope.h5"))
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        ku.vgg16_weights_path()
    for kwargs, word in [({"input_shape": (16, 16, 3), "weights": None}, "32x32"),
                         ({"pooling": "sum", "weights": None}, "pooling"),
                         ({"include_top": True, "weights": None}, "224")]:
        with pytest.raises(ValueError, match=word):
            ku.get_vgg16(**kwargs)


def test_load_transfer_data_split():
    d = ku.load_transfer_data(n_per_class=20, subset="small", n_test=300, seed=0)
    x, y = d["target"]
    assert x.shape == (100, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [20] * 5
    assert set(np.unique(d["source"][1])) == set(range(5)) and len(d["target_test"][1]) == 300
    again = ku.load_transfer_data(n_per_class=20, subset="small", n_test=300, seed=0)
    np.testing.assert_array_equal(again["target"][0], x)
    with pytest.raises(ValueError, match="overlap"):
        ku.load_transfer_data(source_digits=(0, 5), target_digits=(5, 6))
    with pytest.raises(ValueError, match="n_per_class"):
        ku.load_transfer_data(n_per_class=0)


def test_make_augmenter_changes_images_only_in_training():
    aug = ku.make_augmenter(seed=0)
    assert [type(l).__name__ for l in aug.layers] == ["RandomRotation", "RandomTranslation", "RandomShear",
                                                      "RandomZoom"]
    x = np.zeros((2, 28, 28, 1), "float32")
    x[:, 8:20, 12:16] = 1.0
    out = keras.ops.convert_to_numpy(aug(x, training=True))
    assert out.shape == x.shape and not np.allclose(out, x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(aug(x, training=False)), x)
    with pytest.raises(ValueError, match="rotation"):
        ku.make_augmenter(rotation=-1)


# ----------------------------------------------------------------------------- other backends
_BACKEND_SCRIPT = textwrap.dedent("""
    import os, sys, tempfile
    import numpy as np
    import keras
    assert keras.backend.backend() == os.environ["KERAS_BACKEND"], keras.backend.backend()
    from solutions import transfer as T
    n = lambda ws: int(sum(int(np.prod(w.shape)) for w in ws))
    x = np.random.default_rng(0).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    X = T.prepare_images(x, 32)
    assert X.shape == (2, 32, 32, 3) and X.dtype == np.float32
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    m = T.build_transfer_model(base, 5, dense_units=8)
    assert (n(m.trainable_weights), n(m.non_trainable_weights)) == (4149, 14714688)
    p = keras.ops.convert_to_numpy(m.predict(X, verbose=0))
    assert np.allclose(p.sum(1), 1, atol=1e-5)
    T.unfreeze_top(base, 4, learning_rate=1e-5, model=m)
    assert n(m.trainable_weights) == 7083573
    loss = m.fit(X, np.array([0, 1]), epochs=1, verbose=0).history["loss"]
    src = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                            keras.layers.Dense(3, activation="softmax")])
    path = os.path.join(tempfile.mkdtemp(), "s.keras")
    src.save(path)
    r = T.reuse_model(path, 1, 1, 4)
    assert r.output_shape == (None, 4) and n(r.non_trainable_weights) == 40
    print("OK", keras.backend.backend())
""")


def _run_backend(backend, extra_path=None):
    env = dict(os.environ, KERAS_BACKEND=backend, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, extra_path, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-c", _BACKEND_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_core_functions_under_torch_backend():
    r = _run_backend("torch")
    assert r.returncode == 0 and "OK torch" in r.stdout, r.stderr[-3000:]


@pytest.mark.slow
def test_core_functions_under_jax_backend():
    extra = os.environ.get("CNN_COURSE_JAX_PATH")        # e.g. a `pip install --target` folder
    probe = subprocess.run([sys.executable, "-c", "import jax"], capture_output=True,
                           env=dict(os.environ, PYTHONPATH=extra or ""))
    if probe.returncode != 0:
        pytest.skip("jax is not installed (pip install jax, or set CNN_COURSE_JAX_PATH)")
    r = _run_backend("jax", extra)
    assert r.returncode == 0 and "OK jax" in r.stdout, r.stderr[-3000:]


@pytest.mark.slow
def test_transfer_vs_scratch_pipeline(tmp_path):
    """The develop-model experiment end to end on a tiny budget (numbers are not checked here)."""
    import matplotlib

    matplotlib.use("Agg")
    data = ku.load_transfer_data(n_per_class=5, subset="small", n_source=300, n_test=100, seed=0)
    info = T.train_source_model(tmp_path / "src.keras", data, epochs=1)
    assert (tmp_path / "src.keras").is_file() and 0 <= info["test_accuracy"] <= 1
    res = T.transfer_vs_scratch(tmp_path / "src.keras", data, epochs=2, seeds=(0,), progress=False)
    for kind in ("transfer", "scratch"):
        assert res[kind]["val_accuracy"].shape == (1, 2) and res[kind]["final"].shape == (1,)
    assert res["n_train"] == 25 and res["n_test"] == 100
    ax = T.plot_transfer_vs_scratch(res)
    assert len(ax.lines) == 2


def _describe(layer_list):
    """What the ps4 probes return for each layer (class, config, weights as arrays)."""
    out = []
    for layer in layer_list:
        cfg = layer.get_config()
        keep = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()
                if k in ("activation", "padding", "strides", "pool_size", "epsilon")}
        out.append({"class": type(layer).__name__, "config": keep,
                    "weights": [keras.ops.convert_to_numpy(w) for w in layer.weights]})
    return out


def test_numpy_forward_matches_keras():
    """The grader's numpy recomputation gives Keras' own outputs, BatchNorm and 'same' padding included."""
    keras.utils.set_random_seed(5)
    model = keras.Sequential([
        keras.Input((9, 9, 2)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2), keras.layers.Conv2D(3, 2, activation="relu"), keras.layers.Flatten(),
        keras.layers.Dense(6, activation="relu"), keras.layers.BatchNormalization(), keras.layers.Dropout(0.5),
        keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(5).normal(size=(4, 9, 9, 2)).astype("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, np.arange(4) % 3, epochs=2, verbose=0)          # moving statistics away from 0 / 1
    want = keras.ops.convert_to_numpy(model(x, training=False))
    got = T.numpy_forward(_describe(model.layers), x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    gap = [{"class": "GlobalAveragePooling2D"}]
    np.testing.assert_allclose(T.numpy_forward(gap, x), x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert T.cross_entropy(np.array([[0.5, 0.5], [0.1, 0.9]]), [0, 1]) == pytest.approx(
        -(np.log(0.5) + np.log(0.9)) / 2)
    with pytest.raises(ValueError, match="LSTM.*cannot recompute"):
        T.numpy_forward([{"class": "LSTM"}], x)


def test_small_vgg16_has_vgg16s_layers_with_fewer_filters(vgg):
    small = ku.small_vgg16()
    assert [layer.name for layer in small.layers[1:]] == [layer.name for layer in vgg.layers[1:]]
    assert [type(layer).__name__ for layer in small.layers] == [type(layer).__name__ for layer in vgg.layers]
    assert ku.count_params(small.weights) == 57_828 and small.output_shape == (None, 1, 1, 32)
    convs = [layer for layer in small.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [4, 4, 8, 8, 16, 16, 16, 32, 32, 32, 32, 32, 32]
    with pytest.raises(ValueError, match="5 positive ints"):
        ku.small_vgg16((4, 8, 16))
