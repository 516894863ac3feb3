"""Bad input raises clear errors."""
import numpy as np
import pytest

import fastntk
from fastntk import activations as A

X = np.random.default_rng(0).standard_normal((5, 3))


@pytest.mark.parametrize("bad,exc,match", [
    (np.array([[1.0, np.nan, 0.0]]), ValueError, "NaN or inf"),
    (np.array([[1.0, np.inf, 0.0]]), ValueError, "NaN or inf"),
    (np.ones(3), ValueError, "2-D"),
    (np.ones((2, 2, 2)), ValueError, "2-D"),
    (np.ones((0, 3)), ValueError, "empty"),
    (np.ones((3, 0)), ValueError, "empty"),
    (np.array([["a", "b"]]), TypeError, "numeric"),
    (np.ones((2, 3), dtype=complex), TypeError, "numeric"),
    (object(), TypeError, "numeric"),
])
def test_bad_inputs(bad, exc, match):
    with pytest.raises(exc, match=match):
        fastntk.FullyConnected(2).ntk(bad)


def test_feature_mismatch():
    with pytest.raises(ValueError, match="features"):
        fastntk.FullyConnected(2).ntk(X, np.ones((4, 5)))


@pytest.mark.parametrize("kwargs,match", [
    ({"depth": -1}, "depth"), ({"depth": 1.5}, "depth"), ({"depth": 2, "fix": 3}, "fix"),
    ({"depth": 2, "activation": "swishy"}, "unknown activation"), ({"depth": 2, "W_std": -1.0}, "W_std"),
    ({"depth": 2, "b_std": float("nan")}, "b_std"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastntk.FullyConnected(**kwargs)


def test_bad_call_arguments():
    k = fastntk.FullyConnected(1)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="n_threads"):
            k.ntk(X, n_threads=bad)
    with pytest.raises(ValueError, match="tile_size"):
        k.ntk(X, tile_size=0)
    with pytest.raises(ValueError, match="get"):
        k.diag(X, get="both!")


def test_bad_activations():
    with pytest.raises(ValueError, match="order"):
        A.Tanh(order=1)
    with pytest.raises(ValueError, match="slopes"):
        A.ABReLU(0.0, 0.0)
    with pytest.raises(TypeError, match="callables"):
        A.Custom(np.tanh, None)
    with pytest.raises(ValueError, match="non-finite"):
        fastntk.FullyConnected(1, A.Custom(np.sqrt, lambda x: 0.5 / np.sqrt(x))).ntk(X)


def test_overflowing_inputs_are_rejected():
    with pytest.raises(ValueError, match="overflow"):
        fastntk.FullyConnected(2).ntk(np.full((3, 2), 1e200))


def test_memory_guard():
    from fastntk._validation import allocate_outputs

    with pytest.raises(MemoryError, match="out="):
        allocate_outputs((10**7, 10**7), np.float64, 1)
