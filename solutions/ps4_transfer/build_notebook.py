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


import solutions.transfer as transfer_ref
from autograder.authoring import NotebookSource, code_of

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "solutions" / "ps4_transfer" / "ps4_transfer.ipynb"

NB = NotebookSource()
md, code, setup, solution, answer, test = NB.md, NB.code, NB.setup, NB.solution, NB.answer, NB.test


# =======================================================================================
md("md-title", r"""
# Problem set 4: transfer learning with Keras 3

A network trained on one task has learned features (edges, strokes, textures, parts of
objects) that are useful for other tasks too. *Transfer learning* reuses them: you start
from a trained model instead of random weights, which matters most when the new task has
few labelled images. Lecture 7 (`course/07_transfer_learning.ipynb`) describes two ways to
get the trained model:

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

Before some of the tasks you **predict** a shape or a count as a plain value in an
`answer_...` cell (graded by hidden tests, 5 points of 26), and before the transfer vs.
scratch experiment what it will show; what your own run then shows is a short written
answer graded by hand (1 point).

**Running time.** The whole notebook in full mode (no GPU, VGG16 at 32 x 32) ran in
6 min 46 s on the course's 2-core reference machine, measured while that machine was shared
with other jobs (load average about 9); the kernel used 1 min 52 s of CPU time. Most of it
goes to the transfer vs. scratch comparison (3 seeds x 2 models x 15 epochs) and to the
VGG16 feature extraction and fine-tuning runs.

**How grading works.** Cells marked *public test* run here: use them to check your work.
A test passes when its cell runs without an error. Public test cells that need a live Keras
model use `run_student(code)`: it runs `code` where your functions live and returns the
plain value of `result` (a parameter count, a list of flags, a learning rate). The grader
also runs *hidden tests* (the empty test cells) on other shapes and settings. They send no
code of their own to your side: they call the *probes* listed in `grading.toml` (public),
which run your functions on inputs the grader chooses and return raw material only (layer
classes, weights, outputs, parameter counts). The grader then recomputes the outputs and
the losses from those weights itself. Input checks (the errors your functions raise for
bad arguments) are graded together in one hidden test of 2 points.

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
                              assert_not_modified, run_student, run_probe)
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

solution("prepare_images", f'''
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
{code_of(transfer_ref.prepare_images, after='from keras.applications.vgg16 import preprocess_input')}
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

test("test_prepare_images_hidden", 2, r'''
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

code("vgg-demo", r'''
def describe_model(model):
    """Print a Keras model's number of layers and parameters, its output shape and its last 4 layers."""
    print(f"{len(model.layers)} layers, {model.count_params():,} parameters, output {model.output.shape}")
    print("last 4 layers:", [layer.name for layer in model.layers[-4:]])


describe_model(get_vgg16(weights="auto", input_shape=(IMG, IMG, 3)))
''')

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

md("md-predict-B", r"""
### Predict before you run (graded, 3 points)

Work these out before you write `build_transfer_model` and check them afterwards. Write
plain Python values in the cell below (replace `None`); hidden tests grade them.

1. `answer_trainable_after_freeze`: `len(model.trainable_weights)` for
   `model = build_transfer_model(base, 5)` with the VGG16 base (count weight *tensors*, such
   as a kernel or a bias vector, not numbers; an int).
2. `answer_vgg_features_120`: the shape `(H, W, C)` of one image's output of
   `keras.applications.VGG16(weights=None, include_top=False, input_shape=(120, 120, 3))`
   (a tuple of 3 ints).
3. `answer_same_stride2_side`: the side of the output maps of
   `layers.Conv2D(8, 3, strides=2, padding="same")` for a 7 x 7 input (an int).
""")

solution("answers_partB", r'''
# Replace each None by your answer and delete the `raise NotImplementedError()` line.
answer_trainable_after_freeze = None
answer_vgg_features_120 = None
answer_same_stride2_side = None
### BEGIN SOLUTION
answer_trainable_after_freeze = 4          # the two Dense layers' kernels and biases
answer_vgg_features_120 = (3, 3, 512)      # 120 -> 60 -> 30 -> 15 -> 7 -> 3: each pooling floors
answer_same_stride2_side = 4               # "same" pads so that the side is ceil(7 / 2)
### END SOLUTION
''')

test("test_answer_trainable_after_freeze_hidden", 1, r'''
### BEGIN HIDDEN TESTS
# Measured on the reference: the count does not depend on the size of the frozen base.
import solutions as ref
_inp = keras.Input((8, 8, 3))
_base = keras.Model(_inp, keras.layers.Conv2D(4, 3)(_inp))
_want = len(ref.build_transfer_model(_base, 5).trainable_weights)
_got = answer_trainable_after_freeze
assert _got is not None, "answer_trainable_after_freeze is still None: write an int."
assert_equal(_got, _want, name="answer_trainable_after_freeze",
             mistakes={"the number of trainable Dense layers, not of weight tensors": 2,
                       "a count that includes the frozen base's tensors": 26 + 4},
             hint="a frozen base contributes no trainable weights; each Dense layer has a kernel and a bias.")
### END HIDDEN TESTS
''')

test("test_answer_vgg_features_hidden", 1, r'''
### BEGIN HIDDEN TESTS
# VGG16's convolutions keep the size (padding "same"); each of its five blocks ends in a 2 x 2
# max pooling with stride 2; the last block has 512 filters. (No weights needed.)
_shape = (1, 120, 120, 3)
for _ in range(5):
    _shape = keras.layers.MaxPooling2D((2, 2), strides=(2, 2)).compute_output_shape(_shape)
_want = (int(_shape[1]), int(_shape[2]), 512)
_got = answer_vgg_features_120
assert _got is not None, "answer_vgg_features_120 is still None: write a tuple (H, W, C)."
assert isinstance(_got, (tuple, list)) and len(_got) == 3, (
    "answer_vgg_features_120 should be a tuple of 3 ints (H, W, C).")
assert tuple(_got) == _want, (
    "answer_vgg_features_120 is not right: each of the five 2 x 2 poolings halves the side and rounds down "
    "(120 / 32 is not a whole number: round it the way the poolings do), and C is the number of filters "
    "of VGG16's last block.")
### END HIDDEN TESTS
''')

test("test_answer_same_stride2_hidden", 1, r'''
### BEGIN HIDDEN TESTS
_want = int(keras.layers.Conv2D(8, 3, strides=2, padding="same").compute_output_shape((1, 7, 7, 1))[1])
_got = answer_same_stride2_side
assert _got is not None, "answer_same_stride2_side is still None: write an int."
assert_equal(_got, _want, name="answer_same_stride2_side",
             mistakes={"the 'valid' size floor((7 - 3) / 2) + 1": 3, "the input's side": 7},
             hint="with padding='same' Keras pads so that the output side is ceil(input / stride).")
### END HIDDEN TESTS
''')

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
# Public test: a small VGG16 look-alike as the base. It has VGG16's 19 layers and layer names
# with 1/16 of its filters (4, 8, 16, 32, 32 per block; 57,828 parameters), so it builds in a
# fraction of VGG16's time. (With VGG16 itself: 14,714,688 non-trainable and 4,149 trainable.)
result = run_student("""
from autograder.tools.keras_utils import small_vgg16
base = small_vgg16()
model = build_transfer_model(base, 5, dense_units=8)
result = {"trainable": count_params(model.trainable_weights),
          "non_trainable": count_params(model.non_trainable_weights),
          "output_shape": [None if d is None else int(d) for d in model.output_shape]}
""")
assert_equal(result["non_trainable"], 57_828, name="non-trainable parameters (the whole base)",
             hint="freeze the base (base.trainable = False) before or after building the model.",
             mistakes={"the base is not frozen": 0})
assert_equal(result["trainable"], 309, name="trainable parameters (the head only)",
             mistakes={"the base is not frozen": 57_828 + 309},
             hint="GlobalAveragePooling2D -> Dense(8, relu) -> Dense(5, softmax): 32*8 + 8 + 8*5 + 5.")
assert_equal(result["output_shape"], [None, 5], name="model.output_shape")
print("build_transfer_model: public tests passed")
''')

