"""Benchmark: VGG16 transfer learning throughput on the device the Keras backend sees.

Prints images per second for
  * feature extraction: the frozen VGG16 base's forward pass (``base.predict``), and
  * one fine-tuning epoch: block5 unfrozen, head trained, Adam(1e-5) (``model.fit``),
with random weights (speed does not depend on the weights). On a CPU: 32x32 images,
float32; on a GPU: 224x224, mixed_float16, batch 64 (see ``select_device``). When no GPU is
present it prints "GPU: not measured here".

    KERAS_BACKEND=tensorflow .venv/bin/python tests/bench/bench_transfer.py [--images N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=None, help="images per measurement (default: 256 CPU, 2048 GPU)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import keras

    from autograder.tools.keras_utils import select_device
    from solutions.transfer import build_transfer_model, unfreeze_top

    cfg = select_device()
    n = args.images or (2048 if cfg.device == "gpu" else 256)
    size, bs = cfg.image_size, cfg.batch_size
    rng = np.random.default_rng(0)
    X = rng.normal(0, 60, size=(n, size, size, 3)).astype("float32")
    y = rng.integers(0, 5, size=n)
    keras.utils.set_random_seed(0)
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    model = build_transfer_model(base, 5, dense_units=256)

    def best(fn):
        fn(min(n, 2 * bs))                        # warm-up: tracing / compilation
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn(n)
            times.append(time.perf_counter() - t0)
        return min(times)

    t_fe = best(lambda k: base.predict(X[:k], batch_size=bs, verbose=0))
    unfreeze_top(base, 4, learning_rate=1e-5, model=model)
    t_ft = best(lambda k: model.fit(X[:k], y[:k], batch_size=bs, epochs=1, verbose=0))
    where = f"{cfg.device.upper()} ({cfg.name}), backend {cfg.backend}, {size}x{size}, batch {bs}, {cfg.policy}"
    print(f"VGG16 feature extraction: {n / t_fe:8.1f} images/s   [{where}]")
    print(f"VGG16 fine-tuning epoch : {n / t_ft:8.1f} images/s   [block5 + head trainable, {n} images]")
    print(f"fine-tuning / feature extraction time per image: {t_ft / t_fe:.2f}x")
    if cfg.device != "gpu":
        print("GPU: not measured here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
