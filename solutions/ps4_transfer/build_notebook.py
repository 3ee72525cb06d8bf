"""Build the instructor source notebook solutions/ps4_transfer/ps4_transfer.ipynb.

The notebook is generated from the cell list below so that solutions, public and hidden
tests stay easy to review as plain Python. Cell ids are fixed, so regenerating gives the
same notebook (written without outputs). Run from the repository root:

    .venv/bin/python solutions/ps4_transfer/build_notebook.py

(`cnn-course release` copies only notebooks, grading.toml and images: this file never
reaches students.)
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path


from autograder.authoring import NotebookSource

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "solutions" / "ps4_transfer" / "ps4_transfer.ipynb"

NB = NotebookSource()
md, code, setup, solution, test = NB.md, NB.code, NB.setup, NB.solution, NB.test


# =======================================================================================
md("md-title", r"""
# Problem set 4: transfer learning with Keras 3

A network trained on one task has learned features (edges, strokes, textures, parts of
objects) that are useful for other tasks too. *Transfer learning* reuses them: you start
from a trained model instead of random weights, which matters most when the new task has
few labelled images. The lectures describe two ways to get the trained model:

1. **Develop-model approach**: pick a *source task* with plenty of data that is related to
   yours, train a skilful model on it yourself, then reuse all or part of it on the
   *target task* and (optionally) tune it there.
2. **Pre-trained-model approach**: take a model someone else trained on a large data set,
   such as VGG16 trained on ImageNet (1.2 million photos, 1,000 classes), reuse it and
   (optionally) tune it.

And two ways to reuse it:

* **feature extraction**: freeze the reused layers (their weights do not change) and
  train only a new *head* (the layers that turn features into your classes);
* **fine-tuning**: afterwards, unfreeze the *top* (last) few reused layers and train them
  together with the head at a **much lower learning rate** (e.g. $10^{-5}$ instead of
  $10^{-3}$), so the small updates adapt the features without destroying them.

You will write four functions, each graded on its own:
`prepare_images` (Part A), `build_transfer_model` (Part B), `unfreeze_top` (Part C) and
`reuse_model` (Part D). Then you run feature extraction, fine-tuning, a measured
*transfer vs. training from scratch* comparison, and look at data augmentation.

**How grading works.** Cells marked *public test* run here: use them to check your work.
The grader also runs *hidden tests* (the empty test cells) on other shapes and settings.
A test passes when its cell runs without an error. Test cells that need a live Keras model
use `run_student(code)`: it runs `code` where your functions live and returns the plain
value of `result` (a parameter count, a list of flags, a learning rate).

**Rules.** Use Keras 3's backend-agnostic API (`keras.layers`, `keras.ops`,
`keras.applications`), not `tf.*`: the notebook must also run with
`KERAS_BACKEND=torch` or `jax`. Do not change the names or signatures of the functions.

**Offline.** This machine cannot download ImageNet weights. `get_vgg16()` uses them when a
local copy exists (set the environment variable `CNN_COURSE_VGG16_WEIGHTS` to a weights
file, or put `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5` in `$KERAS_HOME/models/`),
and otherwise says so in one line and builds VGG16 with random weights. Every VGG16 code
path still runs; the *measured* benefit of transfer is shown with the develop-model
approach on MNIST (Part D), whose data is here.
""")

setup("setup", r"""
import os
os.environ.setdefault("KERAS_BACKEND", "tensorflow")    # "torch" and "jax" work too
import tempfile
from pathlib import Path

import numpy as np
import keras
from keras import layers
import matplotlib.pyplot as plt

from autograder.tools import (assert_close, assert_equal, assert_shape, assert_raises,
                              assert_not_modified, run_student)
from autograder.tools.keras_utils import (select_device, get_vgg16, load_transfer_data,
                                          make_augmenter, count_params, fast_mode)

FAST = fast_mode()          # CNN_COURSE_FAST=1: fewer images and epochs, same code
""")

md("md-device", r"""
## The device, and what goes with it

`select_device()` asks the Keras backend for a GPU and picks settings to match:

| | GPU | CPU (this machine) |
|---|---|---|
| precision | `mixed_float16`: layers compute in float16, weights stay float32 | float32 |
| image size fed to VGG16 | 224 x 224 (what VGG16 was trained on) | 32 x 32 (the smallest VGG16 accepts) |
| batch size | 64 | 32 |

Under mixed precision the **softmax output layer must stay in float32**
(`layers.Dense(k, activation="softmax", dtype="float32")`): in float16, small
probabilities round to 0 and the cross-entropy becomes inaccurate. It prints what it chose.
""")

code("device", r"""
cfg = select_device()
IMG = cfg.image_size
print(f"Keras {keras.__version__}, backend {keras.backend.backend()}")
""")

# =======================================================================================
md("md-partA", r"""
## Part A. Preparing images for VGG16

VGG16 was trained on photos preprocessed the way the original (Caffe) implementation did it,
and a pre-trained network only works on inputs prepared the same way.
`keras.applications.vgg16.preprocess_input` does this, and it is worth knowing exactly what it does:

* it **reverses the channel order**, RGB -> BGR (channel 0 becomes blue);
* it **subtracts the ImageNet mean of each channel** from every pixel: 103.939 from B,
  116.779 from G, 123.68 from R;
