"""Convolutional NTK benchmark: Gram times of fastntk.Convolutional (CNTK-V and CNTK-GAP, depths 3…11) on
sklearn digits (8×8) and MNIST (28×28), against neural-tangents on CPU (when available) and the numpy P²
reference of tests/cntk_reference.py; plus an accuracy study (kernel regression on MNIST subsets).
Writes benchmarks/results/cntk.md.

    flock /tmp/fastntk-heavy.lock python benchmarks/bench_cntk.py [--nt-python /path/to/venv/bin/python]

neural-tangents is used in-process when importable, else through ``--nt-python`` (an interpreter that has
it; see docs/PEERS.md), else its columns are left empty. Data: MNIST from $FASTNTK_DATA/mnist (or
../shared/data), digits from scikit-learn.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import fastntk  # noqa: E402
from fastntk import Convolutional, FullyConnected  # noqa: E402


# -- data ---------------------------------------------------------------------------------------------------
def digits_images():
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("the digits benchmark needs scikit-learn: pip install scikit-learn") from exc
    d = load_digits()
    return d.images / 16.0, d.target


def mnist_images():
    from fastntk.mnist import load_mnist

    return load_mnist("test")


def pool2(X):
    """2×2 mean pooling: (n, 28, 28) → (n, 14, 14)."""
    n, H, W = X.shape
    return X.reshape(n, H // 2, 2, W // 2, 2).mean(axis=(2, 4))


# -- timing -------------------------------------------------------------------------------------------------
def best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def nt_gram_time(X, depth, readout, nt_python):
    """(seconds, NTK Gram) of neural-tangents for the NTK Gram of X with itself, or (None, None)."""
    script = os.path.join(HERE, "nt_cntk_time.py")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "images.npy")
        np.save(path, X[..., None] if X.ndim == 3 else X)
        try:
            import neural_tangents  # noqa: F401
            python = sys.executable
        except ImportError:
            python = nt_python
        if python is None:
            return None, None
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        res = subprocess.run([python, script, path, str(depth), readout], capture_output=True, text=True, env=env)
        if res.returncode != 0:
            print(res.stderr[-2000:], file=sys.stderr)
            return None, None
        info = json.loads(res.stdout.strip().splitlines()[-1])
        return info["seconds"], np.load(path + ".ntk.npy")


def reference_pair_time(x, z, depth, readout):
    import cntk_reference as ref

    t0 = time.perf_counter()
    ref.arora_pair(x[..., None], z[..., None], depth, readout)
    return time.perf_counter() - t0


def fmt_t(s):
    if s is None:
        return "–"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.1f} µs"


def timing_section(args, lines):
    sets = {}
    sets["digits 8×8"] = digits_images()[0]
    sets["MNIST 28×28"] = mnist_images()[0]
    sizes = {("digits 8×8", "flatten"): (1000, 200), ("digits 8×8", "gap"): (150, 40),
             ("MNIST 28×28", "flatten"): (600, 40), ("MNIST 28×28", "gap"): (8, 3)}
    lines += [
        "## Gram time (NTK, float64, symmetric Gram of N images, all cores)", "",
        f"Machine: {os.cpu_count()} cores; fastntk uses the upper triangle (N(N+1)/2 pairs); neural-tangents "
        "(jitted, compilation excluded) computes all N² entries on a smaller N'. 'per entry' = time / N² "
        "(the cost of one Gram entry as a user sees it). Ratios are per entry. The numpy reference is the "
        "full P² recursion of tests/cntk_reference.py, one pair. 'NT max rel diff': fastntk(W_std=√2) vs "
        "neural-tangents on the N' images.", "",
        "| data | readout | D | N | fastntk f64 | per entry | f32 per entry | N' | NT per entry | NT / fastntk "
        "| numpy ref per entry | ref / fastntk | NT max rel diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rng = np.random.default_rng(0)
    for name, X in sets.items():
        for readout in ("flatten", "gap"):
            n, n_nt = (max(2, int(v * args.scale)) for v in sizes[(name, readout)])
            idx = rng.choice(len(X), n, replace=False)
            Xs = np.ascontiguousarray(X[idx])
            for depth in args.depths:
                k = Convolutional(depth, readout, W_std=2**0.5)
                t64, K = best_time(lambda: k.ntk(Xs), args.repeats)
                t32, _ = best_time(lambda: k.ntk(Xs.astype(np.float32)), args.repeats)
                t_nt, K_nt = (None, None) if args.no_nt else nt_gram_time(Xs[:n_nt], depth, readout, args.nt_python)
                diff = None
                if K_nt is not None:
                    diff = float(np.max(np.abs(K[:n_nt, :n_nt] - K_nt) / np.abs(K_nt)))
                t_ref = None if args.no_reference else reference_pair_time(Xs[0], Xs[1], depth, readout)
                per = t64 / n**2
                row = [name, readout, str(depth), str(n), fmt_t(t64), fmt_t(per), fmt_t(t32 / n**2), str(n_nt),
                       fmt_t(None if t_nt is None else t_nt / n_nt**2),
                       "–" if t_nt is None else f"{t_nt / n_nt**2 / per:,.0f}×",
                       fmt_t(t_ref), "–" if t_ref is None else f"{t_ref / per:,.0f}×",
                       "–" if diff is None else f"{diff:.1e}"]
                lines.append("| " + " | ".join(row) + " |")
                print(lines[-1], flush=True)
    lines.append("")


# -- accuracy study -----------------------------------------------------------------------------------------
def regression_accuracy(K_train, K_test, y_train, y_test):
    """Kernel regression with one-hot targets: f = K_test (K_train + εI)⁻¹ Y, ε = 1e-9·mean diag."""
    import scipy.linalg

    Y = np.eye(10)[y_train]
    reg = 1e-9 * np.mean(np.diag(K_train))
    alpha = scipy.linalg.solve(K_train + reg * np.eye(len(K_train)), Y, assume_a="pos")
    return float(np.mean(np.argmax(K_test @ alpha, axis=1) == y_test))


def rbf_grams(Xtr, Xte):
    """exp(−γ‖x − z‖²) with γ = 1/(d·var(X)) (scikit-learn's 'scale')."""
    A, B = Xtr.reshape(len(Xtr), -1), Xte.reshape(len(Xte), -1)
    gamma = 1.0 / (A.shape[1] * A.var())

    def k(U, V):
        d2 = (U * U).sum(1)[:, None] + (V * V).sum(1)[None, :] - 2 * U @ V.T
        return np.exp(-gamma * np.maximum(d2, 0.0))

    return k(A, A), k(B, A)


def study_section(args, lines):
    X, y = mnist_images()
    perm = np.random.default_rng(0).permutation(len(X))
    lines += ["## Accuracy: kernel regression on MNIST subsets", "",
              "Images from the MNIST test file (the only split in the shared data), shuffled with seed 0; "
              "one-hot targets, f = K(test, train) K(train, train)⁻¹ Y (ridge 1e-9·mean diag), "
              "accuracy = argmax. FC-NTK: fastntk.FullyConnected(depth, W_std=None) on the flattened pixels; "
              "RBF: γ = 1/(d·var). CNTK in the reference code's scale (W_std=None), float64.", ""]
    for title, n_tr, n_te, img, kernels in (
            (f"28×28, {args.train} train / {args.test} test", args.train, args.test, lambda Z: Z,
             [("CNTK-V", 3), ("CNTK-V", 5), ("FC-NTK", 3), ("FC-NTK", 5), ("RBF", None)]),
            (f"14×14 (2×2 mean pooled), {args.gap_train} train / {args.gap_test} test", args.gap_train,
             args.gap_test, pool2,
             [("CNTK-GAP", 3), ("CNTK-GAP", 5), ("CNTK-V", 3), ("CNTK-V", 5), ("FC-NTK", 3), ("RBF", None)])):
        idx = perm[:n_tr + n_te]
        Z = img(X[idx])
        Ztr, Zte, ytr, yte = Z[:n_tr], Z[n_tr:], y[idx[:n_tr]], y[idx[n_tr:]]
        lines += [f"### {title}", "", "| kernel | depth | test accuracy | Gram time (train + test) |", "|---|---|---|---|"]
        for name, depth in kernels:
            t0 = time.perf_counter()
            if name == "RBF":
                Ktr, Kte = rbf_grams(Ztr, Zte)
            elif name == "FC-NTK":
                fc = FullyConnected(depth)
                A, B = Ztr.reshape(n_tr, -1), Zte.reshape(n_te, -1)
                Ktr, Kte = fc.ntk(A), fc.ntk(B, A)
            else:
                k = Convolutional(depth, "gap" if name == "CNTK-GAP" else "flatten")
                Ktr, Kte = k.ntk(Ztr), k.ntk(Zte, Ztr)
            el = time.perf_counter() - t0
            acc = regression_accuracy(Ktr, Kte, ytr, yte)
            lines.append(f"| {name} | {'–' if depth is None else depth} | {100 * acc:.1f}% | {fmt_t(el)} |")
            print(lines[-1], flush=True)
        lines.append("")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", type=int, nargs="+", default=[3, 5, 8, 11])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the timing sizes N, N' (quick runs)")
    ap.add_argument("--nt-python", default=None, help="interpreter with neural-tangents (if not importable here)")
    ap.add_argument("--no-nt", action="store_true")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-study", action="store_true")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--gap-train", type=int, default=800)
    ap.add_argument("--gap-test", type=int, default=400)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "cntk.md"))
    args = ap.parse_args()
    lines = ["# Convolutional NTK (fastntk.Convolutional)", "",
             f"fastntk {fastntk.__version__}, OpenMP {fastntk.openmp}, numpy {np.__version__}; "
             f"written by benchmarks/bench_cntk.py on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    load_start = os.getloadavg()[0]
    if not args.skip_timing:
        timing_section(args, lines)
    if not args.skip_study:
        study_section(args, lines)
    lines += ["## Notes", "",
              f"* 1-minute load average {load_start:.1f} at the start and {os.getloadavg()[0]:.1f} at the end on "
              f"{os.cpu_count()} cores: other jobs shared the machine, so absolute times (and single rows) are "
              "noisy; ratios compare runs made minutes apart in the same script.",
              "* CNTK-V costs O(H·W·D) per pair, CNTK-GAP O((H·W)²·D) (every pixel offset is a separate small "
              "grid problem); neural-tangents and the numpy reference compute the P² tensors for both.",
              "* 'NT max rel diff' is dominated by the diagonal entries, where neural-tangents' arccos near "
              "correlation 1 loses ~1e-8 (docs/PEERS.md); off-diagonal entries agree to ~1e-14.", ""]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
