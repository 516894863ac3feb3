"""Fully-connected NTK Gram benchmark: fastntk vs numpy vs neural-tangents (CPU), one run.

    python benchmarks/bench_fc.py [--quick] [--nt-python /path/to/venv/bin/python]

Every case runs in a fresh subprocess (so peak RSS is the case's own), symmetric Gram of N points,
d = 64, median of repeats after a warm-up. neural-tangents runs in its own interpreter (it needs
old jax/numpy pins, PEERS.md); it is skipped when that interpreter is missing. Writes
benchmarks/results/fc.md (fc_partial.md for --quick or --sizes runs).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WORKER = r"""
import json, resource, sys, time
import numpy as np
case = json.loads(sys.argv[1])
N, d, dtype, depth, act, who, threads = (case[k] for k in ("N", "d", "dtype", "depth", "act", "who", "threads"))
X = np.random.default_rng(0).standard_normal((N, d)).astype(dtype)

def numpy_relu_ntk(X, depth):
    # plain numpy, MATH §2 with c_sigma = 2: whole N×N matrices per layer
    S = X @ X.T
    diag = np.sqrt(np.diag(S))
    outer = np.outer(diag, diag)
    H = S.copy()
    for _ in range(depth):
        rho = np.clip(S / outer, -1.0, 1.0)
        theta = np.arccos(rho)
        S = outer * (np.sin(theta) + (np.pi - theta) * rho) / np.pi
        H = H * (np.pi - theta) / np.pi + S
    return H

if who == "fastntk":
    import fastntk
    from fastntk import activations as A
    activation = A.Tanh(order=16) if act == "tanh" else act
    k = fastntk.FullyConnected(depth, activation)
    run = lambda: k.ntk(X, n_threads=threads)
elif who == "numpy":
    run = lambda: numpy_relu_ntk(X, depth)
elif who == "matmul":
    run = lambda: X @ X.T
elif who == "nt":
    import jax
    jax.config.update("jax_enable_x64", dtype == "float64")
    from neural_tangents import stax
    layer = {"relu": stax.Relu, "erf": stax.Erf}[act]()
    _, _, kfn = stax.serial(*([stax.Dense(1, 2 ** 0.5), layer] * depth), stax.Dense(1, 2 ** 0.5))
    kfn = jax.jit(kfn, static_argnames="get")
    Xj = jax.numpy.asarray(X)
    run = lambda: kfn(Xj, None, "ntk").block_until_ready()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
run()  # warm-up (and JIT for neural-tangents)
times = []
for _ in range(case["repeats"]):
    t = time.perf_counter(); K = run(); times.append(time.perf_counter() - t); del K
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"times": times, "extra_rss_mb": (peak - base) / 1024}))
"""


def run_case(case, python=sys.executable, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(env_extra or {})
    if case["who"] == "nt":
        env.pop("PYTHONPATH")
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run([python, "-c", WORKER, json.dumps(case)], capture_output=True, text=True, env=env,
                          timeout=3600)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["median"] = sorted(out["times"])[len(out["times"]) // 2]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--sizes", type=int, nargs="*", default=None, help="N values (default 1000 … 16000)")
    ap.add_argument("--nt-python", default=os.environ.get("FASTNTK_NT_PYTHON", "/work/ntvenv/bin/python"))
    args = ap.parse_args()
    have_nt = Path(args.nt_python).exists()
    sizes = args.sizes or ([1000, 2000] if args.quick else [1000, 2000, 4000, 8000, 16000])
    cores = os.cpu_count()
    rows = []

    def bench(label, N, dtype="float64", act="relu", depth=3, threads=None, who="fastntk", repeats=5):
        case = dict(N=N, d=64, dtype=dtype, depth=depth, act=act, who=who, threads=threads, repeats=repeats)
        res = run_case(case, args.nt_python if who == "nt" else sys.executable,
                       {"OPENBLAS_NUM_THREADS": "1"} if threads == 1 else None)
        res.update(case, label=label)
        rows.append(res)
        print(json.dumps({k: res.get(k) for k in ("label", "who", "N", "dtype", "act", "threads", "median",
                                                   "extra_rss_mb", "error")}), flush=True)
        return res

    for N in sizes:
        reps = 5 if N <= 8000 else 3
        f64 = bench("relu f64", N, repeats=reps)
        bench("relu f32", N, dtype="float32", repeats=reps)
        mm = bench("X @ X.T f64", N, who="matmul", repeats=reps)
        if N <= 4000:
            bench("numpy relu f64", N, who="numpy", repeats=3)
        if have_nt and N <= 8000:
            bench("neural-tangents relu f64", N, who="nt", repeats=3)
            bench("neural-tangents relu f32", N, dtype="float32", who="nt", repeats=3)
    N1 = 4000 if args.quick else 8000
    bench("relu f64, 1 thread", N1, threads=1, repeats=3)
    bench("X @ X.T f64, 1 thread", N1, who="matmul", threads=1, repeats=3)
    bench("erf f64", N1)
    if have_nt:
        bench("neural-tangents erf f64", N1, act="erf", who="nt", repeats=3)
    bench("tanh (quadrature, order 16) f64", 1000, act="tanh", repeats=3)
    name = "fc.md" if not (args.sizes or args.quick) else "fc_partial.md"  # partial runs keep fc.md intact
    write_table(rows, cores, have_nt, name, fastntk_isa())


def fastntk_isa():
    """The instruction set fastntk's hot loops run with here (isa.hpp), asked in a subprocess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", "import fastntk; print(fastntk._core.isa())"], capture_output=True,
                          text=True, env=env)
    return proc.stdout.strip() or "unknown"