* it does **not** scale to [0, 1]: values stay in the 0-255 range, so the result lies in
  [-123.68, 151.061].

It expects three channels at a size the network accepts. MNIST digits are 28 x 28 and gray,
so we first copy the gray channel three times (gray -> RGB: R = G = B) and resize.

**Task.** Write `prepare_images(x, size=32)`:
1. check that `x` is a numpy array of dtype `uint8` with shape `(N, H, W)` or `(N, H, W, 3)`
   (raise `TypeError` / `ValueError` naming `x`, what you got and what was expected);
2. convert to float32 **without modifying the caller's array**; grayscale -> 3 channels;
3. resize to `size x size` with bilinear interpolation (`keras.ops.image.resize(x, (size, size),
   interpolation="bilinear")`, then `keras.ops.convert_to_numpy`), only when the size differs;
4. apply `preprocess_input` and return a float32 numpy array `(N, size, size, 3)`.
""")

solution("prepare_images", r'''
from keras.applications.vgg16 import preprocess_input


def prepare_images(x, size=32):
    """uint8 images -> VGG16 input: RGB, size x size, BGR with the ImageNet means subtracted.

    Args:
        x: uint8 numpy array, (N, H, W) grayscale or (N, H, W, 3) RGB. Not modified.
        size: side of the output images (VGG16 without its top needs >= 32).

    Returns:
        float32 numpy array (N, size, size, 3), channels in BGR order, each channel minus its
        ImageNet mean (B 103.939, G 116.779, R 123.68), not scaled.
    """
    ### BEGIN SOLUTION
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
    ### END SOLUTION
''')

test("test_prepare_images_public", 2, r'''
# Public test: shapes, dtype, BGR order and the ImageNet means on a tiny RGB image.
x = np.zeros((2, 4, 4, 3), np.uint8)
x[..., 0], x[..., 1], x[..., 2] = 200, 100, 50          # R, G, B
x0 = x.copy()
out = prepare_images(x, size=4)
assert_not_modified(x, x0, name="x")
assert_shape(out, (2, 4, 4, 3), name="prepare_images(x, size=4)", axes=("N", "H", "W", "C"))
assert_equal(str(np.asarray(out).dtype), "float32", name="dtype of the result")
mean_bgr = np.array([103.939, 116.779, 123.68])
expected = np.broadcast_to(np.array([50, 100, 200]) - mean_bgr, (2, 4, 4, 3))
assert_close(out, expected, rtol=0, atol=1e-3, name="prepare_images(x, size=4)",
             mistakes={"the channels are still in RGB order": np.array([200, 100, 50]) - mean_bgr + 0 * expected,
                       "the pixels were scaled to [0, 1] before the mean was subtracted":
                           np.array([50, 100, 200]) / 255 - mean_bgr + 0 * expected,
                       "the ImageNet means were not subtracted": np.array([50.0, 100, 200]) + 0 * expected},
             hint="preprocess_input reverses RGB -> BGR and subtracts (103.939, 116.779, 123.68); no /255.")

gray = np.full((3, 28, 28), 128, np.uint8)
out = prepare_images(gray, size=32)
assert_shape(out, (3, 32, 32, 3), name="prepare_images(gray, size=32)", axes=("N", "H", "W", "C"),
             hint="copy the gray channel three times, then resize to size x size.")
assert_close(out[0, 16, 16], 128 - mean_bgr, rtol=0, atol=1e-2, name="a pixel of a uniform gray image")
print("prepare_images: public tests passed")
''')

test("test_prepare_images_hidden", 3, r'''
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(404)
mean_bgr = np.array([103.939, 116.779, 123.68])
x = rng.integers(0, 256, size=(5, 9, 7, 3), dtype=np.uint8)
x0 = x.copy()
# non-square input resized to a square: shape only
out = prepare_images(x, size=40)
assert_not_modified(x, x0, name="x")
assert_shape(out, (5, 40, 40, 3), name="prepare_images(x of shape (5, 9, 7, 3), size=40)",
             axes=("N", "H", "W", "C"))
# exact values where no resize is needed
x = rng.integers(0, 256, size=(4, 11, 11, 3), dtype=np.uint8)
expected = x[..., ::-1].astype(np.float64) - mean_bgr
out = prepare_images(x, size=11)
assert_equal(str(np.asarray(out).dtype), "float32", name="dtype of the result")
assert_close(out, expected, rtol=0, atol=1e-3, name="prepare_images(random RGB, size=11)",
             mistakes={"the channels are still in RGB order": x.astype(np.float64) - mean_bgr,
                       "the pixels were scaled to [0, 1]": x[..., ::-1] / 255.0 - mean_bgr,
                       "the means were not subtracted": x[..., ::-1].astype(np.float64)})
g = rng.integers(0, 256, size=(3, 6, 6), dtype=np.uint8)
assert_close(prepare_images(g, size=6), g[..., None].astype(np.float64) - mean_bgr, rtol=0, atol=1e-3,
             name="prepare_images(random gray, size=6)")
# a uniform colour stays uniform after resizing
c = np.zeros((2, 7, 7, 3), np.uint8)
c[..., 0], c[..., 1], c[..., 2] = 10, 220, 90
assert_close(prepare_images(c, size=33), np.broadcast_to(np.array([90, 220, 10]) - mean_bgr, (2, 33, 33, 3)),
             rtol=0, atol=1e-2, name="prepare_images(uniform colour, size=33)")
# bad input
assert_raises((TypeError, ValueError), prepare_images, x.astype(np.float32), 32, match="uint8",
              because="x must hold uint8 pixels")
assert_raises(ValueError, prepare_images, np.zeros((2, 8, 8, 4), np.uint8), 32,
              because="4-channel images are neither gray (N, H, W) nor RGB (N, H, W, 3)")
assert_raises(ValueError, prepare_images, np.zeros((8, 8), np.uint8), 32,
              because="a single 2-D image has no batch axis")
### END HIDDEN TESTS
''')

# =======================================================================================
md("md-partB", r"""
## Part B. VGG16 as a frozen feature extractor