test("test_build_transfer_model_hidden", 2, r'''
### BEGIN HIDDEN TESTS
# A base that already outputs (N, 6) features, like VGG16(pooling="avg") outputs (N, 512):
# a 3x3 convolution with 6 filters, then global average pooling. 7 classes. The probe returns
# every layer's weights and the model's outputs on images chosen here; the grader recomputes
# the outputs from the weights.
# Everything the probe returns is checked before the grader computes with it.
from solutions.transfer import checked_layers, expect_layers, expect_probabilities, expect_result, numpy_forward
_x = np.random.default_rng(7).normal(0, 1, size=(3, 10, 10, 3)).astype("float32")
result = run_probe("transfer_model", seed=7, filters=6, num_classes=7, dense_units=16, x=_x)
expect_result(result, ["base", "head", "base_in_model", "probs", "trainable", "non_trainable", "output_shape",
                       "loss"], what="build_transfer_model")
expect_layers(result["base"], [("InputLayer", []), ("Conv2D", [(3, 3, 3, 6), (6,)]), ("GlobalAveragePooling2D", [])],
              what="the base the grader built")
checked_layers(result["base"] + result["head"], _x.shape, what="the model")
assert_equal(result["output_shape"], [None, 7], name="model.output_shape (a base with (N, 6) outputs, 7 classes)",
             hint="a base that already outputs (N, c) (like VGG16 with pooling='avg') needs no "
                  "GlobalAveragePooling2D: add it only when the base outputs feature maps.")
assert result["base_in_model"] is True, "the model must contain the base itself (call base(inputs, training=False))."
assert_equal(result["non_trainable"], 3 * 3 * 3 * 6 + 6, name="non-trainable parameters (the frozen base)",
             hint="freeze the base (base.trainable = False).")
assert_equal(result["trainable"], 6 * 16 + 16 + 16 * 7 + 7, name="trainable parameters (the head only)")
_layers = [(h["class"], h["config"].get("activation")) for h in result["head"] if h["weights"]]
assert_equal(_layers, [("Dense", "relu"), ("Dense", "softmax")], name="the head's layers with weights",
             hint="Dense(dense_units, activation='relu'), then Dense(num_classes, activation='softmax').")
p = expect_probabilities(result["probs"], (3, 7), what="the model's output on 3 images")
_want = numpy_forward(result["base"] + result["head"], _x)
assert_close(p, _want, rtol=1e-4, atol=1e-5, name="the model's output on 3 images",
             hint="the grader recomputed it from the weights of the base and of your head.")
assert isinstance(result["loss"], str) and "sparse" in result["loss"].lower(), (
    "compile with loss='sparse_categorical_crossentropy' (integer labels).")
### END HIDDEN TESTS
''')