def write_table(rows, cores, have_nt, name="fc.md", isa="unknown"):
    def find(label, N, who=None):
        for r in rows:
            if r["label"] == label and r["N"] == N and "median" in r:
                return r
        return None

    lines = ["# Fully-connected NTK Gram: fastntk vs numpy vs neural-tangents", "",
             f"Machine: {cores} cores ({os.uname().machine}, fastntk ISA copy: {isa}); symmetric NTK Gram of N points, d = 64, depth 3 "
             "(3 hidden layers); median wall time in seconds; `extra RSS` is the peak resident memory the case "
             "added over the process's baseline (the output itself is N²·itemsize).",
             f"neural-tangents: {'0.6.5 on CPU (jax 0.4.23), jit, x64 for float64' if have_nt else 'not installed'}.",
             "", "| case | N | dtype | threads | median s | entries·layers/s/core | extra RSS MB | output MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "median" not in r:
            lines.append(f"| {r['label']} | {r['N']} | {r['dtype']} | {r['threads'] or cores} | error: {r['error']} | | | |")
            continue
        threads = r["threads"] or cores
        entries = r["N"] * r["N"] * max(r["depth"], 1)
        if r["who"] == "fastntk":
            entries = r["N"] * (r["N"] + 1) / 2 * max(r["depth"], 1)
        rate = entries / r["median"] / threads if r["who"] != "matmul" else float("nan")
        out_mb = r["N"] ** 2 * (8 if r["dtype"] == "float64" else 4) / 2**20
        lines.append(f"| {r['label']} | {r['N']} | {r['dtype']} | {threads} | {r['median']:.4f} | "
                     f"{rate / 1e6:.1f} M | {r['extra_rss_mb']:.0f} | {out_mb:.0f} |")
    lines += ["", "## Ratios (same run)", "", "| N | fastntk f64 vs X @ X.T | vs numpy | vs neural-tangents f64 | "
              "f32 vs f64 | vs neural-tangents f32 |", "|---|---|---|---|---|---|"]
    for N in sorted({r["N"] for r in rows}):
        f64, f32, mm = find("relu f64", N), find("relu f32", N), find("X @ X.T f64", N)
        npy, nt64, nt32 = find("numpy relu f64", N), find("neural-tangents relu f64", N), find("neural-tangents relu f32", N)
        if not f64:
            continue
        ratio = lambda other, mine=f64: f"{other['median'] / mine['median']:.2f}×" if other and mine else "–"
        lines.append(f"| {N} | {ratio(mm)} | {ratio(npy)} | {ratio(nt64)} | {ratio(f64, f32)} | {ratio(nt32, f32)} |")
    one, allc = next((r for r in rows if r["label"] == "relu f64, 1 thread" and "median" in r), None), None
    if one:
        allc = find("relu f64", one["N"])
    if one and allc:
        lines += ["", f"Thread scaling at N = {one['N']}: 1 thread {one['median']:.3f} s, {cores} threads "
                      f"{allc['median']:.3f} s: {one['median'] / allc['median']:.2f}× speed-up."]
    lines += ["", "`X @ X.T` is numpy's matmul of the same X (the linear kernel: one GEMM and the output write); "
              "a ratio > 1 in its column means fastntk's whole 3-layer NTK is faster than that."]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / name).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