`keras.applications.VGG16` builds the network (13 convolutional layers in five blocks, each
block ending in 2 x 2 max pooling, then three dense layers). Its arguments:

* `include_top=False` drops the three dense layers (they only fit 224 x 224 inputs and the
  1,000 ImageNet classes); what is left maps `(N, H, W, 3)` to feature maps
  `(N, H/32, W/32, 512)` and accepts any `input_shape` with H, W >= 32;
* `pooling="avg"` (or `"max"`) adds a global pooling layer, so the output is `(N, 512)`;
* `weights="imagenet"` loads the pre-trained weights (a download of 58 MB), `weights=None`
  gives random weights, a path loads a local file.

With the top, VGG16 has 138,357,544 parameters (about 138 million; the dense layers hold most
of them); without it 14,714,688. The helper `get_vgg16(...)` takes the same arguments and
handles the offline case.
""")

code("vgg-demo", r"""
base = get_vgg16(weights="auto", input_shape=(IMG, IMG, 3))
print(f"{len(base.layers)} layers, {base.count_params():,} parameters, output {base.output.shape}")
print("last 4 layers:", [layer.name for layer in base.layers[-4:]])
""")

md("md-build", r"""
**Task.** Write `build_transfer_model(base, num_classes, dense_units=256)`:

1. freeze the base: `base.trainable = False`;
2. build a functional model: `inputs = keras.Input(shape=...)` with the base's input shape
   (`base.inputs[0].shape[1:]`), `x = base(inputs, training=False)`;
3. add `layers.GlobalAveragePooling2D()` **only if** the base outputs feature maps
   (`len(x.shape) == 4`); a base built with `pooling="avg"` already outputs `(N, 512)`;
4. then `layers.Dense(dense_units, activation="relu")` and
   `layers.Dense(num_classes, activation="softmax", dtype="float32")`;
5. compile with `keras.optimizers.Adam(learning_rate=1e-3)`,
   `loss="sparse_categorical_crossentropy"` (labels are integers 0..k-1, not one-hot) and
   `metrics=["accuracy"]`, and return the model.

Check `num_classes >= 2` and `dense_units >= 1` (raise `ValueError`), and that `base` is a
`keras.Model` (raise `TypeError`). With VGG16 and `dense_units=8`, 5 classes, only the head
trains: $512 \cdot 8 + 8 + 8 \cdot 5 + 5 = 4{,}149$ trainable parameters; the base's
14,714,688 are non-trainable.
""")

solution("build_transfer_model", r'''
def build_transfer_model(base, num_classes, dense_units=256):
    """A frozen base with a new head, compiled.

    Args:
        base: keras.Model mapping (N, H, W, 3) to (N, h, w, c) feature maps or (N, c) features.
            Frozen in place.
        num_classes: number of classes k (>= 2).
        dense_units: units of the hidden Dense layer (>= 1).

    Returns:
        compiled keras.Model: (N, H, W, 3) -> (N, k) class probabilities (softmax in float32);
        Adam(1e-3), sparse categorical cross-entropy, accuracy.
    """
    ### BEGIN SOLUTION
    if not isinstance(base, keras.Model):
        raise TypeError(f"base must be a keras.Model, got {type(base).__name__}.")
    for name, value, low in (("num_classes", num_classes, 2), ("dense_units", dense_units, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    base.trainable = False
    inputs = keras.Input(shape=tuple(base.inputs[0].shape[1:]))
    x = base(inputs, training=False)
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(dense_units, activation="relu")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
    ### END SOLUTION
''')

test("test_build_transfer_model_public", 2, r'''
# Public test: a VGG16 base with random weights at 32x32 (builds in about a second).
result = run_student("""
base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
model = build_transfer_model(base, 5, dense_units=8)
result = {"trainable": count_params(model.trainable_weights),
          "non_trainable": count_params(model.non_trainable_weights),
          "output_shape": [None if d is None else int(d) for d in model.output_shape]}
""")
assert_equal(result["non_trainable"], 14_714_688, name="non-trainable parameters",
             hint="freeze the base (base.trainable = False) before or after building the model.",
             mistakes={"the base is not frozen": 0})
assert_equal(result["trainable"], 4_149, name="trainable parameters (the head only)",
             mistakes={"the base is not frozen": 14_714_688 + 4_149},
             hint="GlobalAveragePooling2D -> Dense(8, relu) -> Dense(5, softmax): 512*8 + 8 + 8*5 + 5.")
assert_equal(result["output_shape"], [None, 5], name="model.output_shape")
print("build_transfer_model: public tests passed")
''')

test("test_build_transfer_model_hidden", 2, r'''
### BEGIN HIDDEN TESTS
result = run_student("""
base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(48, 48, 3), pooling="avg")
model = build_transfer_model(base, 7, dense_units=16)
x = np.random.default_rng(7).normal(0, 60, size=(3, 48, 48, 3)).astype("float32")
p = keras.ops.convert_to_numpy(model(x, training=False))
errors = []
for args in [(base, 1), (base, 3, 0)]:
    try:
        build_transfer_model(*args)
        errors.append("none")
    except ValueError:
        errors.append("ValueError")
    except Exception as exc:
        errors.append(type(exc).__name__)
