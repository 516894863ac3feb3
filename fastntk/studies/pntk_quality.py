"""``fastntk pntk-quality``: how well does the pNTK stand in for the full eNTK (MATH §5)?

For random MLPs at initialisation of growing width, on a synthetic regression task, compares the full
eNTK K (N, N, O, O) with pNTK ⊗ I_O (Mohamadi et al. 2023):

* relative Frobenius error ‖K − pNTK ⊗ I_O‖_F / ‖K‖_F (expected to fall like width^(−1/2));
* relative gap of the largest eigenvalues |λ_max(K) − λ_max(pNTK)| / λ_max(K) (K as an NO×NO matrix);
* kernel regression: test predictions with K (one NO×NO system) vs with pNTK (one N×N system for all O
  outputs), relative difference ‖f_K − f_p‖ / ‖f_K‖, ridgeless (minimum-norm) and with ridges
  λ = r·mean diag(K) for the given ratios r (the same ratio for both kernels). Mohamadi et al. prove
  that the ridgeless predictions agree as the width grows and note that their result does not cover
  ridge regression; the study measures both, and the summary line states whether the ridge made the
  disagreement larger or smaller at the largest width.

Linear algebra by symmetric eigendecomposition (LAPACK via scipy), never an explicit inverse (MATH §4).
"""
import time

import numpy as np

from .. import empirical as E


def add_arguments(parser):
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256, 512, 1024])
    parser.add_argument("--depth", type=int, default=2, help="hidden layers")
    parser.add_argument("--outputs", type=int, default=10, help="O, the number of outputs")
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--dim", type=int, default=16, help="input dimension")
    parser.add_argument("--seeds", type=int, default=3, help="random networks per width")
    parser.add_argument("--ridges", type=float, nargs="+", default=[0.0, 0.01, 0.1, 1.0],
                        help="ridge ratios r (λ = r · mean diagonal of the kernel); 0 = ridgeless")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results table (markdown) here")
    parser.add_argument("--plot", default=None, help="write the figure (PNG) here (needs matplotlib)")


def _task(n_train, n_test, dim, n_outputs, rng):
    """Inputs on the unit sphere; targets sin(x·a_o) + noise for O random directions a_o."""
    X = rng.standard_normal((n_train + n_test, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    A = rng.standard_normal((dim, n_outputs)) * 2.0
    Y = np.sin(X @ A) + 0.05 * rng.standard_normal((n_train + n_test, n_outputs))
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]


def _eig_solver(K):
    """Eigendecomposition of a symmetric PSD matrix and a solve (K + λI)⁺ y from it; λ = 0 gives the
    minimum-norm solution (eigenvalues below n·eps·λ_max treated as zero)."""
    from scipy.linalg import eigh

    w, V = eigh(K)
    cutoff = K.shape[0] * np.finfo(K.dtype).eps * max(w[-1], 0.0)

    def solve(y, lam):
        coef = V.T @ y
        d = w + lam
        inv = np.where(d > cutoff, 1.0 / np.where(d > cutoff, d, 1.0), 0.0)
        return V @ (inv[:, None] * coef if coef.ndim == 2 else inv * coef)

    return w, solve


def _one(mlp, Xtr, Ytr, Xte, ridges, n_threads):
    O = mlp.n_outputs
    n = Xtr.shape[0]
    K = E.entk(mlp, Xtr, mode="full", n_threads=n_threads)         # (n, n, O, O)
    P = E.pntk(mlp, Xtr, n_threads=n_threads)                       # (n, n)
    Kte = E.entk(mlp, Xte, Xtr, mode="full", n_threads=n_threads)   # (m, n, O, O)
    Pte = E.pntk(mlp, Xte, Xtr, n_threads=n_threads)
    approx = P[:, :, None, None] * np.eye(O)
    fro = float(np.linalg.norm(K - approx) / np.linalg.norm(K))
    Kmat = K.transpose(0, 2, 1, 3).reshape(n * O, n * O)  # rows (i, o), columns (j, p)
    wK, solve_K = _eig_solver(Kmat)
    wP, solve_P = _eig_solver(P)
    eig_gap = float(abs(wK[-1] - wP[-1]) / wK[-1])
    scale_K, scale_P = float(np.trace(Kmat)) / (n * O), float(np.trace(P)) / n
    agreement = {}
    for r in ridges:
        cK = solve_K(Ytr.reshape(-1), r * scale_K).reshape(n, O)        # (K + λI)⁻¹ vec(Y)
        fK = np.einsum("ijop,jp->io", Kte, cK)
        cP = solve_P(Ytr, r * scale_P)                                   # (P + λI)⁻¹ Y, all outputs at once
        fP = Pte @ cP
        agreement[r] = float(np.linalg.norm(fK - fP) / np.linalg.norm(fK))
    return fro, eig_gap, agreement


def run_study(widths=(32, 64, 128, 256, 512, 1024), depth=2, n_outputs=10, activation="relu", n_train=200,
              n_test=100, dim=16, seeds=3, ridges=(0.0, 0.01, 0.1, 1.0), n_threads=None, seed=0, progress=None):
    """Run the study; returns a list of per-width dicts (means and standard deviations over seeds)."""
    rng = np.random.default_rng(seed)
    Xtr, Ytr, Xte, _ = _task(n_train, n_test, dim, n_outputs, rng)
    rows = []
    for w in widths:
        t0 = time.perf_counter()
        fro, gap, agree = [], [], {r: [] for r in ridges}
        for s in range(seeds):
            mlp = E.init_mlp([dim] + [w] * depth + [n_outputs], activation, seed=[seed, w, s])
            f, g, a = _one(mlp, Xtr, Ytr, Xte, ridges, n_threads)
            fro.append(f)
            gap.append(g)
            for r in ridges:
                agree[r].append(a[r])
        row = {"width": w, "n_params": mlp.n_params, "fro": np.mean(fro), "fro_std": np.std(fro),
               "eig_gap": np.mean(gap), "eig_gap_std": np.std(gap),
               "agreement": {r: np.mean(v) for r, v in agree.items()},
               "agreement_std": {r: np.std(v) for r, v in agree.items()}, "seconds": time.perf_counter() - t0}
        rows.append(row)
        if progress:
            progress(row)
    return rows


def slope(rows, key="fro"):
    """Least-squares slope of log(metric) against log(width)."""
    w = np.log([r["width"] for r in rows])
    v = np.log([r[key] for r in rows])
    return float(np.polyfit(w, v, 1)[0])


def markdown(rows, ridges, settings):
    lines = ["# pNTK vs full eNTK (fastntk pntk-quality)", "", settings, "",
             "| width | P | ‖K − pNTK⊗I‖/‖K‖ | λmax gap | " + " | ".join(
                 "pred. diff, " + ("ridgeless" if r == 0 else f"ridge r={r:g}") for r in ridges) + " | time |",
             "|---:|---:|---:|---:|" + "---:|" * len(ridges) + "---:|"]
    for row in rows:
        cells = [f"{row['width']}", f"{row['n_params']:,}", f"{row['fro']:.4f} ± {row['fro_std']:.4f}",
                 f"{row['eig_gap']:.4f} ± {row['eig_gap_std']:.4f}"]
        cells += [f"{row['agreement'][r]:.4f}" for r in ridges]
        cells.append(f"{row['seconds']:.1f} s")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Log-log slope of the Frobenius error against width: {slope(rows, 'fro'):.3f} (theory −0.5); "
              f"of the eigenvalue gap: {slope(rows, 'eig_gap'):.3f}."]
    for r in ridges:
        vals = [row["agreement"][r] for row in rows]
        if min(vals) > 0:
            w = np.log([row["width"] for row in rows])
            s = float(np.polyfit(w, np.log(vals), 1)[0])
            lines.append(f"Prediction difference, {'ridgeless' if r == 0 else f'ridge r={r:g}'}: "
                         f"{vals[0]:.3g} at width {rows[0]['width']} → {vals[-1]:.3g} at width {rows[-1]['width']} "
                         f"(log-log slope {s:.2f}).")
    last = rows[-1]["agreement"]
    if 0.0 in last:
        for r in ridges:
            if r != 0.0:
                verdict = "larger" if last[r] > last[0.0] else "smaller"
                lines.append(f"At width {rows[-1]['width']}, ridge r={r:g} makes the prediction difference {verdict} "
                             f"than ridgeless ({last[r]:.3g} vs {last[0.0]:.3g}).")
    return "\n".join(lines) + "\n"


