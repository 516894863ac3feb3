"""Write tests/data/nt_fc_reference.npz: neural-tangents' infinite-width kernels on fixed inputs.

Run with a Python that has neural-tangents (see ../shared/docs/PEERS.md), e.g.
    /path/to/ntvenv/bin/python benchmarks/make_nt_reference.py
tests/test_fc_neural_tangents.py compares fastntk against the stored values, so CI checks the
W_std/b_std convention without installing neural-tangents.
"""
import sys
from pathlib import Path

import numpy as np

CASES = [  # (name, activation, depth, W_std, b_std)
    ("relu_d1", "Relu", 1, 1.0, 0.0),
    ("relu_d3", "Relu", 3, 1.4, 0.1),
    ("relu_d5", "Relu", 5, 2.0 ** 0.5, 0.0),
    ("erf_d2", "Erf", 2, 1.3, 0.2),
    ("erf_d4", "Erf", 4, 1.0, 0.5),
    ("gelu_d2", "Gelu", 2, 1.2, 0.1),
    ("gelu_d4", "Gelu", 4, 1.5, 0.0),
    ("leaky_d3", "LeakyRelu", 3, 1.1, 0.05),
]


def main(out=Path(__file__).resolve().parent.parent / "tests" / "data" / "nt_fc_reference.npz"):
    import jax

    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    rng = np.random.default_rng(3)
    X1 = rng.standard_normal((12, 7))
    X2 = rng.standard_normal((9, 7))
    data = {"X1": X1, "X2": X2}
    for name, act, depth, w, b in CASES:
        layer = stax.LeakyRelu(0.1) if act == "LeakyRelu" else getattr(stax, act)()
        _, _, kernel_fn = stax.serial(*([stax.Dense(1, W_std=w, b_std=b), layer] * depth), stax.Dense(1, W_std=w, b_std=b))
        for tag, Y in (("sym", None), ("cross", X2)):
            k = kernel_fn(X1, Y, ("nngp", "ntk"))
            data[f"{name}_{tag}_nngp"] = np.asarray(k.nngp)
            data[f"{name}_{tag}_ntk"] = np.asarray(k.ntk)
    np.savez_compressed(out, **data)
    print("wrote", out, "with", len(CASES), "cases; jax", jax.__version__)


if __name__ == "__main__":
    main(*sys.argv[1:])