result = {"trainable": count_params(model.trainable_weights),
          "non_trainable": count_params(model.non_trainable_weights),
          "output_shape": [None if d is None else int(d) for d in model.output_shape],
          "p": p.astype("float64"), "loss": str(getattr(model, "loss", "")), "errors": errors}
""")
assert_equal(result["output_shape"], [None, 7], name="model.output_shape (pooling='avg' base, 7 classes)",
             hint="a base built with pooling='avg' already outputs (N, 512): no GlobalAveragePooling2D then.")
assert_equal(result["non_trainable"], 14_714_688, name="non-trainable parameters")
assert_equal(result["trainable"], 512 * 16 + 16 + 16 * 7 + 7, name="trainable parameters")
p = result["p"]
assert_shape(p, (3, 7), name="predictions")
assert_close(p.sum(axis=1), np.ones(3), rtol=0, atol=1e-4, name="row sums of the predictions",
             hint="the last layer needs activation='softmax'.")
assert ((p >= 0) & (p <= 1)).all(), "predictions must be probabilities in [0, 1] (softmax)."
assert "sparse" in result["loss"].lower(), (
    f"compile with loss='sparse_categorical_crossentropy' (integer labels), got {result['loss']!r}.")
assert_equal(result["errors"], ["ValueError", "ValueError"], name="errors for num_classes=1 and dense_units=0")
### END HIDDEN TESTS
''')

test("test_build_transfer_model_fit", 1, r'''
### BEGIN HIDDEN TESTS
result = run_student("""
keras.utils.set_random_seed(3)
inp = keras.Input((16, 16, 3))
base = keras.Model(inp, keras.layers.Conv2D(8, 3, activation="relu")(inp))
w0 = [keras.ops.convert_to_numpy(w).copy() for w in base.weights]
model = build_transfer_model(base, 3, dense_units=16)
rng = np.random.default_rng(3)
x = rng.normal(size=(48, 16, 16, 3)).astype("float32")
y = np.argmax(x.mean(axis=(1, 2)), axis=1)
hist = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
same = all(np.array_equal(a, keras.ops.convert_to_numpy(w)) for a, w in zip(w0, base.weights))
result = {"loss": [float(v) for v in hist.history["loss"]], "base_unchanged": bool(same)}
""")
loss = result["loss"]
assert loss[-1] < loss[0], f"training on integer labels should lower the loss: epoch 1 {loss[0]:.4f}, epoch 8 {loss[-1]:.4f}."
assert result["base_unchanged"], "the base's weights changed during fit: it must be frozen."
### END HIDDEN TESTS
''')

test("test_build_transfer_model_mixed_precision", 1, r'''
### BEGIN HIDDEN TESTS
result = run_student("""
keras.mixed_precision.set_global_policy("mixed_float16")
try:
    inp = keras.Input((8, 8, 3))
    base = keras.Model(inp, keras.layers.Conv2D(4, 3)(inp))
    model = build_transfer_model(base, 3, dense_units=4)
    result = keras.backend.standardize_dtype(model.outputs[0].dtype)
finally:
    keras.mixed_precision.set_global_policy("float32")
""")
assert_equal(result, "float32", name="dtype of the output under mixed_float16",
             hint="keep the softmax in float32: layers.Dense(k, activation='softmax', dtype='float32').")
### END HIDDEN TESTS
''')

md("md-fe-run", r"""
### Feature extraction on the target task

The target task for this problem set: **MNIST digits 5-9 with only 20 labelled images per
class** (labels renumbered 0-4). `load_transfer_data` also gives the *source task*
(digits 0-4, thousands of labelled images) used in Part D. With random VGG16 weights the
frozen features are random projections, so expect modest accuracy here; with the ImageNet
weights (on a machine that has them) the same code does far better.
""")

code("fe-run", r"""
keras.utils.set_random_seed(0)
data = load_transfer_data(n_per_class=20, subset="small" if FAST else None,
                          n_source=2000 if FAST else 10000, n_test=200 if FAST else 1000)
(x_few, y_few), (x_val, y_val) = data["target"], data["target_test"]
print("target task:", x_few.shape, "train,", x_val.shape, "test; labels", np.unique(y_few))

n_val = 300                      # VGG16 is slow on a CPU: validate on 300 of the test images
X_few, X_val, y_val_v = prepare_images(x_few, IMG), prepare_images(x_val[:n_val], IMG), y_val[:n_val]
base = get_vgg16(weights="auto", input_shape=(IMG, IMG, 3))
model = build_transfer_model(base, num_classes=5, dense_units=64)
print(f"trainable {count_params(model.trainable_weights):,}, "
      f"non-trainable {count_params(model.non_trainable_weights):,}")