test("test_build_transfer_model_fit", 1, r'''
### BEGIN HIDDEN TESTS
# A tiny conv base, one step of fit (one epoch, one batch of all 24 images) on labels chosen
# here: one Adam step on the whole batch lowers that batch's loss. The probe returns every
# layer's weights before and after; the grader computes the loss of both itself.
from solutions.transfer import checked_layers, cross_entropy, expect_layers, expect_result, numpy_forward
_rng = np.random.default_rng(3)
_y = _rng.integers(0, 3, 24)
_x = _rng.normal(size=(24, 8, 8, 3)).astype("float32")
_x[np.arange(24), :, :, _y] += 8.0                    # class k: channel k is much brighter
result = run_probe("transfer_fit", seed=3, x=_x, y=_y, filters=8, num_classes=3, dense_units=256, epochs=1,
                   batch_size=24)
expect_result(result, ["base_before", "base_after", "head_before", "head_after"], what="build_transfer_model")
for _k in ("base_before", "base_after"):
    expect_layers(result[_k], [("InputLayer", []), ("Conv2D", [(3, 3, 3, 8), (8,)])], what="the base the grader built")
for _k in ("before", "after"):
    checked_layers(result["base_" + _k] + result["head_" + _k], _x.shape, what=f"the model {_k} fit")
for _a, _b in zip(result["base_before"], result["base_after"]):
    for _w0, _w1 in zip(_a["weights"], _b["weights"]):
        assert np.array_equal(_w0, _w1), "the base's weights changed during fit: it must be frozen."
_before = cross_entropy(numpy_forward(result["base_before"] + result["head_before"], _x), _y)
_after = cross_entropy(numpy_forward(result["base_after"] + result["head_after"], _x), _y)
assert _after < 0.97 * _before, (
    f"one step of fit on integer labels should clearly lower the loss; the grader "
    f"computed it from your model's weights: {_before:.4f} before, {_after:.4f} after.")
### END HIDDEN TESTS
''')

