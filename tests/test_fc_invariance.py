"""Bitwise invariance: threads, tile sizes, memory layouts, X2 given explicitly, out= targets."""
import numpy as np
import pytest

import fastntk
from fastntk import activations as A

RNG = np.random.default_rng(7)
KERNELS = [
    fastntk.FullyConnected(3),
    fastntk.FullyConnected(2, "erf", W_std=1.3, b_std=0.2),
    fastntk.FullyConnected(2, "gelu", fix=1),
    fastntk.FullyConnected(2, A.Tanh(order=6)),
]


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_threads_and_tiles(kernel):
    X = RNG.standard_normal((150, 9))
    base_n, base_t = kernel.kernels(X, n_threads=1, tile_size=64)
    assert np.array_equal(base_n, base_n.T) and np.array_equal(base_t, base_t.T)
    for n_threads in (2, 3):
        for tile in (1, 7, 50, 128, 1000):
            n, t = kernel.kernels(X, n_threads=n_threads, tile_size=tile)
            assert np.array_equal(n, base_n) and np.array_equal(t, base_t)


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_x2_given_explicitly_equals_symmetric(kernel):
    X = RNG.standard_normal((60, 5))
    assert np.array_equal(kernel.ntk(X), kernel.ntk(X, X.copy()))


def test_memory_layouts(tmp_path):
    k = fastntk.FullyConnected(3, "relu", b_std=0.1)
    X = RNG.standard_normal((70, 11))
    Y = RNG.standard_normal((40, 11))
    base = k.ntk(X, Y)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=X.shape)
    mm[:] = X
    big = np.zeros((140, 22))
    big[::2, ::2] = X
    for variant in (np.asfortranarray(X), big[::2, ::2], mm, X.tolist()):
        assert np.array_equal(k.ntk(variant, Y), base)
    assert np.array_equal(k.ntk(X, np.asfortranarray(Y)), base)


def test_out_argument_and_memmap_target(tmp_path):
    k = fastntk.FullyConnected(2)
    X = RNG.standard_normal((30, 4))
    Y = RNG.standard_normal((20, 4))
    out = np.lib.format.open_memmap(tmp_path / "k.npy", mode="w+", dtype=np.float64, shape=(30, 20))
    res = k.ntk(X, Y, out=out)
    assert res is out and np.array_equal(np.asarray(out), k.ntk(X, Y))
    with pytest.raises(ValueError, match="shape"):
        k.ntk(X, Y, out=np.empty((3, 3)))


def test_block_fill_matches_whole():
    """The block protocol used by batching: blocks of prepared rows assemble the whole Gram."""
    k = fastntk.FullyConnected(3, "erf")
    X = RNG.standard_normal((50, 6))
    whole = k.ntk(X)
    P = k.prepare(X)
    out = np.zeros_like(whole)
    for a, b in ((0, 20), (20, 50)):
        for c, d in ((0, 20), (20, 50)):
            k.fill(P.rows(a, b), P.rows(c, d), out_ntk=out[a:b, c:d], symmetric=False)
    np.testing.assert_allclose(out, whole, rtol=0, atol=0)


def test_dtypes():
    k = fastntk.FullyConnected(2)
    Xi = RNG.integers(-3, 4, size=(10, 3))
    assert k.ntk(Xi).dtype == np.float64
    assert k.ntk(Xi.astype(np.float32)).dtype == np.float32
    assert k.ntk(Xi.astype(np.float32), Xi.astype(np.float64)).dtype == np.float64
    assert np.array_equal(k.ntk(Xi), k.ntk(Xi.astype(np.float64)))


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_identical_points_in_a_cross_gram(kernel):
    """A point paired with itself gets ρ = 1 exactly on any path, so K(X[perm], X) is K(X)[perm]."""
    X = RNG.standard_normal((40, 5))
    perm = RNG.permutation(40)
    assert np.array_equal(kernel.ntk(X[perm], X), kernel.ntk(X)[perm])
    assert np.array_equal(kernel.nngp(X, X[perm]), kernel.nngp(X)[:, perm])