epochs = 3 if FAST else 6
hist_fe = model.fit(X_few, y_few, epochs=epochs, batch_size=cfg.batch_size,
                    validation_data=(X_val, y_val_v), verbose=0)
print(f"feature extraction: test accuracy {hist_fe.history['val_accuracy'][-1]:.3f} after {epochs} epochs")
""")

# =======================================================================================
md("md-partC", r"""
## Part C. Fine-tuning the top of the base

Early layers of a CNN detect generic patterns (edges, colour blobs); the last ones are the
most specific to the source task. Fine-tuning therefore unfreezes only the **top** layers of
the base, as in the lecture's `for layer in base_model.layers[-4:]: layer.trainable = True`
(for VGG16: `block5_conv1`, `block5_conv2`, `block5_conv3` and `block5_pool`), and
**recompiles** with a much lower learning rate: the head is already trained, and large
updates would wreck the pre-trained features.

**Task.** Write `unfreeze_top(base, n_layers, learning_rate=1e-5, model=None)`:

1. check `0 <= n_layers <= len(base.layers)` and `learning_rate > 0` (`ValueError` otherwise);
2. make the last `n_layers` entries of `base.layers` trainable and all the others frozen.
   *Careful:* in Keras a layer's weights train only if the layer **and every model containing
   it** are trainable. `build_transfer_model` set `base.trainable = False`, so set
   `base.trainable = True`, and then set `layer.trainable` of **every** layer in `base.layers`
   explicitly (`True` for the top `n_layers`, `False` for the others): do not rely on earlier
   flags, the function may be called again to unfreeze more layers;
3. if `model` is given, recompile it with `Adam(learning_rate)`, the same loss and metric, and
   return it; otherwise return `base`.

With the 32 x 32 VGG16 and `n_layers=4`: block5's three convolutions have
$3 \cdot (3 \cdot 3 \cdot 512 \cdot 512 + 512) = 7{,}079{,}424$ parameters, which become trainable.
""")

solution("unfreeze_top", r'''
def unfreeze_top(base, n_layers, learning_rate=1e-5, model=None):
    """Unfreeze the last n_layers of base.layers (freeze the rest); recompile model if given.

    Args:
        base: the keras.Model used as the base inside model.
        n_layers: how many entries of base.layers, from the end, become trainable.
        learning_rate: learning rate of the new Adam optimizer (> 0).
        model: the compiled model containing base, or None.

    Returns:
        model, recompiled with Adam(learning_rate), when given; else base.
    """
    ### BEGIN SOLUTION
    if isinstance(n_layers, bool) or not isinstance(n_layers, (int, np.integer)) \
            or not 0 <= n_layers <= len(base.layers):
        raise ValueError(f"n_layers must be an int between 0 and {len(base.layers)}, got {n_layers!r}.")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a number > 0, got {learning_rate!r}.")
    base.trainable = True
    first = len(base.layers) - n_layers               # index of the first unfrozen layer
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= first
    if model is None:
        return base
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
    ### END SOLUTION
''')

test("test_unfreeze_top_public", 2, r'''
# Public test: unfreeze block5 of a 32x32 VGG16 behind a small head.
result = run_student("""
base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
model = build_transfer_model(base, 5, dense_units=8)
model = unfreeze_top(base, 4, learning_rate=1e-5, model=model)
result = {"trainable": count_params(model.trainable_weights),
          "non_trainable": count_params(model.non_trainable_weights),
          "lr": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))}
""")
assert_equal(result["trainable"], 7_079_424 + 4_149, name="trainable parameters after unfreeze_top(base, 4)",
             mistakes={"the base's own trainable flag is still False (nothing was unfrozen)": 4_149,
                       "the bottom layers were unfrozen instead of the top ones": 38_720 + 4_149},
             hint="block5_conv1-3 (3 * 2,359,808) plus the head (4,149) should train.")
assert_equal(result["non_trainable"], 14_714_688 - 7_079_424, name="non-trainable parameters")
assert_close(result["lr"], 1e-5, rtol=1e-4, atol=0, name="the optimizer's learning rate",
             hint="recompile the model with keras.optimizers.Adam(learning_rate=learning_rate).")
print("unfreeze_top: public tests passed")
''')

test("test_unfreeze_top_hidden", 3, r'''
### BEGIN HIDDEN TESTS
result = run_student("""
base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
model = build_transfer_model(base, 3, dense_units=4)
out = {}
m = unfreeze_top(base, 8, learning_rate=3e-4, model=model)
out["n8"] = (count_params(m.trainable_weights), count_params(m.non_trainable_weights),
             float(keras.ops.convert_to_numpy(m.optimizer.learning_rate)))
out["flags"] = [bool(l.trainable) for l in base.layers if l.weights]
m = unfreeze_top(base, 0, learning_rate=2e-5, model=model)
out["n0"] = (count_params(m.trainable_weights), count_params(m.non_trainable_weights),
             float(keras.ops.convert_to_numpy(m.optimizer.learning_rate)))
b = unfreeze_top(base, 2)
out["none"] = (b is base, count_params(base.trainable_weights))
errors = []
for args, kw in [((base, len(base.layers) + 1), {}), ((base, 2), {"learning_rate": 0.0}), ((base, -1), {})]:
    try:
        unfreeze_top(*args, **kw)
        errors.append("none")
    except ValueError:
        errors.append("ValueError")
    except Exception as exc:
        errors.append(type(exc).__name__)
