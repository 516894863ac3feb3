"""Convolutional NTK (MATH §8) against the independent P² numpy recursion, neural-tangents values,
a Monte Carlo wide network, and its own invariants (symmetry, determinism, blocks, bad input)."""
import os

import numpy as np
import pytest

import fastntk
from fastntk import Convolutional

import cntk_reference as ref

HERE = os.path.dirname(__file__)
RNG = np.random.default_rng(1234)


def rel_err(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.maximum(np.abs(b), 1e-300)))


def images(n, H, W, C, seed=0):
    return np.random.default_rng(seed).standard_normal((n, H, W, C))


# -- the numpy reference -----------------------------------------------------------------------------------
@pytest.mark.parametrize("readout", ["flatten", "gap"])
@pytest.mark.parametrize("depth", [2, 3, 5])
@pytest.mark.parametrize("fix", [False, True])
def test_reference_scale_matches_numpy(readout, depth, fix):
    X1, X2 = images(3, 5, 4, 2, seed=depth), images(2, 5, 4, 2, seed=10 + depth)
    s, t = Convolutional(depth, readout, fix=fix).kernels(X1, X2)
    rs, rt = ref.gram(ref.arora_pair, X1, X2, depth=depth, readout=readout, fix=fix)
    assert rel_err(s, rs) < 1e-10
    if fix and depth == 2:  # both layers frozen: nothing is trained
        assert np.all(t == 0) and np.all(rt == 0)
    else:
        assert rel_err(t, rt) < 1e-10


@pytest.mark.parametrize("readout", ["flatten", "gap"])
@pytest.mark.parametrize("shape", [(4, 6, 3), (1, 1, 1), (1, 5, 2), (3, 3, 1)])
def test_stax_scale_matches_numpy(readout, shape):
    X1, X2 = images(2, *shape, seed=1), images(3, *shape, seed=2)
    for fix in (False, True):
        k = Convolutional(4, readout, W_std=1.3, b_std=0.4, fix=fix)
        s, t = k.kernels(X1, X2)
        rs, rt = ref.gram(ref.stax_pair, X1, X2, depth=4, readout=readout, W_std=1.3, b_std=0.4, fix=fix)
        assert rel_err(s, rs) < 1e-10 and rel_err(t, rt) < 1e-10


def test_zero_pixels_and_zero_image_give_the_limit():
    # MNIST-like: black borders (zero norms at some pixels after several layers), and an all-zero image.
    X = images(3, 7, 7, 1, seed=3)
    X[:, :2] = 0.0
    X[:, :, -3:] = 0.0
    X[2] = 0.0
    for readout in ("flatten", "gap"):
        s, t = Convolutional(3, readout).kernels(X)
        rs, rt = ref.gram(ref.arora_pair, X, depth=3, readout=readout)
        assert np.isfinite(s).all() and np.isfinite(t).all()
        assert np.all(s[2] == 0) and np.all(t[2] == 0)
        assert rel_err(s[:2, :2], rs[:2, :2]) < 1e-10 and rel_err(t[:2, :2], rt[:2, :2]) < 1e-10


def test_scale_conventions_differ_by_the_documented_constant():
    X1, X2 = images(2, 5, 3, 3, seed=4), images(2, 5, 3, 3, seed=5)
    C, P = 3, 15
    for readout, const in (("flatten", 2.0 / (C * P)), ("gap", 2.0 / C)):
        a = Convolutional(4, readout).kernels(X1, X2)
        b = Convolutional(4, readout, W_std=2**0.5).kernels(X1, X2)
        for u, v in zip(a, b):
            assert rel_err(const * u, v) < 1e-12


# -- neural-tangents ---------------------------------------------------------------------------------------
def _nt_cases():
    data = np.load(os.path.join(HERE, "data", "nt_cntk_reference.npz"))
    for shape in "ab":
        for depth in (2, 3, 5):
            for readout in ("flatten", "gap"):
                for W_std, b_std in ((2**0.5, 0.0), (1.3, 0.4)):
                    yield data, shape, depth, readout, W_std, b_std


def test_matches_neural_tangents_stored_values():
    """Values written by benchmarks/nt_cntk_reference.py with neural-tangents 0.6.5 (float64)."""
    count = 0
    for data, shape, depth, readout, W_std, b_std in _nt_cases():
        X1, X2 = data[f"{shape}_X1"], data[f"{shape}_X2"]
        key = f"{shape}_D{depth}_{readout}_W{W_std:.4f}_b{b_std:.2f}"
        k = Convolutional(depth, readout, W_std=W_std, b_std=b_std)
        s12, t12 = k.kernels(X1, X2)
        s11, t11 = k.kernels(X1)
        assert rel_err(s12, data[key + "_nngp12"]) < 1e-10 and rel_err(t12, data[key + "_ntk12"]) < 1e-10
        assert rel_err(s11, data[key + "_nngp11"]) < 1e-10 and rel_err(t11, data[key + "_ntk11"]) < 1e-10
        count += 1
    assert count == 24


