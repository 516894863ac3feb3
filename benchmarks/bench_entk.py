"""Benchmark: empirical NTK / pNTK of MLPs (MATH §5).

fastntk (per-layer GEMM identity, no Jacobian) against, in the same run and on the same network and
inputs: torch.func Jacobian contraction (vmap(jacrev) + einsum) and NTK-vector products (vjp then jvp),
when PyTorch is installed, and a numpy baseline that builds the explicit N×O×P Jacobian and multiplies.
MLP: input dimension 32, depth 3 (three hidden layers of width w), O = 10 outputs, 'ntk'
parameterisation, float64 unless stated. Each measurement runs in a fresh subprocess, which reports
the wall time (best of up to 3 runs while under a time budget) and its peak resident memory above the
level just before the call.

    flock /tmp/fastntk-heavy.lock python benchmarks/bench_entk.py [--quick]
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
D_IN, DEPTH, O = 32, 3, 10
JAC_LIMIT_BYTES = 4e9  # skip explicit-Jacobian methods whose N·O·P array alone would exceed this (shared machine)


def n_params(width):
    return D_IN * width + (DEPTH - 1) * width * width + width * O  # weights only ('ntk' with b_std = 0)


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _reset_peak():
    """Reset the kernel's peak-RSS counter (Linux ≥ 4.0), so that VmHWM measures this call only."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _numpy_jacobian_entk(mlp, X):
    """Baseline: the explicit Jacobian J (N·O × P), then J Jᵀ (one BLAS GEMM)."""
    N = X.shape[0]
    _, feats, cots = mlp._passes(X, np.eye(O))
    alpha, _, _ = mlp.coefficients()
    blocks = []
    for h in range(len(feats)):
        B = cots[h].reshape(N, O, -1)
        blocks.append((alpha[h] * B[:, :, :, None] * feats[h][:, None, None, :]).reshape(N * O, -1))
    J = np.concatenate(blocks, axis=1)
    return (J @ J.T).reshape(N, O, N, O).transpose(0, 2, 1, 3)


def worker(method, width, n, dtype_name, budget):
    from fastntk import empirical as E

    dtype = np.dtype(dtype_name)
    mlp = E.init_mlp([D_IN] + [width] * DEPTH + [O], "relu", seed=0)
    X = np.random.default_rng(1).standard_normal((n, D_IN)).astype(dtype)
    if method.startswith("torch"):
        import torch

        torch.set_num_threads(os.cpu_count())
        model = mlp.to_torch(torch.float64 if dtype == np.float64 else torch.float32)
        tmethod = "jacobian" if method == "torch_jacobian" else "ntk_vp"
        chunk = None if tmethod == "jacobian" else 16

        def call():
            return E.torch_entk(model, X, mode="full", method=tmethod, chunk_size=chunk)
    elif method == "numpy_jacobian":
        def call():
            return _numpy_jacobian_entk(mlp, X)
    elif method == "fastntk_full":
        def call():
            return E.entk(mlp, X, mode="full")
    elif method == "fastntk_trace":
        def call():
            return E.entk(mlp, X, mode="trace")
    elif method == "fastntk_pntk":
        def call():
            return E.pntk(mlp, X)
    else:
        raise ValueError(method)
    before = _status_bytes("VmRSS")
    exact_peak = _reset_peak()
    times = []
    result = None
    start = time.perf_counter()
    while len(times) < 3 and (not times or time.perf_counter() - start < budget):
        t = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t)
        if len(times) == 1:
            top = _status_bytes("VmHWM") if exact_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            peak = top - before
    out = {"time": min(times), "peak_mb": max(peak, 0) / 2**20, "runs": len(times)}
    if method in ("torch_jacobian", "torch_ntk_vp", "numpy_jacobian"):
        ref = E.entk(mlp, X, mode="full")
        out["rel_diff"] = float(np.abs(result - ref).max() / np.abs(ref).max())
    print(json.dumps(out))


def measure(method, width, n, dtype="float64", budget=20.0, timeout=1800):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", method, str(width), str(n), dtype, str(budget)]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout > {timeout} s"}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def has_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def fmt_time(r):
    return r["error"] if "error" in r else f"{r['time']:.3g} s"