out["errors"] = errors
result = out
""")
head = 512 * 4 + 4 + 4 * 3 + 3
top8 = 1_180_160 + 5 * 2_359_808                      # block4_conv1..3 and block5_conv1..3
tr, nt, lr = result["n8"]
assert_equal(tr, top8 + head, name="trainable parameters after unfreeze_top(base, 8)")
assert_equal(nt, 14_714_688 - top8, name="non-trainable parameters after unfreeze_top(base, 8)")
assert_close(lr, 3e-4, rtol=1e-4, atol=0, name="learning rate after recompiling")
assert_equal(result["flags"], [False] * 7 + [True] * 6, name="trainable flags of VGG16's 13 conv layers")
tr, nt, lr = result["n0"]
assert_equal(tr, head, name="trainable parameters after unfreeze_top(base, 0) (head only)")
assert_equal(nt, 14_714_688, name="non-trainable parameters after unfreeze_top(base, 0)")
assert_close(lr, 2e-5, rtol=1e-4, atol=0, name="learning rate after recompiling")
assert result["none"][0], "unfreeze_top(base, n) without a model must return base."
assert_equal(result["none"][1], 2_359_808, name="trainable parameters of base after unfreeze_top(base, 2)")
assert_equal(result["errors"], ["ValueError"] * 3,
             name="errors for n_layers > len(base.layers), learning_rate=0, n_layers=-1")
### END HIDDEN TESTS
''')

code("ft-run", r"""
model = unfreeze_top(base, 4, learning_rate=1e-5, model=model)
print(f"fine-tuning: trainable {count_params(model.trainable_weights):,}, "
      f"non-trainable {count_params(model.non_trainable_weights):,}")
hist_ft = model.fit(X_few, y_few, epochs=2 if FAST else 5, batch_size=cfg.batch_size,
                    validation_data=(X_val, y_val_v), verbose=0)
acc = hist_fe.history["val_accuracy"] + hist_ft.history["val_accuracy"]
plt.figure(figsize=(6, 3.5))
plt.plot(range(1, len(acc) + 1), acc, marker="o")
plt.axvline(len(hist_fe.history["val_accuracy"]) + 0.5, color="gray", ls="--", label="start of fine-tuning")
plt.xlabel("epoch"); plt.ylabel("target test accuracy"); plt.title("VGG16: feature extraction, then fine-tuning")
plt.legend(); plt.grid(alpha=0.3); plt.show()
""")

# =======================================================================================
md("md-partD", r"""
## Part D. The develop-model approach: reuse a saved model

Here we develop the source model ourselves. Source task: MNIST digits 0-4, thousands of
labelled images. We train the lecture's small CNN on it (Conv 40 5x5 - pool - dropout -
Conv 32 3x3 - pool - dropout - Dense 64 - batch norm - dropout - softmax) and save it.

The lecture's recipe for reusing a saved Sequential model: load it, remove the old output
layer with `model.pop()`, freeze the first layers (`model.layers[i].trainable = False`) and
add a new output layer for the new classes.

**Task.** Write `reuse_model(path, n_pop, n_frozen, num_classes)`:

1. load the model (`keras.models.load_model(path)`); it must be a `keras.Sequential`
   (raise `TypeError` otherwise);
2. check `1 <= n_pop < len(model.layers)` and `0 <= n_frozen <= len(model.layers) - n_pop`
   (`ValueError`);
3. pop `n_pop` layers, freeze the first `n_frozen` of the layers left;
4. add `layers.Dense(num_classes, activation="softmax", dtype="float32")`, compile like
   `build_transfer_model` (Adam 1e-3, sparse categorical cross-entropy, accuracy) and return it.
""")

solution("reuse_model", r'''
def reuse_model(path, n_pop, n_frozen, num_classes):
    """Load a saved keras.Sequential, pop its head, freeze its first layers, add a new head.

    Args:
        path: a .keras file written by model.save(...).
        n_pop: number of layers removed from the end (1 <= n_pop < len(layers)).
        n_frozen: number of layers frozen from the start (0 <= n_frozen <= len(layers) - n_pop).
        num_classes: classes of the new task (>= 2).

    Returns:
        compiled keras.Sequential: the source input shape -> (N, num_classes) probabilities.
    """
    ### BEGIN SOLUTION
    model = keras.models.load_model(path)
    if not isinstance(model, keras.Sequential):
        raise TypeError(f"the model saved at {path!r} must be a keras.Sequential, got {type(model).__name__}.")
    n = len(model.layers)
    if isinstance(n_pop, bool) or not isinstance(n_pop, (int, np.integer)) or not 1 <= n_pop < n:
        raise ValueError(f"n_pop must be an int between 1 and {n - 1}, got {n_pop!r}.")
    if isinstance(n_frozen, bool) or not isinstance(n_frozen, (int, np.integer)) or not 0 <= n_frozen <= n - n_pop:
        raise ValueError(f"n_frozen must be an int between 0 and {n - n_pop}, got {n_frozen!r}.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}.")
    for _ in range(n_pop):
        model.pop()
    for layer in model.layers[:n_frozen]:
        layer.trainable = False
    model.add(layers.Dense(num_classes, activation="softmax", dtype="float32"))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
    ### END SOLUTION
''')

test("test_reuse_model_public", 2, r'''
# Public test: a tiny saved Sequential model.
result = run_student("""
keras.utils.set_random_seed(1)
src = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                        keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                        keras.layers.Dense(6, activation="relu"), keras.layers.Dense(3, activation="softmax")])
path = os.path.join(tempfile.mkdtemp(), "tiny.keras")
src.save(path)
m = reuse_model(path, n_pop=1, n_frozen=1, num_classes=4)
result = {"n_layers": len(m.layers), "flags": [bool(l.trainable) for l in m.layers],
          "trainable": count_params(m.trainable_weights), "non_trainable": count_params(m.non_trainable_weights),
          "output_shape": [None if d is None else int(d) for d in m.output_shape]}
