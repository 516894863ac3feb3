"""The W_std/b_std convention equals neural-tangents' stax Dense/activation chain (MATH §1).

Reference values were produced by neural-tangents 0.6.5 (jax 0.4.23, float64) with
benchmarks/make_nt_reference.py and stored in tests/data/nt_fc_reference.npz; when neural_tangents
is importable, a live comparison runs as well.
"""
from pathlib import Path

import numpy as np
import pytest

import fastntk
from fastntk import activations as A

REF = Path(__file__).parent / "data" / "nt_fc_reference.npz"
CASES = [("relu_d1", "relu", 1, 1.0, 0.0), ("relu_d3", "relu", 3, 1.4, 0.1), ("relu_d5", "relu", 5, 2.0**0.5, 0.0),
         ("erf_d2", "erf", 2, 1.3, 0.2), ("erf_d4", "erf", 4, 1.0, 0.5), ("gelu_d2", "gelu", 2, 1.2, 0.1),
         ("gelu_d4", "gelu", 4, 1.5, 0.0), ("leaky_d3", A.LeakyReLU(0.1), 3, 1.1, 0.05)]


def check(ours, theirs, symmetric):
    """Off-diagonal entries to 1e-12 relative; neural-tangents' own diagonal carries ~1e-8 error
    from its √(q11 q22 − q12²) cancellation (PEERS.md), so the diagonal is compared at √eps."""
    scale = np.max(np.abs(theirs))
    off = ~np.eye(*theirs.shape, dtype=bool) if symmetric else np.ones(theirs.shape, dtype=bool)
    assert np.max(np.abs(ours - theirs)[off]) <= 1e-12 * scale
    assert np.max(np.abs(ours - theirs)) <= 1.5e-8 * scale


@pytest.mark.parametrize("name,act,depth,w,b", CASES, ids=[c[0] for c in CASES])
def test_stored_neural_tangents_reference(name, act, depth, w, b):
    ref = np.load(REF)
    k = fastntk.FullyConnected(depth, act, W_std=w, b_std=b)
    for tag, X2 in (("sym", None), ("cross", ref["X2"])):
        nngp, ntk = k.kernels(ref["X1"], X2)
        check(nngp, ref[f"{name}_{tag}_nngp"], X2 is None)
        check(ntk, ref[f"{name}_{tag}_ntk"], X2 is None)


def test_live_neural_tangents():
    nt_stax = pytest.importorskip("neural_tangents.stax", reason="neural_tangents is not installed")
    import jax

    jax.config.update("jax_enable_x64", True)
    X = np.random.default_rng(5).standard_normal((10, 6))
    _, _, kernel_fn = nt_stax.serial(nt_stax.Dense(1, 1.3, 0.2), nt_stax.Relu(), nt_stax.Dense(1, 1.3, 0.2),
                                     nt_stax.Relu(), nt_stax.Dense(1, 1.3, 0.2))
    theirs = np.asarray(kernel_fn(X, None, "ntk"))
    check(fastntk.FullyConnected(2, W_std=1.3, b_std=0.2).ntk(X), theirs, True)