def test_matches_neural_tangents_live():
    nt = pytest.importorskip("neural_tangents")
    import jax

    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    X1, X2 = images(2, 4, 5, 2, seed=6), images(3, 4, 5, 2, seed=7)
    for readout, pool in (("flatten", stax.Flatten()), ("gap", stax.GlobalAvgPool())):
        layers = [stax.Conv(4, (3, 3), padding="SAME", W_std=1.2, b_std=0.3), stax.Relu()] * 2
        _, _, kernel_fn = stax.serial(*layers, pool, stax.Dense(1, W_std=1.2, b_std=0.3))
        want = kernel_fn(X1, X2, ("nngp", "ntk"))
        s, t = Convolutional(3, readout, W_std=1.2, b_std=0.3).kernels(X1, X2)
        assert rel_err(s, np.asarray(want.nngp)) < 1e-10 and rel_err(t, np.asarray(want.ntk)) < 1e-10
    assert nt.__version__


# -- Monte Carlo: a wide random convolutional network ------------------------------------------------------
def test_nngp_matches_a_wide_random_network():
    """Σ of stax.serial(Conv, Relu, Conv, Relu, Flatten|GAP, Dense) = E[f(x) f(z)]; with n channels the
    empirical covariance of the last features averages n i.i.d. terms (error ~ 1/√n)."""
    rng = np.random.default_rng(11)
    H, W, C, n = 4, 4, 2, 3000
    X = images(3, H, W, C, seed=8)

    def conv(g, fan_in_channels, out):  # 3×3 SAME, weights N(0, 1) scaled by W_std/√(9·C_in)
        w = rng.standard_normal((3, 3, fan_in_channels, out)) * (2.0 / (9 * fan_in_channels)) ** 0.5
        pad = np.pad(g, ((0, 0), (1, 1), (1, 1), (0, 0)))
        return sum(pad[:, u:u + H, v:v + W, :] @ w[u, v] for u in range(3) for v in range(3))

    g = np.maximum(conv(X, C, n), 0.0)
    g = np.maximum(conv(g, n, n), 0.0)
    flat = g.reshape(3, H * W, n)
    emp_flatten = 2.0 * np.einsum("ipc,jpc->ij", flat, flat) / (n * H * W)
    pooled = flat.mean(axis=1)
    emp_gap = 2.0 * pooled @ pooled.T / n
    for readout, emp in (("flatten", emp_flatten), ("gap", emp_gap)):
        exact = Convolutional(3, readout, W_std=2**0.5).nngp(X)
        assert rel_err(emp, exact) < 0.08


# -- invariants --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_symmetric_gram_diag_threads_and_tiles(readout):
    X = images(7, 6, 5, 2, seed=9)
    k = Convolutional(3, readout)
    s, t = k.kernels(X, n_threads=1, tile_size=3)
    assert np.array_equal(s, s.T) and np.array_equal(t, t.T)
    ds, dt = k.diag(X, "both")
    assert np.array_equal(np.diag(s), ds) and np.array_equal(np.diag(t), dt)
    for n_threads in (1, 2, 3):
        for tile in (1, 2, 100):
            s2, t2 = k.kernels(X, n_threads=n_threads, tile_size=tile)
            assert np.array_equal(s, s2) and np.array_equal(t, t2)
    # X2 a copy of X1 takes the symmetric path; a rectangular Gram holding identical images pairs them
    # as an image with itself too: those entries equal diag() to the bit.
    assert np.array_equal(k.ntk(X, X.copy()), t)
    Y = np.concatenate([X[5:], images(2, 6, 5, 2, seed=99), X[:1]])
    s3, t3 = k.kernels(X, Y)
    for u, v in ((s3, s), (t3, t)):
        assert u[5, 0] == v[5, 5] and u[6, 1] == v[6, 6] and u[5, 1] == v[5, 6]  # same pairs, same order
        assert rel_err(u[6, 0], v[6, 5]) < 1e-13  # k(x6, x5) vs k(x5, x6): equal up to rounding
        assert u[0, 4] == v[0, 0] and rel_err(u[:, 4], v[:, 0]) < 1e-13
    # Few pairs (GAP: one task per (pair, offset row)) and many pairs give the same bits.
    s4, t4 = k.kernels(X[:1], X[1:3], n_threads=2)
    assert np.array_equal(s4, s[:1, 1:3]) and np.array_equal(t4, t[:1, 1:3])
    assert np.array_equal(k.diag(X[:1], "ntk", n_threads=2), dt[:1])
    assert np.array_equal(k.nngp(X), s) and np.array_equal(k.ntk(X), t)