test("test_build_transfer_model_mixed_precision", 1, r'''
### BEGIN HIDDEN TESTS
result = run_probe("mixed_precision_output")
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

n_val = 200                      # VGG16 is slow on a CPU: validate on 200 of the test images
X_few, X_val, y_val_v = prepare_images(x_few, IMG), prepare_images(x_val[:n_val], IMG), y_val[:n_val]
base = get_vgg16(weights="auto", input_shape=X_few.shape[1:])      # (IMG, IMG, 3), like the images
model = build_transfer_model(base, num_classes=5, dense_units=64)
print(f"trainable {count_params(model.trainable_weights):,}, "
      f"non-trainable {count_params(model.non_trainable_weights):,}")
epochs = 3 if FAST else 4
hist_fe = model.fit(X_few, y_few, epochs=epochs, batch_size=cfg.batch_size,
                    validation_data=(X_val, y_val_v), verbose=0)
print(f"feature extraction: test accuracy {hist_fe.history['val_accuracy'][-1]:.3f} after {epochs} epochs")
""")

# =======================================================================================
md("md-partC", r"""
## Part C. Fine-tuning the top of the base

Early layers of a CNN detect generic patterns (edges, colour blobs); the last ones are the
most specific to the source task. Fine-tuning therefore unfreezes only the **top** layers of
the base (`course/07_transfer_learning.ipynb` unfreezes VGG16's `block5` layers by name; by
position, the top four entries of `base.layers` are `block5_conv1`, `block5_conv2`,
`block5_conv3` and `block5_pool`), and
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

md("md-predict-C", r"""
**Predict (graded, 1 point).** After `unfreeze_top(base, 4, model=model)` on the model of
Part B (`build_transfer_model(base, 5)` with the 32 x 32 VGG16 base), what is
`len(model.trainable_weights)`? Write an int in `answer_trainable_after_unfreeze`.
""")

solution("answers_partC", r'''
# Replace None by your answer and delete the `raise NotImplementedError()` line.
answer_trainable_after_unfreeze = None
### BEGIN SOLUTION
answer_trainable_after_unfreeze = 10       # block5_conv1..3 (kernel + bias each) + the head's 4
### END SOLUTION
''')

test("test_answer_trainable_after_unfreeze_hidden", 1, r'''
### BEGIN HIDDEN TESTS
# Measured on the reference with a base that ends like VGG16 (its top 4 layers: block5_conv1..3
# and block5_pool) at 1 filter per convolution: unfreeze_top(base, 4) touches only those, and
# the number of weight tensors does not depend on the number of filters.
import solutions as ref
_inp = keras.Input((8, 8, 3))
_h = keras.layers.Conv2D(1, 3, padding="same", name="block4_conv3")(_inp)
for _i in range(3):
    _h = keras.layers.Conv2D(1, 3, padding="same", name=f"block5_conv{_i + 1}")(_h)
_base = keras.Model(_inp, keras.layers.MaxPooling2D(2, name="block5_pool")(_h))
_model = ref.unfreeze_top(_base, 4, model=ref.build_transfer_model(_base, 5))
_want = len(_model.trainable_weights)
_got = answer_trainable_after_unfreeze
assert _got is not None, "answer_trainable_after_unfreeze is still None: write an int."
assert_equal(_got, _want, name="answer_trainable_after_unfreeze",
             mistakes={"a count in which block5_pool has weights (pooling has none)": _want + 2,
                       "the base's tensors only, without the head's 4": _want - 4},
             hint="count weight tensors, not layers or parameters: which of the top 4 layers hold weights, "
                  "how many tensors each holds, and what the head adds.")
### END HIDDEN TESTS
''')

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
# Public test: unfreeze block5 of a small VGG16 look-alike behind a small head. It has VGG16's
# 19 layers and layer names with 1/16 of its filters (4, 8, 16, 32, 32 per block), so it
# builds in a fraction of VGG16's time; unfreeze_top sees the same list of layers.
result = run_student("""
from autograder.tools.keras_utils import small_vgg16
base = small_vgg16()
model = build_transfer_model(base, 5, dense_units=8)
model = unfreeze_top(base, 4, learning_rate=1e-5, model=model)
result = {"trainable": count_params(model.trainable_weights),
          "non_trainable": count_params(model.non_trainable_weights),
          "lr": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))}
""")
# block5_conv1-3: 3 * (3*3*32*32 + 32) = 27,744; the head: 32*8 + 8 + 8*5 + 5 = 309;
# the whole base: 57,828; block1_conv1 and block1_conv2: 112 + 148.
assert_equal(result["trainable"], 27_744 + 309, name="trainable parameters after unfreeze_top(base, 4)",
             mistakes={"the base's own trainable flag is still False (nothing was unfrozen)": 309,
                       "the bottom layers were unfrozen instead of the top ones": 112 + 148 + 309},
             hint="block5_conv1-3 (3 * 9,248) plus the head (309) should train.")
assert_equal(result["non_trainable"], 57_828 - 27_744, name="non-trainable parameters")
assert_close(result["lr"], 1e-5, rtol=1e-4, atol=0, name="the optimizer's learning rate",
             hint="recompile the model with keras.optimizers.Adam(learning_rate=learning_rate).")
print("unfreeze_top: public tests passed")
''')

