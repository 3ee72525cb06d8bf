"""Benchmark: train the reference LeNet-5 on full MNIST on the CPU (2 threads).

Goal: 99.0% test accuracy within 60 s of CPU training. Prints, for each variant (classic:
tanh + average pooling; modern: ReLU + max pooling), the test accuracy and the seconds of
every epoch, then when (if) 99.0% was reached. Only training is timed; the evaluation
after each epoch is not counted.

Recipe (chosen for the 60 s budget): AdamW (weight decay 1e-4), one-cycle learning-rate
schedule peaking at 6e-3 (30% warm-up, cosine decay), batches of 128, 12 epochs, seed 0
(about 45 s at 3.7 s per epoch; the classic variant needs the last epochs to pass 99.0%).
The one-cycle schedule gives most of the gain of a long run in a few epochs: a high
learning rate early, annealed to almost zero at the end, when the accuracy is read.

    .venv/bin/python tests/bench/bench_lenet.py            # both variants, 12 epochs
    .venv/bin/python tests/bench/bench_lenet.py --variants modern --epochs 6 --batch-size 128
    .venv/bin/python tests/bench/bench_lenet.py --quick    # 1 epoch on 10,000 images (smoke test)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

THREADS = 2
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
os.environ.setdefault("MKL_NUM_THREADS", str(THREADS))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from autograder.tools.data import load_mnist  # noqa: E402
from solutions import lenet  # noqa: E402

TARGET = 0.990
BUDGET_S = 60.0


def run(variant: str, x_train, y_train, x_test, y_test, epochs: int, batch_size: int, max_lr: float,
        seed: int = 0) -> dict:
    lenet.seed_everything(seed)
    net = lenet.LeNet5(modern=(variant == "modern"))
    train = lenet.make_loader(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)
    test = lenet.make_loader(x_test, y_test, batch_size=2000)
    opt = torch.optim.AdamW(net.parameters(), lr=max_lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, epochs=epochs, steps_per_epoch=len(train),
                                                pct_start=0.3)
    loss_fn = nn.CrossEntropyLoss()
    total, reached = 0.0, None
    accs, times = [], []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        loss = lenet.train_one_epoch(net, train, opt, loss_fn, device="cpu", scheduler=sched,
                                     desc=f"{variant} epoch {epoch}", show_progress=sys.stderr.isatty())
        dt = time.perf_counter() - t0
        total += dt
        acc = lenet.evaluate(net, test, device="cpu")
        accs.append(acc)
        times.append(dt)
        if reached is None and acc >= TARGET:
            reached = (epoch, total)
        print(f"  {variant:7s} epoch {epoch}: loss {loss:.4f}  test accuracy {acc:.2%}  "
              f"{dt:5.1f} s (total {total:5.1f} s)", flush=True)
    return {"variant": variant, "accs": accs, "times": times, "total": total, "reached": reached}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=["classic", "modern"], choices=["classic", "modern"])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--max-lr", type=float, default=6e-3)
    p.add_argument("--threads", type=int, default=THREADS, help="torch threads (the goal is stated for 2)")
    p.add_argument("--quick", action="store_true", help="1 epoch on 10,000 training images (checks the script)")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    if args.quick:
        x_train, y_train, args.epochs = x_train[:10000], y_train[:10000], 1
    print(f"LeNet-5 on MNIST ({len(x_train)} train / {len(x_test)} test), CPU, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; AdamW + OneCycle(max_lr={args.max_lr:g}), batch {args.batch_size}, "
          f"{args.epochs} epochs. Goal: {TARGET:.1%} within {BUDGET_S:.0f} s of training.")
    results = [run(v, x_train, y_train, x_test, y_test, args.epochs, args.batch_size, args.max_lr)
               for v in args.variants]
    print("summary:")
    ok = False
    for r in results:
        per_epoch = sum(r["times"]) / len(r["times"])
        median = statistics.median(r["times"])
        if r["reached"]:
            epoch, t = r["reached"]
            within = t <= BUDGET_S
            ok |= within
            verdict = (f"reached {TARGET:.1%} at epoch {epoch} after {t:.1f} s ({'within' if within else 'OVER'} "
                       f"budget; {epoch} x median epoch = {epoch * median:.1f} s); all {len(r['times'])} epochs: "
                       f"{r['total']:.1f} s")
        else:
            verdict = f"did not reach {TARGET:.1%} (best {max(r['accs']):.2%})"
        print(f"  {r['variant']:7s} {per_epoch:5.1f} s/epoch (median {median:.1f} s), final {r['accs'][-1]:.2%}; "
              f"{verdict}")
    print(f"goal {'met' if ok else 'NOT met'}: {TARGET:.1%} within {BUDGET_S:.0f} s of CPU training"
          " (epoch times swing a lot on a shared CPU: compare the median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
