"""Benchmark: the vectorised numpy conv2d against torch.nn.functional.conv2d on CPU.

N=64, C 16 -> 32, 32x32, k=3, pad 1, float32, 2 threads, both measured in this run.
Prints the median times and the ratio (numpy / torch; 1.0 means as fast as torch),
then the naive loop version on a small case against the vectorised one.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from solutions.conv import conv2d, conv2d_naive  # noqa: E402
from timing import median_time  # noqa: E402


def main():
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16, 32, 32), dtype=np.float32)
    w = rng.standard_normal((32, 16, 3, 3), dtype=np.float32)
    b = rng.standard_normal(32, dtype=np.float32)
    tx, tw, tb = map(torch.from_numpy, (x, w, b))

    out = conv2d(x, w, b, padding=1)
    with torch.no_grad():
        ref = torch.nn.functional.conv2d(tx, tw, tb, padding=1).numpy()
    err = float(np.abs(out - ref).max())

    t_np = median_time(lambda: conv2d(x, w, b, padding=1))

    def run_torch():
        with torch.no_grad():
            torch.nn.functional.conv2d(tx, tw, tb, padding=1)

    t_torch = median_time(run_torch)
    print("conv2d  N=64 C=16->32 32x32 k=3 pad=1 float32, 2 threads")
    print(f"  numpy (im2col + matmul): {t_np * 1e3:8.1f} ms")
    print(f"  torch F.conv2d         : {t_torch * 1e3:8.1f} ms")
    print(f"  ratio numpy / torch    : {t_np / t_torch:8.2f}x   (goal <= 1.5x; max abs diff {err:.2e})")

    xs = rng.standard_normal((2, 3, 16, 16))
    ws = rng.standard_normal((4, 3, 3, 3))
    t_naive = median_time(lambda: conv2d_naive(xs, ws, padding=1), repeat=3, warmup=1)
    t_fast = median_time(lambda: conv2d(xs, ws, padding=1), repeat=7)
    print("conv2d  N=2 C=3->4 16x16 k=3 pad=1 float64")
    print(f"  naive loops            : {t_naive * 1e3:8.1f} ms")
    print(f"  vectorised             : {t_fast * 1e3:8.2f} ms")
    print(f"  speed-up               : {t_naive / t_fast:8.0f}x")


if __name__ == "__main__":
    main()
