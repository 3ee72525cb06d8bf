"""Transfer learning in Keras 3: VGG16 (pre-trained-model approach) and a reused MNIST CNN
(develop-model approach). Reference solutions of ps4_transfer.

Backend-agnostic (``keras.layers``, ``keras.ops``): runs with ``KERAS_BACKEND`` set to
``tensorflow``, ``torch`` or ``jax``.

Shapes: images are channels-last, (N, H, W, C). VGG16 without its top maps
(N, H, W, 3) to (N, H/32, W/32, 512) feature maps, or (N, 512) with ``pooling="avg"``.
"""
from __future__ import annotations

import numbers
import os
import time
from pathlib import Path

import numpy as np

from autograder.tools.keras_utils import load_transfer_data

def _check_int(value, name, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {rng}, got {value}.")
    return int(value)


def _check_model(obj, name):
    import keras

    if not isinstance(obj, keras.Model):
        raise TypeError(f"{name} must be a keras.Model (e.g. VGG16(include_top=False)), got {type(obj).__name__}.")


def _compile(model, learning_rate=1e-3):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# ----------------------------------------------------------------------------- the exercise's functions
def prepare_images(x, size=32):
    """Turn uint8 images into VGG16's input: RGB, ``size`` x ``size``, ``preprocess_input``.

    Steps: grayscale -> RGB (the gray channel copied three times), bilinear resize to
    ``size`` x ``size``, then ``keras.applications.vgg16.preprocess_input``: RGB -> BGR and
    the ImageNet mean of each channel subtracted (B 103.939, G 116.779, R 123.68), no scaling.

    Args:
        x: uint8 array, (N, H, W) grayscale or (N, H, W, 3) RGB; not modified.
        size: side of the output images (VGG16 without its top needs >= 32).

    Returns:
        float32 array (N, size, size, 3), BGR, mean-subtracted (values in [-123.68, 151.061]).
    """
    import keras
    from keras.applications.vgg16 import preprocess_input

    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array of uint8 images, got {type(x).__name__}.")
    if x.dtype != np.uint8:
        raise TypeError(f"x must have dtype uint8 (pixel values 0-255), got {x.dtype}.")
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 3)):
        raise ValueError(f"x must have shape (N, H, W) or (N, H, W, 3), got {x.shape}.")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}.")
    x = x.astype(np.float32)                          # a new array: the caller's is untouched
    if x.ndim == 3:
        x = np.repeat(x[..., None], 3, axis=-1)       # (N, H, W) -> (N, H, W, 3)
    if x.shape[1:3] != (size, size):
        x = keras.ops.image.resize(x, (size, size), interpolation="bilinear")
        x = keras.ops.convert_to_numpy(x).astype(np.float32)
    return np.asarray(preprocess_input(x), dtype=np.float32)


def build_transfer_model(base, num_classes, dense_units=256):
    """Feature extraction: a frozen ``base`` with a new classification head.

    The head is GlobalAveragePooling2D (only when the base outputs feature maps
    (N, h, w, c); a base built with ``pooling="avg"`` already outputs (N, c)),
    Dense(``dense_units``, relu) and Dense(``num_classes``, softmax) kept in float32
    (under mixed precision a float16 softmax loses accuracy).

    Args:
        base: a ``keras.Model`` (e.g. ``VGG16(include_top=False, input_shape=(32, 32, 3))``);
            frozen in place (``base.trainable = False``).
        num_classes: number of classes (>= 2).
        dense_units: units of the hidden dense layer.

    Returns:
        a compiled ``keras.Model``: (N, H, W, 3) -> (N, num_classes) probabilities;
        Adam (learning rate 1e-3), sparse categorical cross-entropy (integer labels), accuracy.
    """
    import keras
    from keras import layers

    _check_model(base, "base")
    num_classes = _check_int(num_classes, "num_classes", 2)
    dense_units = _check_int(dense_units, "dense_units", 1)
    base.trainable = False
    inputs = keras.Input(shape=tuple(base.inputs[0].shape[1:]))
    x = base(inputs, training=False)
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    elif len(x.shape) != 2:
        raise ValueError(f"base must output (N, h, w, c) feature maps or (N, c) features, "
                         f"got output shape {tuple(x.shape)}.")
    x = layers.Dense(dense_units, activation="relu", name="head_dense")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="head_softmax")(x)
    model = keras.Model(inputs, outputs, name="transfer_model")
    return _compile(model)