test("test_unfreeze_top_hidden", 2, r'''
### BEGIN HIDDEN TESTS
# The probe runs unfreeze_top on a small VGG16 look-alike (VGG16's 19 layers and names, with
# the numbers of filters chosen here) in a model of build_transfer_model and reports the
# counts, flags and learning rate after each call.
_filters = [2, 3, 4, 5, 6]                            # per block; VGG16 has 64, 128, 256, 512, 512
_convs, _c_in = [], 3                                 # parameters of the 13 convolutions, in order
for _n, _f in zip((2, 2, 3, 3, 3), _filters):
    for _ in range(_n):
        _convs.append(3 * 3 * _c_in * _f + _f)
        _c_in = _f
total = sum(_convs)
head = 6 * 4 + 4 + 4 * 3 + 3
top8 = sum(_convs[-6:])                               # block4_conv1..3 and block5_conv1..3
steps = [[8, 3e-4, True], [0, 2e-5, True], [2, None, False]]
from solutions.transfer import expect_result
res = run_probe("unfreeze", filters=_filters, num_classes=3, dense_units=4, steps=steps)
assert isinstance(res, list) and len(res) == 3 and all(isinstance(r, dict) for r in res), (
    "unfreeze_top: the probe's result is not what its code returns (one dict per step). Do not change what the "
    "probe reports.")
n8, n0, nb = res
for _r in (n8, n0):
    expect_result(_r, ["trainable", "non_trainable", "lr", "flags", "has_weights"], what="unfreeze_top")
    assert isinstance(_r["lr"], float) and isinstance(_r["flags"], list) and isinstance(_r["has_weights"], list) \
        and len(_r["flags"]) == len(_r["has_weights"]) <= 64, (
        "unfreeze_top: the probe's result is not what its code returns. Do not change what the probe reports.")
expect_result(nb, ["returned_base", "base_trainable"], what="unfreeze_top")
assert_equal(n8["trainable"], top8 + head, name="trainable parameters after unfreeze_top(base, 8)")
assert_equal(n8["non_trainable"], total - top8, name="non-trainable parameters after unfreeze_top(base, 8)")
assert_close(n8["lr"], 3e-4, rtol=1e-4, atol=0, name="learning rate after recompiling")
assert_equal([f for f, w in zip(n8["flags"], n8["has_weights"]) if w], [False] * 7 + [True] * 6,
             name="trainable flags of VGG16's 13 conv layers")
assert_equal(n0["trainable"], head, name="trainable parameters after unfreeze_top(base, 0) (head only)")
assert_equal(n0["non_trainable"], total, name="non-trainable parameters after unfreeze_top(base, 0)")
assert_close(n0["lr"], 2e-5, rtol=1e-4, atol=0, name="learning rate after recompiling")
assert nb["returned_base"] is True, "unfreeze_top(base, n) without a model must return base."
assert_equal(nb["base_trainable"], _convs[-1], name="trainable parameters of base after unfreeze_top(base, 2)",
             hint="the top 2 layers are block5_conv3 and block5_pool (which has no weights).")
### END HIDDEN TESTS
''')