def test_float32():
    X = images(4, 6, 6, 3, seed=10)
    for readout in ("flatten", "gap"):
        k = Convolutional(4, readout)
        s64, t64 = k.kernels(X)
        s32, t32 = k.kernels(X.astype(np.float32))
        assert s32.dtype == np.float32 and t32.dtype == np.float32
        assert rel_err(s32, s64) < 1e-4 and rel_err(t32, t64) < 1e-4
        assert np.array_equal(t32, t32.T)


def test_layouts():
    X = images(3, 5, 4, 3, seed=11)
    k = Convolutional(3, "gap")
    want = k.ntk(X)
    assert np.array_equal(Convolutional(3, "gap", channels_last=False).ntk(X.transpose(0, 3, 1, 2)), want)
    Y = X[..., :1]
    assert np.array_equal(k.ntk(Y[..., 0]), k.ntk(Y))
    assert np.array_equal(k.ntk(np.asfortranarray(X)), want)
    ints = (X * 10).astype(np.int32)
    assert np.array_equal(k.ntk(ints), k.ntk(ints.astype(np.float64)))


def test_block_protocol_and_out():
    X1, X2 = images(5, 4, 4, 1, seed=12), images(3, 4, 4, 1, seed=13)
    k = Convolutional(3, "gap", b_std=0.1)
    want_s, want_t = k.kernels(X1, X2)
    P1, P2 = k.prepare(X1), k.prepare(X2)
    assert len(P1) == 5
    big = np.full((2, 9, 7), -1.0)
    k.fill(P1.rows(1, 4), P2, big[0, 2:5, 1:4], big[1, 2:5, 1:4])
    assert np.array_equal(big[0, 2:5, 1:4], want_s[1:4]) and np.array_equal(big[1, 2:5, 1:4], want_t[1:4])
    assert np.all(big[:, :2] == -1.0) and np.all(big[:, :, 4:] == -1.0)
    sym = np.empty((5, 5))
    k.fill(P1, P1, None, sym, symmetric=True)
    assert np.array_equal(sym, k.ntk(X1))
    out = np.empty((5, 3))
    assert k.ntk(X1, X2, out=out) is out and np.array_equal(out, want_t)
    # GAP: the diagonal is a full self pair, skipped on request; the Gram does not need it.
    Q = k.prepare(X1, diagonal=False)
    assert Q.ntk_diag is None and Q.rows(0, 2).nngp_diag is None
    k.fill(Q, Q, None, sym, symmetric=True)
    assert np.array_equal(sym, k.ntk(X1))
    assert np.array_equal(P1.ntk_diag, np.diag(sym)) and np.array_equal(P1.rows(2, 4).ntk_diag, np.diag(sym)[2:4])


# -- bad input ---------------------------------------------------------------------------------------------
def test_bad_input():
    k = Convolutional(3, "flatten")
    X = images(2, 4, 4, 2)
    with pytest.raises(ValueError, match="4-D batch"):
        k.ntk(X[0, :, :, 0])
    with pytest.raises(ValueError, match="4-D batch"):
        k.ntk(X[None])
    with pytest.raises(ValueError, match="image sizes"):
        k.ntk(X, images(2, 4, 5, 2))
    with pytest.raises(ValueError, match="channels"):
        k.ntk(X, images(2, 4, 4, 3))
    bad = X.copy()
    bad[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf .*image 1"):
        k.ntk(bad)
    bad[1, 2, 3, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        k.ntk(X, bad)
    with pytest.raises(ValueError, match="empty"):
        k.ntk(np.zeros((0, 4, 4, 2)))
    with pytest.raises(TypeError, match="numeric"):
        k.ntk(np.array([["a"]]))
    with pytest.raises(ValueError, match="out arrays"):
        k.ntk(X, out=np.empty((3, 3)))
    with pytest.raises(ValueError, match="depth"):
        Convolutional(1)
    with pytest.raises(ValueError, match="readout"):
        Convolutional(3, "max")
    with pytest.raises(ValueError, match="W_std"):
        Convolutional(3, W_std=float("nan"))
    with pytest.raises(ValueError, match="b_std"):
        Convolutional(3, b_std=-1.0)
    with pytest.raises(TypeError, match="boolean"):
        Convolutional(3, fix="yes")
    with pytest.raises(ValueError, match="n_threads"):
        k.ntk(X, n_threads=0)
    with pytest.raises(ValueError, match="get"):
        k.diag(X, get="all")
    with pytest.raises(ValueError, match="X2 images are 3×4×2"):
        k.fill(k.prepare(X), k.prepare(images(1, 3, 4, 2)), np.empty((2, 1)))


def test_public_export():
    assert fastntk.Convolutional is Convolutional
    assert "depth=3" in repr(Convolutional(3))