def unfreeze_top(base, n_layers, learning_rate=1e-5, model=None):
    """Fine-tuning: make the last ``n_layers`` entries of ``base.layers`` trainable.

    All other layers of ``base`` are frozen (as the seed's ``base_model.layers[-4:]``; for
    VGG16 ``layers[-4:]`` is block5's three convolutions and its pooling layer). When
    ``model`` is given it is recompiled with Adam(``learning_rate``): fine-tuning needs a
    much lower learning rate than training the head, or the large updates destroy the
    pre-trained features.

    Args:
        base: the ``keras.Model`` inside ``model`` (e.g. VGG16).
        n_layers: how many layers, counted from the end of ``base.layers``, to unfreeze
            (0 <= n_layers <= len(base.layers)).
        learning_rate: the new learning rate (> 0), e.g. 1e-5.
        model: the compiled model that contains ``base``, or ``None``.

    Returns:
        ``model`` (recompiled) when given, else ``base``.
    """
    _check_model(base, "base")
    n_layers = _check_int(n_layers, "n_layers", 0, len(base.layers))
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a number > 0, got {learning_rate!r}.")
    if model is not None:
        _check_model(model, "model")
    # Every flag is set explicitly: a functional model's trainable setter does not reach its
    # layers, and earlier calls may have left some frozen.
    base.trainable = True
    first = len(base.layers) - n_layers
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= first
    if model is None:
        return base
    return _compile(model, float(learning_rate))


def reuse_model(path, n_pop, n_frozen, num_classes):
    """The develop-model approach (seed 004): reuse a saved Sequential model on a new task.

    Loads the ``.keras`` file, pops its last ``n_pop`` layers (the old head), freezes its
    first ``n_frozen`` remaining layers (their weights stay as learned on the source task)
    and adds a new Dense(``num_classes``, softmax) output layer (float32).

    Args:
        path: a ``.keras`` file saved by ``model.save`` from a ``keras.Sequential``.
        n_pop: layers to remove from the end (1 <= n_pop < len(model.layers)).
        n_frozen: layers to freeze from the start (0 <= n_frozen <= layers left after popping).
        num_classes: classes of the new task (>= 2).

    Returns:
        a compiled ``keras.Sequential``: source input shape -> (N, num_classes) probabilities;
        Adam (1e-3), sparse categorical cross-entropy, accuracy.
    """
    import keras
    from keras import layers

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike to a .keras file, got {type(path).__name__}.")
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"path must name a .keras file (Keras 3's format), got {str(path)!r}.")
    if not path.is_file():
        raise FileNotFoundError(f"path: no file at {str(path)!r}.")
    model = keras.models.load_model(path)
    if not isinstance(model, keras.Sequential):
        raise TypeError(f"the model in {str(path)!r} must be a keras.Sequential (so layers can be popped), "
                        f"got {type(model).__name__}.")
    n = len(model.layers)
    n_pop = _check_int(n_pop, "n_pop", 1, n - 1)
    n_frozen = _check_int(n_frozen, "n_frozen", 0, n - n_pop)
    num_classes = _check_int(num_classes, "num_classes", 2)
    for _ in range(n_pop):
        model.pop()
    for layer in model.layers[:n_frozen]:
        layer.trainable = False
    names = {layer.name for layer in model.layers}
    name, i = "new_head", 1
    while name in names:
        i += 1
        name = f"new_head_{i}"
    model.add(layers.Dense(num_classes, activation="softmax", dtype="float32", name=name))
    return _compile(model)


