"""Benchmark: convolution as im2col + one matmul (solutions.modern.conv2d_im2col) against loops,
the chunked reference conv2d and torch.nn.functional.conv2d, all on the same input in this run.

Three cases, each timed here (median of several runs) and reported as ratios to
``F.conv2d`` measured on the same input in the same run (1.0 = as fast as torch). One thread
for numpy and torch alike: on a shared machine two threads make torch's timings erratic (a
small convolution measured 60 ms with 2 threads under load, 0.05 ms alone):

* medium: N=32, C 16 -> 32, 32x32, k=3, pad 1, float32: im2col, solutions.conv2d, torch;
* small:  N=2, C 3 -> 4, 16x16, k=3, pad 1, float64: the same plus the naive loop version
  (solutions.conv2d_naive), whose speed-up the lecture quotes;
* conv_transpose2d (a matmul and col2im, im2col's adjoint) against F.conv_transpose2d.

No assertions on time.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from solutions.conv import conv2d, conv2d_naive  # noqa: E402
from solutions.modern import conv2d_im2col, conv_transpose2d  # noqa: E402
from timing import median_time  # noqa: E402


def torch_conv(x, w, b, **kw):
    tx, tw, tb = map(torch.from_numpy, (x, w, b))

    def run():
        with torch.no_grad():
            return F.conv2d(tx, tw, tb, **kw)
    return run


def report(title, rows, baseline="torch F.conv2d"):
    base = dict(rows)[baseline]
    print(title)
    for name, seconds in rows:
        print(f"  {name:28s} {seconds * 1e3:9.2f} ms   {seconds / base:8.2f}x {baseline}")


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)

    x = rng.standard_normal((32, 16, 32, 32), dtype=np.float32)
    w = rng.standard_normal((32, 16, 3, 3), dtype=np.float32)
    b = rng.standard_normal(32, dtype=np.float32)
    err = float(np.abs(conv2d_im2col(x, w, b, padding=1) - torch_conv(x, w, b, padding=1)().numpy()).max())
    rows = [("torch F.conv2d", median_time(torch_conv(x, w, b, padding=1))),
            ("im2col + one matmul", median_time(lambda: conv2d_im2col(x, w, b, padding=1))),
            ("solutions.conv2d (chunked)", median_time(lambda: conv2d(x, w, b, padding=1)))]
    report(f"conv2d  N=32 C=16->32 32x32 k=3 pad=1 float32, 1 thread (im2col vs torch max diff {err:.1e})", rows)

    xs = rng.standard_normal((2, 3, 16, 16))
    ws = rng.standard_normal((4, 3, 3, 3))
    bs = rng.standard_normal(4)
    rows = [("torch F.conv2d", median_time(torch_conv(xs, ws, bs, padding=1), repeat=15)),
            ("im2col + one matmul", median_time(lambda: conv2d_im2col(xs, ws, bs, padding=1), repeat=15)),
            ("solutions.conv2d (chunked)", median_time(lambda: conv2d(xs, ws, bs, padding=1), repeat=15)),
            ("naive loops (conv2d_naive)", median_time(lambda: conv2d_naive(xs, ws, bs, padding=1), repeat=3,
                                                       warmup=1))]
    report("conv2d  N=2 C=3->4 16x16 k=3 pad=1 float64", rows)
    t = dict(rows)
    print(f"  loops / im2col speed-up      {t['naive loops (conv2d_naive)'] / t['im2col + one matmul']:9.0f}x")

    xt = rng.standard_normal((16, 32, 16, 16), dtype=np.float32)
    wt = rng.standard_normal((32, 16, 4, 4), dtype=np.float32)
    txt, twt = torch.from_numpy(xt), torch.from_numpy(wt)

    def run_torch_t():
        with torch.no_grad():
            return F.conv_transpose2d(txt, twt, stride=2, padding=1)

    err = float(np.abs(conv_transpose2d(xt, wt, stride=2, padding=1) - run_torch_t().numpy()).max())
    rows = [("torch F.conv_transpose2d", median_time(run_torch_t)),
            ("matmul + col2im", median_time(lambda: conv_transpose2d(xt, wt, stride=2, padding=1)))]
    report(f"conv_transpose2d  N=16 C=32->16 16x16 -> 32x32 k=4 s=2 p=1 float32 (max diff {err:.1e})", rows,
           baseline="torch F.conv_transpose2d")


if __name__ == "__main__":
    main()