code("ft-run", r"""
model = unfreeze_top(base, 4, learning_rate=1e-5, model=model)
print(f"fine-tuning: trainable {count_params(model.trainable_weights):,}, "
      f"non-trainable {count_params(model.non_trainable_weights):,}")
hist_ft = model.fit(X_few, y_few, epochs=2 if FAST else 3, batch_size=cfg.batch_size,
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
labelled images. We train the small CNN of `course/04_mnist_cnn_keras.ipynb` on it (Conv 40 5x5 - pool - dropout -
Conv 32 3x3 - pool - dropout - Dense 64 - batch norm - dropout - softmax) and save it.

The recipe of `course/07_transfer_learning.ipynb` for reusing a saved Sequential model: load it, remove the old output
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

md("md-predict-D", r"""
**Predict (graded, 1 point).** Below, the transfer model is
`reuse_model(SOURCE_PATH, n_pop=1, n_frozen=4, num_classes=5)` on the source CNN described
above. What is `len(model.trainable_weights)` of the model it returns? Mind every layer
above the frozen ones, and what each of them holds. Write an int in
`answer_reuse_trainable_weights`.
""")

solution("answers_partD", r'''
# Replace None by your answer and delete the `raise NotImplementedError()` line.
answer_reuse_trainable_weights = None
### BEGIN SOLUTION
answer_reuse_trainable_weights = 6   # Dense 64 (2), BatchNorm gamma and beta (2; its moving statistics
                                     # never train), the new Dense (2); pooling, dropout, flatten: none
### END SOLUTION
''')

test("test_answer_reuse_trainable_weights_hidden", 1, r'''
### BEGIN HIDDEN TESTS
# Measured on the reference source model: reuse_model(path, n_pop=1, n_frozen=4, ...) keeps the
# trainable weight tensors of the layers above the first 4, except the popped output layer, and
# adds a Dense layer (a kernel and a bias).
import solutions as ref
_src = ref.build_source_model(5)
_want = sum(len(_layer.trainable_weights) for _layer in _src.layers[4:-1]) + 2
_got = answer_reuse_trainable_weights
assert _got is not None, "answer_reuse_trainable_weights is still None: write an int."
assert_equal(_got, _want, name="answer_reuse_trainable_weights",
             mistakes={"a count with the BatchNormalization's moving mean and variance (they never train)": _want + 2,
                       "a count without the BatchNormalization layer (it has a trainable scale and offset)": _want - 2},
             hint="above the 4 frozen layers: MaxPooling, Dropout, Flatten, Dense(64), BatchNormalization, Dropout, "
                  "then the new Dense.")
### END HIDDEN TESTS
''')

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

test("test_reuse_model_hidden", 2, r'''
### BEGIN HIDDEN TESTS
# The probe saves a small Sequential model, calls reuse_model on it, fits the result briefly
# (one step on all 24 images) and returns every layer's weights (saved, before and after the fit) and
# the outputs after the fit on images chosen here. The grader recomputes the outputs and the
# losses from the weights.
from solutions.transfer import (checked_layers, cross_entropy, expect_layers, expect_probabilities, expect_result,
                                 numpy_forward)
_rng = np.random.default_rng(2)
_x = _rng.random((4, 10, 10, 1)).astype("float32")
_xf = np.random.default_rng(3).random((24, 10, 10, 1)).astype("float32")
_yf = np.arange(24) % 6
result = run_probe("reuse", seed=2, n_pop=2, n_frozen=4, num_classes=6, x=_x, x_fit=_xf, y_fit=_yf, epochs=1,
                   batch_size=24)
expect_result(result, ["type", "saved", "before", "after", "probs_after", "trainable", "non_trainable"],
              what="reuse_model")
expect_layers(result["saved"], [("Conv2D", [(3, 3, 1, 5), (5,)]), ("MaxPooling2D", []), ("Flatten", []),
                                ("Dense", [(80, 7), (7,)]), ("Dropout", []), ("Dense", [(7, 3), (3,)])],
              what="the saved model the grader built")
assert_equal(result["type"], "Sequential", name="the type of the returned model")
before, after = result["before"], result["after"]
checked_layers(before, _x.shape, what="the reused model before fit")
checked_layers(after, _x.shape, what="the reused model after fit")
assert_equal(len(before), 5, name="number of layers after popping 2 of 6 and adding a head")
assert_equal([l["trainable"] for l in before], [False, False, False, False, True], name="trainable flags of the layers")
assert_equal(len(after), len(before), name="number of layers after the fit")
assert_equal(result["non_trainable"], 50 + 80 * 7 + 7, name="non-trainable parameters (the frozen layers)")
assert_equal(result["trainable"], 7 * 6 + 6, name="trainable parameters (the new head)")
assert all(np.array_equal(a, b) for a, b in zip(before[0]["weights"], result["saved"][0]["weights"])), (
    "the first layer's weights must be the saved ones (load the model, do not rebuild it).")
assert_equal((before[-1]["class"], before[-1]["config"].get("activation")), ("Dense", "softmax"),
             name="the new output layer (class, activation)",
             hint="the new output layer needs activation='softmax'.")
p = expect_probabilities(result["probs_after"], (4, 6), what="the reused model's output on 4 images")
assert_close(p, numpy_forward(after, _x), rtol=1e-4, atol=1e-5, name="the reused model's output on 4 images",
             hint="the grader recomputed it from your model's layers and weights (after the fit).")
for i in range(4):
    assert all(np.array_equal(a, b) for a, b in zip(before[i]["weights"], after[i]["weights"])), (
        f"layer {i} ({before[i]['class']}) is frozen but its weights changed during fit.")
_l0, _l1 = cross_entropy(numpy_forward(before, _xf), _yf), cross_entropy(numpy_forward(after, _xf), _yf)
assert _l1 < _l0, (f"a step of fit of the reused model on the whole batch (integer labels) should lower its loss; "
                   f"the grader computed it from your weights: {_l0:.5f} before, {_l1:.5f} after.")
### END HIDDEN TESTS
''')

test("test_input_checks_hidden", 2, r'''
### BEGIN HIDDEN TESTS
# Input hygiene of the four functions, in one test (2 points): bad input raises the error
# the task asks for.
assert_raises((TypeError, ValueError), prepare_images, np.zeros((2, 8, 8, 3), np.float32), 32, match="uint8",
              because="x must hold uint8 pixels")
assert_raises(ValueError, prepare_images, np.zeros((2, 8, 8, 4), np.uint8), 32,
              because="4-channel images are neither gray (N, H, W) nor RGB (N, H, W, 3)")
assert_raises(ValueError, prepare_images, np.zeros((8, 8), np.uint8), 32,
              because="a single 2-D image has no batch axis")
from solutions.transfer import expect_result
errors = run_probe("input_errors")
expect_result(errors, ["build_transfer_model", "unfreeze_top", "reuse_model"], what="the input checks")
assert_equal(errors["build_transfer_model"], ["ValueError", "ValueError"],
             name="errors of build_transfer_model for num_classes=1 and dense_units=0")
assert_equal(errors["unfreeze_top"], ["ValueError"] * 3,
             name="errors of unfreeze_top for n_layers > len(base.layers), learning_rate=0, n_layers=-1")
assert_equal(errors["reuse_model"], ["ValueError"] * 4 + ["TypeError"],
             name="errors of reuse_model for n_pop=0, n_frozen too large, n_pop too large, num_classes=1, "
                  "a functional model")
### END HIDDEN TESTS
''')

md("md-source", r"""
### Develop the source model

The source CNN (the architecture of `course/04_mnist_cnn_keras.ipynb`, 5 outputs) trains on digits 0-4 and is saved in
Keras 3's `.keras` format (`.h5` is the older HDF5 format, *Hierarchical Data Format*).
""")

code("source-run", r'''
def build_source_cnn(num_classes=5):
    """The MNIST CNN of course/04_mnist_cnn_keras.ipynb: (N, 28, 28, 1) floats in [0, 1] -> (N, num_classes) probabilities."""
''' + code_of(transfer_ref.build_source_cnn, after="from keras import layers") + r'''


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

md("md-predict-compare", r"""
**Predict before you run.** How will the two curves compare? Pick one letter and write it
down (in the written answer below) *before* you run the next cell:

* `"A"`: transfer is far ahead after the first epochs, and training from scratch closes
  most of the gap by the last epoch;
* `"B"`: the two curves stay close together from the first epoch on;
* `"C"`: scratch is ahead at first (all its layers can learn), transfer catches up later;
* `"D"`: transfer is ahead at first and the gap keeps growing until the last epoch.

Your letter itself earns no points: how the curves turn out depends on the seeds and the
number of epochs (fast mode runs 1 seed for 6 epochs, full mode 3 seeds for 15), so the
grade goes to what your own run shows (question below).
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
**Question (graded by hand, 1 point).** (a) Which letter did you predict? (b) Copy the two
lines your run printed (the accuracies after 3 epochs and at the last epoch, and say whether
you ran in fast or full mode). (c) Which letter do *your* curves support, and does it match
your prediction? (d) In one or two sentences: why can the transfer model start ahead, and
what lets the scratch model catch up (or not) on 100 images? Any letter your own printed
numbers support earns the point. Then try `n_per_class=5`, or freezing more layers, and see
how the gap changes.
""")

answer("answer_transfer_vs_scratch", 1, r"""
### BEGIN SOLUTION
Rubric (1 point): (b) quotes numbers that match the output of the student's own run (the
cell's outputs are in the notebook: compare them), (c) names the letter those numbers
support (transfer ahead after 3 epochs and the gap at the last epoch smaller: A; larger: D;
within about 0.03 all along: B; scratch ahead first: C), and (d) gives a reason: the frozen
layers already detect strokes learned on digits 0-4, so only the head has to learn from the
100 images, while scratch must learn its filters from them too and needs more epochs. The
prediction in (a) is not graded. Half a point for a right reading without a reason, or a
reason with numbers that do not match the run; none for numbers that are not the run's.

Model answer (instructor's full run, 3 seeds, 15 epochs, TensorFlow backend): (a) A.
(b) transfer 0.85 vs scratch 0.56 after 3 epochs, 0.93 vs 0.91 after 15. (c) A: transfer is
far ahead at first and scratch closes most of the gap. (d) The transferred convolutions
already extract stroke features, so the head learns from the first batches; the scratch
model has to learn its filters from 100 images first, which takes more epochs. A fast-mode
run (1 seed, 6 epochs) can still show a growing gap (D), because scratch has not caught up yet.
### END SOLUTION
""")

# =======================================================================================
md("md-aug", r"""
## Data augmentation

With few labelled images, a model also benefits from seeing *modified copies* of them.
Keras 2 did this with `ImageDataGenerator(rotation_range=40, width_shift_range=0.2,
height_shift_range=0.2, shear_range=0.2, zoom_range=0.2)`, the settings of many tutorials.
Keras 3 has layers instead, applied on the fly during training only, and **the same number
does not always mean the same thing**:

| ImageDataGenerator (Keras 2) | its unit | Keras 3 layer in `make_augmenter` | its unit |
|---|---|---|---|
| `rotation_range=40` | degrees: an angle in [-40, 40] | `RandomRotation(40 / 360)` | a fraction of a full turn |
| `width_shift_range=0.2`, `height_shift_range=0.2` | a fraction of the width / height, in [-0.2, 0.2] | `RandomTranslation(0.2, 0.2)` | the same |
| `shear_range=0.2` | **degrees**: a shear angle in [-0.2, 0.2] degrees, along one axis | `RandomShear(x_factor=0.2, y_factor=0.2)` | a shear **factor** (the tangent of the angle) in [-0.2, 0.2], along x and along y |
| `zoom_range=0.2` | each axis scaled by a factor in [0.8, 1.2], independently | `RandomZoom(0.2, 0.2)` | the same: height and width factors drawn independently |

So `RandomShear(0.2)` is **not** `shear_range=0.2`: a factor of 0.2 moves the far edge of
the image by up to 20% of its size (an angle of up to atan(0.2) = 11.3 degrees, on both
axes), while `shear_range=0.2` tilts by at most 0.2 degrees (a factor of tan(0.2 degrees)
= 0.0035, barely visible). To copy a shear of s degrees, use a factor of tan(s degrees).
`make_augmenter(rotation=40, shift=0.2, shear=0.2, zoom=0.2, seed=0)` takes `rotation` in
degrees and `shift`, `shear`, `zoom` in the Keras 3 units of the right-hand columns; it is
the one place these numbers live (course/07_transfer_learning.ipynb uses the same).

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
