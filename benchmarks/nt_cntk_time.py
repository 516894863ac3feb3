"""Time neural-tangents' infinite-width CNTK Gram (CPU, float64) on images given as a .npy file.

Called by bench_cntk.py with the interpreter that has neural-tangents:
    python nt_cntk_time.py images.npy depth readout [repeats]
Prints one JSON line: {"seconds": best wall time of the jitted kernel (compilation excluded), "n": N}.
The network is stax.serial(*[Conv(·, (3, 3), SAME, W_std=√2), Relu] * (depth − 1), Flatten|GlobalAvgPool,
Dense(1)), whose NTK equals fastntk.Convolutional(depth, readout, W_std=√2).
"""
import json
import sys
import time

import numpy as np


def main():
    import jax

    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    X = np.load(sys.argv[1])
    depth, readout = int(sys.argv[2]), sys.argv[3]
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    layers = []
    for _ in range(depth - 1):
        layers += [stax.Conv(1, (3, 3), padding="SAME", W_std=2**0.5), stax.Relu()]
    pool = stax.GlobalAvgPool() if readout == "gap" else stax.Flatten()
    _, _, kernel_fn = stax.serial(*layers, pool, stax.Dense(1, W_std=2**0.5))
    fn = jax.jit(kernel_fn, static_argnames="get")
    fn(X, None, get="ntk").block_until_ready()  # compile
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        K = fn(X, None, get="ntk").block_until_ready()
        best = min(best, time.perf_counter() - t0)
    np.save(sys.argv[1] + ".ntk.npy", np.asarray(K))
    print(json.dumps({"seconds": best, "n": int(X.shape[0])}))


if __name__ == "__main__":
    main()