""")
assert_equal(result["n_layers"], 5, name="number of layers (4 kept + the new head)")
assert_equal(result["flags"], [False, True, True, True, True], name="trainable flags of the layers")
assert_equal(result["non_trainable"], 40, name="non-trainable parameters (the 3x3x1x4 conv + 4 biases)")
assert_equal(result["trainable"], 222 + 28, name="trainable parameters (Dense 6 + the new Dense 4)")
assert_equal(result["output_shape"], [None, 4], name="output_shape")
print("reuse_model: public tests passed")
''')

test("test_reuse_model_hidden", 3, r'''
### BEGIN HIDDEN TESTS
result = run_student("""
keras.utils.set_random_seed(2)
src = keras.Sequential([keras.Input((10, 10, 1)), keras.layers.Conv2D(5, 3, activation="relu"),
                        keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                        keras.layers.Dense(7, activation="relu"), keras.layers.Dropout(0.3),
                        keras.layers.Dense(3, activation="softmax")])
folder = tempfile.mkdtemp()
path = os.path.join(folder, "src.keras")
src.save(path)
k0 = keras.ops.convert_to_numpy(src.layers[0].kernel).copy()
m = reuse_model(path, n_pop=2, n_frozen=4, num_classes=6)
x = np.random.default_rng(2).random((4, 10, 10, 1)).astype("float32")
p = keras.ops.convert_to_numpy(m(x, training=False))
hist = m.fit(np.random.default_rng(3).random((24, 10, 10, 1)).astype("float32"),
             np.arange(24) % 6, epochs=5, batch_size=8, verbose=0)
errors = []
for args in [(path, 0, 0, 3), (path, 2, 5, 3), (path, 6, 0, 3), (path, 1, 0, 1)]:
    try:
        reuse_model(*args)
        errors.append("none")
    except ValueError:
        errors.append("ValueError")
    except Exception as exc:
        errors.append(type(exc).__name__)
inp = keras.Input((4,))
functional = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Dense(3)(inp)))
fpath = os.path.join(folder, "functional.keras")
functional.save(fpath)
try:
    reuse_model(fpath, 1, 0, 3)
    errors.append("none")
except TypeError:
    errors.append("TypeError")
except Exception as exc:
    errors.append(type(exc).__name__)
result = {"n_layers": len(m.layers), "flags": [bool(l.trainable) for l in m.layers],
          "trainable": count_params(m.trainable_weights), "non_trainable": count_params(m.non_trainable_weights),
          "same_conv": bool(np.array_equal(k0, keras.ops.convert_to_numpy(m.layers[0].kernel))),
          "p": p.astype("float64"), "loss": [float(v) for v in hist.history["loss"]], "errors": errors}
""")
assert_equal(result["n_layers"], 5, name="number of layers after popping 2 of 6 and adding a head")
assert_equal(result["flags"], [False, False, False, False, True], name="trainable flags of the layers")
assert_equal(result["non_trainable"], 50 + 80 * 7 + 7, name="non-trainable parameters (conv 3x3x1x5 + Dense 7 on 4*4*5 inputs)")
assert_equal(result["trainable"], 7 * 6 + 6, name="trainable parameters (the new head)")
assert result["same_conv"], "the first layer's weights must be the saved ones (load the model, do not rebuild it)."
assert_shape(result["p"], (4, 6), name="predictions")
assert_close(result["p"].sum(axis=1), np.ones(4), rtol=0, atol=1e-4, name="row sums of the predictions",
             hint="the new output layer needs activation='softmax'.")
assert result["loss"][-1] < result["loss"][0], "a short fit of the reused model (integer labels) should lower the loss."
assert_equal(result["errors"], ["ValueError"] * 4 + ["TypeError"],
             name="errors for n_pop=0, n_frozen too large, n_pop too large, num_classes=1, a functional model")
### END HIDDEN TESTS
''')

md("md-source", r"""
### Develop the source model