def plot(rows, ridges, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("the plot needs matplotlib: pip install 'fastntk[plot]'") from exc
    widths = np.array([r["width"] for r in rows], dtype=float)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    fro = np.array([r["fro"] for r in rows])
    ax.errorbar(widths, fro, yerr=[r["fro_std"] for r in rows], marker="o", label="measured")
    ax.plot(widths, fro[0] * np.sqrt(widths[0] / widths), "k--", label="∝ width$^{-1/2}$")
    ax.set(xscale="log", yscale="log", xlabel="width", ylabel="‖K − pNTK⊗I‖$_F$ / ‖K‖$_F$",
           title="Relative Frobenius error")
    ax.legend()
    ax = axes[1]
    ax.errorbar(widths, [r["eig_gap"] for r in rows], yerr=[r["eig_gap_std"] for r in rows], marker="o")
    ax.set(xscale="log", yscale="log", xlabel="width", ylabel="|λmax(K) − λmax(pNTK)| / λmax(K)",
           title="Largest-eigenvalue gap")
    ax = axes[2]
    for r in ridges:
        ax.plot(widths, [row["agreement"][r] for row in rows], marker="o",
                label="ridgeless" if r == 0 else f"ridge λ = {r:g}·mean diag")
    ax.set(xscale="log", yscale="log", xlabel="width", ylabel="‖f$_K$ − f$_{pNTK}$‖ / ‖f$_K$‖",
           title="Kernel-regression predictions")
    ax.legend(fontsize=8)
    fig.suptitle("pNTK vs full eNTK of random MLPs at initialisation")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args):
    settings = (f"MLP: depth {args.depth}, O = {args.outputs}, {args.activation}, seeds' parameterisation "
                f"(MATH §1); inputs: {args.n_train} train / {args.n_test} test points on the unit sphere in "
                f"ℝ^{args.dim}, targets sin(x·a_o) + noise; {args.seeds} random networks per width "
                f"(mean ± std). Ridge λ = r · mean diagonal of each kernel.")
    print(settings)

    def progress(row):
        agree = ", ".join(f"r={r:g}: {v:.4f}" for r, v in row["agreement"].items())
        print(f"width {row['width']:5d}: fro {row['fro']:.4f}, eig gap {row['eig_gap']:.4f}, "
              f"prediction diff {agree} ({row['seconds']:.1f} s)", flush=True)

    rows = run_study(args.widths, args.depth, args.outputs, args.activation, args.n_train, args.n_test, args.dim,
                     args.seeds, args.ridges, args.threads, args.seed, progress)
    text = markdown(rows, args.ridges, settings)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.plot:
        plot(rows, args.ridges, args.plot)
        print(f"figure written to {args.plot}")
    return 0