def fmt_mem(r):
    return "" if "error" in r else f"{r['peak_mb']:.0f} MB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke test of the script)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "entk.md"))
    args = ap.parse_args()
    torch_ok = has_torch()
    widths = [64, 128] if args.quick else [64, 128, 256, 512, 1024]
    n_cmp = 16 if args.quick else 48
    sizes = [100, 200] if args.quick else [250, 500, 1000, 2000]
    lines = ["# Empirical NTK / pNTK of MLPs: fastntk vs torch.func and an explicit-Jacobian baseline", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python "
             f"{platform.python_version()}; numpy {np.__version__}"
             + (f"; torch {__import__('torch').__version__}" if torch_ok else "; torch not installed") + ".",
             f"MLP: input {D_IN}, depth {DEPTH} (hidden layers of width w), O = {O}, ReLU, 'ntk' parameterisation, "
             f"float64. Symmetric Gram K(X, X). Time: best of up to 3 runs; memory: peak RSS above the level "
             f"before the call (includes the output: full eNTK = N²·O²·8 bytes).", ""]

    # -- table 1: all methods at a fixed N over widths ----------------------------------------------------
    methods = ["fastntk_full", "fastntk_trace", "fastntk_pntk", "numpy_jacobian"]
    if torch_ok:
        methods += ["torch_jacobian", "torch_ntk_vp"]
    lines += [f"## All methods, N = {n_cmp}, full eNTK ({n_cmp}, {n_cmp}, {O}, {O}) unless stated", "",
              "| width | P | method | time | peak memory | time ÷ fastntk full | max rel. diff to fastntk |",
              "|---:|---:|---|---:|---:|---:|---:|"]
    summary = {}
    for w in widths:
        P = n_params(w)
        res = {}
        for m in methods:
            if m in ("numpy_jacobian", "torch_jacobian") and n_cmp * O * P * 8 > JAC_LIMIT_BYTES:
                res[m] = {"error": f"skipped: Jacobian alone needs {n_cmp * O * P * 8 / 1e9:.0f} GB"}
                continue
            res[m] = measure(m, w, n_cmp)
            print(w, m, res[m], flush=True)
        base = res["fastntk_full"].get("time")
        for m in methods:
            r = res[m]
            sp = f"{r['time'] / base:.1f}×" if base and "time" in r and m != "fastntk_full" else ""
            diff = f"{r['rel_diff']:.1e}" if "rel_diff" in r else ""
            label = {"fastntk_trace": "fastntk trace (N×N)", "fastntk_pntk": "fastntk pNTK (N×N)"}.get(m, m)
            lines.append(f"| {w} | {P:,} | {label} | {fmt_time(r)} | {fmt_mem(r)} | {sp} | {diff} |")
        summary[w] = res
    lines.append("")

    # -- table 2: fastntk scaling in N at width 512 --------------------------------------------------------
    w2 = 128 if args.quick else 512
    pntk_ratios = []
    lines += [f"## fastntk scaling in N, width {w2}", "",
              "| N | kernel | dtype | time | peak memory | GFLOP/s (contraction) | full / this |",
              "|---:|---|---|---:|---:|---:|---:|"]
    for n in sizes:
        rows = [("fastntk_full", "float64"), ("fastntk_full", "float32"), ("fastntk_trace", "float64"),
                ("fastntk_pntk", "float64")]
        res = {}
        for m, dt in rows:
            res[(m, dt)] = measure(m, w2, n, dt, budget=10.0)
            print(n, m, dt, res[(m, dt)], flush=True)
        full = res[("fastntk_full", "float64")].get("time")
        if full and "time" in res[("fastntk_pntk", "float64")]:
            pntk_ratios.append((n, full / res[("fastntk_pntk", "float64")]["time"]))
        for m, dt in rows:
            r = res[(m, dt)]
            pairs = n * (n + 1) / 2
            inner = DEPTH * w2 + O  # Σ_h d_h of the cotangent GEMMs (plus the O-wide output layer)
            per_pair = {"fastntk_full": O * O, "fastntk_trace": O, "fastntk_pntk": 1}[m]
            gflops = 2 * pairs * per_pair * inner / r["time"] / 1e9 if "time" in r else 0
            ratio = f"{full / r['time']:.1f}×" if full and "time" in r and m != "fastntk_full" else ""
            label = {"fastntk_full": "eNTK full", "fastntk_trace": "eNTK trace", "fastntk_pntk": "pNTK"}[m]
            lines.append(f"| {n} | {label} | {dt} | {fmt_time(r)} | {fmt_mem(r)} | {gflops:.0f} | {ratio} |")
    lines.append("")

    # -- targets ------------------------------------------------------------------------------------------------
    lines += ["## Targets", ""]
    if 512 in summary and torch_ok:
        r, f = summary[512]["torch_jacobian"], summary[512]["fastntk_full"]
        if "time" in r and "time" in f:
            lines.append(f"- width 512, N = {n_cmp}: fastntk full eNTK is {r['time'] / f['time']:.0f}× faster than "
                         f"torch.func Jacobian contraction (target ≥ 30×) and uses "
                         f"{r['peak_mb'] / max(f['peak_mb'], 1):.0f}× less extra memory.")
    if pntk_ratios:
        lines.append(f"- pNTK vs full eNTK at O = {O}, width {w2}: " + ", ".join(
            f"{r:.1f}× cheaper at N = {n}" for n, r in pntk_ratios) + " (target ≥ 5×).")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
    else:
        main()
