"""Write tests/data/nt_cntk_reference.npz: neural-tangents' infinite-width Conv/Relu/(Flatten|GlobalAvgPool)/
Dense NNGP and NTK Grams for a few small random images, so that the test suite checks fastntk.Convolutional
against neural-tangents without needing it installed.

Run with the interpreter that has neural-tangents (its own venv, see docs/PEERS.md):
    /work/ntvenv/bin/python benchmarks/nt_cntk_reference.py
"""
import os

import numpy as np


def network(depth, readout, W_std, b_std):
    from neural_tangents import stax

    layers = []
    for _ in range(depth - 1):
        layers += [stax.Conv(8, (3, 3), padding="SAME", W_std=W_std, b_std=b_std), stax.Relu()]
    layers += [stax.GlobalAvgPool() if readout == "gap" else stax.Flatten(), stax.Dense(1, W_std=W_std, b_std=b_std)]
    return stax.serial(*layers)


def main():
    import jax

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(7)
    out = {}
    # Two image shapes (non-square, several channels); first batch vs second batch, and X1 vs itself.
    for shape_name, (H, W, C) in {"a": (5, 4, 2), "b": (6, 6, 1)}.items():
        X1 = rng.standard_normal((3, H, W, C))
        X2 = rng.standard_normal((2, H, W, C))
        out[f"{shape_name}_X1"], out[f"{shape_name}_X2"] = X1, X2
        for depth in (2, 3, 5):
            for readout in ("flatten", "gap"):
                for W_std, b_std in ((2**0.5, 0.0), (1.3, 0.4)):
                    _, _, kernel_fn = network(depth, readout, W_std, b_std)
                    key = f"{shape_name}_D{depth}_{readout}_W{W_std:.4f}_b{b_std:.2f}"
                    k12 = kernel_fn(X1, X2, ("nngp", "ntk"))
                    k11 = kernel_fn(X1, None, ("nngp", "ntk"))
                    out[key + "_nngp12"], out[key + "_ntk12"] = np.asarray(k12.nngp), np.asarray(k12.ntk)
                    out[key + "_nngp11"], out[key + "_ntk11"] = np.asarray(k11.nngp), np.asarray(k11.ntk)
    import neural_tangents

    out["nt_version"] = np.array(neural_tangents.__version__)
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "nt_cntk_reference.npz")
    np.savez_compressed(path, **out)
    print("wrote", os.path.normpath(path), len(out), "arrays")


if __name__ == "__main__":
    main()
