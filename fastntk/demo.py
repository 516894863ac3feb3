"""``fastntk demo``: compute an NTK Gram and run a small kernel-regression study."""
import time

import numpy as np

from . import _core
from .fc import FullyConnected


def add_arguments(parser):
    parser.add_argument("--n", type=int, default=4000, help="number of points for the Gram timing")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)


def _two_spirals(n, rng):
    t = np.sqrt(rng.uniform(0.05, 1.0, n)) * 3 * np.pi
    label = rng.integers(0, 2, n)
    sign = np.where(label == 1, 1.0, -1.0)
    X = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], axis=1) + 0.2 * rng.standard_normal((n, 2))
    return X / np.linalg.norm(X, axis=1, keepdims=True).max(), label


def run(args):
    rng = np.random.default_rng(0)
    kernel = FullyConnected(args.depth, "relu")
    X = rng.standard_normal((args.n, 64))
    kernel.ntk(X[:256], n_threads=args.threads)  # warm-up
    t0 = time.perf_counter()
    K = kernel.ntk(X, n_threads=args.threads)
    dt = time.perf_counter() - t0
    ev = np.linalg.eigvalsh(K[:1000, :1000])
    print(f"fastntk NTK Gram: ReLU, depth {args.depth}, N={args.n}, d=64, float64, "
          f"threads={args.threads or _core.max_threads()} (OpenMP: {_core.openmp})")
    print(f"  time {dt:.3f} s = {args.n * (args.n + 1) / 2 / dt / 1e6:.1f} M unique entries/s")
    print(f"  symmetric to the bit: {bool((K == K.T).all())}; diag mean {np.diag(K).mean():.3f}; "
          f"off-diag mean {(K.sum() - np.trace(K)) / (args.n * (args.n - 1)):.3f}; "
          f"min eigenvalue of the 1000x1000 block {ev[0]:.3e}")

    # A small study: kernel regression with the NTK at several depths on two spirals.
    Xs, ys = _two_spirals(600, rng)
    Xs = np.hstack([Xs, np.ones((len(Xs), 1))])  # a constant feature acts as a bias
    train, test = np.arange(400), np.arange(400, 600)
    print("Kernel regression on two spirals (400 train / 200 test), ReLU NTK:")
    for depth in (1, 2, 4, 8):
        k = FullyConnected(depth, "relu")
        Ktr = k.ntk(Xs[train])
        Kte = k.ntk(Xs[test], Xs[train])
        target = np.where(ys[train] == 1, 1.0, -1.0)
        coef = np.linalg.solve(Ktr + 1e-6 * np.trace(Ktr) / len(train) * np.eye(len(train)), target)
        acc = np.mean((Kte @ coef > 0) == (ys[test] == 1))
        print(f"  depth {depth}: test accuracy {acc:.3f}")