# ----------------------------------------------------------------------------- develop-model experiment
def build_source_cnn(num_classes=5):
    """The MNIST CNN of course/04_mnist_cnn_keras.ipynb: (N, 28, 28, 1) floats in [0, 1] -> (N, num_classes) probabilities."""
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(40, 5, padding="same", activation="relu", name="conv1_1"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Conv2D(32, 3, activation="relu", kernel_initializer="he_normal", name="conv1_2"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.BatchNormalization(),
        layers.Dropout(0.25),
        layers.Dense(num_classes, activation="softmax", dtype="float32"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def build_source_model(num_classes=5, seed=0):
    """The seed-004 MNIST CNN (87,290 parameters with 10 classes), as a ``keras.Sequential``.

    Conv(40, 5x5, same) - MaxPool - Dropout - Conv(32, 3x3) - MaxPool - Dropout - Flatten -
    Dense(64) - BatchNorm - Dropout - Dense(num_classes, softmax). (N, 28, 28, 1) floats in
    [0, 1] -> (N, num_classes) probabilities. Compiled with Adam (1e-3). :func:`build_source_cnn`
    (the ps4 notebook's demo code) with ``num_classes`` checked and Keras' seed set to ``seed``.
    """
    import keras

    num_classes = _check_int(num_classes, "num_classes", 2)
    keras.utils.set_random_seed(seed)
    return build_source_cnn(num_classes)


def _as_input(x):
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (np.asarray(x, np.float32) / 255.0)[..., None]


def train_source_model(path, data=None, epochs=2, batch_size=64, seed=0, verbose=0):
    """Train the seed-004 CNN on the source task (digits 0-4) and save it to ``path`` (.keras).

    Returns:
        dict: ``path``, ``test_accuracy`` on the source task's test images, ``seconds``.
    """
    import keras

    data = data or load_transfer_data()
    (x, y), (xt, yt) = data["source"], data["source_test"]
    model = build_source_model(num_classes=int(y.max()) + 1, seed=seed)
    t0 = time.perf_counter()
    model.fit(_as_input(x), y, epochs=epochs, batch_size=batch_size, verbose=verbose, shuffle=True)
    seconds = time.perf_counter() - t0
    acc = float(model.evaluate(_as_input(xt), yt, verbose=0)[1])
    model.save(path)
    keras.backend.clear_session()
    return {"path": str(path), "test_accuracy": acc, "seconds": seconds}


def transfer_vs_scratch(source_path, data=None, epochs=30, batch_size=20, seeds=(0, 1, 2),
                        n_pop=1, n_frozen=4, progress=True):
    """Same target task, same budget: the reused source CNN vs the same CNN from scratch.

    Both models have the seed-004 architecture and the same new Dense(k, softmax) head, the
    same optimizer (Adam 1e-3), batch size and number of epochs on the few target images
    (e.g. 20 per class). The transfer model comes from :func:`reuse_model` (its first
    ``n_frozen`` layers frozen: by default conv1_1, its pooling and dropout, and conv1_2).

    Returns:
        dict with ``epochs``, ``seeds``, ``transfer`` and ``scratch``: each a dict with
        ``val_accuracy`` (len(seeds), epochs) target test accuracy after every epoch,
        ``loss`` (len(seeds), epochs) training loss, ``final`` (len(seeds),) last accuracy.
    """
    import keras
    from tqdm.auto import tqdm

    data = data or load_transfer_data()
    (x, y), (xt, yt) = data["target"], data["target_test"]
    x, xt = _as_input(x), _as_input(xt)
    k = int(y.max()) + 1
    out = {"epochs": epochs, "seeds": list(seeds), "n_train": len(y), "n_test": len(yt)}
    runs = [(kind, s) for s in seeds for kind in ("transfer", "scratch")]
    curves = {"transfer": {"val_accuracy": [], "loss": []}, "scratch": {"val_accuracy": [], "loss": []}}
    for kind, s in tqdm(runs, desc="transfer vs scratch", disable=not progress):
        keras.utils.set_random_seed(s)
        if kind == "transfer":
            model = reuse_model(source_path, n_pop=n_pop, n_frozen=n_frozen, num_classes=k)
        else:
            model = build_source_model(num_classes=k, seed=s)
        h = model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=(xt, yt), verbose=0)
        curves[kind]["val_accuracy"].append(h.history["val_accuracy"])
        curves[kind]["loss"].append(h.history["loss"])
        keras.backend.clear_session()
    for kind in curves:
        va = np.asarray(curves[kind]["val_accuracy"], dtype=np.float64)
        out[kind] = {"val_accuracy": va, "loss": np.asarray(curves[kind]["loss"]), "final": va[:, -1]}
    return out


def plot_transfer_vs_scratch(res, ax=None):
    """Target-task test accuracy per epoch, mean over seeds with min-max band, both curves."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ep = np.arange(1, res["epochs"] + 1)
    for kind, color in (("transfer", "tab:blue"), ("scratch", "tab:orange")):
        va = res[kind]["val_accuracy"]
        ax.plot(ep, va.mean(0), color=color, label=f"{kind} (final {va[:, -1].mean():.1%})")
        ax.fill_between(ep, va.min(0), va.max(0), color=color, alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("target test accuracy")
    ax.set_title(f"{res['n_train']} labelled images, {len(res['seeds'])} seeds")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


# ----------------------------------------------------------------------------- grading helpers
# What numpy_forward accepts: it recomputes a model from what a probe sent back from the
# student's sandbox, where any of it may have been forged. Nothing is computed before the
# whole description is checked against the shapes its own layers imply for the input.
FORWARD_LAYERS = ("InputLayer", "Dropout", "Conv2D", "MaxPooling2D", "AveragePooling2D",
                  "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Dense", "BatchNormalization")
ACTIVATIONS = ("linear", "relu", "softmax")
MAX_LAYERS = 64                 # layers in one description
MAX_WEIGHT_VALUES = 4_000_000   # numbers in all the weights together
MAX_ACTIVATION_VALUES = 4_000_000    # numbers in one layer's output (and a convolution's windows): 32 MB


def _small_int_pair(value, what, low):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and low <= v <= 4096 for v in value)):
        raise ValueError(f"{what} must be an int or a pair of ints >= {low}, got {value!r:.80}")
    return int(value[0]), int(value[1])


def check_layer_list(layer_list, input_shape) -> list[tuple]:
    """Check a layer-by-layer description of a model (see :func:`numpy_forward`) before any
    computation: its structure and types, that every weight is a finite float array, and that
    each layer's weights have exactly the shapes its input implies (a Conv2D kernel
    (kh, kw, c_in, f) with c_in the channels it receives; BatchNormalization 4 vectors of the
    channel size; a Dense kernel (d_in, units)...), with every size bounded.

    Args:
        layer_list: the description, as numpy_forward takes it.
        input_shape: the shape of the input x, (N, H, W, C).

    Returns:
        the output shape of each layer (batch axis included).

    Raises:
        ValueError naming the first layer (by position and class) that does not fit.
    """
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 4 or not all(0 < d <= 100_000 for d in shape):
        raise ValueError(f"x must have shape (N, H, W, C) with positive sizes, got {shape}")
    if not isinstance(layer_list, (list, tuple)):
        raise ValueError(f"the layers must be a list, got a {type(layer_list).__name__}")
    if not 0 < len(layer_list) <= MAX_LAYERS:
        raise ValueError(f"the description has {len(layer_list)} layers; between 1 and {MAX_LAYERS} are accepted")
    total = 0
    shapes = []
    for i, spec in enumerate(layer_list):
        where = f"layer {i}"
        if not isinstance(spec, dict):
            raise ValueError(f"{where} is a {type(spec).__name__}, not a dict describing a layer")
        kind = spec.get("class")
        if not isinstance(kind, str) or kind not in FORWARD_LAYERS:
            raise ValueError(f"{where} has class {kind!r:.60}, which the grader cannot recompute "
                             f"(it recomputes {', '.join(FORWARD_LAYERS)})")
        where = f"layer {i} ({kind})"
        cfg = spec.get("config") if spec.get("config") is not None else {}
        if not isinstance(cfg, dict):
            raise ValueError(f"{where}: its config must be a dict, got a {type(cfg).__name__}")
        weights = spec.get("weights") if spec.get("weights") is not None else []
        if not isinstance(weights, (list, tuple)) or len(weights) > 4:
            raise ValueError(f"{where}: its weights must be a list of at most 4 arrays")
        for j, w in enumerate(weights):
            if not isinstance(w, np.ndarray) or w.dtype.kind != "f":
                raise ValueError(f"{where}: weight {j} must be a float numpy array, got "
                                 f"{type(w).__name__}{'' if not isinstance(w, np.ndarray) else ' of dtype ' + str(w.dtype)}")
            total += w.size
            if total > MAX_WEIGHT_VALUES:
                raise ValueError(f"the weights hold more than {MAX_WEIGHT_VALUES:,} numbers in all")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"{where}: weight {j} (shape {w.shape}) holds NaN or inf")
        activation = cfg.get("activation", "linear")
        if kind in ("Conv2D", "Dense") and (not isinstance(activation, str) or (activation or "linear").lower()
                                             not in ACTIVATIONS):
            raise ValueError(f"{where}: activation {activation!r:.40} cannot be recomputed by the grader "
                             f"(it recomputes {', '.join(ACTIVATIONS)})")

        def expect(want):
            got = [tuple(w.shape) for w in weights]
            if got != [tuple(s) for s in want]:
                raise ValueError(f"{where}: its weights have shapes {got}; for its input of shape "
                                 f"{shape[1:]} (batch axis left out) they must be {[tuple(s) for s in want]}")

        if kind in ("InputLayer", "Dropout"):
            expect([])
        elif kind == "Conv2D":
            if len(shape) != 4:
                raise ValueError(f"{where}: its input has shape {shape[1:]}; a Conv2D needs (H, W, C)")
            if not weights or weights[0].ndim != 4:
                raise ValueError(f"{where}: its first weight must be a 4-D kernel (kh, kw, c_in, filters)")
            kh, kw, _, f = (int(d) for d in weights[0].shape)
            if not (0 < kh and 0 < kw and 0 < f):
                raise ValueError(f"{where}: its kernel has shape {weights[0].shape}")
            expect([(kh, kw, shape[3], f)] + ([(f,)] if len(weights) > 1 else []))
            if _small_int_pair(cfg.get("strides") or (1, 1), f"{where}: strides", 1) != (1, 1):
                raise ValueError(f"{where}: the grader recomputes only stride-1 convolutions")
            padding = cfg.get("padding", "valid")
            if padding not in ("valid", "same"):
                raise ValueError(f"{where}: padding {padding!r:.40} is neither 'valid' nor 'same'")
            n, hh, ww, c = shape
            if padding == "valid" and (kh > hh or kw > ww):
                raise ValueError(f"{where}: its {kh}x{kw} kernel is larger than its {hh}x{ww} input")
            if n * hh * ww * c * kh * kw > MAX_ACTIVATION_VALUES:
                raise ValueError(f"{where}: its input and kernel are too large to recompute")
            shape = (n, hh, ww, f) if padding == "same" else (n, hh - kh + 1, ww - kw + 1, f)
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            expect([])
            if len(shape) != 4:
                raise ValueError(f"{where}: its input has shape {shape[1:]}; pooling needs (H, W, C)")
            ph, pw = _small_int_pair(cfg.get("pool_size") or (2, 2), f"{where}: pool_size", 1)
            n, hh, ww, c = shape
            if ph > hh or pw > ww:
                raise ValueError(f"{where}: its {ph}x{pw} window is larger than its {hh}x{ww} input")
            shape = (n, hh // ph, ww // pw, c)
        elif kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            expect([])
            if len(shape) != 4:
                raise ValueError(f"{where}: its input has shape {shape[1:]}; global pooling needs (H, W, C)")
            shape = (shape[0], shape[3])
        elif kind == "Flatten":
            expect([])
            shape = (shape[0], int(np.prod(shape[1:])))
        elif kind == "Dense":
            if len(shape) != 2:
                raise ValueError(f"{where}: its input has shape {shape[1:]}; the grader recomputes a Dense "
                                 "layer on flat (d,) inputs only")
            if not weights or weights[0].ndim != 2:
                raise ValueError(f"{where}: its first weight must be a 2-D kernel (d_in, units)")
            units = int(weights[0].shape[1])
            if units < 1:
                raise ValueError(f"{where}: its kernel has shape {weights[0].shape}")
            expect([(shape[1], units)] + ([(units,)] if len(weights) > 1 else []))
            shape = (shape[0], units)
        elif kind == "BatchNormalization":
            expect([(shape[-1],)] * 4)         # gamma, beta, moving mean, moving variance
            eps = cfg.get("epsilon", 1e-3)
            if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < 1:
                raise ValueError(f"{where}: epsilon {eps!r:.40} must be a number in [0, 1)")
            if np.any(weights[3] + eps <= 0):
                raise ValueError(f"{where}: its moving variance plus epsilon must be positive")
        if int(np.prod(shape)) > MAX_ACTIVATION_VALUES:
            raise ValueError(f"{where}: its output would hold {int(np.prod(shape)):,} numbers; at most "
                             f"{MAX_ACTIVATION_VALUES:,} are recomputed")
        shapes.append(shape)
    return shapes


def numpy_forward(layer_list, x):
    """Inference-mode forward pass, in float64 numpy, of a Keras model described layer by layer.

    A grader uses it to recompute, from the weights a student's model returned, the outputs
    and losses that model must give, without trusting numbers computed on the student's side.
    The description is checked first (:func:`check_layer_list`): nothing is computed from a
    description whose weights do not have the shapes its layers imply.

    Args:
        layer_list: [{"class": Keras class name, "config": {"activation", "padding",
            "strides", "pool_size", "epsilon"}, "weights": [float arrays in ``layer.weights``
            order]}, ...]. Supported: InputLayer, Conv2D (padding "valid" or "same",
            stride 1), MaxPooling2D and AveragePooling2D ("valid", stride = pool size),
            GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Dropout (identity), Dense
            (on flat inputs), BatchNormalization (moving statistics; four vectors of the
            channel size); activations linear, relu, softmax.
        x: (N, H, W, C) channels-last inputs.

    Returns:
        float64 array: the model's output, e.g. (N, k) probabilities.

    Raises:
        ValueError naming the first layer this function cannot recompute, or whose weights do
        not fit its input (see :func:`check_layer_list`).
    """
    from numpy.lib.stride_tricks import sliding_window_view

    h = np.asarray(x, dtype=np.float64)
    check_layer_list(layer_list, h.shape)

    def act(h, name):
        name = (name or "linear").lower()
        if name == "relu":
            return np.maximum(h, 0)
        if name == "softmax":
            e = np.exp(h - h.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        return h

    for spec in layer_list:
        kind, cfg = spec["class"], spec.get("config") or {}
        w = [np.asarray(a, dtype=np.float64) for a in spec.get("weights") or []]
        if kind in ("InputLayer", "Dropout"):
            continue
        if kind == "Conv2D":
            k = w[0]
            kh, kw = k.shape[:2]
            if cfg.get("padding") == "same":
                ph, pw = kh - 1, kw - 1
                h = np.pad(h, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
            win = sliding_window_view(h, (kh, kw), axis=(1, 2))        # (N, H', W', C, kh, kw)
            h = np.einsum("nhwcij,ijco->nhwo", win, k) + (w[1] if len(w) > 1 else 0)
            h = act(h, cfg.get("activation"))
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            p = _small_int_pair(cfg.get("pool_size") or (2, 2), "pool_size", 1)
            n, hh, ww, c = h.shape
            h = h[:, :hh // p[0] * p[0], :ww // p[1] * p[1]].reshape(n, hh // p[0], p[0], ww // p[1], p[1], c)
            h = h.max(axis=(2, 4)) if kind == "MaxPooling2D" else h.mean(axis=(2, 4))
        elif kind == "GlobalAveragePooling2D":
            h = h.mean(axis=(1, 2))
        elif kind == "GlobalMaxPooling2D":
            h = h.max(axis=(1, 2))
        elif kind == "Flatten":
            h = h.reshape(len(h), -1)
        elif kind == "Dense":
            h = act(h @ w[0] + (w[1] if len(w) > 1 else 0), cfg.get("activation"))
        elif kind == "BatchNormalization":
            gamma, beta, mean, var = w
            h = gamma * (h - mean) / np.sqrt(var + float(cfg.get("epsilon", 1e-3))) + beta
    return h


def expect_layers(layer_list, expected, *, what: str) -> None:
    """Assert that a probe's description of layers the *grader* built (a base, a saved model)
    has the classes and weight shapes they were built with: ``expected`` lists
    ``(class, [weight shapes])``. The message says which layer differs and what it reported
    (the architecture is the probe's public code; no result of the student's is revealed)."""
    if not isinstance(layer_list, list) or len(layer_list) != len(expected):
        if isinstance(layer_list, list):
            kinds = [str(spec.get("class"))[:40] if isinstance(spec, dict) else type(spec).__name__
                     for spec in layer_list[:10]]
            reported = (f"{len(layer_list)} layers ({', '.join(kinds)}{', ...' if len(layer_list) > 10 else ''})")
        else:
            reported = "no list of layers"
        raise AssertionError(f"{what}: the probe reported {reported}, not the {len(expected)} layers the grader "
                             "built. Build the model around the layers you are given; do not change what the "
                             "probe reports.")
    for i, (spec, (kind, shapes)) in enumerate(zip(layer_list, expected)):
        got_kind = spec.get("class") if isinstance(spec, dict) else None
        weights = spec.get("weights", []) if isinstance(spec, dict) else None
        got = [tuple(w.shape) for w in weights] if isinstance(weights, list) and all(
            isinstance(w, np.ndarray) for w in weights) else None
        if got_kind != kind or got != [tuple(s) for s in shapes]:
            raise AssertionError(f"{what}: layer {i} was reported as {got_kind!r:.60} with weights of shapes "
                                 f"{got if got is not None else '(not arrays)'}, which is not the layer the grader "
                                 "built. Build the model around the layers you are given; do not change what the "
                                 "probe reports.")


def expect_result(result, keys, *, what: str) -> dict:
    """Assert that a probe's ``result`` is a dict with (at least) ``keys``; return it."""
    if not isinstance(result, dict) or not set(keys) <= set(result):
        raise AssertionError(f"{what}: the probe's result is not what its code returns (a dict with "
                             f"{', '.join(sorted(keys))}). Do not change what the probe reports.")
    return result


def checked_layers(layer_list, input_shape, *, what: str) -> list[tuple]:
    """:func:`check_layer_list` for a test: ``AssertionError`` saying why instead of ValueError."""
    try:
        return check_layer_list(layer_list, input_shape)
    except ValueError as exc:
        raise AssertionError(f"{what} cannot be recomputed from the layers and weights the probe returned: "
                             f"{exc}.") from None


def expect_probabilities(value, shape, *, what: str) -> np.ndarray:
    """Assert that a probe returned a finite float array of ``shape`` (the model's output);
    return it as float64. The message gives the shape it has, not the one expected."""
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        raise AssertionError(f"{what} must come back as a float array, got "
                             f"{type(value).__name__}{' of dtype ' + str(value.dtype) if isinstance(value, np.ndarray) else ''}.")
    if value.shape != tuple(shape):
        raise AssertionError(f"{what} has shape {value.shape}, which is not the shape (N, num_classes) of "
                             "the inputs the grader chose.")
    if not np.all(np.isfinite(value)):
        raise AssertionError(f"{what} holds NaN or inf.")
    return value.astype(np.float64)


def cross_entropy(probs, y) -> float:
    """Mean sparse categorical cross-entropy of probabilities (N, k) for integer labels (N,)."""
    probs = np.asarray(probs, dtype=np.float64)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), np.asarray(y)], 1e-12, None))))