The source CNN (the lecture's architecture, 5 outputs) trains on digits 0-4 and is saved in
Keras 3's `.keras` format (`.h5` is the older HDF5 format, *Hierarchical Data Format*).
""")

code("source-run", r'''
def build_source_cnn(num_classes=5):
    """The lecture's MNIST CNN: (N, 28, 28, 1) floats in [0, 1] -> (N, num_classes) probabilities."""
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


def as_input(x):
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (x.astype("float32") / 255.0)[..., None]


keras.utils.set_random_seed(0)
(x_src, y_src), (x_src_test, y_src_test) = data["source"], data["source_test"]
source = build_source_cnn(5)
source.fit(as_input(x_src), y_src, epochs=1 if FAST else 2, batch_size=64, verbose=0)
print(f"source task (digits 0-4): {len(y_src)} training images, "
      f"test accuracy {source.evaluate(as_input(x_src_test), y_src_test, verbose=0)[1]:.3f}")
SOURCE_PATH = str(Path(tempfile.mkdtemp()) / "source_cnn.keras")
source.save(SOURCE_PATH)
''')

md("md-compare", r"""
### Transfer vs. training from scratch, on the same budget

Both models below have the same architecture and the same new head, the same optimizer, batch
size and number of epochs on the **same 100 labelled images** of digits 5-9; they are
evaluated on the same held-out test images after every epoch. The only difference: the
transfer model starts from the source model, with its first four layers (`conv1_1`, its
pooling and dropout, and `conv1_2`) frozen; the scratch model starts from random weights.
Several seeds show how much of the difference is luck.
""")

code("compare-run", r"""
seeds = [0] if FAST else [0, 1, 2]
epochs = 6 if FAST else 15
X_t, X_v = as_input(x_few), as_input(x_val)
curves = {"transfer": [], "scratch": []}
for seed in seeds:
    for kind in curves:
        keras.utils.set_random_seed(seed)
        if kind == "transfer":
            net = reuse_model(SOURCE_PATH, n_pop=1, n_frozen=4, num_classes=5)
        else:
            net = build_source_cnn(5)
        h = net.fit(X_t, y_few, epochs=epochs, batch_size=20, validation_data=(X_v, y_val), verbose=0)
        curves[kind].append(h.history["val_accuracy"])

plt.figure(figsize=(6, 4))
for kind, color in (("transfer", "tab:blue"), ("scratch", "tab:orange")):
    acc = np.array(curves[kind])
    plt.plot(range(1, epochs + 1), acc.mean(0), color=color, label=f"{kind}: final {acc[:, -1].mean():.1%}")
    plt.fill_between(range(1, epochs + 1), acc.min(0), acc.max(0), color=color, alpha=0.2)
plt.xlabel("epoch"); plt.ylabel("test accuracy on digits 5-9")
plt.title(f"{len(y_few)} labelled images, {len(seeds)} seed(s)")
plt.legend(); plt.grid(alpha=0.3); plt.show()
for kind in curves:
    acc = np.array(curves[kind])
    print(f"{kind:8s}: accuracy after 3 epochs {acc[:, 2].mean():.3f}, after {epochs} {acc[:, -1].mean():.3f}")
""")

md("md-compare-q", r"""
With these settings (3 seeds, 15 epochs, 100 images) the instructor's run gave about
0.85 vs 0.56 after 3 epochs and 0.93 vs 0.91 after 15 (your numbers will differ a little
with the backend). Transfer learns much faster from few labels; given enough epochs on such
an easy task, training from scratch catches up part of the way. Try `n_per_class=5`, or
freezing more layers, and see how the gap changes.
""")

# =======================================================================================
md("md-aug", r"""
## Data augmentation

With few labelled images, a model also benefits from seeing *modified copies* of them. The
lecture uses Keras 2's `ImageDataGenerator(rotation_range=40, width_shift_range=0.2,
height_shift_range=0.2, shear_range=0.2, zoom_range=0.2)`. In Keras 3 the same transformations
are layers, applied on the fly during training only:

| ImageDataGenerator | Keras 3 layer |
|---|---|
| `rotation_range=40` (degrees) | `layers.RandomRotation(40 / 360)` (a fraction of a full turn) |
| `width_shift_range`, `height_shift_range` | `layers.RandomTranslation(0.2, 0.2)` |
| `shear_range=0.2` | `layers.RandomShear(x_factor=0.2, y_factor=0.2)` |
| `zoom_range=0.2` | `layers.RandomZoom(0.2, 0.2)` |

`make_augmenter()` stacks them in a `keras.Sequential`; put it in front of a model
(`keras.Sequential([make_augmenter(), net])`) and it acts in `fit` and is skipped in
`predict`. Below, each row is one digit and its random variants.
""")

code("aug-run", r'''
def show_augmentations(aug, images, n=5):
    """One row per image (N, 28, 28, 1): the original, then n random variants."""
    fig, axes = plt.subplots(len(images), n + 1, figsize=(1.2 * (n + 1), 1.3 * len(images)))
    for i, img in enumerate(images):
        axes[i, 0].imshow(img[..., 0], cmap="gray")
        axes[i, 0].set_title("original" if i == 0 else "")
        for j in range(1, n + 1):
            out = keras.ops.convert_to_numpy(aug(img[None], training=True))[0, ..., 0]
            axes[i, j].imshow(out, cmap="gray")
    for ax in axes.ravel():
        ax.axis("off")
    plt.tight_layout()
    plt.show()


aug = make_augmenter(rotation=40, shift=0.2, shear=0.2, zoom=0.2, seed=0)
show_augmentations(aug, as_input(x_few[::20][:4]))     # one image of each of 4 classes
''')

md("md-end", r"""
## Before you submit

Run the whole notebook from the top (*Kernel -> Restart & Run All*) and check that every
public test prints "passed". From a terminal, `cnn-course check ps4_transfer.ipynb` runs the
public tests the way the grader does and lists the hidden tests still to come.
""")


# =======================================================================================
build = NB.build


if __name__ == "__main__":
    sys.exit(NB.main(sys.argv[1:], OUT))
