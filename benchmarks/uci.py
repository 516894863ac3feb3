"""UCI benchmark (MATH §9): the 90 datasets, the 15 ReLU NTKs of Arora et al. 2020, SVC with
C ∈ {1e-2, ..., 1e4}, validation-only selection, mean of the 4 test splits; then the richer search.

    FASTNTK_DATA=../shared/data python benchmarks/uci.py [--suite both] [--jobs 2] [--kernel-timing]

Per-dataset results go to benchmarks/results/uci/<suite>/<name>.json (rerunning resumes);
the report goes to benchmarks/results/uci.md. ``--kernel-timing`` also times the 15 protocol Grams of the
largest dataset with fastntk against a plain numpy implementation of the same recursion (the way the
official code computes them) and appends the result to the report.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from fastntk import uci  # noqa: E402


def numpy_protocol_grams(X, max_depth=5):
    """The 15 protocol Grams with numpy, one full N×N pass per layer and fix value (MATH §9)."""
    out = {}
    for fix in range(max_depth):
        S = X @ X.T
        H = np.zeros_like(S)
        for dep in range(max_depth):
            if dep >= fix:
                H += S
                out[(dep, fix)] = H.copy()
            norm = np.sqrt(np.diag(S))
            P = np.maximum(np.outer(norm, norm), 1e-9)
            rho = np.clip(S / P, -1.0, 1.0)
            theta = np.arccos(rho)
            S = P * (np.sin(theta) + (math.pi - theta) * rho) / (2 * math.pi)
            H *= (math.pi - theta) / (2 * math.pi)
    return out


def kernel_timing(name="abalone"):
    X = uci.load(name).X
    t0 = time.perf_counter()
    ours = {(int(c.label.split("dep=")[1].split()[0]), int(c.label.split("fix=")[1])): c.gram(X)
            for c in uci.arora_candidates()}
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = numpy_protocol_grams(X)
    t_numpy = time.perf_counter() - t0
    err = max(float(np.abs(ours[k] - ref[k]).max() / np.abs(ref[k]).max()) for k in ours)
    return {"dataset": name, "n": int(X.shape[0]), "fastntk_s": t_fast, "numpy_s": t_numpy, "max_rel_diff": err}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    uci.add_arguments(parser)
    parser.add_argument("--kernel-timing", action="store_true", help="time the 15 Grams of abalone vs numpy")
    parser.set_defaults(out=os.path.join(HERE, "results", "uci"), report=os.path.join(HERE, "results", "uci.md"),
                        suite="both")
    args = parser.parse_args(argv)
    timing_path = os.path.join(args.out, "kernel_timing.json")
    if args.kernel_timing:
        os.makedirs(args.out, exist_ok=True)
        with open(timing_path, "w") as f:
            json.dump(kernel_timing(), f, indent=1)
    uci.run(args)
    if os.path.isfile(timing_path) and args.report:
        with open(timing_path) as f:
            t = json.load(f)
        with open(args.report, "a") as f:
            f.write(f"\n## Kernel time\n\nThe 15 protocol Grams of {t['dataset']} (N = {t['n']}): fastntk "
                    f"{t['fastntk_s']:.2f} s, numpy recursion as in the official code {t['numpy_s']:.2f} s "
                    f"({t['numpy_s'] / t['fastntk_s']:.1f}× slower; largest relative difference "
                    f"{t['max_rel_diff']:.1e}, from the official recursion's arccos(1 − 2⁻⁵²) on the diagonal).\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
